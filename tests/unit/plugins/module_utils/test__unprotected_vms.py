# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running VMs that a real sanlock daemon does not know hold no lease.

A "VM" here is a process with a pid file in a QEMU run directory, as libvirt
keeps them in /run/libvirt/qemu. The registered VM is a real process
registered with host-a's private daemon and holding a real lease. The
unregistered VM is a stand-in for a QEMU started before the sanlock lock
manager was switched on: a plain sleeping process (a stand-in, not QEMU) that
never registered with sanlock.
"""

import subprocess

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils._join_proof import parse_status
from ansible_collections.autolease.sanlock.plugins.module_utils._unprotected_vms import running_domains

LS = "__LIBVIRT__DISKS__"
LEASE = "b" * 32


@pytest.fixture
def sleeper():
    """Stand-in for a QEMU process not registered with sanlock: a plain sleeping process."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def _pid_file(run_dir, name, pid):
    (run_dir / ("%s.pid" % name)).write_text("%d" % pid)


def test_a_running_vm_not_registered_with_sanlock_is_unprotected(lease_cluster, lease_dir, tmp_path, sleeper):
    lease = "%s/%s" % (lease_dir, LEASE)
    with open(lease, "wb") as handle:
        handle.truncate(1024 * 1024)
    subprocess.run(["sanlock", "direct", "init", "-r", "%s:%s:%s:0" % (LS, LEASE, lease)], check=True,
                   capture_output=True, timeout=60)
    run_dir = tmp_path / "qemu"
    run_dir.mkdir()
    _pid_file(run_dir, "unregistered-stand-in", sleeper.pid)
    _pid_file(run_dir, "gone", 999999999)  # a stale pid file: its process has exited
    (run_dir / "driver.pid").write_text("1")
    with lease_cluster.a.hold(lease_dir, [LEASE]) as registered:
        _pid_file(run_dir, "registered", registered.pid)
        assert running_domains(str(run_dir)) == {"unregistered-stand-in": sleeper.pid, "registered": registered.pid}
        status = parse_status(lease_cluster.a.client("status").stdout)
        assert status["clients"].get(registered.pid) is not None and sleeper.pid not in status["clients"]
        assert [(r["name"], r["pid"], r["shared"]) for r in status["resources"]] == [(LEASE, registered.pid, False)]
        assert lease_cluster.a.call("_unprotected_vms.unprotected_vms", str(run_dir)) == {
            "ok": ["unregistered-stand-in"]}
    # Once the registered VM has gone, only the unregistered one is left.
    (run_dir / "registered.pid").unlink()
    assert lease_cluster.a.call("_unprotected_vms.unprotected_vms", str(run_dir)) == {"ok": ["unregistered-stand-in"]}


def test_no_running_vm_is_none_unprotected_even_without_a_daemon(lease_cluster, tmp_path):
    assert lease_cluster.no_daemon.call("_unprotected_vms.unprotected_vms", str(tmp_path / "missing")) == {"ok": []}


def test_running_vms_and_no_daemon_answering_is_unknown(lease_cluster, tmp_path, sleeper):
    _pid_file(tmp_path, "vm1", sleeper.pid)
    assert lease_cluster.no_daemon.call("_unprotected_vms.unprotected_vms", str(tmp_path)) == {"ok": None}
