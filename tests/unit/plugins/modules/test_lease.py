"""Module lease, run as Ansible runs it (args file, child process) against real sanlock daemons."""

import os
import stat

from ansible_collections.autolease.sanlock.plugins.module_utils._lease_file import inspect
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

DISKS = ["/var/lib/libvirt/images/demo.img", "/img/with space é.img", "//img//double.img", "/img/dir/"]
NAMES = sorted(lease_name(d) for d in DISKS)


def test_lockspace_only_four_ways(lease_cluster, tmp_path):
    args = dict(lease_dir=str(tmp_path), owner="root", group="root", io_timeout=1)
    first = lease_cluster.a.module("lease", args, check=True, diff=True)
    assert first["changed"] is True and first["lockspace_created"] is True and first["leases"] == {}
    assert os.listdir(str(tmp_path)) == []
    real = lease_cluster.a.module("lease", args)
    assert real["changed"] is True and os.listdir(str(tmp_path)) == ["__LIBVIRT__DISKS__"]
    assert stat.S_IMODE(os.stat(str(tmp_path / "__LIBVIRT__DISKS__")).st_mode) == 0o660
    for check in (True, False):
        again = lease_cluster.a.module("lease", args, check=check)
        assert again["changed"] is False and again["lockspace_created"] is False


def test_present_four_ways_then_absent_four_ways(lease_cluster, lease_dir):
    args = dict(lease_dir=lease_dir, disks=DISKS, owner="root", group="root")
    check = lease_cluster.a.module("lease", args, check=True, diff=True)
    assert check["changed"] is True and sorted(check["created"]) == NAMES
    assert check["diff"]["after"]["created"] == check["created"]
    assert check["leases"][lease_name(DISKS[0])] == {"paths": [DISKS[0]], "shared": False, "domains": []}
    assert os.listdir(lease_dir) == ["__LIBVIRT__DISKS__"]

    real = lease_cluster.a.module("lease", args, diff=True)
    assert real["changed"] is True and sorted(real["created"]) == NAMES
    assert sorted(os.listdir(lease_dir)) == sorted(NAMES + ["__LIBVIRT__DISKS__"])
    for name in NAMES:
        assert inspect(os.path.join(lease_dir, name)).kind == "lease"

    for check_mode in (True, False):
        again = lease_cluster.a.module("lease", args, check=check_mode)
        assert again["changed"] is False and again["created"] == [] and again["repaired"] == []

    absent = dict(args, state="absent")
    held = lease_name(DISKS[0])
    with lease_cluster.b.hold(lease_dir, [held]):
        check = lease_cluster.a.module("lease", absent, check=True)
        assert check["changed"] is True and check["removed"] == sorted(set(NAMES) - {held})
        assert [h["name"] for h in check["held"]] == [held]
        assert len(os.listdir(lease_dir)) == len(NAMES) + 1
        real = lease_cluster.a.module("lease", absent)
        assert real["removed"] == sorted(set(NAMES) - {held}) and real["held"][0]["owners"][0]["host_id"] == 2
        for check_mode in (True, False):
            again = lease_cluster.a.module("lease", absent, check=check_mode)
            assert again["changed"] is False and again["removed"] == []
    assert sorted(os.listdir(lease_dir)) == sorted([held, "__LIBVIRT__DISKS__", "__AUTOLEASE_CLEANUP__"])


def test_failures_name_the_problem(lease_cluster, lease_dir, tmp_path):
    missing = lease_cluster.a.module("lease", dict(lease_dir=str(tmp_path / "nope")))
    assert missing["failed"] is True and "does not exist" in missing["msg"] and "nope" in missing["msg"]
    down = lease_cluster.no_daemon.module("lease", dict(lease_dir=str(tmp_path), owner="root", group="root"))
    assert down["failed"] is True and "systemctl start sanlock" in down["msg"]
    bad = lease_cluster.a.module("lease", dict(lease_dir=lease_dir, state="gone"))
    assert bad["failed"] is True and "state" in bad["msg"]


NODE = """<node>
  <domain type='test'>
    <name>vm1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/img/vm1.img'/><target dev='vda'/></disk>
      <disk type='block' device='disk'><source dev='/dev/shared'/><shareable/><target dev='vdb'/></disk>
      <disk type='file' device='cdrom'><source file='/iso/ro.iso'/><readonly/><target dev='hdc'/></disk>
    </devices>
  </domain>
  <domain type='test'>
    <name>vm2</name><memory>65536</memory><os><type>hvm</type></os>
    <devices><disk type='block' device='disk'><source dev='/dev/shared'/><shareable/><target dev='vda'/></disk></devices>
  </domain>
</node>
"""


def test_domains_all_gets_leases_for_read_write_disks(lease_cluster, lease_dir, tmp_path):
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    args = dict(lease_dir=lease_dir, domains="all", libvirt_uri="test://" + str(node), owner="root", group="root")
    result = lease_cluster.a.module("lease", args)
    shared, vm1 = lease_name("/dev/shared"), lease_name("/img/vm1.img")
    assert result["leases"] == {
        vm1: {"paths": ["/img/vm1.img"], "shared": False, "domains": ["vm1"]},
        shared: {"paths": ["/dev/shared"], "shared": True, "domains": ["vm1", "vm2"]},
    }
    assert sorted(result["created"]) == sorted([vm1, shared])
    assert lease_name("/iso/ro.iso") not in os.listdir(lease_dir)
    named = lease_cluster.a.module("lease", dict(args, domains=["vm2"]))
    assert named["changed"] is False and list(named["leases"]) == [shared]
    unknown = lease_cluster.a.module("lease", dict(args, domains=["nope"]))
    assert unknown["failed"] is True and "'nope' is not defined" in unknown["msg"]
