"""Shared pytest setup for autolease.sanlock.

- Makes the checkout importable as ``ansible_collections.autolease.sanlock``
  (through a symlink tree under .cache/collections, the same tree the Makefile
  points ANSIBLE_COLLECTIONS_PATH at).

Private sanlock daemons (one per simulated host) live in
tests/unit/plugins/conftest.py. libsanlock reads SANLOCK_RUN_DIR once per
process, so code that talks to a daemon runs in a child process per host.
"""

import contextlib
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / ".cache" / "collections"


def _collection_tree():
    link = COLLECTIONS / "ansible_collections" / "autolease" / "sanlock"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            link.symlink_to(REPO, target_is_directory=True)
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))


_collection_tree()
