# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host_id registry on the shared lease storage.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

A small JSON file beside the lockspace (``<lease_dir>/autolease-host-ids.json``,
mode 0644 so admins can read it) records host name -> host_id for every host
that ever got an id from this collection, so ids of hosts outside the current
play or ``--limit`` are never handed out again. Updates run under an exclusive
``fcntl`` lock on ``<lease_dir>/.autolease-host-ids.lock`` (POSIX locks work on
NFS through lockd) and replace the file atomically: temp file in the same
directory, fsync, rename, fsync of the directory. Entries only disappear
through an explicit release list (see _host_id.allocate).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import json
import os
import tempfile

from ansible_collections.autolease.sanlock.plugins.module_utils._atomic_file import check_lease_dir
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import HostIdError
from ansible_collections.autolease.sanlock.plugins.module_utils._host_id import parse_host_id
from ansible_collections.autolease.sanlock.plugins.module_utils._names import REGISTRY_FILE
from ansible_collections.autolease.sanlock.plugins.module_utils._names import REGISTRY_LOCK_FILE as LOCK_FILE

FORMAT_VERSION = 1
ABOUT = ("sanlock host_id of every host sharing this lease directory, kept by the autolease.sanlock "
         "host_id role. Ids recorded here are never handed out to another host. Do not edit by hand; "
         "release retired hosts with the role variable host_id_release.")
FILE_MODE = 0o644


def registry_path(lease_dir):
    return os.path.join(lease_dir, REGISTRY_FILE)


def parse_registry(text, path="registry"):
    """Return name -> host_id from the registry file's text."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise HostIdError("%s is not valid JSON (%s); restore it from the diff of the last run or a backup"
                          % (path, err))
    if not isinstance(data, dict) or not isinstance(data.get("host_ids"), dict):
        raise HostIdError("%s has no \"host_ids\" mapping; expected {\"host_ids\": {\"<host>\": <id>}}" % path)
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise HostIdError("%s has format version %r; this collection reads version %d, upgrade the collection"
                          % (path, data.get("version"), FORMAT_VERSION))
    result = {}
    for name, value in data["host_ids"].items():
        host_id = parse_host_id(value, "host_id of %s in %s" % (name, path))
        if host_id is None:
            raise HostIdError("%s records no host_id for %s; remove the entry or give it its id" % (path, name))
        result[name] = host_id
    return result


def render_registry(mapping):
    """The registry file's text: stable (sorted), human-readable JSON."""
    data = {
        "about": ABOUT,
        "version": FORMAT_VERSION,
        "host_ids": dict(sorted(mapping.items())),
    }
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def read_registry(lease_dir):
    """name -> host_id as recorded; empty when there is no registry yet."""
    path = registry_path(lease_dir)
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise HostIdError("cannot read the host_id registry %s: %s" % (path, err.strerror))
    return parse_registry(text, path)


def write_registry(lease_dir, mapping):
    """Replace the registry atomically. The caller holds the lock (locked())."""
    path = registry_path(lease_dir)
    fd, tmp = tempfile.mkstemp(prefix="." + REGISTRY_FILE + ".", suffix=".tmp", dir=lease_dir)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(render_registry(mapping))
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(lease_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked(lease_dir):
    """Hold the exclusive registry lock for the block.

    Readers need no lock: the file is only ever replaced by rename.
    """
    check_lease_dir(lease_dir)
    lock_path = os.path.join(lease_dir, LOCK_FILE)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as err:
        raise HostIdError("cannot open the registry lock %s: %s; the lease directory must be writable by root"
                          % (lock_path, err.strerror))
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_registry(lease_dir, update):
    """Read, update and (if changed) replace the registry, all under the lock.

    update(before) -> after, a new dict; it may raise to abort with nothing
    written. Returns (before, after).
    """
    with locked(lease_dir):
        before = read_registry(lease_dir)
        after = update(dict(before))
        if after != before:
            write_registry(lease_dir, after)
        return before, after
