"""A host dies or hangs: when its VMs may start elsewhere, and playbooks/recover.yml starting them (issue 13).

The lab runs io_timeout 2 (tests/lab/group_vars) and sanlock 3.8's fixed
watchdog_fire_timeout of 60 s: a silent host is FAIL for its peers 8 * 2 = 16 s
after the last renewal they saw, and DEAD (its leases free) 16 + 60 = 76 s
after it. Peers check every renewal (2 * io = 4 s), so each window is asserted
with that much slack, never as an exact time. The VM's disk is a file at the
same path on every host: to sanlock one disk (one lease, named by the path),
and a survivor can start the VM from its own copy.
"""

import json
import re
import time

import pytest

pytestmark = pytest.mark.lab

RECOVER = "playbooks/recover.yml"
VICTIM = "lab3"
VM = "recover-vm"
DISK = "/var/lib/libvirt/images/recover-vm.img"
IO, WD = 2, 60
FAIL_AFTER, DEAD_AFTER = 8 * IO, 8 * IO + WD
CHECK = 2 * IO  # how often a peer looks at the others' slots


def _view(lab, observer):
    res = lab.ansible(observer, "-m", "autolease.sanlock.lockspace_info", "-o", check=True)
    return json.loads(res.stdout[res.stdout.index("{"):])


def _state_of(view, host_id):
    return next((host for host in view["hosts"] if host["host_id"] == host_id), {})


def _host_id(lab, host):
    return json.loads(lab.run(host, "cat /etc/ansible/facts.d/autolease_host_id.fact").stdout)["host_id"]


def _running_on(lab, host, name=VM):
    return lab.run(host, "virsh domstate %s 2>/dev/null" % name, check=False).stdout.strip() == "running"


def _store(lab, host):
    """The rollout and the scheduled job keep each host's domains on the lease storage; do it now for host."""
    lab.ansible(host, "-m", "autolease.sanlock.domain_store", "-a", "host=%s" % host, check=True)


@pytest.fixture
def vm_on_victim(rolled_out_lab):
    lab = rolled_out_lab
    for host in lab.hosts:
        lab.run(host, "virsh destroy {n}; virsh undefine {n}; virsh destroy {n}-copy; virsh undefine {n}-copy"
                .format(n=VM) + " >/dev/null 2>&1; true", check=False)
    for host in lab.hosts:
        lab.run(host, "test -e {d} || qemu-img create -q -f raw {d} 8M".format(d=DISK))
    started = lab.vm_start(VICTIM, VM, DISK)
    assert started.returncode == 0, started.stderr
    lab.run(VICTIM, "virsh autostart %s >/dev/null" % VM)
    _store(lab, VICTIM)
    yield lab
    if lab.host(VICTIM).init_pid() is None:
        lab.boot(VICTIM)
    for host in lab.hosts:
        lab.run(host, "virsh destroy {n}; virsh undefine {n}; virsh destroy {n}-copy; virsh undefine {n}-copy"
                .format(n=VM) + " >/dev/null 2>&1; rm -f /var/lib/libvirt/sanlock/autolease.sanlock/recovered/*;"
                " true", check=False)
    # The victim rejoins (a crash or a stopped daemon leaves it out of the lockspace).
    lab.ansible("playbooks/site.yml", check=True)


def test_a_crashed_host_s_vm_starts_elsewhere_when_sanlock_allows_and_never_before(vm_on_victim):
    lab = vm_on_victim
    victim_id = _host_id(lab, VICTIM)
    survivors = [host for host in lab.hosts if host != VICTIM]
    # A healthy lab: every host sees every host LIVE, and the audit has no liveness finding. (Slots of host_ids
    # the hosts had in earlier tests stay in the lockspace file, owned by nobody live: not counted.)
    current = set(_host_id(lab, host) for host in lab.hosts)
    healthy = lab.ansible("playbooks/audit.yml", check=True)
    row_pattern = r"^\s*(?:- |\")(lab\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s"  # YAML or JSON callback
    rows = [row for row in re.findall(row_pattern, healthy.stdout, re.M) if int(row[1]) in current]
    assert len(rows) == len(lab.hosts) ** 2 and set(row[4] for row in rows) == {"LIVE"}, healthy.stdout[-4000:]
    assert "Liveness: how the hosts see each other" not in healthy.stdout, healthy.stdout[-4000:]
    crashed_at = time.monotonic()
    lab.crash(VICTIM)

    # At once: refused, with the wait.
    res = lab.ansible(RECOVER, "-e", "failed_host=%s" % VICTIM)
    assert res.returncode != 0, res.stdout[-3000:]
    refusal = re.search(r"is not dead: .*?in (\d+) s", res.stdout)
    assert refusal, res.stdout[-4000:]
    eta = int(refusal.group(1))
    assert DEAD_AFTER - 2 * CHECK - 10 <= eta <= DEAD_AFTER + CHECK, eta

    # The audit's view: FAIL, then DEAD, within sanlock's windows.
    seen = {}
    while "DEAD" not in seen and time.monotonic() - crashed_at < DEAD_AFTER + 4 * CHECK:
        state = _state_of(_view(lab, survivors[0]), victim_id).get("state")
        seen.setdefault(state, time.monotonic() - crashed_at)
        time.sleep(1)
    assert "FAIL" in seen and FAIL_AFTER - CHECK - 2 <= seen["FAIL"] <= FAIL_AFTER + 2 * CHECK, seen
    assert "DEAD" in seen and DEAD_AFTER - CHECK - 2 <= seen["DEAD"] <= DEAD_AFTER + 2 * CHECK, seen
    audit = lab.ansible("playbooks/audit.yml")
    assert re.search(r"%s\s+%d\s+%s\s+%s\s+DEAD" % (survivors[0], victim_id, VICTIM, VICTIM), audit.stdout), \
        audit.stdout[-5000:]

    # Now it may: the VM runs on a survivor, its lease under that host's id.
    res = lab.ansible(RECOVER, "-e", "failed_host=%s" % VICTIM, "-e", "wait=true")
    assert res.returncode == 0, res.stdout[-5000:]
    (target,) = [host for host in survivors if _running_on(lab, host)]
    other = [host for host in survivors if host != target][0]
    target_id = _host_id(lab, target)
    gets = lab.run(target, "sanlock client status").stdout
    assert re.search(r"^r __LIBVIRT__DISKS__:[0-9a-f]{32}:", gets, re.M), gets
    # The same disk on the remaining survivor: refused by sanlock.
    copy = lab.vm_start(other, VM + "-copy", DISK)
    assert copy.returncode != 0 and "held by another host" in copy.stderr, (copy.stdout, copy.stderr)
    assert target_id != victim_id

    # The victim boots again: its libvirt does not start the VM (autostart), the lease refuses it.
    lab.boot(VICTIM)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if lab.run(VICTIM, "systemctl is-active libvirtd", check=False).stdout.strip() == "active":
            break
        time.sleep(2)
    time.sleep(10)
    assert not _running_on(lab, VICTIM), "the VM runs twice"
    # A run while it is back drops the stale definition there, and says so.
    res = lab.ansible(RECOVER, "-e", "failed_host=%s" % VICTIM)
    assert res.returncode == 0, res.stdout[-5000:]
    assert "remove their stale definitions" in res.stdout and VM in res.stdout
    assert lab.run(VICTIM, "virsh dominfo %s" % VM, check=False).returncode != 0
    assert _running_on(lab, target)


def test_a_hung_host_still_running_its_vm_is_refused(vm_on_victim):
    lab = vm_on_victim
    victim_id = _host_id(lab, VICTIM)
    survivor = [host for host in lab.hosts if host != VICTIM][0]
    lab.run(VICTIM, "kill -STOP $(pidof sanlock)")
    try:
        stopped_at = time.monotonic()
        # The audit shows the stall: the victim FAIL for its peers.
        while time.monotonic() - stopped_at < FAIL_AFTER + 3 * CHECK:
            if _state_of(_view(lab, survivor), victim_id).get("state") == "FAIL":
                break
            time.sleep(1)
        audit = lab.ansible("playbooks/audit.yml")
        # FAIL, or already DEAD: the audit waits up to 30 s on each of the hung host's daemon reads.
        assert re.search(r"%s\s+%d\s+%s\s+\S+\s+(FAIL|DEAD)" % (survivor, victim_id, VICTIM), audit.stdout), \
            audit.stdout[-5000:]
        assert re.search(r"seen (FAIL|DEAD)", audit.stdout)
        # Refused: not dead yet, and reachable with the VM's qemu running (hung, not dead).
        res = lab.ansible(RECOVER, "-e", "failed_host=%s" % VICTIM)
        assert res.returncode != 0
        assert "is reachable and still runs %s" % VM in res.stdout, res.stdout[-5000:]
        assert not any(_running_on(lab, host) for host in lab.hosts if host != VICTIM)
    finally:
        lab.run(VICTIM, "kill -CONT $(pidof sanlock)", check=False)
        lab.reboot(VICTIM)
