# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The join proof with real sanlock daemons: a join counts only when the file at the path holds its renewals."""

import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import StorageTimeout
from ansible_collections.autolease.sanlock.plugins.module_utils._join_proof import judge, parse_status, proven_joins
from ansible_collections.autolease.sanlock.plugins.module_utils._lockspace import Slot

LS = "__LIBVIRT__DISKS__"

STATUS = """daemon 7c1e-host-a
    our_host_name=7c1e-host-a
    use_watchdog=0
p -1 helper
s __LIBVIRT__DISKS__:3:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0
    list=spaces
    host_generation=5
    renewal_last_success=166
s other:1:/srv/with:colon/ls:0 ADD
s third:2:/srv/lease\\ dir\\ 100%\\:x/ls:0
    list=spaces
    list=add
    host_generation=0
p 4242 web1
    pid=4242
p 4343
r __LIBVIRT__DISKS__:bfa0240911bc17753e0b473688822159:/var/lib/libvirt/sanlock/bfa0240911bc17753e0b473688822159:0:3 p 4242
    list=held
r __LIBVIRT__DISKS__:0123456789abcdef0123456789abcdef:/srv/with\\:colon/x:0:SH p 4343 ADD
"""


def test_parse_status_reads_the_daemon_name_and_each_lockspace():
    status = parse_status(STATUS)
    assert status["our_host_name"] == "7c1e-host-a"
    space = status["lockspaces"][(LS, 3, "/var/lib/libvirt/sanlock/" + LS)]
    assert (space["host_generation"], space["renewal_last_success"], space["state"]) == (5, 166, "joined")
    assert status["lockspaces"][("other", 1, "/srv/with:colon/ls")]["state"] == "adding"
    # sanlock escapes blanks and colons in paths
    assert status["lockspaces"][("third", 2, "/srv/lease dir 100%:x/ls")]["state"] == "joined"


def test_parse_status_reads_the_daemon_settings_registered_processes_and_held_leases():
    status = parse_status(STATUS)
    assert status["daemon"] == {"our_host_name": "7c1e-host-a", "use_watchdog": 0}
    assert status["clients"] == {4242: "web1", 4343: ""}
    assert status["resources"] == [
        {"lockspace": LS, "name": "bfa0240911bc17753e0b473688822159", "shared": False, "pid": 4242},
        {"lockspace": LS, "name": "0123456789abcdef0123456789abcdef", "shared": True, "pid": 4343}]


# sanlock 3.9 (Debian 13), captured on a lab host and shortened: the daemon prints more settings (io_timeout,
# watchdog_fire_timeout, ...) and a record per worker thread between the daemon and the clients.
STATUS_3_9 = """daemon lab2
    our_host_name=lab2
    use_watchdog=0
    max_worker_threads=8
    num_worker_threads=2
    use_hugepages=all
    io_timeout=10
    watchdog_fire_timeout=60
    version_str=3.9.5
worker 0
    cmd_last=add_lockspace
    busy=0
    work_count=1
p -1 helper
    ci=0
    pid=-1
s __LIBVIRT__DISKS__:2:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0
    list=spaces
    io_timeout=2
    host_generation=1
    renewal_last_success=23320
"""


def test_parse_status_of_sanlock_3_9_keeps_the_worker_records_out_of_the_daemon_settings():
    status = parse_status(STATUS_3_9)
    assert status["our_host_name"] == "lab2"
    assert status["daemon"]["watchdog_fire_timeout"] == 60 and status["daemon"]["io_timeout"] == 10
    assert "cmd_last" not in status["daemon"] and "busy" not in status["daemon"]
    space = status["lockspaces"][(LS, 2, "/var/lib/libvirt/sanlock/" + LS)]
    assert (space["io_timeout"], space["host_generation"], space["state"]) == (2, 1, "joined")
    assert status["clients"] == {} and status["resources"] == []


def _slot(name="7c1e-host-a", generation=5, timestamp=166):
    return [Slot(host_id=3, owner_name=name, generation=generation, timestamp=timestamp, io_timeout=10)]


def test_judge_accepts_only_the_daemons_own_current_renewal():
    status = parse_status(STATUS)
    key = (LS, 3, "/var/lib/libvirt/sanlock/" + LS)
    assert judge(key, status, _slot(), status) == ""
    assert "belongs to 7c1e-host-b" in judge(key, status, _slot(name="7c1e-host-b"), status)
    assert "(generation 4)" in judge(key, status, _slot(generation=4), status)
    assert "last renewed at 150" in judge(key, status, _slot(timestamp=150), status)
    assert "is free" in judge(key, status, [], status)
    assert "cannot be read" in judge(key, status, None, status)
    adding = ("other", 1, "/srv/with:colon/ls")
    assert "still adding" in judge(adding, status, [], status)


def _wait_for_renewal(host, after):
    """Wait until the daemon has renewed its lockspace after monotonic second `after` (io_timeout 1: ~2 s)."""
    for dummy in range(40):
        status = parse_status(host.client("status", "-D").stdout)
        seconds = [space["renewal_last_success"] for space in status["lockspaces"].values()]
        if seconds and min(seconds) > after:
            return
        time.sleep(0.25)
    raise AssertionError("no renewal seen")


def _join(host, path, host_id=7):
    host.client("add_lockspace", "-s", "%s:%d:%s:0" % (LS, host_id, path), "-o", "1")


def _leave(host, path, host_id=7):
    subprocess.run(["sanlock", "client", "rem_lockspace", "-s", "%s:%d:%s:0" % (LS, host_id, path)],
                   env=host.env(), check=False, capture_output=True, timeout=60)


def _hide_the_joined_file(host, path):
    """Replace the file at path by a copy, then wait for a renewal: the daemon renews the old inode."""
    status = parse_status(host.client("status", "-D").stdout)
    joined_at = max(space["renewal_last_success"] for space in status["lockspaces"].values())
    shutil.copyfile(path, path + ".copy")
    os.rename(path + ".copy", path)  # the daemon still holds the old inode open
    _wait_for_renewal(host, joined_at)


def _private_lockspace(host, tmp_path):
    lease_dir = tmp_path / "leases"
    lease_dir.mkdir()
    assert host.call("_lockspace.ensure_lockspace", str(lease_dir), owner="root", group="root",
                     io_timeout=1) == {"ok": True}
    return str(lease_dir), str(lease_dir / LS)


def test_a_join_whose_file_was_replaced_under_the_daemon_is_not_verified(lease_cluster, tmp_path):
    """The hidden-lockspace case for real: the daemon keeps renewing the file it opened at the join, while
    the path now names another file with a stale copy of its slot (as after a mount over the directory)."""
    host = lease_cluster.c
    dummy, path = _private_lockspace(host, tmp_path)
    _join(host, path)
    try:
        joins = host.call("_host_info.joined_lockspaces")["ok"]
        assert [(j["host_id"], j["path"], j["verified"]) for j in joins] == [(7, path, True)], joins
        _hide_the_joined_file(host, path)
        joins = host.call("_host_info.joined_lockspaces")["ok"]
        assert [(j["host_id"], j["verified"]) for j in joins] == [(7, False)], joins
        assert "renews another file" in joins[0]["proof"], joins[0]["proof"]
    finally:
        _leave(host, path)


def test_lockspace_leave_leaves_a_stale_join_check_mode_first(lease_cluster, tmp_path):
    host = lease_cluster.c
    lease_dir, path = _private_lockspace(host, tmp_path)
    _join(host, path)
    try:
        args = {"lease_dir": lease_dir, "host_id": 7}
        assert host.module("lockspace_leave", args) == {"changed": False, "left": [], "invocation": {
            "module_args": args}}  # the verified join is kept
        _hide_the_joined_file(host, path)
        checked = host.module("lockspace_leave", args, check=True, diff=True)
        assert checked["changed"] and [j["host_id"] for j in checked["left"]] == [7], checked
        assert "%s:7:%s" % (LS, path) in checked["diff"]["before"] and checked["diff"]["after"] == ""
        assert [j["host_id"] for j in host.call("_host_info.joined_lockspaces")["ok"]] == [7]  # still joined
        left = host.module("lockspace_leave", args)
        assert left["changed"] and "renews another file" in left["left"][0]["proof"], left
        assert host.call("_host_info.joined_lockspaces")["ok"] == []
        assert host.module("lockspace_leave", args)["changed"] is False
    finally:
        _leave(host, path)


def test_lockspace_leave_refuses_while_a_lease_is_held_and_leaves_nothing(lease_cluster, tmp_path):
    host = lease_cluster.c
    lease_dir, path = _private_lockspace(host, tmp_path)
    lease = os.path.join(lease_dir, "a" * 32)
    with open(lease, "wb") as handle:
        handle.truncate(1024 * 1024)
    subprocess.run(["sanlock", "direct", "init", "-r", "%s:%s:%s:0" % (LS, "a" * 32, lease)], check=True,
                   capture_output=True, timeout=60)
    _join(host, path)
    try:
        with host.hold(lease_dir, ["a" * 32]):
            _hide_the_joined_file(host, path)
            failed = host.module("lockspace_leave", {"lease_dir": lease_dir, "host_id": 7})
            assert failed.get("failed") and "leases are held in it" in failed["msg"], failed
            assert "Shut down or migrate the VMs" in failed["msg"]
            assert [j["host_id"] for j in host.call("_host_info.joined_lockspaces")["ok"]] == [7]
    finally:
        _leave(host, path)


def test_lockspace_leave_rejects_a_host_id_out_of_range(lease_cluster):
    failed = lease_cluster.c.module("lockspace_leave", {"host_id": 2001})
    assert failed.get("failed") and "host_id=2001" in failed["msg"] and "1 to 2000" in failed["msg"]


def test_lockspace_leave_without_host_id_leaves_the_verified_join_too(lease_cluster, tmp_path):
    """Before the lease storage is replaced: the join of the old storage goes, even though it is verified."""
    host = lease_cluster.c
    lease_dir, path = _private_lockspace(host, tmp_path)
    _join(host, path)
    try:
        assert host.module("lockspace_leave", {"lease_dir": lease_dir, "host_id": 7})["changed"] is False
        left = host.module("lockspace_leave", {"lease_dir": lease_dir})
        assert left["changed"] and [(j["host_id"], j["path"]) for j in left["left"]] == [(7, path)], left
        assert host.call("_host_info.joined_lockspaces")["ok"] == []
    finally:
        _leave(host, path)


@pytest.mark.timeout(90, method="thread")
def test_a_join_on_hung_storage_fails_instead_of_hanging(hung_storage, storage_deadline):
    """The daemon's status is a stand-in dict (a real daemon would hang joining a dead mount); the read of the
    lockspace file at the join's path really blocks (hung_storage: a FUSE mount that never answers)."""
    path = os.path.join(hung_storage.path, LS)
    status = {"our_host_name": "host-a", "lockspaces": {(LS, 1, path): {
        "name": LS, "host_id": 1, "path": path, "state": "joined", "host_generation": 1,
        "renewal_last_success": 10}}}
    started = time.monotonic()
    with pytest.raises(StorageTimeout, match="reading the lockspace file %s got no reply" % path):
        proven_joins(status=lambda: status)
    assert time.monotonic() - started < storage_deadline + 1.5
