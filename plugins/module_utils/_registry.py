# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host_id registry on the shared lease storage.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

A small JSON file (mode 0644 so admins can read it) records host name ->
host_id for every host that ever got an id from this collection, so ids of
hosts outside the current play or ``--limit`` are never handed out again.
Entries only disappear through an explicit release list (see
_host_id.allocate).

Where it lives: ``<lease_dir>/autolease.sanlock/autolease-host-ids.json``, in a
subdirectory owned by root, mode 0755. The lease directory itself belongs to
the sanlock user and group (group-writable): anything in it can be renamed,
replaced or swapped for a symlink by them. The subdirectory cannot, so its
entries are the ones root wrote. Every open goes through the directory's file
descriptor with O_NOFOLLOW and O_CLOEXEC, and the directory, the registry and
the lock are refused (with the path and the fix) when they are a symlink, not
owned by this user (root) or group- or world-writable.

Older releases kept the registry and its lock directly in the lease
directory. Such a registry is read (refused on the same grounds) while the new one
does not exist, and moved on the next update under the lock: the new file is
written and synced first, the old one removed after, so an interruption leaves
both (the new one wins) and never neither.

Updates run under an exclusive ``fcntl`` lock on
``<lease_dir>/autolease.sanlock/.autolease-host-ids.lock`` (POSIX locks work on
NFS through lockd) and replace the file atomically: temp file in the same
directory, fsync, rename, fsync of the directory. The wait for the lock is
bounded (RegistryLockBusy names the lock and its holder, which the holder
writes into the lock file), and every read of the storage has the deadline of
_storage_io (StorageTimeout when the storage hangs).

``allocate_and_record()`` is the whole run of the host_id module: under the
lock it reads the registry and the owners of the lockspace slots, plans the
ids (_host_id.allocate) and, unless in check mode, writes the new registry.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

from ansible_collections.autolease.sanlock.plugins.module_utils import _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._atomic_file import check_lease_dir
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import HostIdError, RegistryLockBusy, StorageTimeout
from ansible_collections.autolease.sanlock.plugins.module_utils._host_id import (
    Allocation,
    Hosts,
    SlotOwner,
    allocate,
    parse_host_id,
    slots_to_probe,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._lockspace import (
    live_host_ids,
    lockspace_path,
    read_slots,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._names import REGISTRY_DIR, REGISTRY_FILE
from ansible_collections.autolease.sanlock.plugins.module_utils._names import REGISTRY_LOCK_FILE as LOCK_FILE

FORMAT_VERSION = 1
ABOUT = ("sanlock host_id of every host sharing this lease directory, kept by the autolease.sanlock.host_id "
         "module. Ids recorded here are never handed out to another host. Do not edit by hand; "
         "release retired hosts with the module's release option.")
FILE_MODE = 0o644
DIR_MODE = 0o755
# Seconds to wait for the lock: longer than a run holds it (telling live from dead slot owners waits 2*io_timeout+1 under it).
LOCK_WAIT = 120
LOCK_RETRY = 0.2

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def registry_dir(lease_dir: str) -> str:
    return os.path.join(lease_dir, REGISTRY_DIR)


def registry_path(lease_dir: str) -> str:
    return os.path.join(registry_dir(lease_dir), REGISTRY_FILE)


def legacy_registry_path(lease_dir: str) -> str:
    """Where releases before the subdirectory kept the registry."""
    return os.path.join(lease_dir, REGISTRY_FILE)


def parse_registry(text: str, path: str = "registry") -> Dict[str, int]:
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


def render_registry(mapping: Mapping[str, int]) -> str:
    """The registry file's text: stable (sorted), human-readable JSON."""
    data = {
        "about": ABOUT,
        "version": FORMAT_VERSION,
        "host_ids": dict(sorted(mapping.items())),
    }
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


# Opening the collection's own files safely -----------------------------------------------------------------------
def _refuse_untrusted(fd, path, kind, mode):
    """Refuse what another user may have put there: not ours, or writable by group or others."""
    info = os.fstat(fd)
    want = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not want(info.st_mode):
        raise HostIdError("%s is not a %s; move it away (it is not the collection's) and run again"
                          % (path, "directory" if kind == "directory" else "regular file"))
    if info.st_uid != os.geteuid():
        raise HostIdError("%s is owned by uid %d, not %d (the user this module runs as, root): another user may "
                          "have replaced it. Check its content (the registry against the lockspace: sanlock direct "
                          "dump), then chown %d %s, or move it away and run again"
                          % (path, info.st_uid, os.geteuid(), os.geteuid(), path))
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise HostIdError("%s has mode %04o: writable by group or others, who could rename or replace the "
                          "host_id registry; chmod %04o %s" % (path, stat.S_IMODE(info.st_mode), mode, path))


def _open_checked(path, flags, kind, mode=FILE_MODE, dir_fd=None):
    """os.open with O_NOFOLLOW|O_CLOEXEC, then the ownership and mode tests; ENOENT passes through."""
    name = os.path.basename(path) if dir_fd is not None else path
    try:
        fd = os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ENOENT:
            raise
        if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and os.path.islink(path):
            raise HostIdError("%s is a symbolic link (to %s); the collection never follows links for its own "
                              "files: remove it (rm %s) and run again" % (path, os.readlink(path), path))
        raise HostIdError("cannot open %s: %s; the lease directory must be writable by root"
                          % (path, err.strerror))
    try:
        _refuse_untrusted(fd, path, kind, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_dir(lease_dir, create):
    """fd of the registry directory; None when it does not exist and create is False."""
    path = registry_dir(lease_dir)
    if create:
        try:
            os.mkdir(path, DIR_MODE)
            os.chmod(path, DIR_MODE)  # whatever the umask
        except FileExistsError:
            pass
        except OSError as err:
            raise HostIdError("cannot create %s: %s; the lease directory must be writable by root"
                              % (path, err.strerror))
    try:
        return _open_checked(path, os.O_RDONLY | _DIRECTORY, "directory", DIR_MODE)
    except FileNotFoundError:
        return None


def _read_at(path, dir_fd=None):
    """Text of a registry file, or None when it does not exist."""
    try:
        fd = _open_checked(path, os.O_RDONLY, "file", dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    with os.fdopen(fd) as handle:
        try:
            return handle.read()
        except OSError as err:
            raise HostIdError("cannot read the host_id registry %s: %s" % (path, err.strerror))


def _read(lease_dir, dir_fd):
    """(name -> host_id, True if it came from the old location)."""
    if dir_fd is not None:
        text = _read_at(registry_path(lease_dir), dir_fd)
        if text is not None:
            return parse_registry(text, registry_path(lease_dir)), False
    text = _read_at(legacy_registry_path(lease_dir))
    if text is not None:
        return parse_registry(text, legacy_registry_path(lease_dir)), True
    return {}, False


def read_registry(lease_dir: str) -> Dict[str, int]:
    """name -> host_id as recorded; empty when there is no registry yet. StorageTimeout when the storage hangs."""
    return _storage_io.bounded("reading the host_id registry", registry_path(lease_dir), _read_registry, lease_dir)


def _read_registry(lease_dir):
    dir_fd = _open_dir(lease_dir, create=False)
    try:
        return _read(lease_dir, dir_fd)[0]
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def needs_migration(lease_dir: str) -> bool:
    """True when a registry exists at the old location (the next update moves it)."""
    path = legacy_registry_path(lease_dir)
    return _storage_io.bounded("looking up", path, os.path.lexists, path)


def _write_at(dir_fd, lease_dir, mapping):
    path = registry_path(lease_dir)
    tmp_name = ".%s.%d.tmp" % (REGISTRY_FILE, os.getpid())
    try:
        os.unlink(tmp_name, dir_fd=dir_fd)  # a leftover of a crashed run of this process id
    except FileNotFoundError:
        pass
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(render_registry(mapping))
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.rename(tmp_name, REGISTRY_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name, dir_fd=dir_fd)
        raise
    os.fsync(dir_fd)
    return path


def _drop_legacy(lease_dir):
    """Remove the old-location registry once the new one is on disk."""
    legacy = legacy_registry_path(lease_dir)
    try:
        os.unlink(legacy)
    except FileNotFoundError:
        return
    dir_fd = os.open(lease_dir, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_registry(lease_dir: str, mapping: Mapping[str, int]) -> None:
    """Replace the registry atomically (and retire the old location). The caller holds the lock (locked())."""
    _storage_io.bounded("writing the host_id registry", registry_path(lease_dir), _write_registry, lease_dir, mapping)


def _write_registry(lease_dir, mapping):
    dir_fd = _open_dir(lease_dir, create=True)
    try:
        _write_at(dir_fd, lease_dir, mapping)
    finally:
        os.close(dir_fd)
    _drop_legacy(lease_dir)


def _open_lock(lease_dir, lock_path):
    check_lease_dir(lease_dir)
    dir_fd = _open_dir(lease_dir, create=True)
    try:
        try:
            return _open_checked(lock_path, os.O_RDWR | os.O_CREAT, "file", dir_fd=dir_fd)
        except FileNotFoundError as err:
            raise HostIdError("cannot open the registry lock %s: %s" % (lock_path, err.strerror))
    finally:
        os.close(dir_fd)


def _try_lock(fd):
    """True when the exclusive lock was taken, False when another process holds it."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _holder(fd, lock_path):
    """What the lock's holder wrote into the lock file (host, pid, since), or "" when unknown."""
    try:
        text = _storage_io.bounded("reading the registry lock", lock_path, os.pread, fd, 512, 0)
    except Exception:  # pylint: disable=broad-except  # only decorates the message
        return ""
    return text.decode("utf-8", "replace").strip()


def _record_holder(fd):
    """Write who holds the lock into the lock file, for the message of a run that waits for it."""
    since = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    text = ("host %s, pid %d, since %s\n" % (socket.gethostname(), os.getpid(), since)).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, text, 0)


@contextlib.contextmanager
def locked(lease_dir: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the exclusive registry lock for the block, waiting for it at most wait seconds.

    Readers need no lock: the file is only ever replaced by rename. When
    another run holds the lock longer, RegistryLockBusy names the lock and what
    its holder recorded; when the storage does not answer, StorageTimeout.
    """
    lock_path = os.path.join(registry_dir(lease_dir), LOCK_FILE)
    fd = _storage_io.bounded("opening the registry lock", lock_path, _open_lock, lease_dir, lock_path)
    try:
        deadline = time.monotonic() + wait
        while not _storage_io.bounded("locking the registry lock", lock_path, _try_lock, fd):
            if time.monotonic() >= deadline:
                holder = _holder(fd, lock_path)
                raise RegistryLockBusy(
                    "the host_id registry lock %s is still held by another run after %d s (held by %s): another "
                    "host_id run on this lease storage has not finished. Wait for it and run again; if no such run "
                    "is going on (a crashed host whose NFS lock was not released yet), check the storage's lock "
                    "manager (for NFS, lockd on the server) before removing the lock file"
                    % (lock_path, wait, holder or "a holder that did not say who it is"))
            time.sleep(min(LOCK_RETRY, max(deadline - time.monotonic(), 0)))
        _storage_io.bounded("writing the registry lock", lock_path, _record_holder, fd)
        yield
    except StorageTimeout:
        # A read or write left behind in its thread may still finish: keep the lock until the process ends.
        fd = None
        raise
    finally:
        if fd is not None:
            os.close(fd)


# One run of the host_id module: read, plan, write -------------------------------------------------------------------
@dataclass
class RecordedIds:
    """Result of allocate_and_record(): the plan, the registry before it and whether the registry changes."""

    lease_dir: str
    before: Dict[str, int]               # the registry as read
    allocation: Allocation               # allocation.registry: the registry after this run
    changed: bool
    diff: Optional[Dict[str, str]] = None  # the registry file before and after, when asked for and changed

    @property
    def warnings(self) -> List[str]:
        """Warnings of the run, those of one host prefixed with its name."""
        hosts = sorted(self.allocation.host_ids.items())
        return list(self.allocation.warnings) + ["%s: %s" % (name, warning)
                                                 for name, result in hosts for warning in result.warnings]

    def as_dict(self) -> Dict[str, Any]:
        """The host_id module's return values."""
        result = dict(changed=self.changed,
                      host_ids=dict((name, r.as_dict()) for name, r in sorted(self.allocation.host_ids.items())),
                      registry=self.allocation.registry, released=self.allocation.released,
                      registry_path=registry_path(self.lease_dir))
        if self.diff is not None:
            result["diff"] = self.diff
        return result


def lockspace_owners(lease_dir: str, hosts: Hosts, registry: Mapping[str, int],
                     interval: Optional[int]) -> Dict[int, SlotOwner]:
    """host_id -> SlotOwner for the written slots; empty without a lockspace file."""
    path = lockspace_path(lease_dir)
    if not _storage_io.bounded("looking up", path, os.path.exists, path):
        return {}
    slots = read_slots(path)
    names = dict((slot.host_id, slot.owner_name) for slot in slots)
    live = set()
    if slots_to_probe(hosts, registry, names):
        live = live_host_ids(path, interval)
    return dict((host_id, SlotOwner(name, host_id in live)) for host_id, name in names.items())


def allocate_and_record(lease_dir: str, hosts: Hosts, release: Iterable[str] = (), force: bool = False,
                        liveness_interval: Optional[int] = None, check_mode: bool = False,
                        lock_timeout: float = LOCK_WAIT, diff: bool = False) -> RecordedIds:
    """Plan the host_id of every host in hosts and record them in the registry; a RecordedIds.

    hosts, release, force: as for _host_id.allocate(). liveness_interval:
    seconds between the two reads of the lockspace that tell a live slot owner
    from a dead one (None: 2*io_timeout+1). check_mode: plan only, take no
    lock, write nothing. lock_timeout: seconds to wait for the registry lock.
    diff: also return the registry file before and after (when it changes).
    Raises HostIdError/HostIdConflict (nothing written), RegistryLockBusy,
    LeaseDirError, StorageTimeout.
    """
    _storage_io.probe(lease_dir)
    _storage_io.bounded("checking the lease directory", lease_dir, check_lease_dir, lease_dir)
    lock = contextlib.nullcontext() if check_mode else locked(lease_dir, wait=lock_timeout)
    with lock:
        before = read_registry(lease_dir)
        owners = lockspace_owners(lease_dir, hosts, before, liveness_interval)
        allocation = allocate(hosts, registry=before, slots=owners, force=force, release=release)
        changed = allocation.registry != before or needs_migration(lease_dir)
        if changed and not check_mode:
            write_registry(lease_dir, allocation.registry)
    recorded = RecordedIds(lease_dir, before, allocation, changed)
    if diff and changed:
        recorded.diff = _registry_diff(lease_dir, before, allocation.registry)
    return recorded


def _registry_diff(lease_dir: str, before: Mapping[str, int], after: Mapping[str, int]) -> Dict[str, str]:
    path = registry_path(lease_dir)
    before_path = legacy_registry_path(lease_dir) if needs_migration(lease_dir) and not os.path.exists(path) else path
    return dict(before=render_registry(before) if before or os.path.exists(before_path) else "",
                after=render_registry(after), before_header=before_path, after_header=path)
