"""Modules domain_store and domain_store_info, run by Ansible (ad-hoc, AnsiballZ) against libvirt's test driver."""

import json
import os
import pathlib
import subprocess
import sys
import uuid

from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

REPO = pathlib.Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".cache" / "collections"

DOMAIN = """  <domain type='test'>
    <name>{name}</name><uuid>{uuid}</uuid><memory>65536</memory><os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/img/{name}.img'/><target dev='vda'/></disk>
      <disk type='block' device='disk'><source dev='/dev/vg/{name}-data'/><target dev='vdb'/></disk>
    </devices>
  </domain>
"""


def node(path, *names):
    path.write_text("<node>\n%s</node>\n" % "".join(
        DOMAIN.format(name=name, uuid=uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in names))
    return "test://" + str(path)


def _env():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env["PATH"] = "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", ""))
    return env


def run_module(name, args, check=False):
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible"), "localhost", "-c", "local",
           "-m", "autolease.sanlock." + name, "-a", json.dumps(args), "--diff"] + (["--check"] if check else [])
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_four_ways_with_diff_then_info_from_another_host(tmp_path):
    lease_dir = tmp_path / "leases"
    lease_dir.mkdir()
    args = {"lease_dir": str(lease_dir), "host": "kvm1", "libvirt_uri": node(tmp_path / "node.xml", "vm1", "vm2")}
    check = run_module("domain_store", args, check=True)
    assert check["changed"] is True and check["written"] == ["vm1", "vm2"] and check["removed"] == [], check
    assert not os.listdir(str(lease_dir))
    assert check["domains"]["vm1"] == {
        "path": "%s/autolease.sanlock/domains/kvm1/vm1.xml" % lease_dir,
        "disks": ["/img/vm1.img", "/dev/vg/vm1-data"],
        "leases": [lease_name("/img/vm1.img"), lease_name("/dev/vg/vm1-data")]}
    assert check["diff"]["before"] == "" and [line.split()[0] for line in check["diff"]["after"].splitlines()] == [
        "vm1.xml", "vm2.xml"]
    real = run_module("domain_store", args)
    assert {key: real[key] for key in ("changed", "written", "removed", "domains", "diff")} == {
        key: check[key] for key in ("changed", "written", "removed", "domains", "diff")}, real
    host_dir = lease_dir / "autolease.sanlock" / "domains" / "kvm1"
    assert sorted(os.listdir(str(host_dir))) == ["vm1.xml", "vm2.xml"]
    for check_mode in (True, False):
        again = run_module("domain_store", args, check=check_mode)
        assert again["changed"] is False and again["written"] == again["removed"] == [], again
        assert again["diff"]["before"] == again["diff"]["after"] == real["diff"]["after"]

    # vm2 is undefined: its file goes, the diff shows it.
    args["libvirt_uri"] = node(tmp_path / "node.xml", "vm1")
    gone = run_module("domain_store", args)
    assert gone["changed"] is True and gone["written"] == [] and gone["removed"] == ["vm2"], gone
    assert "vm2.xml" in gone["diff"]["before"] and "vm2.xml" not in gone["diff"]["after"]
    assert os.listdir(str(host_dir)) == ["vm1.xml"]

    # Any host reads it: one host or all of them; read-only, also in check mode.
    for check_mode in (True, False):
        info = run_module("domain_store_info", {"lease_dir": str(lease_dir), "host": "kvm1"}, check=check_mode)
        assert info["changed"] is False and sorted(info["hosts"]) == ["kvm1"], info
        vm1 = info["hosts"]["kvm1"]["vm1"]
        assert vm1["disks"] == ["/img/vm1.img", "/dev/vg/vm1-data"] and vm1["leases"] == check["domains"]["vm1"]["leases"]
        assert vm1["xml"] == (host_dir / "vm1.xml").read_text() and isinstance(vm1["mtime"], float)
    assert run_module("domain_store_info", {"lease_dir": str(lease_dir), "host": "gone"})["hosts"] == {}
    assert sorted(run_module("domain_store_info", {"lease_dir": str(lease_dir)})["hosts"]) == ["kvm1"]


def test_bad_input_fails_naming_the_value_and_changes_nothing(tmp_path):
    lease_dir = tmp_path / "leases"
    lease_dir.mkdir()
    uri = node(tmp_path / "node.xml", "vm1")
    bad_host = run_module("domain_store", {"lease_dir": str(lease_dir), "host": "../etc", "libvirt_uri": uri})
    assert bad_host["failed"] is True and "host='../etc' cannot be a file name" in bad_host["msg"], bad_host
    relative = run_module("domain_store", {"lease_dir": "leases", "host": "kvm1", "libvirt_uri": uri})
    assert relative["failed"] is True and "lease_dir='leases' is not an absolute path" in relative["msg"]
    timeout = run_module("domain_store_info", {"lease_dir": str(lease_dir), "storage_timeout": 0})
    assert timeout["failed"] is True and "storage_timeout=0 is out of range" in timeout["msg"]
    no_libvirtd = run_module("domain_store", {"lease_dir": str(lease_dir), "host": "kvm1",
                                              "libvirt_uri": "qemu+unix:///system?socket=/nonexistent/sock"})
    assert no_libvirtd["failed"] is True and "cannot connect to libvirtd at qemu+unix" in no_libvirtd["msg"]
    missing = run_module("domain_store_info", {"lease_dir": str(tmp_path / "nope")})
    assert missing["failed"] is True and "lease_dir %s/nope does not exist" % tmp_path in missing["msg"]
    assert os.listdir(str(lease_dir)) == []
