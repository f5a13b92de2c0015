"""The lab itself: real hosts, reachable by Ansible, running the real stack."""

import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]


def test_ansible_reaches_every_host_with_systemd(lab):
    res = lab.ansible("kvm_hosts", "-m", "ansible.builtin.setup", "-a", "filter=ansible_service_mgr",
                      check=True)
    for host in lab.hosts:
        assert "%s | SUCCESS" % host in res.stdout
    assert res.stdout.count('"ansible_service_mgr": "systemd"') == len(lab.hosts)


def test_every_host_runs_sanlock_and_libvirtd(lab):
    for host in lab.hosts:
        res = lab.run(host, "systemctl is-active sanlock libvirtd; hostname", check=False)
        assert res.stdout.split() == ["active", "active", host], res.stdout


def test_tiny_vm_starts_on_any_host(lab):
    for host in lab.hosts:
        name = "labtest-%s" % host
        try:
            res = lab.vm_start(host, name)
            assert res.returncode == 0, res.stderr
            state = lab.run(host, "virsh domstate %s" % name).stdout.strip()
            assert state == "running"
        finally:
            lab.vm_stop(host, name)
            lab.run(host, "virsh undefine %s; rm -f /var/lib/libvirt/images/%s.img" % (name, name),
                    check=False)


def test_lab_down_leaves_nothing_and_comes_back(tmp_path):
    """A private one-host lab: up, down (no mounts, no processes), up again, down.

    The lab directory starts with the group_vars link of another checkout (CI
    clones elsewhere): `up` re-points it to this one's settings.
    """
    env = dict(os.environ, LAB_DIR=str(tmp_path / "lab"), LAB_HOSTS="1",
               LAB_IMAGE_DIR=os.environ.get("LAB_IMAGE_DIR", "/var/tmp/autolease-lab/image"))
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "group_vars").symlink_to("/elsewhere/tests/lab/group_vars")
    for _round in range(2):
        try:
            subprocess.run(LAB + ["up"], env=env, check=True, timeout=900)
            assert os.readlink(tmp_path / "lab" / "group_vars") == str(REPO / "tests" / "lab" / "group_vars")
            status = subprocess.run(LAB + ["status"], env=env, capture_output=True, text=True, check=False)
            assert status.returncode == 0 and "lab1" in status.stdout and "running" in status.stdout
        finally:
            subprocess.run(LAB + ["down"], env=env, check=True, timeout=300)
        mounts = pathlib.Path("/proc/mounts").read_text()
        assert str(tmp_path / "lab") not in mounts
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        assert str(tmp_path / "lab") not in ps
        assert not (tmp_path / "lab" / "hosts").exists()
