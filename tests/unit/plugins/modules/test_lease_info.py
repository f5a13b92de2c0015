"""Module lease_info: read-only report, with and without a daemon, with a real libvirt (test driver) map."""

import json
import os

from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

NODE = """<node>
  <domain type='test'>
    <name>vm1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/img/vm1.img'/><target dev='vda'/></disk>
      <disk type='file' device='disk'><source file='/img/missing.img'/><target dev='vdb'/></disk>
      <disk type='file' device='cdrom'><source file='/iso/ro.iso'/><readonly/><target dev='hdc'/></disk>
    </devices>
  </domain>
</node>
"""


def test_report_with_domain_map_and_liveness(lease_cluster, lease_dir, tmp_path):
    vm1, orphan = lease_name("/img/vm1.img"), lease_name("/img/orphan.img")
    lease_cluster.a.call("_lease_set.ensure_present", lease_dir, {vm1: {}, orphan: {}}, owner="root", group="root")
    os.symlink("/etc/passwd", os.path.join(lease_dir, "link"))
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    args = dict(lease_dir=lease_dir, libvirt_uri="test://" + str(node), liveness=True, liveness_interval=3)
    before = sorted(os.listdir(lease_dir))
    with lease_cluster.b.hold(lease_dir, [vm1]):
        for check in (True, False):
            # c has not joined: still works. Liveness (two reads 3 s apart) once is enough.
            info = lease_cluster.c.module("lease_info", dict(args, liveness=check), check=check)
            assert info["changed"] is False and "failed" not in info, info
            slots = {s["host_id"]: s["owner_name"] for s in info["lockspace"]["slots"]}
            assert slots == {1: "host-a", 2: "host-b"} and info["lockspace"]["io_timeout"] == 1
            assert info.get("live_host_ids") == ([1, 2] if check else None)
            leases = {item["name"]: item for item in info["leases"]}
            assert sorted(leases) == sorted([vm1, orphan])
            assert [o["host_id"] for o in leases[vm1]["owners"]] == [2] and leases[orphan]["owners"] == []
            assert leases[vm1]["domains"] == ["vm1"] and leases[vm1]["paths"] == ["/img/vm1.img"]
            assert info["map"] == {vm1: {"/img/vm1.img": ["vm1"]}}
            assert info["orphans"] == [orphan] and info["missing"] == [lease_name("/img/missing.img")]
            assert info["invalid"] == [{"name": "link", "reason": "symlink", "size": len("/etc/passwd")}]
    assert sorted(os.listdir(lease_dir)) == before


def test_no_daemon_and_no_libvirt_still_reports_with_a_warning(lease_cluster, lease_dir):
    info = lease_cluster.no_daemon.module("lease_info", dict(
        lease_dir=lease_dir, libvirt_uri="qemu+unix:///system?socket=/nonexistent/sock"))
    assert "failed" not in info, info
    assert len(info["lockspace"]["slots"]) == 2 and info["leases"] == []
    assert "map" not in info and "no lease -> domain map: cannot connect" in json.dumps(info["warnings"])


def test_missing_lease_dir_fails_clearly(lease_cluster, tmp_path):
    info = lease_cluster.a.module("lease_info", dict(lease_dir=str(tmp_path / "nope")))
    assert info["failed"] is True and "does not exist" in info["msg"]
