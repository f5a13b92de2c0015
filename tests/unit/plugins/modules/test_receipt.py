# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The receipt module and host_info's receipts option, run as Ansible runs them, on this machine's real files,
units, packages and users, and through host-a's private sanlock daemon for a join.

Each behaviour the four ways: check mode, real run, check mode again (no change), real run again (no change).
"""

import json
import os
import stat
import subprocess

import pytest

from ansible_collections.autolease.sanlock.plugins.filter.receipt import receipt_drift

UNIT = "systemd-journald.service"  # a unit every machine of ours has; never stopped by a test


@pytest.fixture
def watched(tmp_path):
    conf = tmp_path / "managed.conf"
    conf.write_text("a = 1\n")
    os.chmod(str(conf), 0o644)
    return conf


def _watch(conf, **more):
    return dict({"files": [str(conf), str(conf.parent)], "packages": ["dpkg", "no-such-package-xyz"],
                 "users": ["root"], "units": {UNIT: ["enabled"]}}, **more)


def _record(cluster, receipts, conf, inputs=None, check=False, **more):
    return cluster.a.module("receipt", dict(name="role1", inputs=inputs or {"x": 1}, watch=_watch(conf, **more),
                                            receipt_dir=str(receipts)), check=check)


def _read(cluster, receipts, names=("role1",)):
    result = cluster.a.module("host_info", dict(receipts=list(names), receipt_dir=str(receipts), libvirt_uri=""))
    assert "failed" not in result, result
    return result["receipts"]


def test_record_four_ways_and_read_back_without_drift(lease_cluster, tmp_path, watched):
    receipts = tmp_path / "receipts"
    first = _record(lease_cluster, receipts, watched, check=True)
    assert first["changed"] is True and not receipts.exists(), first
    second = _record(lease_cluster, receipts, watched)
    assert second["changed"] is True, second
    observed = second["observed"]
    assert observed["files"][str(watched)]["mode"] == "0644" and "sha256" in observed["files"][str(watched)]
    assert "sha256" not in observed["files"][str(watched.parent)]
    assert observed["packages"]["dpkg"] and observed["packages"]["no-such-package-xyz"] is None
    assert "root" in observed["users"]["root"]
    assert list(observed["units"][UNIT]) == ["enabled"]  # real values on the lab hosts (no systemd here)
    for check in (True, False):
        again = _record(lease_cluster, receipts, watched, check=check)
        assert again["changed"] is False, again
    path = receipts / "role1.json"
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600 and stat.S_IMODE(os.stat(str(receipts)).st_mode) == 0o700
    assert [entry for entry in os.listdir(str(receipts)) if entry != "role1.json"] == []  # no temporary file left
    read = _read(lease_cluster, receipts, ("role1", "never-recorded"))
    assert read["never-recorded"] is None
    assert read["role1"]["drift"] == [] and read["role1"]["input_values"] == {"x": 1}
    assert receipt_drift(read["role1"], {"x": 1}) == []
    assert receipt_drift(read["role1"], {"x": 2}) == ["inputs changed since the receipt: x"]
    assert receipt_drift(read["role1"], {"x": 1}, full=True) != []
    assert receipt_drift(None, {"x": 1}) != []


def test_a_hand_edit_a_mode_change_and_a_removal_are_drift(lease_cluster, tmp_path, watched):
    receipts = tmp_path / "receipts"
    assert _record(lease_cluster, receipts, watched)["changed"] is True
    watched.write_text("a = 2\n")
    drift = _read(lease_cluster, receipts)["role1"]["drift"]
    assert len(drift) == 1 and drift[0].startswith("files %s: sha256 " % watched), drift
    os.chmod(str(watched), 0o600)
    drift = _read(lease_cluster, receipts)["role1"]["drift"]
    assert any("mode 0644 -> 0600" in item for item in drift), drift
    watched.unlink()
    drift = _read(lease_cluster, receipts)["role1"]["drift"]
    assert any("exists True -> False" in item for item in drift), drift
    # Recording again takes the host as it is now: no drift after.
    assert _record(lease_cluster, receipts, watched)["changed"] is True
    assert _read(lease_cluster, receipts)["role1"]["drift"] == []


def test_a_join_lost_is_drift(lease_cluster, lease_dir, tmp_path, watched):
    """host-a has joined the lockspace in lease_dir with host_id 1 (verified by content); host_id 7 it has not."""
    receipts = tmp_path / "receipts"
    joins = [{"lease_dir": lease_dir, "host_id": 1}, {"lease_dir": lease_dir, "host_id": 7}]
    recorded = _record(lease_cluster, receipts, watched, joins=joins)
    assert recorded["observed"]["joins"] == {"1@%s" % lease_dir: True, "7@%s" % lease_dir: False}, recorded
    assert _read(lease_cluster, receipts)["role1"]["drift"] == []
    # A receipt that recorded a join the daemon does not have (now) drifts.
    path = receipts / "role1.json"
    receipt = json.loads(path.read_text())
    receipt["observed"]["joins"]["7@%s" % lease_dir] = True
    path.write_text(json.dumps(receipt))
    drift = _read(lease_cluster, receipts)["role1"]["drift"]
    assert drift == ["joins 7@%s: true -> false" % lease_dir], drift


def test_several_receipts_are_observed_once_and_each_gets_its_own_drift(lease_cluster, tmp_path, watched):
    receipts = tmp_path / "receipts"
    other = tmp_path / "other.conf"
    other.write_text("b\n")
    assert _record(lease_cluster, receipts, watched)["changed"] is True
    result = lease_cluster.a.module("receipt", dict(name="role2", inputs={}, watch={"files": [str(other)],
                                                    "units": {UNIT: ["active"]}}, receipt_dir=str(receipts)))
    assert result["changed"] is True and sorted(result["receipts"]) == ["role1", "role2"], result
    other.write_text("c\n")
    read = _read(lease_cluster, receipts, ("role1", "role2"))
    assert read["role1"]["drift"] == [] and len(read["role2"]["drift"]) == 1, read


def test_absent_four_ways(lease_cluster, tmp_path, watched):
    receipts = tmp_path / "receipts"
    assert _record(lease_cluster, receipts, watched)["changed"] is True
    args = dict(name="role1", state="absent", receipt_dir=str(receipts))
    assert lease_cluster.a.module("receipt", args, check=True)["changed"] is True
    assert (receipts / "role1.json").exists()
    assert lease_cluster.a.module("receipt", args)["changed"] is True
    assert not (receipts / "role1.json").exists()
    for check in (True, False):
        assert lease_cluster.a.module("receipt", args, check=check)["changed"] is False
    assert _read(lease_cluster, receipts)["role1"] is None


@pytest.mark.parametrize("args,named", [
    (dict(name="../etc/passwd"), "../etc/passwd"),
    (dict(name="r", watch={"file": ["/etc/x"]}), "file"),
    (dict(name="r", watch={"files": ["relative/path"]}), "relative/path"),
    (dict(name="r", watch={"units": {"x.service": ["running"]}}), "running"),
    (dict(name="r", watch={"joins": [{"lease_dir": "/x", "host_id": "one"}]}), "one"),
])
def test_bad_input_fails_naming_it_and_writes_nothing(lease_cluster, tmp_path, args, named):
    receipts = tmp_path / "receipts"
    result = lease_cluster.a.module("receipt", dict(args, receipt_dir=str(receipts)))
    assert result.get("failed") is True and named in result["msg"], result
    assert not receipts.exists()


def test_a_receipt_of_another_format_counts_as_none(lease_cluster, tmp_path):
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    (receipts / "role1.json").write_text('{"format": 99}')
    (receipts / "role2.json").write_text("not json")
    assert _read(lease_cluster, receipts, ("role1", "role2")) == {"role1": None, "role2": None}


def test_through_ansible_templating_the_filters_are_registered(tmp_path):
    code = tmp_path / "code"
    (code / "sub").mkdir(parents=True)
    (code / "sub" / "a.py").write_text("x")
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    expr = "{{ [none | autolease.sanlock.receipt_drift({}), '%s' | autolease.sanlock.code_digest] }}" % code
    out = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "ansible.builtin.debug", "-a", "msg=" + expr],
                         env=env, capture_output=True, text=True, timeout=120, check=False).stdout
    msg = json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    assert len(msg[0]) == 1 and msg[0][0].startswith("no receipt") and len(msg[1]) == 64, msg
    (code / "sub" / "a.py").write_text("y")
    out2 = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "ansible.builtin.debug", "-a", "msg=" + expr],
                          env=env, capture_output=True, text=True, timeout=120, check=False).stdout
    assert json.loads(out2)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"][1] != msg[1]
