# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Joins of the libvirt lockspace on the rolled-out lab (issue 11, items 1 and 4).

lab3 boots before its storage, joins a lockspace hidden under the mount, or
changes its host_id; every test restores it with playbooks/site.yml and
proves it is protected again (the lab is shared with the other lab tests).
"""

import time

import pytest

pytestmark = pytest.mark.lab

HOST = "lab3"
LEASE_DIR = "/var/lib/libvirt/sanlock"
LOCKSPACE = LEASE_DIR + "/__LIBVIRT__DISKS__"
DROPIN = "/etc/systemd/system/libvirtd.service.d/autolease-sanlock.conf"
VM, DISK = "hidden-vm", "/var/lib/libvirt/images/hidden-vm.img"


def _leave_shared_lockspace(lab):
    """What a boot does to sanlock: nothing joined (no VM runs on lab3 here, so nothing is killed)."""
    assert lab.run(HOST, "virsh list --name | grep . || true").stdout.strip() == ""
    lab.run(HOST, "sanlock client rem_lockspace -s __LIBVIRT__DISKS__:3:%s:0" % LOCKSPACE, check=False)
    assert "__LIBVIRT__DISKS__" not in lab.run(HOST, "sanlock client gets").stdout


def _wait_joined(lab):
    """Until lab3's sanlock has joined the libvirt lockspace (libvirt joins after systemd reports it started)."""
    for dummy in range(60):
        gets = lab.run(HOST, "sanlock client gets").stdout
        if "__LIBVIRT__DISKS__" in gets and " ADD" not in gets:
            return
        time.sleep(1)
    raise AssertionError("lab3 did not join a lockspace: %s" % gets)


def _restored(lab):
    """site.yml brings lab3 back: green, and lab3's join verified by content."""
    lab.run(HOST, "virsh destroy %s >/dev/null 2>&1; virsh undefine %s >/dev/null 2>&1; true" % (VM, VM))
    res = lab.ansible("playbooks/site.yml", check=True)
    assert res.stdout.count("verified by content") == len(lab.hosts), res.stdout[-3000:]


@pytest.fixture
def boots_before_storage(rolled_out_lab):
    lab = rolled_out_lab
    yield lab
    lab.run(HOST, "sed -i 's|^/etc/hostname/unreachable |/srv/lab-shared |' /etc/fstab; systemctl daemon-reload")
    _restored(lab)


def test_a_vm_on_a_hidden_local_lockspace_fails_the_rollout_and_the_audit(boots_before_storage):
    """A host set up without the boot-order guards (drop-in removed, bare mount point writable) joins a local
    lockspace while its storage is down and starts a VM on a local lease; the storage is then mounted over it.
    Before the content proof, site.yml and the audit were green here while other hosts could start that disk."""
    lab = boots_before_storage
    _leave_shared_lockspace(lab)
    lab.run(HOST, "rm -f %s && systemctl daemon-reload && umount %s && chown sanlock:sanlock %s && chmod 0775 %s"
            % (DROPIN, LEASE_DIR, LEASE_DIR, LEASE_DIR))
    lab.run(HOST, "systemctl restart libvirtd")
    _wait_joined(lab)  # libvirt joined the lockspace file in the bare directory (made there if missing)
    assert lab.run(HOST, "test -f %s" % LOCKSPACE, check=False).returncode == 0
    res = lab.vm_start(HOST, VM, DISK)
    assert res.returncode == 0, res.stderr
    lab.run(HOST, "mount %s && mountpoint -q %s" % (LEASE_DIR, LEASE_DIR))  # the storage comes back over it

    rollout = lab.ansible("playbooks/site.yml")
    assert rollout.returncode != 0, rollout.stdout[-3000:]
    assert "leases are held in it" in rollout.stdout and "fatal: [%s]" % HOST in rollout.stdout, rollout.stdout[-3000:]
    audit = lab.ansible("playbooks/audit.yml", "-e", "autolease_audit_strict=true")
    assert audit.returncode != 0
    assert "not verified" in audit.stdout and HOST in audit.stdout, audit.stdout[-3000:]
    # The disk is really unprotected: lab1 can start it while it runs on lab3 (on the hidden local lease).
    assert "running" in lab.run(HOST, "virsh domstate %s" % VM).stdout

    lab.run(HOST, "virsh destroy %s" % VM)
    # With no VM left the next run repairs the host: it leaves the hidden lockspace and joins the shared one.
    _restored(lab)
    assert lab.run(HOST, "stat -c %%U %s" % DROPIN).stdout.strip() == "root"


def test_the_storage_is_not_mounted_over_a_lockspace_in_use(boots_before_storage):
    """The same host before anyone mounted the storage again: site.yml would mount it over the lockspace the
    daemon renews (as on a switch from shared_storage_local). It leaves that lockspace first; with a VM
    holding a lease there it fails before mounting, and mounts once the VM is gone."""
    lab = boots_before_storage
    _leave_shared_lockspace(lab)
    lab.run(HOST, "rm -f %s && systemctl daemon-reload && umount %s && chown sanlock:sanlock %s && chmod 0775 %s"
            % (DROPIN, LEASE_DIR, LEASE_DIR, LEASE_DIR))
    lab.run(HOST, "systemctl restart libvirtd")
    _wait_joined(lab)
    res = lab.vm_start(HOST, VM, DISK)
    assert res.returncode == 0, res.stderr

    rollout = lab.ansible("playbooks/site.yml")
    assert rollout.returncode != 0
    assert "leases are held in it" in rollout.stdout and "fatal: [%s]" % HOST in rollout.stdout, rollout.stdout[-3000:]
    assert lab.run(HOST, "mountpoint -q %s" % LEASE_DIR, check=False).returncode != 0  # not mounted over it
    assert "running" in lab.run(HOST, "virsh domstate %s" % VM).stdout
    lab.run(HOST, "virsh destroy %s" % VM)
    _restored(lab)


def test_libvirtd_does_not_start_without_the_lease_storage(boots_before_storage):
    """As at a boot with the filer down: the mount fails (its source cannot exist: systemd creates a missing bind
    source, so the source is a path under a file), so libvirtd does not
    start, and no local lockspace is created in the bare mount point (root:root 0000 under the mount)."""
    lab = boots_before_storage
    _leave_shared_lockspace(lab)
    # What is under the mount (seen in a private mount namespace): root:root 0000, emptied of what earlier
    # tests left there, so anything found there later was made during this boot.
    under = lab.run(HOST, "unshare --mount --propagation private sh -c 'umount -l %s; rm -f %s/*; "
                          "stat -c %%u:%%g:%%a %s'" % (LEASE_DIR, LEASE_DIR, LEASE_DIR)).stdout.strip()
    assert under == "0:0:0", "the bare mount point under the storage is %s" % under
    lab.run(HOST, "systemctl stop libvirtd libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket; umount %s; "
                  "sed -i 's|^/srv/lab-shared |/etc/hostname/unreachable |' /etc/fstab; systemctl daemon-reload"
            % LEASE_DIR)
    start = lab.run(HOST, "systemctl start libvirtd", check=False)
    assert start.returncode != 0
    assert lab.run(HOST, "systemctl is-active libvirtd", check=False).stdout.strip() != "active"
    assert lab.run(HOST, "mountpoint -q %s" % LEASE_DIR, check=False).returncode != 0
    assert lab.run(HOST, "ls -A %s" % LEASE_DIR).stdout.strip() == ""  # no local lockspace
    assert "__LIBVIRT__DISKS__" not in lab.run(HOST, "sanlock client gets").stdout


def test_a_forced_host_id_change_leaves_the_lockspace_and_joins_with_the_new_id(boots_before_storage):
    """host_id_force_change with no VM running: libvirt never leaves the lockspace by itself and sanlock refuses
    a second id for it (-EINVAL), so before the fix the join timed out after the registry recorded the new id."""
    lab = boots_before_storage
    for host_id in (7, 3):  # there and back
        res = lab.ansible("playbooks/site.yml", "--limit", HOST, "-e", "host_id_explicit=%d" % host_id,
                          "-e", "host_id_force_change=true")
        assert res.returncode == 0, res.stdout[-3000:]
        gets = lab.run(HOST, "sanlock client gets").stdout
        assert "__LIBVIRT__DISKS__:%d:%s:0" % (host_id, LOCKSPACE) in gets, gets
        assert len([line for line in gets.splitlines() if line.startswith("s ")]) == 1, gets  # the old join is gone
        assert "verified by content" in res.stdout
        conf = lab.run(HOST, "cat /etc/libvirt/qemu-sanlock.conf").stdout
        assert "host_id = %d" % host_id in conf


def test_a_host_rebooted_with_the_storage_unavailable_does_not_start_libvirtd(boots_before_storage):
    """A real boot of lab3 while its storage cannot be mounted: libvirtd stays down, nothing joins, nothing is
    created under the mount point; once the storage is back the libvirt daemon starts and joins it."""
    lab = boots_before_storage
    lab.ansible("playbooks/site.yml", check=True)  # the lab's current settings in fstab
    assert lab.run(HOST, "virsh list --name | grep . || true").stdout.strip() == ""
    lab.run(HOST, "unshare --mount --propagation private sh -c 'umount -l %s; rm -f %s/*'; "
                  "sed -i 's|^/srv/lab-shared |/etc/hostname/unreachable |' /etc/fstab; grep -q _netdev /etc/fstab" % (LEASE_DIR, LEASE_DIR))
    assert lab.reboot(HOST) in ("running", "degraded")  # booted, not in emergency mode
    assert lab.run(HOST, "systemctl is-active libvirtd", check=False).stdout.strip() != "active"
    assert lab.run(HOST, "mountpoint -q %s" % LEASE_DIR, check=False).returncode != 0
    assert lab.run(HOST, "ls -A %s" % LEASE_DIR).stdout.strip() == ""
    assert "__LIBVIRT__DISKS__" not in lab.run(HOST, "sanlock client gets").stdout

    lab.run(HOST, "sed -i 's|^/etc/hostname/unreachable |/srv/lab-shared |' /etc/fstab && systemctl daemon-reload "
                  "&& systemctl start libvirtd")
    _wait_joined(lab)
    assert lab.run(HOST, "mountpoint -q %s" % LEASE_DIR, check=False).returncode == 0
