"""_leader_record: sanlock's crc32c and record parsing."""

from ansible_collections.autolease.sanlock.plugins.module_utils import _leader_record


def test_crc32c_is_castagnoli():
    # Standard CRC-32C check value, expressed through sanlock's raw form (seed and final xor explicit).
    assert _leader_record.crc32c(b"123456789", 0xFFFFFFFF) ^ 0xFFFFFFFF == 0xE3069283


def test_zero_sector_is_uninitialised():
    data = b"\0" * 512
    assert _leader_record.problem(_leader_record.parse(data), data, _leader_record.PAXOS_MAGIC).startswith(
        "uninitialised")


def test_short_data_is_truncated():
    assert _leader_record.parse(b"\0" * 10) is None
    assert _leader_record.problem(None, b"", _leader_record.PAXOS_MAGIC).startswith("truncated")


def test_flipped_byte_is_torn(lease_cluster):
    with open(lease_cluster.lockspace, "rb") as handle:
        data = bytearray(handle.read(512))
    assert _leader_record.problem(_leader_record.parse(bytes(data)), data, _leader_record.DELTA_MAGIC) is None
    data[60] ^= 0xFF  # inside the lockspace name
    assert _leader_record.problem(_leader_record.parse(bytes(data)), data, _leader_record.DELTA_MAGIC).startswith(
        "torn")
