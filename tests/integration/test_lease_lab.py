"""Lease modules against real libvirtd + sanlock on lab hosts (systemd-nspawn, tests/lab).

A private two-host lab (its own LAB_DIR, the shared image cache) so that
turning on auto_disk_leases does not change the lab other tests use. Both
hosts share the lease directory /srv/lab-shared/leases (host_id 1 and 2);
VM disks are per host (same path, own file), so a refusal comes from sanlock
alone, not from qemu's image locking.

Proves: lease_name equals the file libvirtd itself creates (spaces,
non-ASCII, '//', trailing '/'); cleanup on one host keeps the lease libvirtd
holds on the other and removes orphans; a VM starts with a lease pre-created
by the lease module (libvirt uses that very file).
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".cache" / "collections"))

from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name  # noqa: E402

pytestmark = pytest.mark.lab

LAB_PY = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
HOSTS = ["lab1", "lab2"]
LEASES = "/srv/lab-shared/leases"
IMAGES = "/var/lib/libvirt/images"
CONF = """auto_disk_leases = 1
disk_lease_dir = "%s"
host_id = %d
require_lease_for_disks = 1
user = "sanlock"
group = "sanlock"
io_timeout = 2
"""
VM = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='{kind}' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source {attr}='{path}'/>
      <target dev='{dev}' bus='{bus}'/>
    </disk>
    <video><model type='none'/></video><memballoon model='none'/>
  </devices>
</domain>
"""


class PrivateLab:
    def __init__(self, lab_dir):
        self.lab_dir = lab_dir
        self.env = dict(os.environ, LAB_DIR=str(lab_dir), LAB_HOSTS=str(len(HOSTS)),
                        LAB_IMAGE_DIR=os.environ.get("LAB_IMAGE_DIR", "/var/tmp/autolease-lab/image"))

    def run(self, host, cmd, check=True):
        res = subprocess.run(LAB_PY + ["run", host, cmd], env=self.env, capture_output=True, text=True, timeout=600,
                             check=False)
        if check and res.returncode:
            raise AssertionError("%s: %s failed (%d): %s %s" % (host, cmd, res.returncode, res.stdout, res.stderr))
        return res

    def module(self, host, module, args, check=False):
        env = dict(self.env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
                   ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
                   PATH="%s:%s" % (pathlib.Path(sys.executable).parent, os.environ.get("PATH", "")))
        cmd = [str(pathlib.Path(sys.executable).parent / "ansible"), "-i", str(self.lab_dir / "inventory.yml"),
               host, "-m", "autolease.sanlock." + module, "-a", json.dumps(args)] + (["--check"] if check else [])
        res = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600, check=False)
        try:
            return json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"][host]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("ansible %s on %s: %s %s" % (module, host, res.stdout[-3000:], res.stderr[-3000:]))

    def define(self, host, name, path, kind="file"):
        attr = {"file": "file", "dir": "dir", "block": "dev"}[kind]
        fmt, dev, bus = ("fat", "hda", "ide") if kind == "dir" else ("raw", "vda", "virtio")
        xml = VM.format(name=name, kind=kind, attr=attr, path=path, fmt=fmt, dev=dev, bus=bus)
        self.run(host, "virsh define /dev/stdin >/dev/null <<'XML'\n%sXML" % xml)

    def start(self, host, name):
        return self.run(host, "virsh start '%s'" % name, check=False)


@pytest.fixture(scope="module")
def lease_lab(tmp_path_factory):
    lab = PrivateLab(tmp_path_factory.mktemp("lease-lab") / "lab")
    subprocess.run(LAB_PY + ["up"], env=lab.env, check=True, timeout=1800)
    try:
        lab.run(HOSTS[0], "install -d -o sanlock -g sanlock -m 0775 %s" % LEASES)
        # The lease module pre-creates the lockspace, as the libvirt role does before restarting libvirtd.
        created = lab.module(HOSTS[0], "lease", {"lease_dir": LEASES, "io_timeout": 2})
        assert created.get("changed") is True and created["lockspace_created"] is True, created
        for host_id, host in enumerate(HOSTS, start=1):
            lab.run(host, "cat > /etc/libvirt/qemu-sanlock.conf <<'EOF'\n%sEOF\n"
                          "sed -i '/^lock_manager/d' /etc/libvirt/qemu.conf; "
                          "echo 'lock_manager = \"sanlock\"' >> /etc/libvirt/qemu.conf; "
                          "systemctl restart libvirtd" % (CONF % (LEASES, host_id)))
        for host in HOSTS:
            status = lab.run(host, "sanlock client status").stdout
            assert "__LIBVIRT__DISKS__" in status, status
        yield lab
    finally:
        subprocess.run(LAB_PY + ["down"], env=lab.env, check=False, timeout=600)


def _leases(lab, host):
    return set(lab.run(host, "ls -A %s" % LEASES).stdout.split()) - {"__LIBVIRT__DISKS__"}


@pytest.mark.parametrize("path, kind", [
    (IMAGES + "/with space.img", "file"),
    (IMAGES + "/non-ascii-é-日本.img", "file"),
    (IMAGES + "//double//slash.img", "file"),  # the directory "double" is made first
    # libvirt refuses read-write dir disks and read-only disks get no lease: a file disk whose path ends in
    # '/' (a directory) is refused by qemu, but libvirt makes the lease before qemu opens the disk.
    (IMAGES + "/trailing-slash/", "dir-as-file"),
])
def test_lease_name_is_the_file_libvirt_creates(lease_lab, path, kind):
    name = "ln-%s" % lease_name(path)[:8]
    real = os.path.normpath(path)
    if kind == "dir-as-file":
        lease_lab.run("lab1", "mkdir -p '%s'" % real)
        kind = "file"
    else:
        lease_lab.run("lab1", "mkdir -p '%s' && qemu-img create -q -f raw '%s' 8M" % (os.path.dirname(real), real))
    before = _leases(lease_lab, "lab1")
    lease_lab.define("lab1", name, path, kind)
    try:
        lease_lab.start("lab1", name)  # the lease file is made before qemu opens the disk, whatever qemu says
        new = _leases(lease_lab, "lab1") - before
        assert new == {lease_name(path)}, (path, new)
        expected = lease_lab.run("lab1", "python3 -c \"import hashlib,sys; print(hashlib.md5(sys.argv[1].encode())"
                                         ".hexdigest())\" '%s'" % path).stdout.strip()
        assert expected == lease_name(path)
    finally:
        lease_lab.run("lab1", "virsh destroy '%s'; virsh undefine '%s'" % (name, name), check=False)


def test_cleanup_on_one_host_keeps_the_lease_libvirt_holds_on_the_other(lease_lab):
    disk = IMAGES + "/held-by-lab1.img"
    orphans = [IMAGES + "/orphan-%d.img" % i for i in range(3)]
    made = lease_lab.module("lab2", "lease", {"lease_dir": LEASES, "disks": orphans})
    assert sorted(made["created"]) == sorted(lease_name(p) for p in orphans)
    for host in HOSTS:
        lease_lab.run(host, "qemu-img create -q -f raw '%s' 8M" % disk)
    lease_lab.define("lab1", "held", disk)
    try:
        res = lease_lab.start("lab1", "held")
        assert res.returncode == 0, res.stderr
        check = lease_lab.module("lab2", "lease_cleanup", {"lease_dir": LEASES}, check=True)
        assert [h["name"] for h in check["held"]] == [lease_name(disk)]
        assert check["held"][0]["owners"][0]["host_id"] == 1
        assert set(lease_name(p) for p in orphans) <= set(check["removed"])
        real = lease_lab.module("lab2", "lease_cleanup", {"lease_dir": LEASES})
        assert real["changed"] is True and lease_name(disk) not in real["removed"]
        assert [h["name"] for h in real["held"]] == [lease_name(disk)]
        assert _leases(lease_lab, "lab1") & set(lease_name(p) for p in orphans) == set()
        assert lease_name(disk) in _leases(lease_lab, "lab1")
        # lab1's daemon still holds the very lease file the cleanup left in place
        status = lease_lab.run("lab1", "sanlock client status").stdout
        assert "r __LIBVIRT__DISKS__:%s:%s/%s:0" % (lease_name(disk), LEASES, lease_name(disk)) in status, status
        # and it still protects the disk: lab2 cannot start a VM on the same disk path
        lease_lab.define("lab2", "held", disk)
        refused = lease_lab.start("lab2", "held")
        assert refused.returncode != 0 and "held by another host" in refused.stderr, refused.stderr
        info = lease_lab.module("lab1", "lease_info", {"lease_dir": LEASES})
        mine = [item for item in info["leases"] if item["name"] == lease_name(disk)]
        assert mine[0]["domains"] == ["held"] and mine[0]["owners"][0]["host_id"] == 1
    finally:
        lease_lab.run("lab1", "virsh destroy held; virsh undefine held", check=False)
        lease_lab.run("lab2", "virsh undefine held", check=False)
    after = lease_lab.module("lab2", "lease_cleanup", {"lease_dir": LEASES})
    assert lease_name(disk) in after["removed"]


def test_vm_starts_with_a_lease_pre_created_by_the_lease_module(lease_lab):
    disk = IMAGES + "/precreated.img"
    lease_lab.run("lab2", "qemu-img create -q -f raw '%s' 8M" % disk)
    lease_lab.define("lab2", "pre", disk)
    try:
        for check in (True, False, True, False):
            res = lease_lab.module("lab1", "lease", {"lease_dir": LEASES, "disks": [disk]}, check=check)
            assert res["changed"] is (res["created"] == [lease_name(disk)])
        path = "%s/%s" % (LEASES, lease_name(disk))
        inode = lease_lab.run("lab1", "stat -c %%i:%%U:%%a %s" % path).stdout.strip()
        assert inode.endswith(":sanlock:600")
        res = lease_lab.start("lab2", "pre")
        assert res.returncode == 0, res.stderr
        assert lease_lab.run("lab2", "stat -c %%i:%%U:%%a %s" % path).stdout.strip() == inode  # same file
        info = lease_lab.module("lab2", "lease_info", {"lease_dir": LEASES})
        owners = [item["owners"] for item in info["leases"] if item["name"] == lease_name(disk)][0]
        assert [o["host_id"] for o in owners] == [2]
    finally:
        lease_lab.run("lab2", "virsh destroy pre; virsh undefine pre", check=False)
