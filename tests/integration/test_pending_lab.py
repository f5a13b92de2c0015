"""What a rollout cannot apply, reported on real lab hosts (systemd-nspawn, tests/lab).

- sanlock.conf settings the running daemon does not use (it reads the file
  only at start and cannot restart while it has joined a lockspace): named in
  site.yml's summary and in audit.yml, and a failure with
  autolease_strict_restart=true.
- Running VMs that sanlock does not know hold no lease: named in the summary
  and the audit. libvirt registers every QEMU it starts with the lock manager
  on, so a real unregistered QEMU cannot be made here; the unregistered "VM" is
  a stand-in: a plain sleeping process with a pid file in /run/libvirt/qemu
  (the unit tests cover the reading with real sanlock daemons). A real VM
  started by libvirt next to it must not be listed.
- The libvirt role's guard against a host_id change under running VMs counts
  the QEMU pid files when virsh fails (libvirtd and its sockets stopped).
"""

import json

import pytest

pytestmark = pytest.mark.lab

SITE = "playbooks/site.yml"
AUDIT = "playbooks/audit.yml"
CONF = "/etc/sanlock/sanlock.conf"
RESTART_FIX = "drain the host (migrate or stop its VMs), then systemctl restart sanlock and the libvirt daemon"
LIBVIRTD_UNITS = "libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket libvirtd.service"


def shows(output, text):
    """The text is printed (the lab's callback prints results as JSON: quotes and backslashes escaped)."""
    return text in output or json.dumps(text)[1:-1] in output


def daemon_setting(lab, host, name):
    out = lab.run(host, "sanlock client status -D").stdout
    values = [line.split("=", 1)[1] for line in out.splitlines() if line.strip().startswith(name + "=")]
    assert values, out
    return values[0]


def test_a_sanlock_setting_the_daemon_does_not_use_is_reported_and_fails_under_strict(rolled_out_lab):
    lab = rolled_out_lab
    # A setting the sanlock role does not manage: the role leaves the line alone, the daemon keeps its value.
    running = daemon_setting(lab, "lab2", "renewal_history_size")
    wanted = "90" if running != "90" else "91"
    before = lab.run("lab2", "cat %s" % CONF).stdout
    lab.run("lab2", "printf 'renewal_history_size = %s\\n' >> %s" % (wanted, CONF))
    try:
        pending = "renewal_history_size (file %s, daemon %s)" % (wanted, running)
        site = lab.ansible(SITE, check=True)
        assert shows(site.stdout, "YES: the running sanlock daemon does not use " + pending), site.stdout[-6000:]
        assert shows(site.stdout, RESTART_FIX), site.stdout[-6000:]
        assert shows(site.stdout, '"restart_pending": "no"'), site.stdout[-6000:]  # lab1 has nothing pending

        audit = lab.ansible(AUDIT, check=True)
        assert shows(audit.stdout, "sanlock settings waiting for a daemon restart (warning)"), audit.stdout[-6000:]
        assert shows(audit.stdout, "restart pending: the running sanlock daemon does not use " + pending), (
            audit.stdout[-6000:])

        strict = lab.ansible(SITE, "-e", "autolease_strict_restart=true")
        assert strict.returncode != 0, strict.stdout[-4000:]
        assert shows(strict.stdout, "YES: the running sanlock daemon does not use " + pending), strict.stdout[-6000:]
        assert shows(strict.stdout, "Or run without -e autolease_strict_restart=true"), strict.stdout[-6000:]
        assert "lab2" in [line.split("[")[1].split("]")[0] for line in strict.stdout.splitlines()
                          if line.startswith("fatal: [")], strict.stdout[-6000:]
        assert shows(strict.stdout, pending) and shows(strict.stdout, RESTART_FIX), strict.stdout[-6000:]
    finally:
        lab.run("lab2", "sed -i '$d' %s" % CONF)  # the line added above
    # As found (an earlier test may have left a setting of its own there, which the daemon uses).
    assert lab.run("lab2", "cat %s" % CONF).stdout == before


def test_a_running_vm_sanlock_does_not_know_is_named_in_the_summary_and_the_audit(rolled_out_lab):
    lab = rolled_out_lab
    # The real VM: started by libvirt with the lock manager on, registered with sanlock.
    start = lab.vm_start("lab1", "pending-registered")
    assert start.returncode == 0, start.stdout + start.stderr
    # The stand-in for a QEMU started before the lock manager was on: a sleeping process with a pid file.
    pid = lab.run("lab1", "sleep 900 </dev/null >/dev/null 2>&1 & echo $!").stdout.strip()
    lab.run("lab1", "echo %s > /run/libvirt/qemu/standin-unregistered.pid" % pid)
    try:
        site = lab.ansible(SITE, check=True)
        assert shows(site.stdout, '"unprotected_vms": "standin-unregistered: running, but not registered with '
                                  'sanlock'), site.stdout[-6000:]
        assert shows(site.stdout, "restart or live-migrate these VMs to give them leases"), site.stdout[-6000:]
        assert not shows(site.stdout, "pending-registered: running"), site.stdout[-6000:]

        audit = lab.ansible(AUDIT, check=True)
        assert shows(audit.stdout, "Running VMs unknown to sanlock (no leases)"), audit.stdout[-6000:]
        rows = [line for line in audit.stdout.splitlines() if "not registered with the local sanlock" in line]
        assert rows and all("standin-unregistered" in row for row in rows), audit.stdout[-6000:]
    finally:
        lab.run("lab1", "rm -f /run/libvirt/qemu/standin-unregistered.pid; kill %s" % pid, check=False)
        lab.vm_stop("lab1", "pending-registered")
        lab.run("lab1", "virsh undefine pending-registered", check=False)


def test_the_libvirt_guard_counts_qemu_pid_files_when_virsh_fails(rolled_out_lab):
    lab = rolled_out_lab
    conf_before = lab.run("lab1", "grep -E '^host_id' /etc/libvirt/qemu-sanlock.conf").stdout.strip()
    current = int(conf_before.split("=")[1])
    start = lab.vm_start("lab1", "pending-guard")
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        lab.run("lab1", "systemctl stop %s" % LIBVIRTD_UNITS)
        assert lab.run("lab1", "virsh -c qemu:///system list --name", check=False).returncode != 0
        assert lab.run("lab1", "test -f /run/libvirt/qemu/pending-guard.pid", check=False).returncode == 0
        res = lab.ansible(SITE, "--limit", "lab1", "-e", "libvirt_host_id=%d" % (current + 100))
    finally:
        lab.run("lab1", "systemctl start %s" % LIBVIRTD_UNITS, check=False)
        lab.vm_stop("lab1", "pending-guard")
        lab.run("lab1", "virsh undefine pending-guard", check=False)
    assert res.returncode != 0, res.stdout[-4000:]
    assert shows(res.stdout, "Refusing to change host_id from %d to %d on lab1" % (current, current + 100)), (
        res.stdout[-6000:])
    assert shows(res.stdout, "virsh list failed"), res.stdout[-6000:]
    assert shows(res.stdout, "QEMU pid files show running VMs: /run/libvirt/qemu/pending-guard.pid"), (
        res.stdout[-6000:])
    assert lab.run("lab1", "grep -E '^host_id' /etc/libvirt/qemu-sanlock.conf").stdout.strip() == conf_before


MARKER = "/run/autolease-sanlock-restart-pending"


def test_a_postponed_restart_done_by_hand_since_is_forgotten_and_one_still_due_is_reported(rolled_out_lab):
    """The sanlock role's marker of a postponed restart records the daemon's pid. A daemon with another pid has
    restarted since (drained and restarted by hand, then joined again): no more "restart pending"."""
    lab = rolled_out_lab
    pid = lab.run("lab2", "cat /run/sanlock/sanlock.pid").stdout.strip()
    try:
        # Postponed while an earlier daemon (another pid) ran: restarted since.
        lab.run("lab2", "printf 's __LIBVIRT__DISKS__:2:/x:0\\ndaemon pid %d\\n' > %s" % (int(pid) + 1, MARKER))
        site = lab.ansible(SITE, check=True)
        assert not shows(site.stdout, "restart pending: sanlock on lab2"), site.stdout[-6000:]
        assert lab.run("lab2", "test -e %s" % MARKER, check=False).returncode != 0

        # Postponed while this daemon runs: still due, reported again, the marker stays.
        lab.run("lab2", "printf 's __LIBVIRT__DISKS__:2:/x:0\\ndaemon pid %s\\n' > %s" % (pid, MARKER))
        site = lab.ansible(SITE, check=True)
        assert shows(site.stdout, "restart pending: sanlock on lab2 needs a restart"), site.stdout[-6000:]
        assert lab.run("lab2", "cat %s" % MARKER).stdout.splitlines()[-1] == "daemon pid %s" % pid
    finally:
        lab.run("lab2", "rm -f %s" % MARKER, check=False)
