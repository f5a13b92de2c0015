"""The roles' fast path on the lab: a host in state skips every change task, drift is still found and repaired.

playbooks/site.yml reads each host once (autolease.sanlock.host_info) and a
role runs its change tasks (tasks/apply.yml) only where its receipt differs
from its inputs or from the host. These tests break one thing per role by hand, then check
that check mode reports it without touching it, that a real run repairs it
(saying what differed), and that the run after that skips every change task.
"""

import json
import re

import pytest

pytestmark = pytest.mark.lab

SITE = "playbooks/site.yml"
CRON = "/etc/cron.d/autolease-sanlock-cleanup"
FACT = "/etc/ansible/facts.d/autolease_host_id.fact"

# role -> (host, command that breaks it, command that reads it, value when right, difference reported)
DRIFT = {
    "sanlock": ("lab2", "chmod 0700 /etc/sanlock", "stat -c %a /etc/sanlock", "755",
                "files /etc/sanlock: mode 0755 -> 0700"),
    "shared_storage": ("lab2", "chmod 0700 /var/lib/libvirt/sanlock", "stat -c %a /var/lib/libvirt/sanlock", "775",
                       "metadata /var/lib/libvirt/sanlock: mode 0775 -> 0700"),
    "host_id": ("lab3", "rm %s" % FACT, "test -f %s && echo present" % FACT, "present",
                "files %s: exists True -> False" % FACT),
    "libvirt": ("lab3", "sed -i 's/^lock_manager = \"sanlock\"$/#lock_manager = \"sanlock\"/' /etc/libvirt/qemu.conf",
                "grep -cx 'lock_manager = \"sanlock\"' /etc/libvirt/qemu.conf", "1",
                "files /etc/libvirt/qemu.conf: sha256 "),
    # lab1 is the designated cleanup host (cleanup_schedule_host defaults to the first of kvm_hosts, sorted).
    "cleanup_schedule": ("lab1", "rm %s" % CRON, "test -f %s && echo present" % CRON, "present",
                         "files %s: exists True -> False" % CRON),
}


def changed_per_host(output):
    rows = re.findall(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output, re.M)
    assert rows, output[-3000:]
    assert all(failed == "0" for _host, _changed, failed in rows), output[-4000:]
    return {host: int(changed) for host, changed, _failed in rows}


def reports(output, difference):
    """The difference is printed (the lab's callback may print it JSON-escaped)."""
    return difference in output or json.dumps(difference)[1:-1] in output


def read(lab, role):
    host, _break, probe, _right, _difference = DRIFT[role]
    return lab.run(host, probe, check=False).stdout.strip()


@pytest.fixture(scope="module")
def in_state(rolled_out_lab):
    """The rolled-out lab, with one site.yml run so that everything is as the roles want."""
    rolled_out_lab.ansible(SITE, check=True)
    return rolled_out_lab


def test_a_host_in_state_runs_no_change_task(in_state):
    res = in_state.ansible(SITE, check=True)
    assert set(changed_per_host(res.stdout).values()) == {0}, res.stdout[-4000:]
    assert "apply.yml" not in res.stdout and "Show why" not in res.stdout, res.stdout[-4000:]
    # The one read per host also gave the distribution facts: nothing gathered them.
    assert "Gathering Facts" not in res.stdout


@pytest.mark.parametrize("role", sorted(DRIFT))
def test_drift_is_reported_in_check_mode_and_repaired(in_state, role):
    host, break_it, _probe, right, difference = DRIFT[role]
    assert read(in_state, role) == right
    in_state.run(host, break_it)
    try:
        assert read(in_state, role) != right

        check = in_state.ansible(SITE, "--check", check=True)
        assert changed_per_host(check.stdout)[host] > 0, check.stdout[-4000:]
        assert reports(check.stdout, difference), check.stdout[-6000:]
        assert read(in_state, role) != right, "check mode changed %s on %s" % (role, host)

        fix = in_state.ansible(SITE, check=True)
        # The lease directory is one directory for all hosts: whichever host gets there first repairs it.
        assert sum(changed_per_host(fix.stdout).values()) > 0 and reports(fix.stdout, difference), fix.stdout[-6000:]
        assert read(in_state, role) == right
    finally:
        in_state.ansible(SITE, check=False)

    again = in_state.ansible(SITE, check=True)
    assert set(changed_per_host(again.stdout).values()) == {0}, again.stdout[-4000:]
    assert "apply.yml" not in again.stdout, again.stdout[-4000:]


def test_a_host_whose_sanlock_restarted_joins_again(in_state):
    """sanlock restarted (lockspace left) and libvirt idle with its sockets stopped: nothing would rejoin."""
    lab = in_state
    joined = "sanlock client gets | grep -q '^s __LIBVIRT__DISKS__:'"
    host_id = json.loads(lab.run("lab3", "cat %s" % FACT).stdout)["host_id"]
    lab.run("lab3", "virsh list --name | xargs -r -n1 virsh destroy >/dev/null 2>&1; "
                    "systemctl stop libvirtd libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket; "
                    "sanlock client shutdown -f 1 >/dev/null 2>&1; systemctl stop sanlock; "
                    "systemctl reset-failed sanlock 2>/dev/null; systemctl start sanlock")
    assert lab.run("lab3", joined, check=False).returncode != 0

    res = lab.ansible(SITE, check=True)
    assert reports(res.stdout, "joins %d@/var/lib/libvirt/sanlock: true -> false" % host_id), res.stdout[-6000:]
    gets = lab.run("lab3", "sanlock client gets").stdout
    assert "s __LIBVIRT__DISKS__:%d:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0" % host_id in gets, gets

    again = lab.ansible(SITE, check=True)
    assert set(changed_per_host(again.stdout).values()) == {0}, again.stdout[-4000:]


def test_full_converge_on_a_lab_in_state_runs_every_change_task_and_changes_nothing(in_state):
    """autolease_full_converge runs every role's change tasks: on a lab the fast path calls in state, each of them
    must change nothing. A task the receipt does not cover (a gap in the fast path) fails here."""
    res = in_state.ansible(SITE, "-e", "autolease_full_converge=true", check=True)
    assert set(changed_per_host(res.stdout).values()) == {0}, res.stdout[-6000:]
    for role in ("sanlock", "shared_storage", "host_id", "libvirt", "cleanup_schedule"):
        # every change task list ran, on every host
        assert len(re.findall(r"autolease\.sanlock\.%s : Show why" % role, res.stdout)) == 1, role
    assert res.stdout.count("autolease_full_converge is true") >= 15, res.stdout[-6000:]
