# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Safe, parallel removal of unused disk leases (replaces virt-sanlock-cleanup).

PRIVATE to the autolease.sanlock collection: no compatibility promise. No
Ansible imports: the cron script calls run_cleanup() and prints as_dict().

Candidates are regular files directly in lease_dir that are initialised leases
of __LIBVIRT__DISKS__ whose resource name is the file name. Never deleted: a
lease any host holds (acquire fails), the lockspace file, symlinks, anything
that is not a regular file, invalid or uninitialised files, leases of another
lockspace, leases named in keep (lease names or disk paths), leases whose file
changed less than min_age seconds ago.

One cleanup per lease directory at a time, cluster-wide: run_cleanup takes
an exclusive, non-blocking fcntl.flock on
/run/autolease-sanlock-cleanup-<md5 of the real lease_dir path>.lock (lock_dir
overrides /run); a second run on the host fails at once with CleanupLockBusy
naming the holder's pid instead of waiting. Then it holds the sanlock resource
lease <lease_dir>/__AUTOLEASE_CLEANUP__ (created like any lease file, owned
like the lockspace file) for the whole run, through its own registration: a
cleanup on another host fails at once with CleanupLockBusy naming the host_id
that holds it. If the holder dies, sanlock frees the lease as it frees any
lease of a dead host. Check mode takes the host lock only and creates nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno
import fcntl
import hashlib
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Union

from ansible_collections.autolease.sanlock.plugins.module_utils import _lease_file, _lockspace
from ansible_collections.autolease.sanlock.plugins.module_utils._atomic_file import check_lease_dir
from ansible_collections.autolease.sanlock.plugins.module_utils._join_proof import require_verified_join
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import CleanupLockBusy, LeaseDirError, LeaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._names import (
    CLEANUP_LOCK_FILE,
    LOCKSPACE_NAME,
    OWN_FILE_REASONS,
    is_lease_name,
    lease_name,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._sanlock_binding import (
    DAEMON_DOWN_ERRNOS,
    HELD_ERRNOS,
    daemon_down_error,
    get_sanlock,
    not_joined_error,
    sanlock_errno,
)

DEFAULT_WORKERS = 8  # sanlock's default max_worker_threads
SANLOCK_CONF = "/etc/sanlock/sanlock.conf"
DEFAULT_LOCK_DIR = "/run"


def daemon_worker_threads(conf=SANLOCK_CONF):
    """max_worker_threads from sanlock.conf, else sanlock's default 8."""
    try:
        with open(conf) as handle:
            for line in handle:
                match = re.match(r"\s*max_worker_threads\s*=\s*(\d+)", line)
                if match and int(match.group(1)) > 0:
                    return int(match.group(1))
    except (IOError, OSError):
        pass
    return DEFAULT_WORKERS


# One entry of a result list: a lease name, or a dict with its "name" and why it is there.
Entry = Union[str, Dict[str, Any]]


@dataclass
class CleanupResult:
    """What a cleanup removed, found held, kept (keep, min_age) and skipped (not a lease); the lease_cleanup
    module's return values. Filled from several threads through add()."""

    lease_dir: str
    check_mode: bool
    removed: List[Entry] = field(default_factory=list)
    held: List[Entry] = field(default_factory=list)
    kept: List[Entry] = field(default_factory=list)
    skipped: List[Entry] = field(default_factory=list)
    cluster_lock: Dict[str, Any] = field(default_factory=lambda: {"name": CLEANUP_LOCK_FILE, "created": False})
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def add(self, bucket: str, entry: Entry) -> None:
        with self._lock:
            getattr(self, bucket).append(entry)

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.cluster_lock["created"])

    def as_dict(self) -> Dict[str, Any]:
        def by_name(items):
            return sorted(items, key=lambda item: item["name"] if isinstance(item, dict) else item)
        return {
            "lease_dir": self.lease_dir,
            "check_mode": self.check_mode,
            "changed": self.changed,
            "removed": by_name(self.removed),
            "held": by_name(self.held),
            "kept": by_name(self.kept),
            "skipped": by_name(self.skipped),
            "cluster_lock": dict(self.cluster_lock),
            "counts": {
                "removed": len(self.removed),
                "held": len(self.held),
                "kept": len(self.kept),
                "skipped": len(self.skipped),
            },
        }


def _lock_path(lease_dir, lock_dir):
    digest = hashlib.md5(os.path.realpath(lease_dir).encode("utf-8", "surrogateescape")).hexdigest()  # nosec
    return os.path.join(lock_dir or DEFAULT_LOCK_DIR, "autolease-sanlock-cleanup-%s.lock" % digest)


class _DirLock:
    def __init__(self, lease_dir, lock_dir):
        self.path = _lock_path(lease_dir, lock_dir)
        self.lease_dir = lease_dir
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LeaseError("cannot open the cleanup lock file %s: %s" % (self.path, exc.strerror))
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            try:
                holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            except OSError:
                holder = "unknown"
            os.close(self.fd)
            self.fd = None
            raise CleanupLockBusy("another lease cleanup of %s is running on this host (pid %s holds %s); wait "
                                  "for it to finish and run again" % (self.lease_dir, holder, self.path))
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, ("%d\n" % os.getpid()).encode("ascii"), 0)
        return self

    def __exit__(self, *exc_info):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


class _ClusterLock:
    """The lease <lease_dir>/__AUTOLEASE_CLEANUP__, held through its own registration while the cleanup runs."""

    def __init__(self, lease_dir, lockspace_file):
        self.lease_dir = lease_dir
        self.lockspace_file = lockspace_file
        self.path = os.path.join(lease_dir, CLEANUP_LOCK_FILE)
        self.disks = [(self.path, 0)]
        self.sanlock = None
        self.fd = None

    def ensure(self, check_mode):
        """Create the lock lease if missing (owned like the lockspace file); True if created (would be)."""
        if os.path.lexists(self.path):
            return False
        if check_mode:
            return True
        st = os.stat(self.lockspace_file)
        return _lease_file.create(self.lease_dir, CLEANUP_LOCK_FILE, st.st_uid, st.st_gid,
                                  mode=st.st_mode & 0o660 or _lease_file.LEASE_MODE)

    def __enter__(self):
        sanlock = self.sanlock = get_sanlock()
        action = "take the cluster-wide cleanup lock %s" % self.path
        try:
            regular = stat.S_ISREG(os.lstat(self.path).st_mode)
        except OSError as exc:
            raise LeaseError("cannot %s: %s; run the cleanup again (it creates the file)" % (action, exc.strerror))
        if not regular:
            raise LeaseError("cannot %s: it is not a regular file (a symlink or another kind of file); remove it "
                             "and run the cleanup again (it creates the file)" % action)
        try:
            self.fd = sanlock.register()
            sanlock.acquire(LOCKSPACE_NAME.encode(), CLEANUP_LOCK_FILE.encode(), self.disks, slkfd=self.fd)
        except sanlock.SanlockException as exc:
            self._close()
            code = sanlock_errno(exc)
            if code == errno.ENOSPC:
                raise not_joined_error(self.lockspace_file, action)
            if code in HELD_ERRNOS:
                raise self._busy()
            if code in DAEMON_DOWN_ERRNOS and os.path.lexists(self.path):
                raise daemon_down_error(exc, action)
            raise LeaseError("cannot %s: %s; if the file is not a valid lease (sanlock direct dump %s shows no "
                             "resource), remove it: the next cleanup creates it again" % (action, exc, self.path))
        return self

    def _busy(self):
        owners = [owner.host_id for owner in _lease_file.inspect(self.path).owners]
        holder = "host_id %s" % ", ".join(str(h) for h in owners) if owners else "a host whose host_id cannot be read"
        return CleanupLockBusy("another lease cleanup of %s holds the cluster-wide cleanup lock %s (%s); only one "
                               "cleanup runs at a time on the shared storage: wait for it to finish and run again"
                               % (self.lease_dir, self.path, holder))

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __exit__(self, *exc_info):
        try:
            self.sanlock.release(LOCKSPACE_NAME.encode(), CLEANUP_LOCK_FILE.encode(), self.disks, slkfd=self.fd)
        except self.sanlock.SanlockException:
            pass  # closing the registration below releases it as well
        self._close()


def _keep_names(keep):
    names = set()
    for item in keep or ():
        item = str(item)
        names.add(item if is_lease_name(item) else lease_name(item))
    return names


def _owners_dict(owners):
    return [{"host_id": owner.host_id, "generation": owner.generation, "shared": owner.shared} for owner in owners]


def classify(lease_dir, keep=(), min_age=0, only=None, now=None):
    """Split the directory into candidates (LeaseFile list) and decided entries: (candidates, result entries).

    Returns (candidates, decided) where decided is a list of (bucket, entry).
    """
    now = time.time() if now is None else now
    keep_names = _keep_names(keep)
    max_host_id = _lockspace.max_used_host_id(_lockspace.lockspace_path(lease_dir))
    candidates, decided = [], []
    try:
        entries = sorted(os.listdir(lease_dir))
    except OSError as exc:
        raise LeaseError("cannot list %s: %s" % (lease_dir, exc.strerror))
    for entry in entries:
        if only is not None and entry not in only:
            continue
        if entry in OWN_FILE_REASONS:
            decided.append(("skipped", {"name": entry, "reason": OWN_FILE_REASONS[entry]}))
            continue
        info = _lease_file.inspect(os.path.join(lease_dir, entry), now=now, max_host_id=max_host_id)
        if info.kind == "lockspace":
            decided.append(("skipped", {"name": entry, "reason": "lockspace file"}))
        elif info.kind == "invalid":
            decided.append(("skipped", {"name": entry, "reason": info.reason}))
        elif entry in keep_names:
            decided.append(("kept", {"name": entry, "reason": "listed in keep"}))
        elif min_age and now - info.mtime < min_age:
            decided.append(("kept", {"name": entry, "reason": "younger than min_age (%d s < %d s)"
                                     % (max(0, now - info.mtime), min_age)}))
        else:
            candidates.append(info)
    return candidates, decided


def run_cleanup(lease_dir, keep=(), min_age=0, workers=None, check_mode=False, only=None, lock_dir=None,
                _race_hook=None):
    """Remove unused leases from lease_dir; returns a CleanupResult.

    keep: lease names or disk paths never to remove. min_age: seconds since
    the file was last written (mtime). workers: threads, each with its own
    sanlock registration (default: the daemon's max_worker_threads, 8).
    check_mode: read owners from disk, acquire and delete nothing; a lease
    with any owner recorded on disk counts as held (even if that host died).
    only: restrict to these file names (the lease module's state=absent).
    _race_hook: tests only, see _lease_file.Remover.
    """
    check_lease_dir(lease_dir)
    if min_age is None or min_age < 0:
        raise LeaseError("min_age %r: expected seconds >= 0" % (min_age,))
    if workers is None:
        workers = daemon_worker_threads()
    if workers < 1:
        raise LeaseError("workers %r: expected an integer >= 1" % (workers,))
    lockspace_file = _lockspace.lockspace_path(lease_dir)
    if not os.path.isfile(lockspace_file):
        # A lease directory without its lockspace is not the shared storage: most likely the volume is not
        # mounted (the daemon may still be joined through the detached mount). Report it, touch nothing.
        raise LeaseDirError("lease_dir %s holds no lockspace file %s: the shared lease storage is not mounted "
                            "there (or was never set up); mount it on lease_dir and run the cleanup again"
                            % (lease_dir, os.path.basename(lockspace_file)))
    result = CleanupResult(lease_dir, check_mode)
    with _DirLock(lease_dir, lock_dir):
        # By content, not by path: a daemon joined through a mount that is gone (or hidden under a new one)
        # would otherwise vouch for whatever files the directory shows now.
        require_verified_join(lockspace_file, "clean up leases in %s" % lease_dir)
        cluster_lock = _ClusterLock(lease_dir, lockspace_file)
        result.cluster_lock["created"] = cluster_lock.ensure(check_mode)
        if check_mode:
            candidates, decided = classify(lease_dir, keep=keep, min_age=min_age, only=only)
            for bucket, entry in decided:
                result.add(bucket, entry)
            for info in candidates:
                if info.owners:
                    result.add("held", {"name": info.name, "owners": _owners_dict(info.owners),
                                        "reason": "owners recorded on disk"})
                else:
                    result.add("removed", info.name)
            return result
        with cluster_lock:
            candidates, decided = classify(lease_dir, keep=keep, min_age=min_age, only=only)
            for bucket, entry in decided:
                result.add(bucket, entry)
            _remove_all(candidates, result, lockspace_file, min(workers, max(1, len(candidates))),
                        _lockspace.max_used_host_id(lockspace_file), _race_hook)
    return result


def _remove_all(candidates, result, lockspace_file, workers, max_host_id, race_hook=None):
    queue = collections.deque(candidates)
    queue_lock = threading.Lock()
    errors = []

    def work(remover):
        try:
            while not errors:
                with queue_lock:
                    if not queue:
                        return
                    info = queue.popleft()
                outcome, reason = remover.remove(info)
                if outcome == "removed":
                    result.add("removed", info.name)
                elif outcome == "held":
                    fresh = _lease_file.inspect(info.path, max_host_id=max_host_id)
                    result.add("held", {"name": info.name, "owners": _owners_dict(fresh.owners), "reason": reason})
                else:
                    result.add("skipped", {"name": info.name, "reason": reason})
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)
        finally:
            remover.close()

    removers = [_lease_file.Remover(lockspace_file, race_hook) for dummy in range(workers)]
    threads = [threading.Thread(target=work, args=(remover,)) for remover in removers[1:]]
    for thread in threads:
        thread.start()
    work(removers[0])
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
