"""Cluster audit checks over per-host data (pure logic: no cluster needed)."""

import copy

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils._audit import audit, failures, lockspace_membership, report
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

DISK = "/var/lib/libvirt/images/vm1.img"
LEASE = lease_name(DISK)


def clean_cluster():
    slots = [{"host_id": i, "owner_name": "kvm%d" % i, "generation": 1, "timestamp": 5} for i in (1, 2, 3)]
    hosts = {}
    for i in (1, 2, 3):
        hosts["kvm%d" % i] = {
            "host_id": i, "sanlock_name": "kvm%d" % i, "local_mode": False, "mount_source": "nfs:/sanlock",
            "joined": True, "running": [], "devices": {},
            "info": {"lockspace": {"slots": copy.deepcopy(slots)},
                     "leases": [{"name": LEASE, "owners": []}], "invalid": [],
                     "map": {LEASE: {DISK: ["vm1"]}}},
        }
    hosts["kvm1"]["running"] = ["vm1"]
    for data in hosts.values():
        data["info"]["leases"][0]["owners"] = [{"host_id": 1, "generation": 1, "shared": False}]
    return hosts


def checks(findings):
    return sorted((f["check"], f["host"]) for f in findings)


def test_clean_cluster_has_no_findings():
    findings = audit(clean_cluster())
    assert findings == []
    assert report(findings) == ["audit: no findings"]


def test_unmounted_lease_dir_is_reported_unless_local_mode():
    hosts = clean_cluster()
    hosts["kvm2"]["mount_source"] = ""
    assert checks(audit(hosts)) == [("storage", "kvm2")]
    hosts["kvm2"]["local_mode"] = True
    assert audit(hosts) == []


def test_host_with_other_lockspace_records_does_not_share_storage():
    hosts = clean_cluster()
    hosts["kvm3"]["info"]["lockspace"]["slots"] = [{"host_id": 3, "owner_name": "kvm3"}]
    found = audit(hosts)
    assert ("storage", "kvm3") in checks(found)
    assert "does not share" in [f for f in found if f["check"] == "storage"][0]["detail"]


def test_duplicate_host_ids_name_both_hosts():
    hosts = clean_cluster()
    hosts["kvm3"]["host_id"] = 2
    found = [f for f in audit(hosts) if f["check"] == "host_id"]
    details = " ".join(f["detail"] for f in found)
    assert {"kvm2", "kvm3"} <= {f["host"] for f in found}
    assert "also used by kvm3" in details and "also used by kvm2" in details


def test_host_id_must_match_the_lockspace_record():
    hosts = clean_cluster()
    for data in hosts.values():
        data["info"]["lockspace"]["slots"][1]["owner_name"] = "someone-else"
    found = audit(hosts)
    assert checks(found) == [("host_id", "kvm2")]
    assert "someone-else" in found[0]["detail"]


def test_missing_host_id_and_missing_join_are_reported():
    hosts = clean_cluster()
    hosts["kvm2"]["host_id"] = None
    hosts["kvm3"]["joined"] = False
    assert checks(audit(hosts)) == [("host_id", "kvm2"), ("joined", "kvm3")]


def test_a_join_not_verified_by_content_is_reported_with_its_proof():
    hosts = clean_cluster()
    hosts["kvm3"].update(joined=False, join_proof="slot 3 of the file now at /l/__LIBVIRT__DISKS__ belongs to x")
    found = audit(hosts)
    assert checks(found) == [("joined", "kvm3")]
    assert "not verified: slot 3 of the file now at" in found[0]["detail"]
    assert "with no VM running on this host, leave that join (the lockspace_leave module) and restart the libvirt " \
        "daemon" in found[0]["detail"]


def test_the_fixes_name_modules_and_daemons_not_playbooks_or_roles():
    hosts = clean_cluster()
    hosts["kvm1"]["mount_source"] = ""                   # storage
    hosts["kvm2"]["host_id"] = None                      # host_id
    hosts["kvm3"].update(joined=False)                   # joined
    hosts["kvm3"]["info"]["leases"].append({"name": "0" * 32, "owners": []})  # orphan
    found = audit(hosts)
    details = dict(((f["check"], f["host"]), f["detail"]) for f in found)
    assert "mount the shared lease storage on the lease directory" in details[("storage", "kvm1")]
    assert "the host_id module allocates one" in details[("host_id", "kvm2")]
    assert details[("joined", "kvm3")].endswith("restart the libvirt daemon (it joins when its sanlock driver loads)")
    assert "the lease_cleanup module removes it" in details[("orphan", "kvm3")]
    removing = clean_cluster()
    removing["kvm2"]["membership"] = "removing"
    found += audit(removing)
    for finding in found:
        assert "playbook" not in finding["detail"] and "role" not in finding["detail"], finding


@pytest.mark.parametrize("owners, expect", [
    ([], "not held by this host"),
    ([{"host_id": 2, "generation": 1, "shared": False}], "owners: [2]"),
])
def test_running_vm_without_its_lease_held_here(owners, expect):
    hosts = clean_cluster()
    hosts["kvm1"]["info"]["leases"][0]["owners"] = owners
    found = audit(hosts)
    assert checks(found) == [("running_vm_lease", "kvm1")]
    assert expect in found[0]["detail"] and found[0]["subject"] == "vm1: " + DISK


def test_running_vm_without_lease_file():
    hosts = clean_cluster()
    hosts["kvm1"]["info"]["leases"] = []
    found = audit(hosts)
    assert [f["detail"] for f in found if f["check"] == "running_vm_lease"] == ["no valid lease file %s" % LEASE]


def test_orphans_are_leases_no_host_uses_listed_once():
    hosts = clean_cluster()
    orphan = lease_name("/gone.img")
    for data in hosts.values():
        data["info"]["leases"].append({"name": orphan, "owners": []})
    found = audit(hosts)
    assert [(f["check"], f["subject"]) for f in found] == [("orphan", orphan)]


def test_a_lease_used_on_another_host_is_not_an_orphan():
    hosts = clean_cluster()
    other = lease_name("/other.img")
    hosts["kvm3"]["info"]["map"][other] = {"/other.img": ["vm2"]}
    for data in hosts.values():
        data["info"]["leases"].append({"name": other, "owners": []})
    assert audit(hosts) == []


def test_invalid_entries_listed_once_with_reason():
    hosts = clean_cluster()
    for data in hosts.values():
        data["info"]["invalid"] = [{"name": "junk", "reason": "not a lease"}]
    found = audit(hosts)
    assert [(f["check"], f["subject"], f["detail"]) for f in found] == [("invalid", "junk", "not a lease")]


@pytest.mark.parametrize("path, unstable", [
    ("/dev/sdb", True), ("/dev/vdc1", True), ("/dev/nvme0n1", True), ("/dev/dm-3", True),
    ("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", False), ("/dev/mapper/vg-lv", False), ("/srv/img/a.img", False),
])
def test_kernel_device_names_are_flagged(path, unstable):
    hosts = clean_cluster()
    hosts["kvm2"]["info"]["map"][lease_name(path)] = {path: ["vm9"]}
    found = [f for f in audit(hosts) if f["check"] == "unstable_path"]
    assert bool(found) is unstable
    if unstable:
        assert found[0]["subject"] == path and "/dev/disk/by-id" in found[0]["detail"]


def test_one_path_naming_different_devices_on_two_hosts():
    hosts = clean_cluster()
    hosts["kvm1"]["devices"] = {"/dev/disk/by-path/pci-0:1": "WWN-A"}
    hosts["kvm2"]["devices"] = {"/dev/disk/by-path/pci-0:1": "WWN-B"}
    hosts["kvm3"]["devices"] = {"/dev/disk/by-path/pci-0:1": "WWN-A"}
    found = audit(hosts)
    assert checks(found) == [("unstable_path", "kvm1, kvm2, kvm3")]
    assert "kvm2=WWN-B" in found[0]["detail"]


def test_report_has_one_table_per_check_with_findings():
    hosts = clean_cluster()
    hosts["kvm2"]["joined"] = False
    hosts["kvm3"]["mount_source"] = ""
    lines = report(audit(hosts))
    assert lines[0] == "== Lease storage (1)"
    assert "== Lockspace membership (1)" in lines
    assert any(line.startswith("kvm2") and "has not joined" in line for line in lines)


# A lockspace still being added is not joined -----------------------------------------------------------------
GETS_JOINED = "s __LIBVIRT__DISKS__:3:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0 \n"
GETS_ADDING = "s __LIBVIRT__DISKS__:3:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0 ADD \n"
GETS_REMOVING = "s __LIBVIRT__DISKS__:3:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0 REM \n"


@pytest.mark.parametrize("gets, state", [
    (GETS_JOINED, "joined"),
    (GETS_ADDING, "adding"),
    (GETS_REMOVING, "removing"),
    ("", "absent"),
    ("s other_lockspace:1:/srv/other:0 \n", "absent"),
    ("s __LIBVIRT__DISKS__X:1:/srv/x:0 \n", "absent"),
])
def test_membership_from_sanlock_client_gets(gets, state):
    membership = lockspace_membership(gets)
    assert membership["state"] == state
    if state != "absent":
        assert membership["host_id"] == 3 and membership["path"] == "/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__"


def test_lockspace_still_being_added_is_not_joined():
    hosts = clean_cluster()
    hosts["kvm3"]["membership"] = "adding"
    found = audit(hosts)
    assert checks(found) == [("joined", "kvm3")]
    assert "still being added" in found[0]["detail"] and found[0]["severity"] == "error"


def test_membership_wins_over_a_stale_joined_flag():
    hosts = clean_cluster()
    hosts["kvm2"]["joined"] = True
    hosts["kvm2"]["membership"] = "removing"
    found = audit(hosts)
    assert checks(found) == [("joined", "kvm2")] and "being removed" in found[0]["detail"]


def test_membership_of_a_real_daemon_during_and_after_the_add(lease_cluster, tmp_path):
    """host-c (a real private daemon that joined nothing) joins a lockspace with io_timeout 2: while the add runs
    (several seconds) `sanlock client gets` marks it ADD and it is not joined; afterwards it is."""
    import subprocess
    import sys
    import time

    path = str(tmp_path / "__LIBVIRT__DISKS__")
    with open(path, "wb") as handle:
        handle.truncate(1024 * 1024)
    env = lease_cluster.c.env()
    subprocess.run([sys.executable, "-c", "import sanlock, sys; sanlock.write_lockspace(b'__LIBVIRT__DISKS__', "
                    "sys.argv[1], iotimeout=2)", path], env=env, check=True, timeout=60)
    spec = "__LIBVIRT__DISKS__:7:%s:0" % path
    adding = subprocess.Popen(["sanlock", "client", "add_lockspace", "-s", spec, "-o", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while adding.poll() is None and time.monotonic() < deadline:
            seen.append(lockspace_membership(lease_cluster.c.client("gets").stdout))
            time.sleep(0.2)
        assert adding.wait(timeout=60) == 0, adding.communicate()
        assert {"state": "adding", "host_id": 7, "path": path} in seen, seen
        joined = lockspace_membership(lease_cluster.c.client("gets").stdout)
        assert joined == {"state": "joined", "host_id": 7, "path": path}
    finally:
        adding.wait(timeout=60)
        lease_cluster.c.client("rem_lockspace", "-s", spec, check=False)
    assert lockspace_membership(lease_cluster.c.client("gets").stdout)["state"] == "absent"


# A paused VM has released its leases: reported, not a failure -------------------------------------------------
def test_paused_vm_is_reported_paused_leases_released_not_as_a_failure():
    hosts = clean_cluster()
    hosts["kvm1"]["info"]["leases"][0]["owners"] = []  # libvirt released the lease when the VM paused
    hosts["kvm1"]["paused"] = ["vm1"]
    found = audit(hosts)
    assert checks(found) == [("paused", "kvm1")]
    assert found[0]["severity"] == "info" and found[0]["detail"].startswith("paused: leases released")
    assert found[0]["subject"] == "vm1"
    assert failures(found) == []
    lines = report(found)
    assert lines[0] == "== Paused VMs, leases released (information) (1)"


def test_running_vm_without_its_lease_is_still_a_failure_next_to_a_paused_one():
    hosts = clean_cluster()
    hosts["kvm1"]["info"]["leases"][0]["owners"] = []
    hosts["kvm2"]["running"] = ["vm2"]
    hosts["kvm2"]["paused"] = ["vm2"]
    assert [f["check"] for f in failures(audit(hosts))] == ["running_vm_lease"]


# Settings that never applied, and VMs that hold no lease ------------------------------------------------------
def test_pending_sanlock_settings_are_a_warning_naming_the_difference_and_the_fix():
    hosts = clean_cluster()
    hosts["kvm2"]["sanlock_pending"] = [{"setting": "use_watchdog", "file": "1", "daemon": 0}]
    found = audit(hosts)
    assert checks(found) == [("restart_pending", "kvm2")]
    assert found[0]["severity"] == "warning" and failures(found) == []
    assert "use_watchdog (file 1, daemon 0)" in found[0]["detail"]
    assert "drain the host (migrate or stop its VMs), then systemctl restart sanlock" in found[0]["detail"]
    assert any("waiting for a daemon restart (warning)" in line for line in report(found))


def test_a_running_vm_unknown_to_sanlock_is_a_failure_naming_it_and_the_fix():
    hosts = clean_cluster()
    hosts["kvm1"]["unprotected"] = ["vm1"]
    found = audit(hosts)
    assert checks(found) == [("unprotected_vm", "kvm1")]
    assert found[0]["subject"] == "vm1" and found[0]["severity"] == "error" and failures(found) == found
    assert "Restart or live-migrate this VM to give it leases" in found[0]["detail"]


def test_nothing_pending_and_no_unprotected_vm_is_no_finding():
    hosts = clean_cluster()
    for data in hosts.values():
        data["sanlock_pending"], data["unprotected"] = [], []
    assert audit(hosts) == []
    hosts["kvm1"]["sanlock_pending"] = hosts["kvm1"]["unprotected"] = None  # the daemon did not answer
    assert audit(hosts) == []


def migration_info(i, domains=None, paths=None):
    """What the migration_info module returns on kvm<i> of clean_cluster() (paths: the second pass)."""
    return {"hostname": "kvm%d" % i, "lock_manager": "sanlock", "disk_lease_dir": "/var/lib/libvirt/sanlock",
            "auto_disk_leases": True, "host_id": i, "owner_name": "kvm%d" % i, "joined": True, "join": None,
            "slots": {}, "domains": domains or {}, "mem_available_kib": 1, "paths": paths or {}, "errors": []}


def test_migration_findings_are_failures_on_the_host_they_concern_and_a_disk_others_cannot_reach_a_warning():
    hosts = clean_cluster()
    vm1 = {"state": "running", "active": True, "memory_kib": 1, "disks": [
        {"path": DISK, "target": "vda", "shared": False, "kind": "file"}]}
    big = {"state": "shutoff", "active": False, "memory_kib": 1, "disks": [
        {"path": "/d%d" % i, "target": "vda", "shared": False, "kind": "file"} for i in range(9)]}
    there = {DISK: {"exists": True, "kind": "file"}}
    hosts["kvm1"]["migration"] = migration_info(1, {"vm1": vm1}, there)
    hosts["kvm2"]["migration"] = migration_info(2, paths=there)
    hosts["kvm3"]["migration"] = migration_info(3, paths=there)
    assert audit(hosts) == []
    hosts["kvm2"]["migration"]["lock_manager"] = "none"
    hosts["kvm3"]["migration"]["paths"] = {DISK: {"exists": False, "kind": None}}
    hosts["kvm3"]["migration"]["domains"] = {"big": big}
    found = [f for f in audit(hosts) if f["check"] == "migration"]
    assert [(f["host"], f["subject"], f["severity"]) for f in found] == [
        ("kvm1", "vm1: " + DISK, "warning"), ("kvm2", "migration settings", "error"), ("kvm3", "big", "error")]
    assert found[0]["detail"].startswith("cannot migrate to kvm3: the disk path does not exist there")
    assert "9 lockable disks" in found[2]["detail"]
    assert failures(found) == found[1:]  # a VM on storage other hosts cannot reach is protected, it stays put
    assert "== Live migration: settings that refuse it, disks other hosts cannot reach, too many disks (3)" in report(found)
    for finding in found:
        assert "playbook" not in finding["detail"] and "role" not in finding["detail"], finding
