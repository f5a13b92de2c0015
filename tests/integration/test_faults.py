# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault table, rows that need whole hosts (docs/DEVELOPING.md, "Reliability").

On the rolled-out lab (rolled out with playbooks/site.yml if a host has not
joined the lockspace), real systemd, libvirtd, sanlock and the shared lease
directory. lab1 runs a VM holding its disk lease during every row; each row
ends by proving that lease is still there and still held, and every other
lease file of the shared directory is untouched. Each row restores the host
it broke (the lab is shared with the other lab tests).

The rows without a lab are in tests/unit/plugins/test_faults.py.
"""

import json
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[2]
LEASE_DIR = "/var/lib/libvirt/sanlock"
VM, DISK = "fault-vm", "/var/lib/libvirt/images/fault-vm.img"
# joined, not still joining: `sanlock client gets` marks a lockspace being added with " ADD"
JOINED = "sanlock client gets | sed 's/ *$//' | grep -q '^s __LIBVIRT__DISKS__:[0-9]*:.*:0$'"
SPARE = ["/var/lib/libvirt/images/fault-spare-%d.img" % i for i in range(3)]


def module(lab, host, name, args, check=False):
    """Run autolease.sanlock.<name> ad hoc on one lab host; returns that host's result."""
    from lab import ansible_env  # tests/lab/lab.py
    env = dict(ansible_env(), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible"), "-i", lab.inventory, host,
           "-m", "autolease.sanlock." + name, "-a", json.dumps(args)] + (["--check"] if check else [])
    res = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600, check=False)
    try:
        return json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"][host]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("ansible %s on %s: %s %s" % (name, host, res.stdout[-3000:], res.stderr[-3000:]))


def _listing(lab, host="lab1"):
    """Lease file name -> size, as lab1 sees the shared directory."""
    out = lab.run(host, "cd %s && stat -c '%%n %%s' *" % LEASE_DIR).stdout
    return dict((line.split()[0], int(line.split()[1])) for line in out.splitlines())


@pytest.fixture(scope="module")
def fault_lab(rolled_out_lab):
    lab = rolled_out_lab
    lab.vm_stop("lab1", VM)
    res = lab.vm_start("lab1", VM, DISK)
    assert res.returncode == 0, res.stderr
    created = module(lab, "lab1", "lease", {"lease_dir": LEASE_DIR, "disks": SPARE})
    assert not created.get("failed"), created
    # Rows run real cleanups: start from a directory holding only what every row must keep (unused leases left
    # by other tests would be removed by those cleanups, rightly, and look lost to the guard).
    cleaned = module(lab, "lab1", "lease_cleanup", {"lease_dir": LEASE_DIR, "keep": SPARE})
    assert not cleaned.get("failed"), cleaned
    yield lab
    lab.run("lab1", "virsh destroy %s; virsh undefine %s" % (VM, VM), check=False)


@pytest.fixture
def guard(fault_lab):
    """Yields the listing before the row; afterwards proves the VM's lease is held and no lease file was lost."""
    before = _listing(fault_lab)
    assert lease_name(DISK) in before and all(lease_name(p) in before for p in SPARE)
    yield before
    after = _listing(fault_lab)
    assert set(before) <= set(after), "lost: %s" % sorted(set(before) - set(after))
    assert "running" in fault_lab.run("lab1", "virsh domstate %s" % VM).stdout
    held = fault_lab.run("lab1", "sanlock client status").stdout
    assert "r __LIBVIRT__DISKS__:%s:" % lease_name(DISK) in held, held


def test_libvirtd_stopped(fault_lab, guard):
    lab = fault_lab
    lab.run("lab2", "systemctl stop libvirtd libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket")
    try:
        result = module(lab, "lab2", "lease", {"lease_dir": LEASE_DIR, "domains": ["all"]})
        assert result.get("failed") is True, result
        assert "cannot connect to libvirtd" in result["msg"] and "start libvirtd" in result["msg"], result["msg"]
        # the cleanup does not need libvirtd: it still runs and keeps the lease lab1's VM holds
        cleaned = module(lab, "lab2", "lease_cleanup", {"lease_dir": LEASE_DIR, "keep": SPARE})
        assert not cleaned.get("failed"), cleaned
        assert lease_name(DISK) in [h["name"] for h in cleaned["held"]] and lease_name(DISK) not in cleaned["removed"]
    finally:
        lab.run("lab2", "systemctl start libvirtd")


def test_sanlock_daemon_stopped_on_a_host(fault_lab, guard):
    lab = fault_lab
    lab.run("lab3", "virsh list --name | xargs -r -n1 virsh destroy; systemctl stop libvirtd; "
                    "sanlock client shutdown -f 1 >/dev/null; systemctl stop sanlock; true")
    try:
        for name in ("lease_cleanup", "lease"):
            args = {"lease_dir": LEASE_DIR}
            if name == "lease":
                args["disks"] = ["/img/new.img"]
            result = module(lab, "lab3", name, args)
            assert result.get("failed") is True and "systemctl start sanlock" in result["msg"], result
    finally:
        # libvirtd joins the lockspace in the background after its restart: wait for it (as the libvirt role does)
        lab.run("lab3", "systemctl reset-failed sanlock; systemctl start sanlock; systemctl restart libvirtd; "
                        "for i in $(seq 300); do %s && break; sleep 0.2; done" % JOINED)
    assert lab.run("lab3", JOINED, check=False).returncode == 0  # back, joined


def test_storage_unmounted_between_two_runs(fault_lab, guard):
    lab = fault_lab
    first = module(lab, "lab3", "lease_cleanup", {"lease_dir": LEASE_DIR, "keep": SPARE})
    assert not first.get("failed") and lease_name(DISK) in [h["name"] for h in first["held"]], first.get("msg", first)
    # The daemon keeps the lockspace open, so a plain umount is refused (busy); a lazy one detaches the volume
    # the way a lost NFS mount looks: the directory then shows the host's own, empty directory.
    lab.run("lab3", "umount -l %s" % LEASE_DIR)
    try:
        assert lab.run("lab3", "findmnt %s" % LEASE_DIR, check=False).returncode != 0
        for check in (True, False):
            second = module(lab, "lab3", "lease_cleanup", {"lease_dir": LEASE_DIR}, check=check)
            assert second.get("failed") is True, second
            assert "not mounted" in second["msg"] and LEASE_DIR in second["msg"], second["msg"]
    finally:
        lab.run("lab3", "mount %s" % LEASE_DIR)
    assert lab.run("lab3", "findmnt %s" % LEASE_DIR).returncode == 0


def test_lease_dir_not_mounted_is_reported_by_the_audit(fault_lab, guard):
    lab = fault_lab
    lab.run("lab2", "umount -l %s" % LEASE_DIR)
    try:
        res = lab.ansible("playbooks/audit.yml")
        text = res.stdout + res.stderr
        assert "lab2" in text and "not a mount point" in text, text[-4000:]
    finally:
        lab.run("lab2", "mount %s" % LEASE_DIR)
