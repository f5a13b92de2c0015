"""Module lease_cleanup through Ansible itself (ansible ad-hoc) and as a module process."""

import json
import os
import pathlib
import subprocess

from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

COLLECTIONS = pathlib.Path(__file__).resolve().parents[4] / ".cache" / "collections"


def _adhoc(host, args, check=False):
    """ansible localhost -m autolease.sanlock.lease_cleanup: the real plugin loader, --check and --diff."""
    env = dict(host.env(), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=os.sys.executable)
    cmd = [os.path.join(os.path.dirname(os.sys.executable), "ansible"), "localhost", "-c", "local",
           "-m", "autolease.sanlock.lease_cleanup", "-a", json.dumps(args), "--diff"] + (["--check"] if check else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_cleanup_four_ways_through_ansible(lease_cluster, lease_dir):
    names = [lease_name("/img/%d.img" % i) for i in range(3)]
    result = lease_cluster.a.call("_lease_set.ensure_present", lease_dir, {n: {} for n in names},
                                  owner="root", group="root")
    assert "ok" in result, result
    held = names[0]
    args = dict(lease_dir=lease_dir, keep=["/img/2.img"], workers=2)
    with lease_cluster.b.hold(lease_dir, [held]):
        check = _adhoc(lease_cluster.a, args, check=True)
        assert check["changed"] is True and check["removed"] == [names[1]], check
        assert check["diff"]["before"]["leases"] == [names[1]]
        assert check["cluster_lock"] == {"name": "__AUTOLEASE_CLEANUP__", "created": True}  # would create it
        assert os.path.exists(os.path.join(lease_dir, names[1]))
        assert not os.path.exists(os.path.join(lease_dir, "__AUTOLEASE_CLEANUP__"))
        real = _adhoc(lease_cluster.a, args)
        assert real["changed"] is True and real["removed"] == [names[1]]
        assert real["cluster_lock"] == {"name": "__AUTOLEASE_CLEANUP__", "created": True}
        assert [h["name"] for h in real["held"]] == [held] and real["kept"][0]["name"] == names[2]
        assert not os.path.exists(os.path.join(lease_dir, names[1]))
        for check_mode in (True, False):
            again = _adhoc(lease_cluster.a, args, check=check_mode)
            assert again["changed"] is False and again["removed"] == []
            assert again["cluster_lock"] == {"name": "__AUTOLEASE_CLEANUP__", "created": False}
    assert sorted(os.listdir(lease_dir)) == sorted(["__LIBVIRT__DISKS__", "__AUTOLEASE_CLEANUP__", held, names[2]])


def test_not_joined_fails_with_the_join_command(lease_cluster, lease_dir):
    result = lease_cluster.c.module("lease_cleanup", dict(lease_dir=lease_dir))
    assert result["failed"] is True and "sanlock client add_lockspace" in result["msg"]


def test_bad_option_fails_before_anything_runs(lease_cluster, lease_dir):
    result = lease_cluster.a.module("lease_cleanup", dict(lease_dir=lease_dir, min_age="soon"))
    assert result["failed"] is True and "min_age" in result["msg"]
