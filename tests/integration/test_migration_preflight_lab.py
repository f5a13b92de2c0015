"""The migration preflight on the lab's real hosts (issue 14, part 2): migration_info read on every host,
the migration_preflight and migration_plan filters over what it read, and the audit's migration findings.

The lab's VM disks are not shared: each host has its own file at the same path (tests/lab/lab.py), so a
disk that exists on the source only is made by creating it on one host alone. Everything changed here
(qemu.conf of one host, VMs, disk files) is restored at the end of each test.
"""

import json
import re

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _migration

pytestmark = pytest.mark.lab

IMAGES = "/var/lib/libvirt/images"
QEMU_CONF = "/etc/libvirt/qemu.conf"
RESULT = re.compile(r"^(lab\d+) \| (SUCCESS|FAILED!|UNREACHABLE!) => ", re.M)

NINE_DISKS = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
{disks}
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
"""
DISK = """    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{path}'/>
      <target dev='vd{letter}' bus='virtio'/>
    </disk>"""


def migration_infos(lab, paths=(), all_domains=False):
    """host -> the migration_info result on every lab host (an ad-hoc run, results parsed from its output)."""
    args = json.dumps({"paths": list(paths), "all_domains": all_domains})
    res = lab.ansible("kvm_hosts", "-m", "autolease.sanlock.migration_info", "-a", args)
    infos, decoder = {}, json.JSONDecoder()
    for match in RESULT.finditer(res.stdout):
        result, dummy = decoder.raw_decode(res.stdout, match.end())
        assert match.group(2) == "SUCCESS", (match.group(1), result)
        infos[match.group(1)] = dict(result, host=match.group(1))
    assert sorted(infos) == sorted(lab.hosts), res.stdout[-4000:] + res.stderr[-2000:]
    return infos


def two_passes(lab, all_domains=False):
    """Every host read, then every host checks the disk paths of every host's running VMs (as audit.yml)."""
    first = migration_infos(lab, all_domains=all_domains)
    second = migration_infos(lab, _migration.disk_paths(first.values()))
    return dict((host, dict(first[host], paths=second[host]["paths"])) for host in first)


def remove_vm(lab, name, disks):
    for host in lab.hosts:
        lab.run(host, "virsh destroy %s; virsh undefine %s; rm -f %s" % (name, name, " ".join(disks)), check=False)


def audit_migration_section(lab):
    """The lines of the audit report's migration table (empty when it has none)."""
    res = lab.ansible("playbooks/audit.yml")
    assert res.returncode == 0, res.stdout[-4000:]
    lines = res.stdout.replace("\\n", "\n").splitlines()
    start = [i for i, line in enumerate(lines) if "== Live migration" in line]
    if not start:
        return []
    section = []
    for line in lines[start[0]:]:
        if section and "== " in line:
            break
        section.append(line.strip().strip('",'))
    return section


def test_a_clean_lab_has_no_migration_problem(rolled_out_lab):
    lab = rolled_out_lab
    disk = "%s/mig-clean.img" % IMAGES
    try:
        started = lab.vm_start("lab1", "mig-clean", disk)
        assert started.returncode == 0, started.stderr
        for host in lab.hosts[1:]:  # the same disk path on every host (the lab's disks are per host)
            lab.run(host, "qemu-img create -q -f raw %s 8M" % disk)
        infos = two_passes(lab)
        source = infos["lab1"]
        assert [source[key] for key in ("lock_manager", "auto_disk_leases", "joined", "errors")] == [
            "sanlock", True, True, []]
        assert source["domains"]["mig-clean"]["disks"] == [{"path": disk, "target": "vda", "shared": False,
                                                            "kind": "file"}]
        assert source["domains"]["mig-clean"]["memory_kib"] == 32768
        assert len(set(_migration.effective_host_id(info) for info in infos.values())) == len(lab.hosts)
        for host in lab.hosts[1:]:
            assert _migration.preflight(source, infos[host]) == [], host
        got = _migration.plan(source, infos)
        assert got["problems"] == [] and got["plan"]["mig-clean"] in lab.hosts[1:]
        assert audit_migration_section(lab) == []
    finally:
        remove_vm(lab, "mig-clean", [disk])


def test_lock_manager_changed_by_hand_and_a_disk_only_on_the_source(rolled_out_lab):
    lab = rolled_out_lab
    disk = "%s/mig-local.img" % IMAGES
    lab.run("lab2", "cp -p %s %s.mig-test" % (QEMU_CONF, QEMU_CONF))
    try:
        started = lab.vm_start("lab1", "mig-local", disk)  # its disk is created on lab1 only
        assert started.returncode == 0, started.stderr
        lab.run("lab2", "sed -i 's/^lock_manager/#lock_manager/' %s" % QEMU_CONF)
        infos = two_passes(lab)
        assert infos["lab2"]["lock_manager"] == "none"
        problems = _migration.preflight(infos["lab1"], infos["lab2"])
        manager = [p for p in problems if p["domain"] is None]
        assert [p["reason"].split(":")[0] for p in manager] == ["lock_manager on lab2 is 'none', not 'sanlock'"]
        assert manager[0]["fix"].startswith('set lock_manager = "sanlock" in /etc/libvirt/qemu.conf on lab2')
        missing = [p for p in problems if p["domain"] == "mig-local"]
        assert [p["reason"].split(":")[0] for p in missing] == [
            "disk %s of mig-local does not exist on lab2 under that path" % disk]
        assert "lab2" in missing[0]["fix"] and disk in missing[0]["fix"]
        # lab3 has the right settings but not the disk either: no destination at all.
        got = _migration.plan(infos["lab1"], infos)
        assert got["plan"] == {}
        assert sorted(set((p["destination"], p["reason"].split(":")[0]) for p in got["problems"])) == [
            ("lab2", "disk %s of mig-local does not exist on lab2 under that path" % disk),
            ("lab2", "lock_manager on lab2 is 'none', not 'sanlock'"),
            ("lab3", "disk %s of mig-local does not exist on lab3 under that path" % disk)]
        section = audit_migration_section(lab)
        assert any(line.startswith("lab1") and "mig-local: %s" % disk in line and "cannot migrate to lab2, lab3" in line
                   for line in section), section
        assert any(line.startswith("lab2") and "lock_manager on lab2 is 'none'" in line for line in section), section
    finally:
        lab.run("lab2", "mv %s.mig-test %s" % (QEMU_CONF, QEMU_CONF))
        remove_vm(lab, "mig-local", [disk])
    assert migration_infos(lab)["lab2"]["lock_manager"] == "sanlock"


def test_a_vm_with_nine_disks_is_reported_and_cannot_start(rolled_out_lab):
    lab = rolled_out_lab
    disks = ["%s/mig-nine-%d.img" % (IMAGES, i) for i in range(9)]
    xml = NINE_DISKS.format(name="mig-nine", disks="\n".join(
        DISK.format(path=path, letter=chr(ord("a") + i)) for i, path in enumerate(disks)))
    try:
        lab.run("lab1", "for d in %s; do qemu-img create -q -f raw $d 1M; done; virsh define /dev/stdin <<'XML'\n%sXML"
                % (" ".join(disks), xml))
        start = lab.run("lab1", "virsh start mig-nine", check=False)
        # libvirt's sanlock plugin refuses the ninth lease: "Too many resources 8 for object"
        assert start.returncode != 0 and "Too many resources" in start.stderr, (start.stdout, start.stderr)
        infos = two_passes(lab, all_domains=True)
        entry = infos["lab1"]["domains"]["mig-nine"]
        assert entry["active"] is False and len(entry["disks"]) == 9
        problems = _migration.preflight(infos["lab1"], infos["lab2"], ["mig-nine"])
        assert [p["reason"].split(";")[0] for p in problems if p["domain"] == "mig-nine"][0] == (
            "mig-nine has 9 lockable disks (read-write, shareable ones included: each takes a sanlock lease)")
        section = audit_migration_section(lab)
        assert any(line.startswith("lab1") and "mig-nine" in line and "9 lockable disks" in line
                   for line in section), section
    finally:
        remove_vm(lab, "mig-nine", disks)
