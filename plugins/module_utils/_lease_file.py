# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One lease file <lease_dir>/<name>: inspect it, create it, remove it safely.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

Inspection reads the file directly (paxos leader in sector 0, each host's
mode block in sector host_id+1), so it needs no daemon. Creation and safe
removal go through the local sanlock daemon.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno
import itertools
import os
import stat
import struct
import time
from typing import NamedTuple

from ansible_collections.autolease.sanlock.plugins.module_utils import _atomic_file, _leader_record
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LeaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME
from ansible_collections.autolease.sanlock.plugins.module_utils._sanlock_binding import (
    DAEMON_DOWN_ERRNOS,
    HELD_ERRNOS,
    daemon_down_error,
    get_sanlock,
    not_joined_error,
    run_dir,
    sanlock_errno,
)

LEASE_MODE = 0o600

# kind: "lease" (valid lease of our lockspace), "lockspace", "invalid"
LeaseFile = collections.namedtuple("LeaseFile", [
    "name", "path", "kind", "reason", "size", "mtime", "resource", "lockspace", "owners", "uninitialised",
])


class Owner(NamedTuple):
    """One holder of a lease as recorded on disk."""

    host_id: int
    generation: int
    shared: bool


def _owners(data, leader, max_host_id=None):
    owners = []
    if leader.timestamp and leader.owner_id:
        owners.append(Owner(leader.owner_id, leader.owner_generation, False))
    sector = leader.sector_size
    hosts = min(leader.num_hosts or leader.max_hosts, len(data) // sector - 2)
    if max_host_id is not None:
        hosts = min(hosts, max_host_id)
    for host_id in range(1, hosts + 1):
        start = (host_id + 1) * sector + _leader_record.MBLOCK_OFFSET
        if start + 16 > len(data):
            break
        flags, generation = struct.unpack_from("<I4xQ", data, start)  # struct mode_block, natural alignment
        if flags & _leader_record.MBLOCK_SHARED:
            owners.append(Owner(host_id, generation, True))
    return owners


def inspect(path, now=None, max_host_id=None):
    """Classify the directory entry at path. Never follows symlinks, never raises for odd files.

    Shared owners are looked up in the sectors of host_ids up to max_host_id
    (the highest used lockspace slot: no other host can hold a lease), else
    of every host the lease has room for (2000 sectors, about 1 MiB).
    """
    name = os.path.basename(path)
    now = time.time() if now is None else now
    base = dict(name=name, path=path, size=0, mtime=0, resource=None, lockspace=None, owners=[],
                uninitialised=False)
    try:
        st = os.lstat(path)
    except OSError as exc:
        return LeaseFile(kind="invalid", reason="vanished (%s)" % exc.strerror, **base)
    base.update(size=st.st_size, mtime=st.st_mtime)
    if stat.S_ISLNK(st.st_mode):
        return LeaseFile(kind="invalid", reason="symlink", **base)
    if stat.S_ISDIR(st.st_mode):
        return LeaseFile(kind="invalid", reason="directory", **base)
    if not stat.S_ISREG(st.st_mode):
        return LeaseFile(kind="invalid", reason="not a regular file", **base)
    if name == LOCKSPACE_NAME:
        return LeaseFile(kind="lockspace", reason="lockspace file", **base)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            data = os.read(fd, 2 * _leader_record.SECTOR)
            leader = _leader_record.parse(data)
            if leader is not None and leader.magic == _leader_record.PAXOS_MAGIC and leader.checksum_ok:
                hosts = leader.num_hosts or 0
                if max_host_id is not None:
                    hosts = min(hosts, max_host_id)
                want = (leader.sector_size or _leader_record.SECTOR) * (2 + hosts)
                if want > len(data):
                    data += os.read(fd, min(want, _leader_record.ALIGN * 8) - len(data))
        finally:
            os.close(fd)
    except OSError as exc:
        return LeaseFile(kind="invalid", reason="unreadable (%s)" % exc.strerror, **base)
    why = _leader_record.problem(leader, data, _leader_record.PAXOS_MAGIC)
    if why:
        uninit = why.startswith(("uninitialised", "torn", "truncated")) or st.st_size < _leader_record.ALIGN
        base["uninitialised"] = uninit
        return LeaseFile(kind="invalid", reason=why, **base)
    base.update(resource=leader.resource_name, lockspace=leader.space_name)
    if leader.space_name != LOCKSPACE_NAME:
        return LeaseFile(kind="invalid", reason="lease of another lockspace (%s)" % leader.space_name, **base)
    if leader.resource_name != name:
        return LeaseFile(kind="invalid", reason="resource name %s does not match the file name"
                         % leader.resource_name, **base)
    if st.st_size < _leader_record.ALIGN:
        base["uninitialised"] = True
        reason = "truncated (%d bytes, expected %d)" % (st.st_size, _leader_record.ALIGN)
        return LeaseFile(kind="invalid", reason=reason, **base)
    base["owners"] = _owners(data, leader, max_host_id)
    return LeaseFile(kind="lease", reason=None, **base)


def as_dict(lease, now=None):
    now = time.time() if now is None else now
    return {
        "name": lease.name,
        "path": lease.path,
        "size": lease.size,
        "initialized": lease.kind == "lease",
        "age": max(0, int(now - lease.mtime)) if lease.mtime else None,
        "owners": [dict(owner._asdict()) for owner in lease.owners],
    }


def _resource_writer(name):
    def initialise(tmp):
        sanlock = get_sanlock()
        try:
            sanlock.write_resource(LOCKSPACE_NAME.encode(), name.encode(), [(tmp, 0)])
        except sanlock.SanlockException as exc:
            if sanlock_errno(exc) in DAEMON_DOWN_ERRNOS:
                raise daemon_down_error(exc, "initialise lease %s (sanlock writes it through the local daemon)"
                                        % name)
            raise LeaseError("sanlock could not initialise lease %s in %s: %s" % (name, tmp, exc))
    return initialise


def create(lease_dir, name, uid=-1, gid=-1, repair=False, mode=LEASE_MODE):
    """Create (or with repair=True, replace) <lease_dir>/<name> as an initialised lease.

    Returns True if this call put the file in place; False if another writer
    created it first (creation never replaces an existing file).
    """
    path = os.path.join(lease_dir, name)
    tmp = _atomic_file.build(path, _resource_writer(name), uid, gid, mode)
    if repair:
        _atomic_file.replace(tmp, path)
        return True
    return _atomic_file.install(tmp, path)


class Remover:
    """Safe removal through the local daemon with one registration (one per thread).

    A lease that cannot be acquired is never deleted. The file deleted is
    provably the one acquired, and no daemon can acquire it once deleted:

    1. hard-link the lease file to a private name next to it and open it
       there: the daemon's acquire and release then reach this inode, and no
       other, whatever happens to the public path meanwhile;
    2. acquire the lease through the private name;
    3. check that the public path still names the inode acquired (a file
       put there since, by another cleanup and a VM start, is left alone);
    4. while holding, clear the paxos leader of that inode (sanlock's own
       cleared-lease magic, written through our fd and fsync'd);
    5. unlink the public path; 6. release; 7. unlink the private name.

    Why step 4: a daemon on another host that opened the path before the
    unlink reaches the deleted inode. Without step 4 the deleted file keeps
    a valid leader owned by this host's generation; once that generation is
    gone (daemon restart, host death) such a daemon could take the deleted
    file while the next VM start elsewhere creates a new one: two writers of
    one disk. With the leader cleared, every acquire of the deleted inode
    fails with SANLK_LEADER_MAGIC (-223).

    What sanlock does with it (read in sanlock 3.8's paxos_lease.c and
    resource.c): acquire and release both read the leader first, and
    verify_leader answers SANLK_LEADER_MAGIC for the cleared magic before
    looking at anything else; paxos_lease_release then returns that error
    without writing, so the cleared record is never replaced by a valid
    one. The daemon frees the resource in memory whatever the on-disk
    release returns (only an i/o timeout keeps it for a retry), so release
    errors after a removal are expected and ignored. The release opens the
    disk by the path given at acquire: through the public path it would
    write this host's dblock into whatever file is there by then (a file
    re-created at the path: seen to make the next acquire of it fail with
    -245); step 1 keeps it on the inode acquired. If the unlink fails, the
    original leader is written back before the release.
    """

    _serial = itertools.count()

    def __init__(self, lockspace_file, race_hook=None):
        self.sanlock = get_sanlock()
        self.lockspace_file = lockspace_file
        self._race_hook = race_hook  # tests only: race_hook(stage, lease) at "acquired" and "unlinked"
        try:
            self.fd = self.sanlock.register()
        except self.sanlock.SanlockException as exc:
            if sanlock_errno(exc) in DAEMON_DOWN_ERRNOS:
                raise daemon_down_error(exc, "register with the local sanlock daemon")
            raise LeaseError("cannot register with the local sanlock daemon: %s" % exc)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def remove(self, lease):
        """Return ("removed", None), ("held", reason) or ("skipped", reason)."""
        # a temporary name of _atomic_file's form: never taken for a lease
        private = os.path.join(os.path.dirname(lease.path), ".%s.removing-%d-%d.tmp"
                               % (lease.name, os.getpid(), next(self._serial)))
        try:
            os.link(lease.path, private, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return "skipped", "vanished before removal"
            return "skipped", "cannot link it to %s for the removal (%s)" % (private, exc.strerror)
        try:
            fd = os.open(private, os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            _unlink_quietly(private)
            return "skipped", "cannot open (%s)" % exc.strerror
        try:
            return self._remove_linked(lease, private, fd)
        finally:
            os.close(fd)
            _unlink_quietly(private)

    def _acquire(self, lease, disks):
        """None when acquired, else the (outcome, reason) to return."""
        sanlock = self.sanlock
        try:
            sanlock.acquire(LOCKSPACE_NAME.encode(), lease.name.encode(), disks, slkfd=self.fd)
        except sanlock.SanlockException as exc:
            code = sanlock_errno(exc)
            if code == errno.ENOSPC:
                raise not_joined_error(self.lockspace_file, "acquire lease %s" % lease.name)
            if code in DAEMON_DOWN_ERRNOS and not os.path.exists(lease.path):
                return "skipped", "vanished before removal"
            if code == errno.ENOENT and os.path.exists(os.path.join(run_dir(), "sanlock.sock")):
                # The daemon answers (its socket is there): the ENOENT is the lease file's. It was
                # removed by another host's cleanup and created again (a VM start) while we acquired.
                return "skipped", "removed and created again during removal"
            if code in DAEMON_DOWN_ERRNOS:
                raise daemon_down_error(exc, "acquire lease %s" % lease.name)
            if code in HELD_ERRNOS:
                return "held", "held (%s)" % exc.args[1] if len(exc.args) > 1 else "held"
            return "skipped", "cannot acquire (%s)" % (exc,)
        return None

    def _release(self, lease, disks):
        """Release; the SanlockException or None (the daemon drops the resource either way)."""
        try:
            self.sanlock.release(LOCKSPACE_NAME.encode(), lease.name.encode(), disks, slkfd=self.fd)
        except self.sanlock.SanlockException as exc:
            return exc
        return None

    def _remove_linked(self, lease, private, fd):
        disks = [(private, 0)]
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "skipped", "not a regular file"
        refused = self._acquire(lease, disks)
        if refused:
            return refused
        if self._race_hook:
            self._race_hook("acquired", lease)
        leader = _leader_record.parse(os.pread(fd, _leader_record.SECTOR, 0))
        if leader is None or leader.magic != _leader_record.PAXOS_MAGIC or leader.resource_name != lease.name \
                or leader.sector_size not in (512, 4096):
            self._release(lease, disks)
            return "skipped", "not the lease %s any more" % lease.name
        original = os.pread(fd, leader.sector_size, 0)
        names = os.fstat(fd).st_nlink
        try:
            now = os.lstat(lease.path)
            at_path = (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
        except OSError:
            at_path = False
        if names != (2 if at_path else 1):
            # another hard link (not ours) names this inode: deleting our names would not delete the lease
            self._release(lease, disks)
            return "skipped", "has %d hard links besides the cleanup's own" % (names - 1)
        try:
            _write_sector(fd, _leader_record.cleared(original))
        except OSError as exc:
            reason = "cannot clear its leader while holding it: %s" % exc.strerror
            return "skipped", self._restore(lease, disks, fd, original, reason)
        if at_path:
            try:
                os.unlink(lease.path)
            except OSError as exc:
                reason = "cannot delete while holding it: %s" % exc.strerror
                return "skipped", self._restore(lease, disks, fd, original, reason)
        if self._race_hook:
            self._race_hook("unlinked", lease)
        self._release(lease, disks)
        if not at_path:
            # Someone removed the file we acquired (and maybe put a new one at the path): the new file
            # is left alone; the old inode, cleared above, goes with our private name.
            return "skipped", "replaced during removal: the file at the path is not the one acquired"
        return "removed", None

    def _restore(self, lease, disks, fd, original, reason):
        """Write the original leader back (still holding the lease), release; the skip reason."""
        try:
            _write_sector(fd, original)
        except OSError as exc:
            reason = "%s; writing its leader back failed: %s (acquiring it fails with -223 until the file is " \
                     "removed)" % (reason, exc.strerror)
        failed = self._release(lease, disks)
        if failed is not None:
            reason = "%s; release failed: %s" % (reason, failed)
        return reason


def _write_sector(fd, data):
    """Write the leader sector at offset 0 and make it durable before anything else happens.

    Buffered write plus fsync: on NFS the fsync puts it on the server, where
    the daemons of other hosts read with O_DIRECT; locally their O_DIRECT
    reads see the written page.
    """
    if os.pwrite(fd, data, 0) != len(data):
        raise OSError(errno.EIO, "short write of the leader sector")
    os.fsync(fd)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
