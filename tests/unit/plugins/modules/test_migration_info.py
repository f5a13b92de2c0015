# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migration_info module, run as Ansible runs it, on two real hosts, and the preflight over what it read.

``lease_cluster`` (tests/unit/plugins/conftest.py): private sanlock daemons host-a (host_id 1) and host-b
(host_id 2) joined to the lockspace in ``lease_dir``; host-c runs and has joined nothing. libvirt is its
test driver (test:///FILE: the domains of FILE, running), the configuration files are real files in tmp dirs.
"""

import os

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _migration

LS = "__LIBVIRT__DISKS__"

NODE = """<node>
{domains}
</node>
"""
DOMAIN = """  <domain type='test'>
    <name>{name}</name>
    <memory unit='KiB'>{memory}</memory>
    <currentMemory unit='KiB'>{current}</currentMemory>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
{disks}
      <disk type='file' device='cdrom'><source file='{ro}'/><readonly/><target dev='hdc' bus='ide'/></disk>
    </devices>
  </domain>"""
DISK = "      <disk type='file' device='disk'><source file='{path}'/><target dev='vd{letter}' bus='virtio'/></disk>"


def node_xml(path, domains):
    """Write a libvirt test-driver node file with domains {name: (current KiB, [disk paths])}; return its URI."""
    parts = []
    for name, (current, disks) in sorted(domains.items()):
        parts.append(DOMAIN.format(name=name, memory=current * 2, current=current, ro=str(path) + ".iso",
                                   disks="\n".join(DISK.format(path=disk, letter=chr(ord("a") + i))
                                                   for i, disk in enumerate(disks))))
    path.write_text(NODE.format(domains="\n".join(parts)))
    return "test://" + str(path)


class Lab:
    """Configuration files of one host in a tmp dir, and the module run through that host's daemon."""

    def __init__(self, host, base, lease_dir, host_id, manager="sanlock"):
        self.host = host
        base.mkdir()
        self.qemu = base / "qemu.conf"
        self.qemu.write_text('# lock_manager = "lockd"\ncgroup_controllers = [ ]\n'
                             + ('lock_manager = "%s"\n' % manager if manager else ""))
        self.sanlock = base / "qemu-sanlock.conf"
        self.sanlock.write_text('auto_disk_leases = 1\ndisk_lease_dir = "%s"\nhost_id = %d\n' % (lease_dir, host_id))
        self.node = base / "node.xml"

    def info(self, domains, paths=(), check=False):
        args = dict(paths=list(paths), libvirt_uri=node_xml(self.node, domains), qemu_conf=str(self.qemu),
                    qemu_sanlock_conf=str(self.sanlock), storage_timeout=10)
        result = self.host.module("migration_info", args, check=check)
        assert result.get("failed") is not True and result["changed"] is False, result
        return result


@pytest.fixture
def disks(tmp_path):
    shared = tmp_path / "images"
    shared.mkdir()
    paths = [str(shared / ("web-%d.img" % i)) for i in range(9)]
    for path in paths:
        with open(path, "wb") as handle:
            handle.truncate(1024 * 1024)
    return paths


def test_a_clean_pair_reads_everything_and_has_no_problem(lease_cluster, lease_dir, tmp_path, disks):
    a = Lab(lease_cluster.a, tmp_path / "a", lease_dir, 1)
    b = Lab(lease_cluster.b, tmp_path / "b", lease_dir, 2)
    vms = {"web": (65536, disks[:2]), "db": (131072, disks[2:3])}
    before = sorted(os.listdir(lease_dir))
    for check in (True, False):
        source = a.info(vms, check=check)
        assert [source[key] for key in ("lock_manager", "disk_lease_dir", "auto_disk_leases", "host_id",
                                        "owner_name", "joined", "errors")] == [
            "sanlock", lease_dir, True, 1, "host-a", True, []]
        assert source["join"]["host_id"] == 1 and source["join"]["verified"] is True
        assert source["join"]["path"] == os.path.join(lease_dir, LS)
        assert {k: v["owner_name"] for k, v in source["slots"].items()} == {"1": "host-a", "2": "host-b"}
        assert sorted(source["domains"]) == ["db", "web"]
        assert source["domains"]["web"] == {"state": "running", "active": True, "memory_kib": 65536, "disks": [
            {"path": disks[0], "target": "vda", "shared": False, "kind": "file"},
            {"path": disks[1], "target": "vdb", "shared": False, "kind": "file"}]}  # the read-only cdrom: no lease
        assert isinstance(source["mem_available_kib"], int) and source["mem_available_kib"] > 0
        assert source["paths"] == {}
    assert sorted(os.listdir(lease_dir)) == before
    wanted = _migration.disk_paths([source])
    assert wanted == sorted(disks[:3])
    destination = b.info({}, paths=wanted + [str(tmp_path), "/dev/null"])
    assert destination["owner_name"] == "host-b" and destination["joined"] is True
    assert destination["paths"][disks[0]] == {"exists": True, "kind": "file"}
    assert destination["paths"][str(tmp_path)] == {"exists": True, "kind": "directory"}
    assert destination["paths"]["/dev/null"] == {"exists": True, "kind": "other"}
    assert _migration.preflight(source, destination) == []
    assert _migration.preflight(destination, source) == []  # b runs nothing: nothing to check but the pair
    # The source among the candidates is skipped; b has the memory (MemAvailable of this machine) for both.
    assert _migration.plan(dict(source, host="a"), {"a": source, "b": destination}) == {
        "plan": {"db": "b", "web": "b"}, "problems": []}


def test_a_disk_only_on_the_source_a_lock_manager_changed_by_hand_and_nine_disks(lease_cluster, lease_dir, tmp_path,
                                                                                 disks):
    a = Lab(lease_cluster.a, tmp_path / "a", lease_dir, 1)
    b = Lab(lease_cluster.b, tmp_path / "b", lease_dir, 2, manager=None)  # lock_manager commented out: none
    local = tmp_path / "local.img"
    local.write_bytes(b"\0" * 4096)
    source = a.info({"web": (65536, [disks[0], str(local)]), "big": (65536, disks)})
    assert len(source["domains"]["big"]["disks"]) == 9
    local.unlink()  # the disk exists on the source only
    destination = b.info({}, paths=_migration.disk_paths([source]))
    assert destination["lock_manager"] == "none"
    problems = _migration.preflight(dict(source, host="kvm-a"), dict(destination, host="kvm-b"))
    by_reason = dict((p["reason"].split(":")[0], p) for p in problems)
    manager = by_reason["lock_manager on kvm-b is 'none', not 'sanlock'"]
    assert manager["domain"] is None and (manager["source"], manager["destination"]) == ("kvm-a", "kvm-b")
    assert 'set lock_manager = "sanlock" in /etc/libvirt/qemu.conf on kvm-b' in manager["fix"]
    missing = [p for p in problems if p["reason"].startswith("disk %s of web does not exist on kvm-b" % local)]
    assert len(missing) == 1 and missing[0]["domain"] == "web" and str(local) in missing[0]["fix"]
    big = [p for p in problems if p["domain"] == "big"]
    assert [p["reason"].split(";")[0] for p in big] == [
        "big has 9 lockable disks (read-write, shareable ones included: each takes a sanlock lease)"]
    assert "at most 8" in big[0]["fix"]
    # Only the named domains: web alone has the pair problem and its missing disk.
    assert sorted(set(p["domain"] for p in _migration.preflight(source, destination, ["web"])), key=str) == [
        None, "web"]


def test_a_host_that_has_not_joined_and_another_lease_storage_under_the_same_path(lease_cluster, lease_dir,
                                                                                  tmp_path):
    """host-c joins a lockspace of its own (a local directory, as an unmounted share): its info is real; the
    same path string is then given to it as a host with that storage mounted at the shared path reports it."""
    a = Lab(lease_cluster.a, tmp_path / "a", lease_dir, 1)
    source = a.info({})
    c = Lab(lease_cluster.c, tmp_path / "c", lease_dir, 3)
    not_joined = c.info({})
    assert not_joined["joined"] is False and not_joined["join"] is None and not_joined["owner_name"] == "host-c"
    reasons = [p["reason"] for p in _migration.preflight(source, dict(not_joined, host="host-c"))]
    assert any(r.startswith("host-c's sanlock daemon is not in the lockspace at %s" % lease_dir) for r in reasons)
    local = tmp_path / "local-leases"
    local.mkdir()
    assert lease_cluster.c.call("_lockspace.ensure_lockspace", str(local), owner="root", group="root",
                                io_timeout=1) == {"ok": True}
    space = "%s:3:%s/%s:0" % (LS, local, LS)
    lease_cluster.c.client("add_lockspace", "-s", space, "-o", "1")
    try:
        c.sanlock.write_text('auto_disk_leases = 1\ndisk_lease_dir = "%s"\nhost_id = 3\n' % local)
        joined = c.info({})
        assert joined["joined"] is True and joined["slots"] == {"3": {"owner_name": "host-c",
                                                                      "generation": joined["slots"]["3"]["generation"]}}
    finally:
        lease_cluster.c.client("rem_lockspace", "-s", space)
    same_string = dict(joined, disk_lease_dir=lease_dir, host="host-c")
    problems = _migration.preflight(dict(source, host="host-a"), same_string)
    assert [p["reason"] for p in problems] == [
        "host-a and host-c do not share the lease storage at %s (checked by content, a path string is no proof): "
        "the lockspace host-a reads in %s has no record at host_id 3, not host-c's record (sanlock name host-c); "
        "the lockspace host-c reads in %s has no record at host_id 1, not host-a's record (sanlock name host-a)"
        % (lease_dir, lease_dir, lease_dir)]
    assert problems[0]["fix"].startswith("mount the same shared lease storage at %s on both hosts" % lease_dir)
    # The same storage under the same string but one host_id for both.
    twin = dict(joined, disk_lease_dir=lease_dir, join=dict(joined["join"], host_id=1), host="host-c")
    assert any(p["reason"] == "host-a and host-c both use host_id 1: sanlock cannot tell their leases apart"
               for p in _migration.preflight(dict(source, host="host-a"), twin))


def test_hung_disk_storage_fails_the_module_naming_the_path(lease_cluster, lease_dir, tmp_path, hung_storage):
    a = Lab(lease_cluster.a, tmp_path / "a", lease_dir, 1)
    args = dict(paths=[os.path.join(hung_storage.path, "web.img")], libvirt_uri="", qemu_conf=str(a.qemu),
                qemu_sanlock_conf=str(a.sanlock), storage_timeout=2)
    result = lease_cluster.a.module("migration_info", args)
    assert result["failed"] is True
    assert "checking the disk path %s/web.img got no reply within 2 s" % hung_storage.path in result["msg"]


def test_no_daemon_no_libvirt_and_bad_options(lease_cluster, tmp_path):
    conf = tmp_path / "qemu.conf"
    conf.write_text('lock_manager = "sanlock"\n')
    args = dict(libvirt_uri="test:///" + str(tmp_path / "missing.xml"), qemu_conf=str(conf),
                qemu_sanlock_conf=str(tmp_path / "none.conf"))
    result = lease_cluster.no_daemon.module("migration_info", args)
    assert result.get("failed") is not True, result
    assert result["domains"] is None and result["owner_name"] is None and result["joined"] is False
    assert result["errors"][0].startswith("the local sanlock daemon does not answer")
    assert result["errors"][1].startswith("cannot connect to libvirtd at test:///")
    problems = _migration.preflight(dict(result, host="x"), dict(result, host="y"))
    assert any(p["reason"].startswith("x: the local sanlock daemon does not answer") for p in problems)
    bad = lease_cluster.a.module("migration_info", dict(paths=["relative.img"]))
    assert bad["failed"] is True and "paths='relative.img' is not an absolute path" in bad["msg"]
    bad = lease_cluster.a.module("migration_info", dict(storage_timeout=0, libvirt_uri=""))
    assert bad["failed"] is True and "storage_timeout=0 is out of range" in bad["msg"]


def test_block_devices_are_reported_as_block(lease_cluster, tmp_path):
    block = next((os.path.join("/dev", n) for n in sorted(os.listdir("/dev")) if n.startswith("loop")
                  and n[4:].isdigit()), None)
    assert block, "no /dev/loopN on this machine: load the loop module (modprobe loop)"
    result = lease_cluster.a.module("migration_info", dict(paths=[block], libvirt_uri="",
                                                           qemu_sanlock_conf=str(tmp_path / "none.conf")))
    assert result["paths"] == {block: {"exists": True, "kind": "block"}}, result
