"""_cleanup: orphans go; held, kept, young, invalid and foreign entries stay. Real daemons, two hosts."""

import fcntl
import os
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _cleanup
from ansible_collections.autolease.sanlock.plugins.module_utils._names import OWN_FILES, lease_name

OLD = time.time() - 3600


def _make(cluster, lease_dir, paths):
    result = cluster.a.call("_lease_set.ensure_present", lease_dir,
                            {lease_name(p): {} for p in paths}, owner="root", group="root")
    assert "ok" in result, result
    return [lease_name(p) for p in paths]


@pytest.fixture
def scene(lease_cluster, lease_dir, tmp_path):
    """A lease directory with one entry of every kind; held leases stay held for the test."""
    orphans = _make(lease_cluster, lease_dir, ["/img/orphan-%d.img" % i for i in range(5)])
    held_b, held_a, kept_name, kept_path, young = _make(
        lease_cluster, lease_dir, ["/img/held-b.img", "/img/held-a.img", "/img/kept-by-name.img",
                                   "/img/kept-by-path.img", "/img/young.img"])
    outside = tmp_path / "outside"
    outside.mkdir()
    # a valid lease outside the directory, reached through a symlink inside it
    os.rename(os.path.join(lease_dir, orphans[-1]), str(outside / orphans[-1]))
    os.symlink(str(outside / orphans[-1]), os.path.join(lease_dir, orphans[-1]))
    symlink = orphans.pop()
    zeros = lease_name("/img/zeros.img")
    with open(os.path.join(lease_dir, zeros), "wb") as handle:
        handle.write(b"\0" * 1048576)
    os.mkdir(os.path.join(lease_dir, "a-directory"))
    for own in OWN_FILES:  # the host_id registry and its lock live here too
        with open(os.path.join(lease_dir, own), "w") as handle:
            handle.write("{}\n" if own.endswith(".json") else "")
    with lease_cluster.b.hold(lease_dir, [held_b]), lease_cluster.a.hold(lease_dir, [held_a]):
        for entry in os.listdir(lease_dir):
            if entry != young:
                os.utime(os.path.join(lease_dir, entry), (OLD, OLD), follow_symlinks=False)
        yield dict(orphans=orphans, held_b=held_b, held_a=held_a, kept_name=kept_name, kept_path=kept_path,
                   young=young, symlink=symlink, zeros=zeros, outside=str(outside))


def _run(cluster, lease_dir, **kwargs):
    kwargs.setdefault("keep", [lease_name("/img/kept-by-name.img"), "/img/kept-by-path.img"])
    kwargs.setdefault("min_age", 600)
    kwargs.setdefault("workers", 3)
    result = cluster.a.call("_cleanup.run_cleanup", lease_dir, **kwargs)
    assert "ok" in result, result
    return result["ok"]


def test_cleanup_check_real_check_real(lease_cluster, lease_dir, scene):
    before = sorted(os.listdir(lease_dir))

    check = _run(lease_cluster, lease_dir, check_mode=True)
    assert check["removed"] == sorted(scene["orphans"]) and check["changed"] is True
    held = {item["name"]: [o["host_id"] for o in item["owners"]] for item in check["held"]}
    assert held == {scene["held_b"]: [2], scene["held_a"]: [1]}
    assert sorted(os.listdir(lease_dir)) == before  # check mode touched nothing

    real = _run(lease_cluster, lease_dir)
    assert real["removed"] == sorted(scene["orphans"]) and real["changed"] is True
    held = {item["name"]: [o["host_id"] for o in item["owners"]] for item in real["held"]}
    assert held == {scene["held_b"]: [2], scene["held_a"]: [1]}
    assert {item["name"] for item in real["kept"]} == {scene["kept_name"], scene["kept_path"], scene["young"]}
    skipped = {item["name"]: item["reason"] for item in real["skipped"]}
    assert skipped == dict({"__LIBVIRT__DISKS__": "lockspace file", scene["symlink"]: "symlink",
                            scene["zeros"]: "uninitialised (zero-filled)", "a-directory": "directory"},
                           **{own: "autolease.sanlock host_id registry" for own in OWN_FILES})
    assert real["counts"] == {"removed": len(scene["orphans"]), "held": 2, "kept": 3, "skipped": 4 + len(OWN_FILES)}
    assert sorted(os.listdir(lease_dir)) == sorted(set(before) - set(scene["orphans"]))
    assert os.path.isfile(os.path.join(scene["outside"], scene["symlink"]))  # symlink target untouched

    for check_mode in (True, False):
        again = _run(lease_cluster, lease_dir, check_mode=check_mode)
        assert again["removed"] == [] and again["changed"] is False
        assert len(again["held"]) == 2
    assert sorted(os.listdir(lease_dir)) == sorted(set(before) - set(scene["orphans"]))


def test_released_lease_goes_once_the_other_host_lets_go(lease_cluster, lease_dir):
    (name,) = _make(lease_cluster, lease_dir, ["/img/vm.img"])
    with lease_cluster.b.hold(lease_dir, [name]):
        assert _run(lease_cluster, lease_dir, min_age=0)["removed"] == []
    assert _run(lease_cluster, lease_dir, min_age=0)["removed"] == [name]
    assert not os.path.exists(os.path.join(lease_dir, name))


def test_many_leases_with_parallel_workers(lease_cluster, lease_dir):
    names = _make(lease_cluster, lease_dir, ["/img/bulk-%03d.img" % i for i in range(200)])
    with lease_cluster.b.hold(lease_dir, names[:3]):
        result = _run(lease_cluster, lease_dir, min_age=0, workers=8)
    assert result["counts"]["removed"] == 197 and sorted(i["name"] for i in result["held"]) == sorted(names[:3])
    assert sorted(os.listdir(lease_dir)) == sorted(["__LIBVIRT__DISKS__"] + names[:3])


def test_second_cleanup_on_the_host_fails_while_one_runs(lease_cluster, lease_dir, tmp_path):
    (name,) = _make(lease_cluster, lease_dir, ["/img/vm.img"])
    lock = _cleanup._lock_path(lease_dir, str(tmp_path))
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        result = lease_cluster.a.call("_cleanup.run_cleanup", lease_dir, lock_dir=str(tmp_path))
    finally:
        os.close(fd)
    assert result["error"] == "LeaseError"
    assert "another lease cleanup" in result["msg"] and "pid 4242" in result["msg"]
    assert os.path.exists(os.path.join(lease_dir, name))
    assert _run(lease_cluster, lease_dir, min_age=0, lock_dir=str(tmp_path))["removed"] == [name]


def test_daemon_that_has_not_joined_is_told_how_to_join(lease_cluster, lease_dir):
    (name,) = _make(lease_cluster, lease_dir, ["/img/vm.img"])
    for check_mode in (True, False):
        result = lease_cluster.c.call("_cleanup.run_cleanup", lease_dir, check_mode=check_mode)
        assert result["error"] == "DaemonError"
        assert "has not joined" in result["msg"] and "sanlock client add_lockspace -s __LIBVIRT__DISKS__:<host_id>:" \
            in result["msg"] and "restart libvirtd" in result["msg"]
    assert os.path.exists(os.path.join(lease_dir, name))


def test_no_daemon_is_told_to_start_it(lease_cluster, lease_dir):
    result = lease_cluster.no_daemon.call("_cleanup.run_cleanup", lease_dir)
    assert result["error"] == "DaemonError" and "systemctl start sanlock" in result["msg"]


def test_lease_dir_missing_or_not_a_directory(tmp_path):
    from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LeaseDirError
    with pytest.raises(LeaseDirError, match="does not exist"):
        _cleanup.run_cleanup(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(LeaseDirError, match="is not a directory"):
        _cleanup.run_cleanup(str(tmp_path / "file"))


def test_daemon_worker_threads_from_sanlock_conf(tmp_path):
    conf = tmp_path / "sanlock.conf"
    assert _cleanup.daemon_worker_threads(str(conf)) == 8
    conf.write_text("# max_worker_threads = 2\nmax_worker_threads = 12\n")
    assert _cleanup.daemon_worker_threads(str(conf)) == 12
