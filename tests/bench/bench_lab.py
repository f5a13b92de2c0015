# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks on the lab (tests/lab) of LAB_DIR (default /var/tmp/autolease-bench).

rerun: playbooks/site.yml on the rolled-out 3-host lab (rolled out first if
  it is not) versus tests/bench/facts.yml, which only gathers facts on the same
  hosts, alternated ROUNDS times, medians compared; every re-run must report
  changed=0 (checked; a first settle run absorbs a changed checkout). The
  slowest tasks come from one more run with ansible.posix.profile_tasks.

first_vm: a host made "fresh" (VMs destroyed, libvirtd stopped, sanlock
  restarted: the lockspace is not joined).
  ours: site.yml (libvirt role: pre-created lockspace, daemon started, waits
  for the join); time from the end of site.yml to the first VM running.
  plain: the same settings, then `systemctl restart libvirtd` as the last
  step of a plain rollout; time from that restart to the first VM running
  (libvirt joins while its driver loads). Both measured from the build machine,
  each through one `lab.py run` (same overhead), `virsh start` retried until
  it succeeds.

recover: a VM on lab3, lab3 crashed (its init killed: sanlock and qemu die),
  then playbooks/recover.yml -e wait=true at once. ours: from the last renewal
  of lab3 its peers saw (sanlock's last_live, on the kernel's monotonic clock
  the lab hosts share with the build machine) to the VM running on a survivor.
  bound: sanlock's own, the earliest moment a peer may take lab3's leases,
  8 * io_timeout + watchdog_fire_timeout after that renewal. Target: ours
  within 10 s of the bound.
"""

import json
import os
import pathlib
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402  pylint: disable=wrong-import-position

SITE = str(_common.REPO / "playbooks" / "site.yml")
FACTS = str(_common.REPO / "tests" / "bench" / "facts.yml")
HOST = "lab3"
VM = "benchvm"
ROUNDS = 5
START_LOOP = ("i=0; until virsh start %s >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.05; done; "
              "virsh domstate %s" % (VM, VM))


def _lab_up():
    _common.lab_py("up", timeout=3600)


def _changed_total(stdout):
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", stdout))


def _slowest(stdout, count=8):
    rows = re.findall(r"^(.+?) -+ (\d+\.\d+)s$", stdout, re.M)
    return [{"task": name.strip(), "seconds": float(secs)} for name, secs in rows][:count]


def _rolled_out():
    res = _common.lab_py("run", HOST, "sanlock client gets", check=False)
    return "__LIBVIRT__DISKS__" in res.stdout


def rerun():
    _lab_up()
    extra = {}
    if not _rolled_out():
        first_s, dummy = _common.playbook(SITE)
        extra["first_rollout_s"] = first_s
    settle_s, out = _common.playbook(SITE)
    if _changed_total(out):
        # The checkout changed since the last rollout (e.g. a new module_utils file): that run was a rollout,
        # not a re-run. Record it; the measured runs below must change nothing.
        extra["settle_run"] = {"seconds": settle_s, "changed": _changed_total(out)}
    # Alternate the two playbooks, ROUNDS times each, and compare the medians: a busy moment of the machine
    # then weighs on both sides alike.
    site_runs, facts_runs = [], []
    for dummy in range(ROUNDS):
        site_s, out = _common.playbook(SITE)
        assert _changed_total(out) == 0, "site.yml re-run is not idempotent:\n" + out[-4000:]
        site_runs.append(round(site_s, 2))
        facts_s, dummy = _common.playbook(FACTS)
        facts_runs.append(round(facts_s, 2))
    dummy, profiled = _common.playbook(SITE, extra_env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})
    checks = dict(extra, rerun_changed=0, site_runs_s=site_runs, facts_runs_s=facts_runs,
                  slowest_tasks=_slowest(profiled))
    return [{"case": "site.yml re-run, 3 hosts (median of %d)" % ROUNDS, "ours_s": statistics.median(site_runs),
             "stock": "facts-only playbook", "stock_s": statistics.median(facts_runs), "checks": checks}]


def _make_fresh():
    _common.lab_py("run", HOST, "virsh list --name | xargs -r -n1 virsh destroy >/dev/null 2>&1; "
                   "systemctl stop libvirtd libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket; "
                   "sanlock client shutdown -f 1 >/dev/null 2>&1; systemctl stop sanlock; "
                   "systemctl reset-failed sanlock 2>/dev/null; systemctl start sanlock; "
                   "! sanlock client gets | grep -q __LIBVIRT__DISKS__")


def first_vm():
    _lab_up()
    if not _rolled_out():
        _common.playbook(SITE)
    _common.lab_py("run", HOST, "test -e /var/lib/libvirt/images/%s.img || "
                   "qemu-img create -q -f raw /var/lib/libvirt/images/%s.img 8M" % (VM, VM))
    _common.lab_py("vm-start", HOST, VM)  # defines it (and starts it once)
    _make_fresh()
    _common.playbook(SITE)
    with _common.Timer() as ours:
        out = _common.lab_py("run", HOST, START_LOOP).stdout
    assert "running" in out, out
    _make_fresh()
    with _common.Timer() as plain:
        out = _common.lab_py("run", HOST, "systemctl restart libvirtd; " + START_LOOP).stdout
    assert "running" in out, out
    _common.lab_py("run", HOST, "virsh destroy %s" % VM, check=False)
    return [{"case": "first VM start after rollout", "ours_s": ours.seconds,
             "stock": "plain libvirtd restart", "stock_s": plain.seconds, "checks": {"host": HOST}}]


RECOVER = str(_common.REPO / "playbooks" / "recover.yml")
RECOVER_VM = "benchrecover"
RECOVER_DISK = "/var/lib/libvirt/images/benchrecover.img"


def _adhoc(host, module, args=""):
    env = _common.lab_env()
    inventory = pathlib.Path(env["LAB_DIR"]) / "inventory.yml"
    res = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible"), "-i", str(inventory), host,
                          "-m", module, "-a", args, "-o"], cwd=str(_common.REPO), env=env,
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(res.stdout[res.stdout.index("{"):])


def _clear_recover_vm():
    for host in ("lab1", "lab2", "lab3"):
        _common.lab_py("run", host, "virsh destroy {n}; virsh undefine {n}; rm -f /var/lib/libvirt/sanlock/"
                       "autolease.sanlock/recovered/lab3.json; true".format(n=RECOVER_VM), check=False)


def recover():
    _lab_up()
    if not _rolled_out():
        _common.playbook(SITE)
    _clear_recover_vm()
    for host in ("lab1", "lab2", "lab3"):
        _common.lab_py("run", host, "test -e {d} || qemu-img create -q -f raw {d} 8M".format(d=RECOVER_DISK))
    _common.lab_py("vm-start", HOST, RECOVER_VM, RECOVER_DISK)
    _adhoc(HOST, "autolease.sanlock.domain_store", "host=%s" % HOST)
    victim_id = json.loads(_common.lab_py("run", HOST, "cat /etc/ansible/facts.d/autolease_host_id.fact").stdout)[
        "host_id"]
    try:
        _common.lab_py("crash", HOST)
        crashed = time.monotonic()
        view = _adhoc("lab1", "autolease.sanlock.lockspace_info")
        victim = next(host for host in view["hosts"] if host["host_id"] == victim_id)
        last_live = victim["last_live"]
        bound = 8 * victim["io_timeout"] + view["watchdog_fire_timeout"]
        with _common.Timer() as playbook_time:
            _common.playbook(RECOVER, "-e", "failed_host=%s" % HOST, "-e", "wait=true")
        running_at = None
        while running_at is None and time.monotonic() - crashed < 600:
            for host in ("lab1", "lab2"):
                state = _common.lab_py("run", host, "virsh domstate %s" % RECOVER_VM, check=False).stdout.strip()
                if state == "running":
                    running_at = time.monotonic()
                    break
        assert running_at is not None, "the VM did not start on a survivor"
    finally:
        _common.lab_py("boot", HOST)
        _clear_recover_vm()
        _common.playbook(SITE)
    ours = running_at - last_live
    return [{"case": "crashed host's VM running elsewhere, from its last renewal", "ours_s": round(ours, 1),
             "stock": "sanlock bound 8*io+wd", "stock_s": bound,
             "checks": {"over_bound_s": round(ours - bound, 1), "target_over_bound_s": 10,
                        "crash_after_last_renewal_s": round(crashed - last_live, 1),
                        "recover_playbook_s": round(playbook_time.seconds, 1)}}]


MIGRATE_VM = "benchmig"
MIGRATE_DISK = "/srv/lab-images/benchmig.img"
MIGRATE_HOSTS = ("lab1", "lab2")
MIGRATE_BLOCKS = 3  # alternated blocks with and without the lock manager
MIGRATE_PER_BLOCK = 10
_MIGRATE = "virsh migrate --live --unsafe --persistent --undefinesource {vm} qemu+tcp://{dst}/system"


def _lock_manager(on):
    """Switch lock_manager = "sanlock" on or off (commented) on both migration hosts; libvirtd restarts."""
    sed = "s/^#lock_manager = \"sanlock\"/lock_manager = \"sanlock\"/" if on else "s/^lock_manager *=.*/#&/"
    for host in MIGRATE_HOSTS:
        _common.lab_py("run", host, "sed -i '%s' /etc/libvirt/qemu.conf && systemctl restart libvirtd" % sed)


def _downtime_ms(jobinfo):
    found = re.search(r"^Total downtime:\s+(\d+)\s+ms", jobinfo, re.M)
    assert found, jobinfo
    return int(found.group(1))


def _migrate_block():
    """MIGRATE_PER_BLOCK migrations back and forth; libvirt's downtime of each (source CPUs stopped until the
    destination resumed: the lease hand-over happens inside it)."""
    times = []
    src, dst = MIGRATE_HOSTS
    _common.lab_py("run", src, "test -e {d} || qemu-img create -q -f raw {d} 8M".format(d=MIGRATE_DISK))
    _common.lab_py("vm-start", src, MIGRATE_VM, MIGRATE_DISK)
    try:
        for dummy in range(MIGRATE_PER_BLOCK):
            _common.lab_py("run", src, _MIGRATE.format(vm=MIGRATE_VM, dst=dst))
            # The destination keeps the statistics of the migration it completed.
            times.append(_downtime_ms(_common.lab_py("run", dst, "virsh domjobinfo --completed " + MIGRATE_VM).stdout))
            src, dst = dst, src
    finally:
        for host in MIGRATE_HOSTS:
            _common.lab_py("run", host, "virsh destroy {n}; virsh undefine {n}; true".format(n=MIGRATE_VM)
                           + " >/dev/null 2>&1", check=False)
    return times


def migrate():
    """The pause a live migration adds for the lease hand-over: the same VM migrated between lab1 and lab2 with
    the sanlock lock manager and without it (alternated blocks), libvirt's measured downtime, medians."""
    _lab_up()
    if not _rolled_out():
        _common.playbook(SITE)
    with_lock, without = [], []
    try:
        for dummy in range(MIGRATE_BLOCKS):
            with_lock += _migrate_block()
            _lock_manager(False)
            without += _migrate_block()
            _lock_manager(True)
    finally:
        _lock_manager(True)
        _common.playbook(SITE)  # rejoined and in state
    ours, stock = statistics.median(with_lock) / 1000.0, statistics.median(without) / 1000.0
    return [{"case": "live migration downtime, lease hand-over (median of %d)" % len(with_lock),
             "ours_s": ours, "stock": "same, no lock manager", "stock_s": stock,
             "checks": {"with_sanlock_ms": with_lock, "without_ms": without,
                        "added_ms": round((ours - stock) * 1000.0, 1)}}]


AUDIT = str(_common.REPO / "playbooks" / "audit.yml")
SCALE_DIR = "/var/tmp/autolease-scale"
SCALE_SIZES = (3, 8)
SCALE_RERUNS = 3
# The controller-only part: site.yml's cross-host check on this many inventory hosts (local connection).
CONTROLLER_SIZES = (50, 200)
PROFILE = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "500"}
JOIN_WAIT = "Wait until this host has joined the lockspace"


def _cpu_s():
    """CPU seconds of the finished children: ansible-playbook, its workers and the module runs in the lab hosts."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(path, extra_env=None):
    before = _cpu_s()
    seconds, out = _common.playbook(path, extra_env=extra_env)
    return round(seconds, 2), round(_cpu_s() - before, 1), out


def _scale_run(count):
    """A fresh lab of count hosts: site.yml's first rollout (profiled, for its serial restart waits), its re-runs
    (changed=0 checked) alternated with the facts-only playbook, the audit."""
    _common.lab_py("down", timeout=600)
    _common.lab_py("up", timeout=3600)
    first_s, first_cpu, out = _run(SITE, extra_env=PROFILE)
    waits = [row["seconds"] for row in _slowest(out, count=10 ** 6) if JOIN_WAIT in row["task"]]
    reruns, facts, cpus = [], [], []
    for dummy in range(SCALE_RERUNS):
        seconds, cpu, out = _run(SITE)
        assert _changed_total(out) == 0, "site.yml re-run on %d hosts is not idempotent:\n%s" % (count, out[-4000:])
        reruns.append(seconds)
        cpus.append(cpu)
        facts.append(_run(FACTS)[0])
    audit_s, audit_cpu, dummy = _run(AUDIT)
    return {"first_s": round(first_s, 1), "first_cpu_s": first_cpu, "join_waits": len(waits),
            "restart_waits_s": round(sum(waits), 1), "rerun_s": statistics.median(reruns), "reruns_s": reruns,
            "rerun_cpu_s": statistics.median(cpus), "facts_s": statistics.median(facts), "facts_runs_s": facts,
            "audit_s": round(audit_s, 1), "audit_cpu_s": audit_cpu}


def _controller_play(directory, count, tasks):
    """ansible-playbook on count inventory hosts of the local connection: no lab, the controller's work alone."""
    hosts = dict(("h%04d" % index, {"host_id_explicit": index} if index % 2 else {}) for index in range(count))
    inventory = {"all": {"hosts": hosts, "vars": {"ansible_connection": "local",
                                                  "ansible_python_interpreter": sys.executable}}}
    (directory / "inventory.yml").write_text(json.dumps(inventory))
    (directory / "play.yml").write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    env = dict(_common.lab_env(), ANSIBLE_LOCALHOST_WARNING="false")
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(directory / "inventory.yml"),
           str(directory / "play.yml")]
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=1800)
    return round(time.monotonic() - started, 2)


def _controller():
    """site.yml's duplicate-pin check (its own tasks, taken from the file) on 50 and 200 inventory hosts, against
    one debug task on the same hosts (Ansible's own cost per host), and against the same check computed on every
    host, the form site.yml had before 0.2.0 (each host reads every host's hostvars: hosts x hosts)."""
    play = yaml.safe_load(pathlib.Path(SITE).read_text())[0]
    clashes = [task for task in play["pre_tasks"] if "__site_pin_clashes" in task.get("ansible.builtin.set_fact", {})]
    check = [task for task in play["pre_tasks"] if "__site_same_pin" in (task.get("vars") or {})][0]
    render = {"name": "Render the check", "ansible.builtin.set_fact": {"same": "{{ __site_same_pin }}"},
              "vars": {"__site_same_pin": check["vars"]["__site_same_pin"]}}
    per_host = {"name": "The check on every host", "ansible.builtin.set_fact": {"same": "{{ __pins }}"},
                "vars": {"__pins": clashes[0]["ansible.builtin.set_fact"]["__site_pin_clashes"]}}
    stock = {"name": "One task", "ansible.builtin.debug": {"msg": "{{ inventory_hostname }}"}}
    figures = {}
    with tempfile.TemporaryDirectory() as directory:
        for count in CONTROLLER_SIZES:
            figures[count] = {"site_check_s": _controller_play(pathlib.Path(directory), count, clashes + [render]),
                              "debug_s": _controller_play(pathlib.Path(directory), count, [stock]),
                              "per_host_form_s": _controller_play(pathlib.Path(directory), count, [per_host])}
    small, large = CONTROLLER_SIZES
    growth = round(figures[large]["site_check_s"] / figures[small]["site_check_s"], 2)
    stock_growth = round(figures[large]["debug_s"] / figures[small]["debug_s"], 2)
    return {"case": "site.yml pin check, %d inventory hosts vs %d" % (large, small),
            "ours_s": figures[large]["site_check_s"], "stock": "same, %d hosts" % small,
            "stock_s": figures[small]["site_check_s"],
            "checks": {"growth": growth, "debug_task_growth": stock_growth,
                       "per_host_form_growth": round(figures[large]["per_host_form_s"]
                                                     / figures[small]["per_host_form_s"], 2),
                       "figures": figures}}


SLOT_SIZES = (500, 2000)
SLOT_PROOF = """
import json, resource, sys, time
from ansible_collections.autolease.sanlock.plugins.filter.state import state_unshared
from ansible_collections.autolease.sanlock.plugins.module_utils._host_info import own_slots, slots_digest
count, all_slots, lockspace = int(sys.argv[1]), sys.argv[2] == "all", "/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__"
states = {}
for host in range(1, count + 1):  # what host_info returns, with all_slots true or false
    slots = dict((str(i), {"owner_name": "%036x.kvm%04d" % (i, i), "generation": 3}) for i in range(1, count + 1))
    joins = [{"name": "__LIBVIRT__DISKS__", "path": lockspace, "host_id": host, "verified": True}]
    states["kvm%04d" % host] = {"lease_dir": "/var/lib/libvirt/sanlock", "lockspaces": joins,
                                "slots": slots if all_slots else own_slots(slots, joins, "/var/lib/libvirt/sanlock"),
                                "slots_digest": None if all_slots else slots_digest(slots)}
started = time.monotonic()
assert state_unshared(states, lockspace) == []
print(json.dumps({"proof_s": round(time.monotonic() - started, 3), "result_kb": len(json.dumps(states["kvm0001"])) // 1024,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def _growth(figures, form):
    small, large = SLOT_SIZES
    return round(figures[large][form]["proof_s"] / max(figures[small][form]["proof_s"], 0.001), 2)


def _slot_proof():
    """The shared-storage proof (filter state_unshared, as the shared_storage role runs it) on the readings of 500
    and 2,000 hosts (the most sanlock allows), built as host_info returns them: each host's own slot and the digest
    of all (all_slots=false, what site.yml asks for), against every slot on every host (all_slots=true, the only
    form before 0.2.0). Time of the proof, one host's reading, and the memory of the process holding all readings
    (what the controller holds). No lab: the slots are built, the filter is the real one."""
    env = dict(_common.lab_env(), PYTHONPATH=str(_common.COLLECTIONS))
    figures = {}
    for count in SLOT_SIZES:
        figures[count] = {}
        for form in ("own", "all"):
            res = subprocess.run([sys.executable, "-c", SLOT_PROOF, str(count), form], env=env, check=True,
                                 capture_output=True, text=True, timeout=1800)
            figures[count][form] = json.loads(res.stdout)
    small, large = SLOT_SIZES
    return {"case": "slot proof, %d hosts: own slot + digest vs all slots" % large,
            "ours_s": figures[large]["own"]["proof_s"], "stock": "all slots on every host",
            "stock_s": figures[large]["all"]["proof_s"],
            "checks": {"growth_own": _growth(figures, "own"), "growth_all": _growth(figures, "all"),
                       "host_ratio": float(large) / small, "figures": figures}}


def scale():
    """site.yml's first rollout and re-run, and the audit, on a fresh lab of 3 and of 8 hosts (its own LAB_DIR).
    Targets: 8 hosts at most 2x the time of 3 for the rollout and for the re-run. The rows compare 8 hosts
    (ours) with 3 (other). On this build machine the lab's hosts share its cores with the controller, so work
    that runs in parallel on a real cluster queues here: the checks carry the facts-only playbook's growth on the
    same labs (Ansible's own cost per host), the CPU seconds of each run, and the first rollout's serial restart
    waits, to tell the machine's limit from the playbooks' growth. Last, the controller's cross-host check on 50
    and 200 inventory hosts, without a lab."""
    saved = dict((key, os.environ.get(key)) for key in ("LAB_DIR", "LAB_HOSTS"))
    os.environ["LAB_DIR"] = SCALE_DIR
    figures = {}
    try:
        for count in SCALE_SIZES:
            os.environ["LAB_HOSTS"] = str(count)
            figures[count] = _scale_run(count)
    finally:
        _common.lab_py("down", timeout=600, check=False)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    small, large = SCALE_SIZES
    facts_growth = figures[large]["facts_s"] / figures[small]["facts_s"]
    rows = []
    cases = (("first_s", "first_cpu_s", "site.yml first rollout"),
             ("rerun_s", "rerun_cpu_s", "site.yml re-run (median of %d)" % SCALE_RERUNS),
             ("audit_s", "audit_cpu_s", "audit.yml"))
    for key, cpu, what in cases:
        growth = figures[large][key] / figures[small][key]
        checks = {"per_host_s": dict((count, round(figures[count][key] / count, 2)) for count in SCALE_SIZES),
                  "growth": round(growth, 2), "target_growth": 2.0 if key != "audit_s" else None,
                  "met": growth <= 2.0 if key != "audit_s" else None,
                  "facts_only_growth": round(facts_growth, 2),
                  "growth_over_facts_only": round(growth / facts_growth, 2),
                  "cpu_s": dict((count, figures[count][cpu]) for count in SCALE_SIZES),
                  "cpu_growth": round(figures[large][cpu] / figures[small][cpu], 2),
                  "host_ratio": round(float(large) / small, 2)}
        if key == "first_s":
            rest = dict((count, figures[count][key] - figures[count]["restart_waits_s"]) for count in SCALE_SIZES)
            checks.update(join_waits=dict((count, figures[count]["join_waits"]) for count in SCALE_SIZES),
                          restart_waits_s=dict((count, figures[count]["restart_waits_s"]) for count in SCALE_SIZES),
                          growth_without_restart_waits=round(rest[large] / rest[small], 2))
        checks["figures"] = figures
        rows.append({"case": "%s, %d hosts vs %d" % (what, large, small), "ours_s": figures[large][key],
                     "stock": "same, %d hosts" % small, "stock_s": figures[small][key], "checks": checks})
    rows.append(_controller())
    rows.append(_slot_proof())
    return rows
