"""The libvirt role's rolling restart on the lab: batch by batch, each host running only its own batch's tasks.

libvirt_restart_batch cuts the play's hosts into batches (a size, or a list whose last entry repeats, as a
play's serial). A batch restarts its libvirt daemons once the batch before it has joined the lockspace; a host
runs the restart tasks of its own batch only, so the restart costs hosts + batches task runs, not hosts x
batches (with one host per batch, that was hosts x hosts: 12 million skipped task runs for 2,000 hosts).
"""

import json
import re

import pytest

pytestmark = pytest.mark.lab

SITE = "playbooks/site.yml"
QEMU_CONF = "/etc/libvirt/qemu.conf"
RESTART_TASK = "Restart the libvirt daemon on this batch of hosts"


def sections(output, title):
    """For each run of the task named title: (hosts changed, hosts skipped), in the order they ran."""
    found = []
    for block in re.split(r"^(?=TASK \[|RUNNING HANDLER \[)", output, flags=re.M):
        if block.startswith(("TASK [", "RUNNING HANDLER [")) and title in block.splitlines()[0]:
            found.append((sorted(re.findall(r"^changed: \[(\S+)\]", block, re.M)),
                          sorted(re.findall(r"^skipping: \[(\S+)\]", block, re.M))))
    return found


def started(lab, host):
    """When the libvirt daemon last started, on the kernel's monotonic clock the lab hosts share (microseconds)."""
    return int(lab.run(host, "systemctl show -P ActiveEnterTimestampMonotonic libvirtd").stdout.strip())


def test_the_libvirt_daemons_restart_batch_by_batch(rolled_out_lab):
    lab = rolled_out_lab
    assert lab.hosts[:3] == ["lab1", "lab2", "lab3"]
    for host in lab.hosts:  # a configuration change on every host: every libvirt daemon must restart
        lab.run(host, "sed -i 's/^lock_manager = \"sanlock\"$/#lock_manager = \"sanlock\"/' %s" % QEMU_CONF)
    try:
        res = lab.ansible(SITE, "-e", json.dumps({"libvirt_restart_batch": [1, 2]}), check=True)
    finally:
        lab.ansible(SITE, check=False)
    runs = sections(res.stdout, RESTART_TASK)
    # lab1 alone, then lab2 and lab3 together; no host ran (or skipped) the task of another batch
    assert runs == [(["lab1"], []), (["lab2", "lab3"], [])], res.stdout[-6000:]
    times = dict((host, started(lab, host)) for host in ("lab1", "lab2", "lab3"))
    # the final site.yml run above restarted nothing: these are the batched restarts
    assert times["lab1"] < min(times["lab2"], times["lab3"]), times
    assert abs(times["lab2"] - times["lab3"]) < min(times["lab2"], times["lab3"]) - times["lab1"], times
    for host in lab.hosts:
        assert lab.run(host, "grep -cx 'lock_manager = \"sanlock\"' %s" % QEMU_CONF).stdout.strip() == "1"
