"""_lockspace: slots read straight from the file agree with sanlock; race-free creation."""

import os
import re
import shutil
import stat
import subprocess
import threading
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _lockspace
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LeaseError, StorageTimeout


def _dump(path):
    out = subprocess.run(["sanlock", "direct", "dump", path], check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6 and re.match(r"^[0-9a-f]{8}$", fields[0]):
            rows[int(fields[4])] = (fields[2], int(fields[3]), int(fields[5]))
    return rows


def test_read_slots_agree_with_sanlock_direct_dump(lease_cluster):
    before = {slot.host_id: slot for slot in _lockspace.read_slots(lease_cluster.lockspace)}
    dump = _dump(lease_cluster.lockspace)
    after = {slot.host_id: slot for slot in _lockspace.read_slots(lease_cluster.lockspace)}
    assert sorted(before) == sorted(dump) == sorted(after) == [1, 2]
    for host_id, (name, timestamp, generation) in dump.items():
        assert name == after[host_id].owner_name == {1: "host-a", 2: "host-b"}[host_id]
        assert generation == after[host_id].generation
        assert before[host_id].timestamp <= timestamp <= after[host_id].timestamp
        assert after[host_id].io_timeout == 1


def test_live_host_ids_sees_renewing_hosts(lease_cluster):
    assert _lockspace.live_host_ids(lease_cluster.lockspace, interval=3) == {1, 2}


def test_live_host_ids_of_a_frozen_copy_is_empty(lease_cluster, tmp_path):
    # A copy is written by nobody: both slots are used but none renews.
    frozen = str(tmp_path / "__LIBVIRT__DISKS__")
    shutil.copyfile(lease_cluster.lockspace, frozen)
    waited = []
    assert len(_lockspace.read_slots(frozen)) == 2
    assert _lockspace.live_host_ids(frozen, sleep=waited.append) == set()
    assert waited == [3]  # default interval 2*io_timeout+1 from the slots


def test_read_slots_rejects_a_file_that_is_not_a_lockspace(tmp_path):
    path = tmp_path / "__LIBVIRT__DISKS__"
    path.write_bytes(b"\0" * 1048576)
    with pytest.raises(LeaseError, match="zero-filled.*remove it"):
        _lockspace.read_slots(str(path))


def test_ensure_lockspace_check_real_check_real(lease_cluster, tmp_path):
    a, target = lease_cluster.a, str(tmp_path)
    path = os.path.join(target, "__LIBVIRT__DISKS__")
    kwargs = dict(owner="root", group="root", io_timeout=1)
    assert a.call("_lockspace.ensure_lockspace", target, check_mode=True, **kwargs) == {"ok": True}
    assert os.listdir(target) == []
    assert a.call("_lockspace.ensure_lockspace", target, **kwargs) == {"ok": True}
    assert os.listdir(target) == ["__LIBVIRT__DISKS__"]  # no temporary file left
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_size == 1048576
    header = _lockspace.read_header(path)
    assert header.space_name == "__LIBVIRT__DISKS__" and header.io_timeout == 1
    assert _lockspace.read_slots(path) == []
    inode = st.st_ino
    assert a.call("_lockspace.ensure_lockspace", target, check_mode=True, **kwargs) == {"ok": False}
    assert a.call("_lockspace.ensure_lockspace", target, **kwargs) == {"ok": False}
    assert os.stat(path).st_ino == inode


def test_ensure_lockspace_concurrent_creators_make_one_file(lease_cluster, tmp_path):
    results = []

    def create(host):
        results.append(host.call("_lockspace.ensure_lockspace", str(tmp_path), owner="root", group="root"))

    threads = [threading.Thread(target=create, args=(host,)) for host in (lease_cluster.a, lease_cluster.b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["ok"] for r in results) == [False, True]
    assert os.listdir(str(tmp_path)) == ["__LIBVIRT__DISKS__"]
    _lockspace.read_header(str(tmp_path / "__LIBVIRT__DISKS__"))


def test_ensure_lockspace_never_replaces_a_broken_file(lease_cluster, tmp_path):
    path = tmp_path / "__LIBVIRT__DISKS__"
    path.write_bytes(b"\0" * 4096)
    result = lease_cluster.a.call("_lockspace.ensure_lockspace", str(tmp_path), owner="root", group="root")
    assert result["error"] == "LeaseError" and "zero-filled" in result["msg"]
    assert path.read_bytes() == b"\0" * 4096


def test_ensure_lockspace_without_daemon_says_how_to_start_it(lease_cluster, tmp_path):
    result = lease_cluster.no_daemon.call("_lockspace.ensure_lockspace", str(tmp_path), owner="root", group="root")
    assert result["error"] == "DaemonError"
    assert "systemctl start sanlock" in result["msg"]
    assert os.listdir(str(tmp_path)) == []  # the temporary file is gone too


def test_ensure_lockspace_missing_dir(tmp_path):
    from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LeaseDirError
    with pytest.raises(LeaseDirError, match="does not exist"):
        _lockspace.ensure_lockspace(str(tmp_path / "nope"), check_mode=True)


def test_ensure_lockspace_unknown_owner_is_named(tmp_path):
    with pytest.raises(LeaseError, match="no-such-user-x"):
        _lockspace.ensure_lockspace(str(tmp_path), owner="no-such-user-x", check_mode=True)


def test_ensure_lockspace_refuses_a_local_copy_when_the_storage_is_gone(lease_cluster, tmp_path):
    """Joined at the path, file missing: what an unmounted NFS volume looks like. No local lockspace."""
    storage, elsewhere = tmp_path / "storage", tmp_path / "elsewhere"
    storage.mkdir()
    elsewhere.mkdir()
    host = lease_cluster.c  # a running daemon that has joined nothing
    made = host.call("_lockspace.ensure_lockspace", str(storage), owner="root", group="root", io_timeout=1)
    assert made == {"ok": True}, made
    spec = "__LIBVIRT__DISKS__:7:%s:0" % (storage / "__LIBVIRT__DISKS__")
    host.client("add_lockspace", "-s", spec)
    try:
        os.rename(str(storage / "__LIBVIRT__DISKS__"), str(elsewhere / "__LIBVIRT__DISKS__"))
        for check_mode in (True, False):
            result = host.call("_lockspace.ensure_lockspace", str(storage), owner="root", group="root",
                               check_mode=check_mode)
            assert result.get("error") == "LeaseDirError", result
            assert "not mounted" in result["msg"] and "host_id 7" in result["msg"], result["msg"]
        assert os.listdir(str(storage)) == []  # nothing created in its place
    finally:
        if not (storage / "__LIBVIRT__DISKS__").exists():
            os.rename(str(elsewhere / "__LIBVIRT__DISKS__"), str(storage / "__LIBVIRT__DISKS__"))
        host.client("rem_lockspace", "-s", spec, check=False)


@pytest.mark.timeout(90, method="thread")
def test_read_slots_on_hung_storage_gives_up_at_the_deadline_naming_the_path(hung_storage, storage_deadline):
    """hung_storage: a FUSE mount that never answers, the stand-in for a hung hard NFS mount."""
    path = _lockspace.lockspace_path(hung_storage.path)
    started = time.monotonic()
    with pytest.raises(StorageTimeout, match="reading the lockspace file %s got no reply within 2 s" % path):
        _lockspace.read_slots(path)
    assert time.monotonic() - started < storage_deadline + 1.5
    # Not a LeaseError: the readers that report an unreadable lockspace as "unknown" do not swallow a hang.
    with pytest.raises(StorageTimeout):
        _lockspace.max_used_host_id(path)
