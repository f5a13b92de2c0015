# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host_id module, run for real against a lockspace of live private sanlock daemons.

``lease_cluster`` (tests/unit/plugins/conftest.py): host-a (host_id 1) and
host-b (host_id 2) are joined with io_timeout 1 to the lockspace in
``lease_dir``; host-c runs a daemon that joined nothing.
"""

import json
import os
import shutil
import stat
import subprocess

from ansible_collections.autolease.sanlock.plugins.module_utils._registry import read_registry, registry_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
LS = "__LIBVIRT__DISKS__"


def ids(result):
    return dict((name, r["host_id"]) for name, r in result["host_ids"].items())


def test_check_real_check_real_with_joined_hosts_and_a_new_one(lease_cluster, lease_dir):
    args = {"lease_dir": lease_dir, "hosts": {
        "host-a": {"existing": 1, "joined": True, "running_vms": 1},
        "host-b": {"existing": 2, "joined": True},
        "host-c": {},
    }}
    first = lease_cluster.a.module("host_id", args, check=True, diff=True)
    assert first["changed"] is True, first
    assert ids(first) == {"host-a": 1, "host-b": 2, "host-c": 3}
    assert not os.path.exists(registry_path(lease_dir))  # check mode writes nothing
    assert '"host-c": 3' in first["diff"]["after"] and first["diff"]["before"] == ""

    real = lease_cluster.a.module("host_id", args, diff=True)
    assert real["changed"] is True
    assert ids(real) == ids(first)
    assert dict((n, r["source"]) for n, r in real["host_ids"].items()) == {
        "host-a": "existing", "host-b": "existing", "host-c": "new"}
    assert read_registry(lease_dir) == {"host-a": 1, "host-b": 2, "host-c": 3}
    assert stat.S_IMODE(os.stat(registry_path(lease_dir)).st_mode) == 0o644

    again_check = lease_cluster.a.module("host_id", args, check=True, diff=True)
    assert again_check["changed"] is False and "diff" not in again_check
    assert ids(again_check) == ids(first)
    again = lease_cluster.a.module("host_id", args)
    assert again["changed"] is False
    assert again["host_ids"]["host-c"]["source"] == "registry"


def test_limit_adds_a_host_without_renumbering_the_others(lease_cluster, lease_dir):
    everyone = {"host-a": {"existing": 1, "joined": True}, "host-b": {"existing": 2, "joined": True}, "host-c": {}}
    assert ids(lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": everyone})) == {
        "host-a": 1, "host-b": 2, "host-c": 3}
    limited = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"host-d": {}}})
    assert ids(limited) == {"host-d": 4}
    only_c = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"host-c": {}}})
    assert ids(only_c) == {"host-c": 3} and only_c["changed"] is False
    assert read_registry(lease_dir) == {"host-a": 1, "host-b": 2, "host-c": 3, "host-d": 4}


def test_slot_owned_by_live_foreign_name_blocks_the_id(lease_cluster, lease_dir):
    result = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"host-x": {"explicit": 1}}})
    assert result.get("failed") is True, result
    assert "host_id 1 of host-x (explicit) is in use in the lockspace by the live host host-a" in result["msg"]
    assert not os.path.exists(registry_path(lease_dir))


def test_new_ids_skip_live_slots_of_other_names(lease_cluster, lease_dir):
    result = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"host-x": {}, "host-y": {}}})
    assert ids(result) == {"host-x": 3, "host-y": 4}


def test_slot_last_owned_by_own_name_is_reused(lease_cluster, lease_dir):
    # host-b lost its registry entry and its config (reinstalled): it gets slot 2 back.
    result = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"host-new": {}, "host-b": {}}})
    assert ids(result) == {"host-b": 2, "host-new": 3}
    assert "lockspace slot 2 was last owned by host-b; the host gets it back" in result["host_ids"]["host-b"]["warnings"]


def test_slot_of_a_dead_foreign_name_is_taken_over_with_a_warning(lease_cluster, tmp_path):
    # A copy of the lockspace is renewed by nobody: host-a and host-b look dead there.
    shutil.copyfile(os.path.join(lease_cluster.lease_dir, LS), str(tmp_path / LS))
    result = lease_cluster.a.module("host_id", {"lease_dir": str(tmp_path), "hosts": {"host-x": {"explicit": 1}}})
    assert ids(result) == {"host-x": 1}, result
    assert "lockspace slot 1 was last owned by host-a, which is not alive; host-x takes it over" in (
        result["host_ids"]["host-x"]["warnings"][0])


def test_id_change_of_a_host_with_vms_is_refused_before_writing(lease_cluster, lease_dir):
    args = {"lease_dir": lease_dir, "force": True, "hosts": {
        "host-a": {"explicit": 5, "existing": 1, "joined": True, "running_vms": 1}, "host-c": {}}}
    result = lease_cluster.a.module("host_id", args)
    assert result.get("failed") is True
    assert "refusing changing the host_id of host-a from 1 to 5 (explicit): 1 VM(s) run on it" in result["msg"]
    assert not os.path.exists(registry_path(lease_dir))


def test_release_frees_the_id_of_a_retired_host(lease_cluster, lease_dir):
    lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"host-c": {}, "host-old": {}}})
    assert read_registry(lease_dir) == {"host-c": 3, "host-old": 4}
    check = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {}, "release": ["host-old"]},
                                   check=True)
    assert check["changed"] is True and check["released"] == {"host-old": 4}
    assert read_registry(lease_dir) == {"host-c": 3, "host-old": 4}
    real = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {}, "release": ["host-old"]})
    assert real["changed"] is True
    assert read_registry(lease_dir) == {"host-c": 3}
    again = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {}, "release": ["host-old"]})
    assert again["changed"] is False
    assert "release names host-old, which the registry does not record" in json.dumps(again["warnings"])


def test_missing_lease_dir_fails_with_the_fix(lease_cluster, tmp_path):
    result = lease_cluster.a.module("host_id", {"lease_dir": str(tmp_path / "absent"), "hosts": {"a": {}}})
    assert result.get("failed") is True
    assert "lease_dir %s does not exist" % (tmp_path / "absent") in result["msg"]


def _ansible(args, tmp_path, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="true")
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible"), "localhost", "-m", "autolease.sanlock.host_id",
                           "-a", json.dumps(args), *extra], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    return proc


def test_through_ansible_duplicate_explicit_ids_fail_naming_both_hosts(tmp_path):
    lease_dir = tmp_path / "leases"
    lease_dir.mkdir()
    args = {"lease_dir": str(lease_dir), "hosts": {"kvm1": {"explicit": 3}, "kvm2": {"explicit": "3"}, "kvm3": {}}}
    proc = _ansible(args, tmp_path)
    assert proc.returncode != 0
    assert "host_id 3 is claimed by 2 hosts: kvm1 (explicit) and kvm2 (explicit)" in proc.stdout, proc.stdout
    assert os.listdir(str(lease_dir)) in ([], ["autolease.sanlock"])
    assert not os.path.exists(registry_path(str(lease_dir)))


def test_through_ansible_check_real_check_real(tmp_path):
    lease_dir = tmp_path / "leases"
    lease_dir.mkdir()
    args = {"lease_dir": str(lease_dir), "hosts": {"kvm1": {}, "kvm2": {"explicit": 9}}}
    runs = [json.loads(_ansible(args, tmp_path, *flags).stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
            for flags in (["--check", "--diff"], [], ["--check"], [])]
    assert [r["changed"] for r in runs] == [True, True, False, False]
    assert [ids(r) for r in runs] == [{"kvm1": 1, "kvm2": 9}] * 4
    assert read_registry(str(lease_dir)) == {"kvm1": 1, "kvm2": 9}
