# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host_info module, run as Ansible runs it (args file) through host-a's private sanlock daemon.

``lease_cluster`` (tests/unit/plugins/conftest.py): host-a (host_id 1) and
host-b (host_id 2) have joined the lockspace in ``lease_dir``.
"""

import os
import subprocess

LS = "__LIBVIRT__DISKS__"


def test_check_and_normal_mode_read_the_same_and_change_nothing(lease_cluster, lease_dir, tmp_path):
    conf = tmp_path / "sanlock.conf"
    conf.write_text("our_host_name = host-a\n")
    os.chmod(str(conf), 0o644)
    args = dict(paths=[lease_dir, str(conf)], users=["root"], lease_dir=lease_dir, libvirt_uri="",
                qemu_run_dir=str(tmp_path / "no-qemu"), os_facts=True)
    before = sorted(os.listdir(lease_dir))
    results = []
    for check in (True, False):
        result = lease_cluster.a.module("host_info", args, check=check)
        assert result["changed"] is False and "failed" not in result, result
        assert result["files"][lease_dir]["type"] == "directory"
        info = result["files"][str(conf)]
        assert [info[key] for key in ("exists", "type", "mode", "content")] == [
            True, "file", "0644", "our_host_name = host-a\n"]
        assert {k: v["owner_name"] for k, v in result["slots"].items()} == {"1": "host-a", "2": "host-b"}
        assert [dict((k, j[k]) for k in ("name", "host_id", "path", "verified")) for j in result["lockspaces"]] == [
            {"name": LS, "host_id": 1, "path": os.path.join(lease_dir, LS), "verified": True}]
        assert result["lease_dir"] == lease_dir and result["registry"] == {}
        assert result["running_vms"] is None and result["qemu_pid_files"] == 0
        assert "root" in result["users"]["root"]
        facts = result["ansible_facts"]
        assert facts["os_family"] == "Debian" and facts["distribution"] == "Debian"
        assert isinstance(facts["selinux"], dict) and facts["selinux"]
        results.append(result)
    assert sorted(os.listdir(lease_dir)) == before
    # Slots and files read the same in both runs (check mode reads for real).
    assert results[0]["files"] == results[1]["files"]
    assert sorted(results[0]["slots"]) == sorted(results[1]["slots"])


def test_without_os_facts_there_are_no_ansible_facts(lease_cluster, lease_dir):
    result = lease_cluster.a.module("host_info", dict(paths=[lease_dir], lease_dir=lease_dir, libvirt_uri=""))
    assert result["changed"] is False and "failed" not in result, result
    assert "ansible_facts" not in result
    assert sorted(result["slots"]) == ["1", "2"] and result["files"][lease_dir]["exists"] is True


def test_daemon_that_joined_nothing_and_no_lease_dir(lease_cluster, tmp_path):
    result = lease_cluster.c.module("host_info", dict(paths=[str(tmp_path / "nope")], libvirt_uri=""))
    assert result["changed"] is False and "failed" not in result, result
    assert result["files"] == {str(tmp_path / "nope"): {"exists": False}}
    assert result["lockspaces"] == [] and result["slots"] is None and result["registry"] is None


def test_unknown_option_fails(lease_cluster):
    result = lease_cluster.a.module("host_info", dict(path=["/etc"]))
    assert result["failed"] is True and "path" in result["msg"]


def test_pending_sanlock_settings_and_unregistered_vms(lease_cluster, tmp_path):
    """host-c's real daemon runs with -w 0 and its file asks for the watchdog; the VM is a stand-in: a plain
    sleeping process with a pid file, never registered with sanlock (a QEMU started before the lock manager)."""
    conf = tmp_path / "sanlock.conf"
    conf.write_text("our_host_name = host-c\nuse_watchdog = 1\n")
    run_dir = tmp_path / "qemu"
    run_dir.mkdir()
    stand_in = subprocess.Popen(["sleep", "300"])
    try:
        (run_dir / "old-vm.pid").write_text(str(stand_in.pid))
        args = dict(sanlock_conf=str(conf), qemu_run_dir=str(run_dir), libvirt_uri="")
        for check in (True, False):
            result = lease_cluster.c.module("host_info", args, check=check)
            assert result["changed"] is False and "failed" not in result, result
            assert result["sanlock_pending"] == [{"setting": "use_watchdog", "file": "1", "daemon": 0}]
            assert result["unprotected_vms"] == ["old-vm"]
    finally:
        stand_in.kill()
        stand_in.wait(timeout=10)


def test_relative_sanlock_conf_fails_naming_it(lease_cluster):
    result = lease_cluster.c.module("host_info", dict(sanlock_conf="sanlock.conf", libvirt_uri=""))
    assert result["failed"] is True and "sanlock_conf='sanlock.conf'" in result["msg"]
