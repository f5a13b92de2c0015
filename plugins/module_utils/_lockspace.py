# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lockspace file __LIBVIRT__DISKS__: read its host_id slots, create it.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

Slots are read directly from the file (one 512-byte sector per host_id, host N
at (N-1)*512), so reading works whether or not the local daemon has joined.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time
from typing import NamedTuple

from ansible_collections.autolease.sanlock.plugins.module_utils import _atomic_file, _leader_record, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import DaemonError, LeaseDirError, LeaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME, MAX_HOST_ID
from ansible_collections.autolease.sanlock.plugins.module_utils._sanlock_binding import (
    DAEMON_DOWN_ERRNOS,
    daemon_down_error,
    get_sanlock,
    local_host_id,
    sanlock_errno,
)


class Slot(NamedTuple):
    """One used host_id slot of the lockspace (its delta lease)."""

    host_id: int
    owner_name: str   # the sanlock host name last written into the slot
    generation: int
    timestamp: int    # of the last renewal
    io_timeout: int


DEFAULT_IO_TIMEOUT = 10  # sanlock's default when io_timeout 0 is written
LOCKSPACE_MODE = 0o660


def lockspace_path(lease_dir):
    return os.path.join(lease_dir, LOCKSPACE_NAME)


def _read_now(path, size):
    with open(path, "rb") as handle:
        return handle.read(size)


def _read(path, size):
    """size bytes from the start of path; LeaseError if unreadable, StorageTimeout if the storage hangs."""
    try:
        return _storage_io.bounded("reading the lockspace file", path, _read_now, path, size)
    except OSError as exc:
        raise LeaseError("cannot read the lockspace file %s: %s; check that lease_dir is right and the "
                         "shared lease storage is mounted" % (path, exc.strerror))


def read_header(path):
    """First slot of the lockspace (validated): a Leader. Raises LeaseError if not a lockspace."""
    data = _read(path, _leader_record.SECTOR)
    leader = _leader_record.parse(data)
    why = _leader_record.problem(leader, data, _leader_record.DELTA_MAGIC)
    if why is None and leader.space_name != LOCKSPACE_NAME:
        why = "lockspace %r, expected %s" % (leader.space_name, LOCKSPACE_NAME)
    if why:
        raise LeaseError("%s is not a usable %s lockspace: %s. If no host has joined it, remove it and run the "
                         "lease module (state=present) to recreate it" % (path, LOCKSPACE_NAME, why))
    return leader


def read_slots(path):
    """Used host_id slots of the lockspace file at path: list of Slot, by host_id.

    A slot with timestamp 0 (never used or left cleanly) is free and not listed.
    Slots with a bad checksum are skipped (being rewritten at this moment).
    """
    header = read_header(path)
    sector = header.sector_size
    data = _read(path, sector * MAX_HOST_ID)
    slots = []
    for index in range(len(data) // sector):
        chunk = data[index * sector:(index + 1) * sector]
        leader = _leader_record.parse(chunk)
        if leader is None or leader.magic != _leader_record.DELTA_MAGIC or not leader.checksum_ok:
            continue
        if leader.timestamp == 0 or leader.owner_id == 0:
            continue
        slots.append(Slot(host_id=index + 1, owner_name=leader.resource_name, generation=leader.owner_generation,
                          timestamp=leader.timestamp, io_timeout=leader.io_timeout))
    return slots


def max_used_host_id(path):
    """Highest host_id with a used slot (0 if none); None if the lockspace cannot be read."""
    try:
        return max([slot.host_id for slot in read_slots(path)] or [0])
    except LeaseError:
        return None


def liveness_interval(slots):
    """Seconds between two reads to see every live host renew (renewal every 2*io_timeout)."""
    io_timeout = max([slot.io_timeout or DEFAULT_IO_TIMEOUT for slot in slots] or [DEFAULT_IO_TIMEOUT])
    return 2 * io_timeout + 1


def live_host_ids(path, interval=None, sleep=time.sleep):
    """host_ids whose slot timestamp changed between two reads interval seconds apart.

    interval defaults to 2*io_timeout+1 (a live host renews every 2*io_timeout).
    """
    first = {slot.host_id: (slot.timestamp, slot.generation) for slot in read_slots(path)}
    if not first:
        return set()
    if interval is None:
        interval = liveness_interval(read_slots(path))
    sleep(interval)
    second = {slot.host_id: (slot.timestamp, slot.generation) for slot in read_slots(path)}
    return set(host_id for host_id, stamp in second.items() if first.get(host_id) != stamp)


def lockspace_info(path):
    """Summary dict of the lockspace: name, path, io_timeout, alignment, sector_size, slots."""
    header = read_header(path)
    slots = read_slots(path)
    io_timeouts = sorted(set(slot.io_timeout for slot in slots))
    return {
        "name": LOCKSPACE_NAME,
        "path": path,
        "io_timeout": io_timeouts[0] if len(io_timeouts) == 1 else header.io_timeout,
        "alignment": _leader_record.ALIGN if header.sector_size == 512 else 8 * _leader_record.ALIGN,
        "sector_size": header.sector_size,
        "size": _storage_io.bounded("reading the size of", path, os.stat, path).st_size,
        "slots": [dict(slot._asdict()) for slot in slots],
    }


def _writer(io_timeout):
    def initialise(tmp):
        sanlock = get_sanlock()
        try:
            sanlock.write_lockspace(LOCKSPACE_NAME.encode(), tmp, iotimeout=io_timeout)
        except sanlock.SanlockException as exc:
            if sanlock_errno(exc) in DAEMON_DOWN_ERRNOS:
                raise daemon_down_error(exc, "initialise the lockspace %s (sanlock writes it through the "
                                             "local daemon)" % LOCKSPACE_NAME)
            raise LeaseError("sanlock could not initialise the lockspace in %s: %s" % (tmp, exc))
    return initialise


def _refuse_if_joined_elsewhere(lease_dir, path):
    """The file is missing, yet the local daemon has joined a lockspace at this path: the shared storage is
    not mounted (the daemon keeps it through the detached mount). A new, local lockspace here would give this
    host protection against nobody, so refuse. A daemon that does not answer is left to the creation itself,
    which needs it and says how to start it."""
    try:
        joined = local_host_id(path)
    except DaemonError:
        return
    if joined is not None:
        raise LeaseDirError("lease_dir %s has no lockspace file, but the local sanlock daemon has joined %s there "
                            "as host_id %s: the shared lease storage is not mounted (any more); mount it on "
                            "lease_dir again instead of creating a local lockspace"
                            % (lease_dir, LOCKSPACE_NAME, joined))


def ensure_lockspace(lease_dir, owner="sanlock", group="sanlock", io_timeout=0, check_mode=False):
    """Create <lease_dir>/__LIBVIRT__DISKS__ if missing; True if created (or would be in check mode).

    An existing file is never replaced: if it is not a valid lockspace a
    LeaseError says so. Needs the local sanlock daemon (DaemonError if down).
    """
    _storage_io.probe(lease_dir)
    _atomic_file.check_lease_dir(lease_dir)
    path = lockspace_path(lease_dir)
    if os.path.lexists(path):
        if os.path.islink(path) or not os.path.isfile(path):
            raise LeaseError("%s exists but is not a regular file; remove it so that the lockspace can be "
                             "created" % path)
        read_header(path)
        return False
    if io_timeout is None or io_timeout < 0:
        raise LeaseError("io_timeout %r: expected an integer >= 0 (0 = sanlock default 10 s)" % (io_timeout,))
    _refuse_if_joined_elsewhere(lease_dir, path)
    uid, gid = _atomic_file.resolve_ids(owner, group)
    if check_mode:
        return True
    tmp = _atomic_file.build(path, _writer(io_timeout), uid, gid, LOCKSPACE_MODE)
    return _atomic_file.install(tmp, path)
