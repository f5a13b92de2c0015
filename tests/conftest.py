"""Shared pytest setup for autolease.sanlock.

- Makes the checkout importable as ``ansible_collections.autolease.sanlock``
  (through a symlink tree under .cache/collections, the same tree the Makefile
  points ANSIBLE_COLLECTIONS_PATH at).
- ``sanlock_host`` starts real, private sanlock daemons (one per simulated
  host) as described in ../shared/LAB-NOTES.md: SANLOCK_RUN_DIR selects the
  daemon's socket directory, SANLOCK_PRIVILEGED=0 and ``-w 0`` let it run
  without CAP_SYS_RESOURCE and without a watchdog device.
"""

import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

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


class SanlockHost:
    """One private sanlock daemon standing in for one host."""

    def __init__(self, run_dir, name):
        self.run_dir = str(run_dir)
        self.name = name

    @contextlib.contextmanager
    def env(self):
        """Point libsanlock (python3-sanlock) at this daemon for the block."""
        old = os.environ.get("SANLOCK_RUN_DIR")
        os.environ["SANLOCK_RUN_DIR"] = self.run_dir
        try:
            yield self
        finally:
            if old is None:
                os.environ.pop("SANLOCK_RUN_DIR", None)
            else:
                os.environ["SANLOCK_RUN_DIR"] = old

    def client(self, *args, check=True):
        env = dict(os.environ, SANLOCK_RUN_DIR=self.run_dir)
        return subprocess.run(["sanlock", "client", *args], env=env, check=check,
                              capture_output=True, text=True, timeout=60)

    def stop(self):
        env = dict(os.environ, SANLOCK_RUN_DIR=self.run_dir)
        subprocess.run(["sanlock", "client", "shutdown", "-f", "1"], env=env,
                       capture_output=True, timeout=30, check=False)
        pid_file = pathlib.Path(self.run_dir) / "sanlock.pid"
        for _attempt in range(100):
            if not pid_file.exists():
                return
            time.sleep(0.05)


def _start_daemon(run_dir, name):
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SANLOCK_RUN_DIR=str(run_dir), SANLOCK_PRIVILEGED="0")
    subprocess.run(["sanlock", "daemon", "-w", "0", "-U", "root", "-G", "root", "-e", name],
                   env=env, check=True, timeout=30)
    sock = run_dir / "sanlock.sock"
    for _attempt in range(200):
        if sock.exists():
            return SanlockHost(run_dir, name)
        time.sleep(0.05)
    raise RuntimeError("private sanlock daemon %s did not create %s" % (name, sock))


@pytest.fixture
def sanlock_host(tmp_path_factory):
    """Factory: ``sanlock_host("host-a")`` starts a private daemon named host-a."""
    if shutil.which("sanlock") is None:
        pytest.fail("sanlock is not installed: run `make deps` (Debian package sanlock)")
    started = []

    def start(name):
        run_dir = tmp_path_factory.mktemp("sanlock-run-" + name)
        host = _start_daemon(run_dir, name)
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()
