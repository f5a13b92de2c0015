"""_lease_set: plan then act for present/absent; uninitialised files are repaired only when old."""

import os
import time

from ansible_collections.autolease.sanlock.plugins.module_utils import _lease_file, _lease_set
from ansible_collections.autolease.sanlock.plugins.module_utils._domains import Disk
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name


def test_wanted_leases_merges_paths_and_domains():
    wanted = _lease_set.wanted_leases(["/a.img", "//a.img"], {"vm1": [Disk("/a.img", "vda", False)],
                                                              "vm2": [Disk("/s.img", "vdb", True)]})
    assert wanted == {
        lease_name("/a.img"): {"paths": ["/a.img"], "shared": False, "domains": ["vm1"]},
        lease_name("//a.img"): {"paths": ["//a.img"], "shared": False, "domains": []},
        lease_name("/s.img"): {"paths": ["/s.img"], "shared": True, "domains": ["vm2"]},
    }


def _present(cluster, lease_dir, names, **kwargs):
    result = cluster.a.call("_lease_set.ensure_present", lease_dir, {n: {} for n in names}, owner="root",
                            group="root", **kwargs)
    assert "ok" in result, result
    return result["ok"]


def test_present_creates_repairs_old_and_leaves_young_uninitialised_files(lease_cluster, lease_dir):
    new, old_zero, young_zero, other = (lease_name(p) for p in ("/new", "/old-zero", "/young-zero", "/dir"))
    for name in (old_zero, young_zero):
        with open(os.path.join(lease_dir, name), "wb") as handle:
            handle.write(b"\0" * 1048576)
    past = time.time() - 1000
    os.utime(os.path.join(lease_dir, old_zero), (past, past))
    os.mkdir(os.path.join(lease_dir, other))
    names = [new, old_zero, young_zero, other]

    check = _present(lease_cluster, lease_dir, names, repair_grace=300, check_mode=True)
    assert (check["created"], check["repaired"]) == ([new], [old_zero])
    assert list(check["pending"]) == [young_zero] and "repair_grace 300" in check["pending"][young_zero]
    assert check["invalid"] == {other: "directory"}
    assert not os.path.exists(os.path.join(lease_dir, new))

    real = _present(lease_cluster, lease_dir, names, repair_grace=300)
    assert (real["created"], real["repaired"], list(real["pending"])) == ([new], [old_zero], [young_zero])
    for name in (new, old_zero):
        assert _lease_file.inspect(os.path.join(lease_dir, name)).kind == "lease"
    assert _lease_file.inspect(os.path.join(lease_dir, young_zero)).reason == "uninitialised (zero-filled)"

    for check_mode in (True, False):
        again = _present(lease_cluster, lease_dir, names, repair_grace=300, check_mode=check_mode)
        assert (again["created"], again["repaired"], again["lockspace_created"]) == ([], [], False)
        assert list(again["pending"]) == [young_zero]


def test_absent_removes_only_named_unheld_leases(lease_cluster, lease_dir):
    gone, held, other = (lease_name(p) for p in ("/gone", "/held", "/other"))
    _present(lease_cluster, lease_dir, [gone, held, other])
    with lease_cluster.b.hold(lease_dir, [held]):
        for check_mode in (True, False):
            result = lease_cluster.a.call("_lease_set.ensure_absent", lease_dir, [gone, held],
                                          check_mode=check_mode)["ok"]
            assert result["removed"] == [gone] and [h["name"] for h in result["held"]] == [held]
        again = lease_cluster.a.call("_lease_set.ensure_absent", lease_dir, [gone], check_mode=False)["ok"]
        assert again["removed"] == [] and again["changed"] is False
    assert sorted(os.listdir(lease_dir)) == sorted(["__LIBVIRT__DISKS__", "__AUTOLEASE_CLEANUP__", held, other])
