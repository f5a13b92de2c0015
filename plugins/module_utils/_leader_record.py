# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sanlock's on-disk leader record, read directly from the file.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

Both a lockspace slot (delta lease, magic 0x12212010) and the first sector of
a resource lease (paxos leader, magic 0x06152010) start with this
little-endian record; the checksum is crc32c (seed 0xfffffffe, no final xor)
over the first 168 bytes. Reading directly needs no sanlock daemon.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import struct

DELTA_MAGIC = 0x12212010
PAXOS_MAGIC = 0x06152010
# sanlock's own magic of a cleared resource lease (what write_resource with the
# clear flag writes): sanlock refuses to acquire it with SANLK_LEADER_MAGIC
# (-223, "Lease does not exist on storage") and never writes over it on release.
PAXOS_CLEAR_MAGIC = 0x11282016
SECTOR = 512
ALIGN = 1048576
MBLOCK_OFFSET = 128  # mode block inside a host's dblock sector
MBLOCK_SHARED = 0x1

_FMT = "<IIIIQQQQQ48s48sQQIHH"
RECORD_SIZE = struct.calcsize(_FMT)
CHECKSUM_LEN = 168

Leader = collections.namedtuple("Leader", [
    "magic", "version", "flags", "sector_size", "num_hosts", "max_hosts", "owner_id",
    "owner_generation", "lver", "space_name", "resource_name", "timestamp", "checksum",
    "io_timeout", "checksum_ok",
])


def _crc_table():
    table = []
    for i in range(256):
        crc = i
        for dummy in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data, crc=0xFFFFFFFE):
    """sanlock's checksum: crc32c with seed ~1 and no final inversion."""
    table = _TABLE
    for byte in bytearray(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _text(raw):
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def parse(sector):
    """Parse a leader record from the start of a sector (bytes). None if shorter than a record."""
    if len(sector) < RECORD_SIZE:
        return None
    (magic, version, flags, sector_size, num_hosts, max_hosts, owner_id, owner_generation, lver,
     space, resource, timestamp, _unused1, checksum, _unused2, io_timeout) = struct.unpack_from(_FMT, sector, 0)
    return Leader(
        magic=magic, version=version, flags=flags, sector_size=sector_size, num_hosts=num_hosts,
        max_hosts=max_hosts, owner_id=owner_id, owner_generation=owner_generation, lver=lver,
        space_name=_text(space), resource_name=_text(resource), timestamp=timestamp,
        checksum=checksum, io_timeout=io_timeout,
        checksum_ok=crc32c(sector[:CHECKSUM_LEN]) == checksum,
    )


def cleared(sector):
    """The leader sector (bytes, its full sector size) with the magic of a cleared lease, checksum updated.

    Everything else is kept, so a cleared record still says which lease it was.
    """
    data = bytearray(sector)
    struct.pack_into("<I", data, 0, PAXOS_CLEAR_MAGIC)
    struct.pack_into("<I", data, CHECKSUM_LEN, crc32c(bytes(data[:CHECKSUM_LEN])))
    return bytes(data)


def problem(leader, data, magic):
    """Why a leader record is not a valid one of the wanted kind, or None if it is."""
    if leader is None:
        return "truncated (shorter than one sector)"
    if leader.magic != magic:
        if not any(bytearray(data[:SECTOR])):
            return "uninitialised (zero-filled)"
        return "not a sanlock %s (magic 0x%08x, expected 0x%08x)" % (
            "lockspace" if magic == DELTA_MAGIC else "lease", leader.magic, magic)
    if not leader.checksum_ok:
        return "torn (leader checksum mismatch)"
    if leader.sector_size not in (512, 4096):
        return "unsupported sector size %d" % leader.sector_size
    return None
