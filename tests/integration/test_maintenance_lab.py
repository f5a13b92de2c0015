"""playbooks/maintenance.yml on the rolled-out lab (issue 14): hosts drained by live migration, sanlock
restarted on each with zero VM restarts, and a refusal that changes nothing when a VM cannot move.

VM disks live in /srv/lab-images, shared by every lab host (see test_migration_lab.py for why the lab
migrates with --unsafe). A VM restart shows in libvirt's per-VM log on the host that starts it: every
qemu command line is logged there, and one started for an incoming migration carries `-incoming`; the
tests count the others.
"""

import json
import re

import pytest

pytestmark = pytest.mark.lab

MAINTENANCE = "playbooks/maintenance.yml"
CONF = "/etc/sanlock/sanlock.conf"
VMS = {"lab1": "mnt-vm1", "lab2": "mnt-vm2", "lab3": "mnt-vm3"}


def _disk(name):
    return "/srv/lab-images/%s.img" % name


def _where(lab):
    """VM name -> the hosts it is active on."""
    found = {}
    for host in lab.hosts:
        for name in lab.run(host, "virsh list --name").stdout.split():
            found.setdefault(name, []).append(host)
    return found


def _cold_starts(lab, name):
    """How many times qemu was started for the VM other than for an incoming migration, on all hosts."""
    total = 0
    for host in lab.hosts:
        log = lab.run(host, "cat /var/log/libvirt/qemu/%s.log 2>/dev/null; true" % name).stdout
        total += sum(1 for line in log.splitlines() if "qemu-system" in line and " -name " in line
                     and "-incoming" not in line)
    return total


def _sanlock_pid(lab, host):
    return lab.run(host, "pidof sanlock").stdout.strip()


def _pending(lab, host):
    res = lab.ansible(host, "-m", "autolease.sanlock.host_info", "-a", "libvirt_uri=", "-o", check=True)
    return json.loads(res.stdout[res.stdout.index("{"):])["sanlock_pending"]


def _clean(lab):
    for host in lab.hosts:
        lab.run(host, "for n in %s; do virsh destroy $n; virsh undefine $n; done >/dev/null 2>&1; true"
                % " ".join(list(VMS.values()) + ["mnt-local"]), check=False)


@pytest.fixture
def vms_everywhere(rolled_out_lab):
    lab = rolled_out_lab
    _clean(lab)
    for host, name in VMS.items():
        started = lab.vm_start(host, name, _disk(name))
        assert started.returncode == 0, started.stderr
    yield lab
    _clean(lab)


def test_a_rolling_maintenance_restarts_sanlock_everywhere_with_no_vm_restart(vms_everywhere):
    lab = vms_everywhere
    # A sanlock.conf setting the running daemons do not use yet: a restart is pending on every host.
    for host in lab.hosts:
        running = re.search(r"renewal_history_size=(\d+)", lab.run(host, "sanlock client status -D").stdout)
        wanted = "90" if running.group(1) != "90" else "91"
        lab.run(host, "sed -i '/^renewal_history_size/d' {c}; echo 'renewal_history_size = {v}' >> {c}"
                .format(c=CONF, v=wanted))
        assert [item["setting"] for item in _pending(lab, host)] == ["renewal_history_size"]
    cold = dict((name, _cold_starts(lab, name)) for name in VMS.values())
    pids = dict((host, _sanlock_pid(lab, host)) for host in lab.hosts)
    try:
        _rolling_maintenance(lab, pids, cold)
    finally:
        # Whatever happened, leave no restart pending for the next tests: the file says what the daemon uses.
        for host in lab.hosts:
            used = re.search(r"renewal_history_size=(\d+)", lab.run(host, "sanlock client status -D").stdout)
            lab.run(host, "sed -i '/^renewal_history_size/d' {c}; echo 'renewal_history_size = {v}' >> {c}"
                    .format(c=CONF, v=used.group(1)))


def _rolling_maintenance(lab, pids, cold):
    # upgrade=true: the lab's hosts have no route to a mirror, so their packages are the newest they know of:
    # the upgrade step runs and changes nothing.
    run = lab.ansible(MAINTENANCE, "-e", "maintenance_hosts=lab1,lab2,lab3", "-e", "return=true", "-e", "upgrade=true")
    assert run.returncode == 0, run.stdout[-8000:]

    for host in lab.hosts:
        assert _sanlock_pid(lab, host) != pids[host], host  # restarted
        assert _pending(lab, host) == [], host
    # Every VM back where it was, once, and never started cold: only migrations moved it.
    assert _where(lab) == dict((name, [host]) for host, name in VMS.items())
    assert dict((name, _cold_starts(lab, name)) for name in VMS.values()) == cold
    # Every host sees every host LIVE (the audit's liveness table: observer, host_id, host, owner, state).
    audit = lab.ansible("playbooks/audit.yml", check=True)
    views = re.findall(r"(lab\d)\s+\d+\s+(lab\d)\s+lab\d\s+([A-Z]+)\s", audit.stdout)
    assert sorted(views) == sorted((observer, host, "LIVE") for observer in lab.hosts for host in lab.hosts), (
        audit.stdout[-6000:])


def test_the_maintenance_refuses_and_changes_nothing_when_a_vm_cannot_move(vms_everywhere):
    lab = vms_everywhere
    # A VM whose disk exists only on lab1 (local storage): no other host can take it.
    lab.run("lab1", "qemu-img create -q -f raw /var/lib/libvirt/images/mnt-local.img 8M")
    started = lab.vm_start("lab1", "mnt-local", "/var/lib/libvirt/images/mnt-local.img")
    assert started.returncode == 0, started.stderr
    before = (_where(lab), _sanlock_pid(lab, "lab1"))

    run = lab.ansible(MAINTENANCE, "-e", "host=lab1")
    assert run.returncode != 0, run.stdout[-6000:]
    out = run.stdout.replace("\\n", " ")
    assert "lab1 cannot be drained, nothing was changed" in out and "mnt-local" in out, out[-6000:]
    assert "/var/lib/libvirt/images/mnt-local.img" in out, out[-6000:]
    assert (_where(lab), _sanlock_pid(lab, "lab1")) == before


def test_a_failed_migration_names_the_vm_where_the_vms_are_and_the_fix(vms_everywhere):
    """The preflight passes but the destination's libvirt cannot be reached (a wrong URI): the drain stops before
    sanlock is touched, names the migration that failed and where every VM is, and says how to go on."""
    lab = vms_everywhere
    before = (_where(lab), _sanlock_pid(lab, "lab1"))
    run = lab.ansible(MAINTENANCE, "-e", "host=lab1",
                      "-e", "autolease_migrate_uri=qemu+tcp://{{ autolease_migrate_to }}:1/system")
    assert run.returncode != 0, run.stdout[-6000:]
    out = run.stdout.replace("\\n", " ")
    assert re.search(r"The drain of lab1 stopped: mnt-vm1 to lab[23] failed \(.*(refused|connect)", out), out[-6000:]
    assert "Still on lab1: mnt-vm1." in out and "Moved: none" in out, out[-6000:]
    assert re.search(r"Check autolease_migrate_uri \(qemu\+tcp://lab[23]:1/system\)", out), out[-6000:]
    assert "run this playbook again: it drains what is left" in out, out[-6000:]
    assert (_where(lab), _sanlock_pid(lab, "lab1")) == before


def test_the_preflight_refuses_a_destination_without_the_lock_manager(vms_everywhere):
    """libvirt itself would migrate there and run the VM without a lease (test_migration_lab.py)."""
    lab = vms_everywhere
    qemu_conf = "/etc/libvirt/qemu.conf"
    lab.run("lab3", "cp -p {c} {c}.mnt-test && sed -i 's/^lock_manager *=.*/#&/' {c} && "
                    "systemctl restart libvirtd".format(c=qemu_conf))
    try:
        before = _where(lab)
        # lab1 and lab2 at once: lab3 is the only destination.
        run = lab.ansible(MAINTENANCE, "-e", "hosts=lab1,lab2", "-e", "maintenance_serial=2")
        assert run.returncode != 0, run.stdout[-6000:]
        out = run.stdout.replace("\\n", " ")
        assert "cannot be drained, nothing was changed" in out and "lock_manager" in out, out[-6000:]
        assert _where(lab) == before
    finally:
        lab.run("lab3", "mv {c}.mnt-test {c} && systemctl restart libvirtd".format(c=qemu_conf))
