# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A changed shared_storage_src is enforced (issue 11, item 6), on the rolled-out lab.

lab3 is pointed at another directory (a stand-in for another NFS export: a
directory of lab3 only, so the storage is then no longer shared). Before the
fix ansible.posix.mount rewrote fstab, kept the old volume mounted and the
run was green. Each test restores lab3 with site.yml.
"""

import pytest

pytestmark = pytest.mark.lab

HOST = "lab3"
LEASE_DIR = "/var/lib/libvirt/sanlock"
OTHER = "/srv/other-export"
VM, DISK = "source-vm", "/var/lib/libvirt/images/source-vm.img"


def _ino(lab, path):
    return lab.run(HOST, "stat -c %%d:%%i %s" % path).stdout.strip()


@pytest.fixture
def other_source(rolled_out_lab):
    lab = rolled_out_lab
    lab.run(HOST, "mkdir -p %s && chown sanlock:sanlock %s" % (OTHER, OTHER))
    yield lab
    lab.run(HOST, "virsh destroy %s >/dev/null 2>&1; virsh undefine %s >/dev/null 2>&1; true" % (VM, VM))
    res = lab.ansible("playbooks/site.yml", check=True)
    assert res.stdout.count("verified by content") == len(lab.hosts), res.stdout[-3000:]
    assert _ino(lab, LEASE_DIR) == _ino(lab, "/srv/lab-shared")
    lab.run(HOST, "rm -rf %s" % OTHER)


def test_a_changed_source_is_mounted_and_checked(other_source):
    lab = other_source
    res = lab.ansible("playbooks/site.yml", "-l", HOST, "-e", "shared_storage_src=" + OTHER)
    # lab3 now mounts the other directory: its lease storage is no longer the one the others share.
    assert _ino(lab, LEASE_DIR) == _ino(lab, OTHER)
    assert "/srv/other-export %s none bind" % LEASE_DIR in lab.run(HOST, "cat /etc/fstab").stdout
    joins = lab.run(HOST, "sanlock client gets").stdout
    assert "%s/__LIBVIRT__DISKS__" % LEASE_DIR in joins  # joined again, on the new volume
    assert res.returncode == 0, res.stdout[-3000:]  # --limit to one host: nothing to compare it with


def test_a_source_change_under_a_running_vm_is_refused(other_source):
    lab = other_source
    started = lab.vm_start(HOST, VM, DISK)
    assert started.returncode == 0, started.stderr
    before = _ino(lab, LEASE_DIR)
    res = lab.ansible("playbooks/site.yml", "-l", HOST, "-e", "shared_storage_src=" + OTHER)
    assert res.returncode != 0
    assert "leases are held in it" in res.stdout and "to be replaced" in res.stdout, res.stdout[-3000:]
    assert _ino(lab, LEASE_DIR) == before  # still the shared volume
    assert "running" in lab.run(HOST, "virsh domstate %s" % VM).stdout
