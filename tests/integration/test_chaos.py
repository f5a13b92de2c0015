# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chaos test on the rolled-out lab: cleanups racing VM life cycles.

The lab of LAB_DIR is rolled out with playbooks/site.yml if a host has not
joined the lockspace. DISKS disk paths exist on every host (one file per host
at the same path: to sanlock one disk, see tests/lab/README.md); every host
defines one tiny VM per disk. For CHAOS_ROUNDS rounds (default 5), stopping
early once CHAOS_SECONDS (default 180) have passed, all at once, in threads:
- every host runs the collection's cleanup (the cron script, --min-age 0:
  as aggressive as it can be); one at a time runs, the others are refused
  naming the cluster-wide cleanup lock (counted as cleanup_refusals);
- each host applies a random life-cycle step to one random VM of its own
  (start, destroy, pause, resume);
- a pair of hosts races to start the VMs of the same, currently unused disk.

Invariants, checked every round:
- no lease of a running VM removed: every VM running on host H at the end of
  the round has its lease file and H's daemon holds it, and no cleanup
  removed the lease of a VM that was running both before and after the round;
- no disk used by two running VMs (across hosts);
- of each race, at most one start succeeds;
- every refused start or resume is refused with the lease error (sanlock's
  "Failed to acquire lock"); every other command succeeds;
- no sanlock daemon holds, or has open, a lease file that was deleted
  (tests/deleted_leases.py: held resources whose file is gone, /proc fd
  links marked deleted).

Paused VMs: libvirt releases a domain's leases while it is paused, so a
paused VM's lease looks unused and the cleanup may remove it; libvirt
recreates it at resume. A resume is a lease acquisition like a start: it
succeeds, or is refused with the lease error when another host started the
same disk meanwhile (then the paused VM is destroyed: that host has the
disk). The core invariants above concern running VMs and are not weakened.

Prints the counts (starts, refusals, pauses, resumes, cleanups, leases removed).
"""

import json
import os
import random
import threading
import time

import pytest

import deleted_leases  # tests/deleted_leases.py, on sys.path through tests/integration/conftest.py
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

pytestmark = pytest.mark.lab

LEASE_DIR = "/var/lib/libvirt/sanlock"
IMAGES = "/var/lib/libvirt/images"
DISKS = 6
ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "5"))
SECONDS = float(os.environ.get("CHAOS_SECONDS", "180"))
LEASE_ERROR = "Failed to acquire lock"
CLEANUP = "/usr/local/sbin/autolease-sanlock-cleanup --lease-dir %s --min-age 0 --json" % LEASE_DIR
CLUSTER_LOCK_REFUSAL = "holds the cluster-wide cleanup lock"


def _disk(i):
    return "%s/chaos-d%d.img" % (IMAGES, i)


def _vm(host, i):
    return "chaos-%s-d%d" % (host, i)


@pytest.fixture(scope="module")
def chaos_lab(rolled_out_lab):
    lab = rolled_out_lab
    # The cleanups run the script the cleanup_schedule role installs, with its copy of the library: bring that
    # copy up to this checkout (a re-run that changes nothing else).
    lab.ansible("playbooks/site.yml", check=True)
    for host in lab.hosts:
        for i in range(DISKS):
            lab.vm_stop(host, _vm(host, i))
            lab.run(host, "virsh destroy %s >/dev/null 2>&1; true" % _vm(host, i), check=False)
            lab.run(host, "test -e {d} || qemu-img create -q -f raw {d} 8M".format(d=_disk(i)))
            # define only (vm_start would also start it)
            lab.run(host, "virsh dominfo {n} >/dev/null 2>&1 || virsh define /dev/stdin >/dev/null <<'XML'\n{x}XML"
                    .format(n=_vm(host, i), x=_xml(_vm(host, i), _disk(i))))
    yield lab
    for host in lab.hosts:
        lab.run(host, "for i in $(seq 0 %d); do virsh destroy chaos-%s-d$i; virsh undefine chaos-%s-d$i; done "
                      ">/dev/null 2>&1; true" % (DISKS - 1, host, host), check=False)


def _xml(name, disk):
    import lab as labmod  # tests/lab/lab.py, on sys.path through tests/integration/conftest.py
    return labmod.TINY_VM.format(name=name, disk=disk)


def _states(lab):
    """host -> {disk index: state} for the chaos VMs, and host -> set of lease names its daemon holds."""
    states, held = {}, {}
    for host in lab.hosts:
        out = lab.run(host, "for i in $(seq 0 %d); do echo \"$i $(virsh domstate chaos-%s-d$i 2>&1)\"; done; "
                            "echo ==; sanlock client status" % (DISKS - 1, host)).stdout
        vms, status = out.split("==\n", 1)
        states[host] = {int(line.split(" ", 1)[0]): line.split(" ", 1)[1].strip() for line in vms.splitlines()}
        held[host] = {line.split(":")[1] for line in status.splitlines() if line.startswith("r __LIBVIRT__DISKS__:")}
    return states, held


def _running(states):
    return {(host, i) for host, vms in states.items() for i, state in vms.items() if state == "running"}


class Counts(dict):
    def __init__(self):
        super().__init__(starts=0, refusals=0, pauses=0, resumes=0, stops=0, races=0, cleanups=0,
                         cleanup_refusals=0, removed=0)
        self.lock = threading.Lock()

    def add(self, key, n=1):
        with self.lock:
            self[key] += n


def test_cleanups_racing_vm_life_cycles_lose_no_lease(chaos_lab):
    lab = chaos_lab
    rng = random.Random(int(os.environ.get("CHAOS_SEED", time.time())))
    counts = Counts()
    failures = []
    deadline = time.monotonic() + SECONDS
    rounds = 0
    while rounds < ROUNDS and time.monotonic() < deadline:
        rounds += 1
        before, dummy = _states(lab)
        running_before = _running(before)
        busy = {i for (h, i) in running_before} | {i for h, vms in before.items() for i, s in vms.items()
                                                   if s == "paused"}
        free = [i for i in range(DISKS) if i not in busy]
        removed = {}
        starts = []  # (host, disk, CompletedProcess, kind)

        def cleanup(host):
            res = lab.run(host, CLEANUP, check=False)
            if res.returncode and CLUSTER_LOCK_REFUSAL in res.stderr:
                counts.add("cleanup_refusals")  # another host's cleanup runs: one at a time, cluster-wide
                return
            if res.returncode:
                failures.append("cleanup on %s failed: %s %s" % (host, res.stdout[-800:], res.stderr[-800:]))
                return
            counts.add("cleanups")
            removed[host] = set(json.loads(res.stdout)["removed"])
            counts.add("removed", len(removed[host]))

        def step(host, i, state):
            vm = _vm(host, i)
            if state == "running":
                action = rng.choice(["destroy", "suspend"])
            elif state == "paused":
                action = rng.choice(["resume", "resume", "destroy"])
            else:
                action = "start"
            res = lab.run(host, "virsh %s %s" % (action, vm), check=False)
            kind = {"start": "starts", "suspend": "pauses", "resume": "resumes", "destroy": "stops"}[action]
            if action in ("start", "resume"):
                starts.append((host, i, res, action))
                if res.returncode and action == "resume" and LEASE_ERROR in res.stderr:
                    lab.run(host, "virsh destroy %s" % vm, check=False)  # the other host has the disk now
            elif res.returncode:
                failures.append("%s: virsh %s %s failed: %s" % (host, action, vm, res.stderr.strip()))
            counts.add(kind)

        def race(host, i):
            res = lab.run(host, "virsh start %s" % _vm(host, i), check=False)
            starts.append((host, i, res, "race"))
            counts.add("starts")

        threads = [threading.Thread(target=cleanup, args=(h,)) for h in lab.hosts]
        raced = None
        if len(free) >= 2:
            raced = free.pop(rng.randrange(len(free)))
            pair = rng.sample(lab.hosts, 2)
            threads += [threading.Thread(target=race, args=(h, raced)) for h in pair]
            counts.add("races")
        for host in lab.hosts:
            mine = [i for i in range(DISKS) if i != raced and (before[host][i] in ("running", "paused") or i in free)]
            if mine:
                i = rng.choice(mine)
                if before[host][i] not in ("running", "paused"):
                    free.remove(i)  # one starter per free disk outside the race
                threads.append(threading.Thread(target=step, args=(host, i, before[host][i])))
        rng.shuffle(threads)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        for host, i, res, kind in starts:
            if res.returncode:
                if LEASE_ERROR in res.stderr:
                    counts.add("refusals")
                else:
                    failures.append("%s: %s of %s failed without the lease error: %s"
                                    % (host, kind, _vm(host, i), res.stderr.strip()))
        if raced is not None:
            won = [h for h, i, res, kind in starts if kind == "race" and res.returncode == 0]
            if len(won) > 1:
                failures.append("round %d: both %s started disk %d" % (rounds, " and ".join(won), raced))

        after, held = _states(lab)
        running_after = _running(after)
        users = {}
        for host, i in running_after:
            users.setdefault(i, []).append(host)
            name = lease_name(_disk(i))
            if name not in held[host]:
                failures.append("round %d: %s runs %s but its daemon does not hold lease %s"
                                % (rounds, host, _vm(host, i), name))
            if lab.run(host, "test -f %s/%s" % (LEASE_DIR, name), check=False).returncode:
                failures.append("round %d: lease file %s of running %s is gone" % (rounds, name, _vm(host, i)))
        for i, hosts in users.items():
            if len(hosts) > 1:
                failures.append("round %d: disk %s used by running VMs on %s" % (rounds, _disk(i), hosts))
        for host, i in running_before & running_after:
            name = lease_name(_disk(i))
            for cleaner, names in removed.items():
                if name in names:
                    failures.append("round %d: cleanup on %s removed lease %s of %s, running all round"
                                    % (rounds, cleaner, name, _vm(host, i)))
        for host in lab.hosts:
            views = lab.run(host, deleted_leases.COLLECT.format(lease_dir=LEASE_DIR), check=False).stdout
            for path in deleted_leases.leases_on_deleted_files(views, LEASE_DIR):
                failures.append("round %d: sanlock on %s holds or has open the deleted lease file %s"
                                % (rounds, host, path))
        assert not failures, "\n".join(failures)
    print("\nchaos: %d rounds on %s: %s" % (rounds, ", ".join(lab.hosts), json.dumps(dict(counts))))
    assert rounds >= 1 and counts["cleanups"] + counts["cleanup_refusals"] == rounds * len(lab.hosts)
    assert counts["cleanups"] >= rounds  # of the cleanups started together, one ran
    assert counts["starts"] > 0
