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
import os
import stat
import struct
import time

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
Owner = collections.namedtuple("Owner", ["host_id", "generation", "shared"])


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


def create(lease_dir, name, uid=-1, gid=-1, repair=False):
    """Create (or with repair=True, replace) <lease_dir>/<name> as an initialised lease.

    Returns True if this call put the file in place; False if another writer
    created it first (creation never replaces an existing file).
    """
    path = os.path.join(lease_dir, name)
    tmp = _atomic_file.build(path, _resource_writer(name), uid, gid, LEASE_MODE)
    if repair:
        _atomic_file.replace(tmp, path)
        return True
    return _atomic_file.install(tmp, path)


class Remover:
    """Safe removal through the local daemon with one registration (one per thread).

    acquire -> unlink while holding -> release. A lease that cannot be
    acquired is never deleted.
    """

    def __init__(self, lockspace_file):
        self.sanlock = get_sanlock()
        self.lockspace_file = lockspace_file
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
        sanlock = self.sanlock
        disks = [(lease.path, 0)]
        resource = lease.name.encode()
        try:
            sanlock.acquire(LOCKSPACE_NAME.encode(), resource, disks, slkfd=self.fd)
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
        removed, reason = True, None
        try:
            os.unlink(lease.path)
        except OSError as exc:
            removed = exc.errno == errno.ENOENT
            reason = "cannot delete while holding it: %s" % exc.strerror
        try:
            sanlock.release(LOCKSPACE_NAME.encode(), resource, disks, slkfd=self.fd)
        except sanlock.SanlockException as exc:
            if sanlock_errno(exc) != errno.ENOENT and not removed:
                reason = "%s; release failed: %s" % (reason, exc)
        if removed:
            return "removed", None
        return "skipped", reason
