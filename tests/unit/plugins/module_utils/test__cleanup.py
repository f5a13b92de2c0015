"""_cleanup: orphans go; held, kept, young, invalid and foreign entries stay. Real daemons, two hosts."""

import fcntl
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _cleanup, _lease_file
from ansible_collections.autolease.sanlock.plugins.module_utils._names import (
    OWN_FILE_REASONS,
    REGISTRY_FILE,
    REGISTRY_LOCK_FILE,
    lease_name,
)

CLEANUP_LOCK_NAME = "__AUTOLEASE_CLEANUP__"

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
    for own in (REGISTRY_FILE, REGISTRY_LOCK_FILE):  # the host_id registry and its lock live here too
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
                           # the registry files of the scene, and the cluster-wide cleanup lock made by this run
                           **dict((own, OWN_FILE_REASONS[own])
                                  for own in (REGISTRY_FILE, REGISTRY_LOCK_FILE, CLEANUP_LOCK_NAME)))
    assert real["counts"] == {"removed": len(scene["orphans"]), "held": 2, "kept": 3, "skipped": 7}
    assert sorted(os.listdir(lease_dir)) == sorted(set(before) - set(scene["orphans"]) | {CLEANUP_LOCK_NAME})
    assert os.path.isfile(os.path.join(scene["outside"], scene["symlink"]))  # symlink target untouched

    for check_mode in (True, False):
        again = _run(lease_cluster, lease_dir, check_mode=check_mode)
        assert again["removed"] == [] and again["changed"] is False
        assert len(again["held"]) == 2
    assert sorted(os.listdir(lease_dir)) == sorted(set(before) - set(scene["orphans"]) | {CLEANUP_LOCK_NAME})


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
    assert sorted(os.listdir(lease_dir)) == sorted(["__LIBVIRT__DISKS__", CLEANUP_LOCK_NAME] + names[:3])


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
    assert result["error"] == "CleanupLockBusy"  # a LeaseError
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


def test_a_lease_dir_the_daemon_does_not_renew_is_refused_whatever_files_it_shows(lease_cluster, tmp_path):
    """The storage was lost (lazy unmount) or hidden: the directory now shows other files, here a stale copy of
    the lockspace and a lease nobody holds. The daemon is still joined at that path string. Before the fix the
    cleanup trusted the path and planned (check mode) or went on to remove what the directory showed."""
    host = lease_cluster.c
    lease_dir = tmp_path / "leases"
    lease_dir.mkdir()
    assert host.call("_lockspace.ensure_lockspace", str(lease_dir), owner="root", group="root",
                     io_timeout=1) == {"ok": True}
    path = str(lease_dir / "__LIBVIRT__DISKS__")
    host.client("add_lockspace", "-s", "__LIBVIRT__DISKS__:9:%s:0" % path, "-o", "1")
    try:
        (name,) = _make(lease_cluster, str(lease_dir), ["/img/stale.img"])
        renewed = host.client("status", "-D").stdout
        with open(path, "rb") as handle:
            copy = handle.read()
        with open(path + ".copy", "wb") as handle:
            handle.write(copy)
        os.rename(path + ".copy", path)  # the daemon renews the old file; the path shows a stale copy
        for dummy in range(40):
            if host.client("status", "-D").stdout != renewed:
                break
            time.sleep(0.25)
        time.sleep(2.5)  # at least one renewal written to the old file only
        for check_mode in (True, False):
            result = host.call("_cleanup.run_cleanup", str(lease_dir), check_mode=check_mode, min_age=0, workers=1)
            assert result.get("error") == "DaemonError", result
            assert "is not verified" in result["msg"] and "not mounted" in result["msg"], result["msg"]
            assert "Nothing was changed" in result["msg"]
            assert "Mount the lease storage at %s; if it is mounted, the daemon joined before the mount: with no VM " \
                "running, leave that join (the lockspace_leave module)" % lease_dir in result["msg"], result["msg"]
        assert os.path.exists(os.path.join(str(lease_dir), name))
    finally:
        host.client("rem_lockspace", "-s", "__LIBVIRT__DISKS__:9:%s:0" % path, check=False)


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


# --- races of the removal itself: acquire -> (verify, invalidate) -> unlink -> release -------------------------

_PAUSING_CLEANUP = """
import json, sys
from ansible_collections.autolease.sanlock.plugins.module_utils import _cleanup
spec = json.loads(sys.argv[1])

def hook(stage, lease):  # pause at each stage until the test answers on stdin
    print("stage %s %s" % (stage, lease.name), flush=True)
    sys.stdin.readline()

try:
    out = {"ok": _cleanup.run_cleanup(spec["lease_dir"], min_age=0, workers=1, lock_dir=spec["lock_dir"],
                                      _race_hook=hook).as_dict()}
except Exception as exc:
    out = {"error": type(exc).__name__, "msg": str(exc)}
print("result " + json.dumps(out), flush=True)
"""

_TRY_ACQUIRE = """
import sanlock, sys
name, path = sys.argv[1], sys.argv[2]
fd = sanlock.register()
try:
    sanlock.acquire(b"__LIBVIRT__DISKS__", name.encode(), [(path, 0)], slkfd=fd)
except sanlock.SanlockException as exc:
    print("refused %d" % exc.errno)
else:
    print("acquired")
    try:
        sanlock.release(b"__LIBVIRT__DISKS__", name.encode(), [(path, 0)], slkfd=fd)
    except sanlock.SanlockException:
        pass
"""


def _try_acquire(host, name, path):
    """Acquire <name> at path through host's daemon (a fresh registered process), release at once.

    Returns "acquired" or "refused <sanlock code>"."""
    proc = subprocess.run([sys.executable, "-c", _TRY_ACQUIRE, name, path], env=host.env(), capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _rejoin(cluster, host):
    """Leave and join the lockspace again with the same host_id: a new generation, as after a daemon restart."""
    spec = "__LIBVIRT__DISKS__:%d:%s:0" % (host.host_id, cluster.lockspace)
    host.client("rem_lockspace", "-s", spec)
    host.client("add_lockspace", "-s", spec, "-o", "1")


def _pausing_cleanup(host, lease_dir, lock_dir, actions):
    """Run run_cleanup through host's daemon with one worker, pausing at each race stage.

    actions: {stage: callable(name)} run by the test while the cleanup waits at that stage.
    Returns (the cleanup's result dict, the stages seen)."""
    proc = subprocess.Popen([sys.executable, "-c", _PAUSING_CLEANUP,
                             json.dumps({"lease_dir": lease_dir, "lock_dir": str(lock_dir)})],
                            env=host.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = []
    try:
        for line in proc.stdout:
            kind, dummy, rest = line.strip().partition(" ")
            if kind == "result":
                return json.loads(rest), seen
            stage, dummy, name = rest.partition(" ")
            seen.append((stage, name))
            if stage in actions:
                actions[stage](name)
            proc.stdin.write("\n")
            proc.stdin.flush()
        raise AssertionError("cleanup printed no result: %s" % proc.stderr.read())
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def test_a_daemon_that_opened_the_lease_before_the_unlink_cannot_acquire_the_deleted_file(
        lease_cluster, lease_dir, tmp_path):
    """Another host's daemon that opened the lease file before the unlink (here: through /proc/<pid>/fd/<n> of an
    fd this test opened before the cleanup, which reaches the unlinked inode as such a daemon would) must not be
    able to acquire the deleted file after the cleanup released it: otherwise the next start of the disk creates a
    new file and two hosts write the disk."""
    (name,) = _make(lease_cluster, lease_dir, ["/img/ghost.img"])
    fd = os.open(os.path.join(lease_dir, name), os.O_RDONLY)
    try:
        ghost = "/proc/%d/fd/%d" % (os.getpid(), fd)
        during = []
        result, seen = _pausing_cleanup(lease_cluster.a, lease_dir, tmp_path, {
            "unlinked": lambda n: during.append(_try_acquire(lease_cluster.b, n, ghost))})
        assert "ok" in result, result
        assert result["ok"]["removed"] == [name]
        assert ("unlinked", name) in seen and during and during[0].startswith("refused")
        assert not os.path.exists(os.path.join(lease_dir, name))
        # The deleted file still names host A (generation g) as its owner: sanlock could not write the release
        # to a file that has no path any more. Once host A's generation g is gone (its daemon restarted, or the
        # host died), nothing but the on-disk leader stops host B from taking the deleted file.
        _rejoin(lease_cluster, lease_cluster.a)
        after = _try_acquire(lease_cluster.b, name, ghost)
        assert after == "refused -223", "host B %s the deleted lease file after the cleanup released it" % after
    finally:
        os.close(fd)


def test_a_lease_file_replaced_while_the_cleanup_holds_the_old_one_is_not_deleted(lease_cluster, lease_dir, tmp_path):
    """Between the cleanup's acquire and its unlink, the path gets a new valid lease file (another cleanup removed
    the old one and a VM start created it again). The cleanup must not unlink the new file."""
    (name,) = _make(lease_cluster, lease_dir, ["/img/recreated.img"])
    newer_dir = tmp_path / "newer"
    newer_dir.mkdir()
    created = lease_cluster.b.call("_lease_file.create", str(newer_dir), name)
    assert created == {"ok": True}, created
    newer_ino = os.stat(str(newer_dir / name)).st_ino
    path = os.path.join(lease_dir, name)

    def replace(dummy):
        os.rename(str(newer_dir / name), path)

    result, seen = _pausing_cleanup(lease_cluster.a, lease_dir, tmp_path, {"acquired": replace})
    assert "ok" in result, result
    assert ("acquired", name) in seen
    assert result["ok"]["removed"] == []
    assert [item["name"] for item in result["ok"]["skipped"] if "replaced" in item["reason"]] == [name]
    assert os.stat(path).st_ino == newer_ino  # the new file is still there, untouched
    assert _try_acquire(lease_cluster.b, name, path) == "acquired"  # and a valid, free lease


def test_a_second_cleanup_on_another_host_fails_naming_the_cluster_wide_lock(lease_cluster, lease_dir, tmp_path):
    """Two cleanups through two daemons (two hosts) at once: the second fails at once, naming the cluster-wide
    cleanup lock and the host_id holding it; the first removes the unused leases; the held lease stays."""
    orphans = _make(lease_cluster, lease_dir, ["/img/two-cleanups-%d.img" % i for i in range(3)])
    (held,) = _make(lease_cluster, lease_dir, ["/img/two-cleanups-held.img"])
    second = []

    def run_second(dummy):
        if not second:
            second.append(lease_cluster.b.call("_cleanup.run_cleanup", lease_dir, min_age=0,
                                               lock_dir=str(tmp_path / "b")))

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with lease_cluster.b.hold(lease_dir, [held]):
        first, dummy = _pausing_cleanup(lease_cluster.a, lease_dir, tmp_path / "a", {"acquired": run_second})
    assert second and second[0].get("error") == "CleanupLockBusy", second
    assert "cluster-wide" in second[0]["msg"] and "host_id 1" in second[0]["msg"], second[0]["msg"]
    assert "ok" in first, first
    assert first["ok"]["removed"] == sorted(orphans)
    assert [item["name"] for item in first["ok"]["held"]] == [held]
    assert os.path.isfile(os.path.join(lease_dir, held))
    # the lock is free again: a cleanup through the other host runs
    again = lease_cluster.b.call("_cleanup.run_cleanup", lease_dir, min_age=0, lock_dir=str(tmp_path / "b"))
    assert "ok" in again and again["ok"]["removed"] == [held], again


def test_the_cluster_wide_cleanup_lock_is_the_collections_own_file(lease_cluster, lease_dir, tmp_path):
    """Check mode reports the lock lease it would create and creates nothing; the real run creates it (an
    initialised lease of the lockspace, owned like the lockspace file); listings treat it as the collection's own
    file, never as a lease, an orphan or an invalid entry; a second run changes nothing."""
    lock = os.path.join(lease_dir, CLEANUP_LOCK_NAME)
    check = _run(lease_cluster, lease_dir, check_mode=True, lock_dir=str(tmp_path))
    assert check["cluster_lock"] == {"name": CLEANUP_LOCK_NAME, "created": True} and check["changed"] is True
    assert not os.path.lexists(lock)
    real = _run(lease_cluster, lease_dir, lock_dir=str(tmp_path))
    assert real["cluster_lock"] == {"name": CLEANUP_LOCK_NAME, "created": True} and real["changed"] is True
    info = _lease_file.inspect(lock)
    assert info.kind == "lease" and info.lockspace == "__LIBVIRT__DISKS__", info
    lockspace = os.stat(os.path.join(lease_dir, "__LIBVIRT__DISKS__"))
    st = os.stat(lock)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (lockspace.st_uid, lockspace.st_gid,
                                                          lockspace.st_mode & 0o660)
    for check_mode in (True, False):
        again = _run(lease_cluster, lease_dir, check_mode=check_mode, lock_dir=str(tmp_path))
        assert again["cluster_lock"] == {"name": CLEANUP_LOCK_NAME, "created": False} and again["changed"] is False
        assert {"name": CLEANUP_LOCK_NAME, "reason": "autolease.sanlock cluster-wide cleanup lock"} \
            in again["skipped"]
    report = lease_cluster.a.call("_lease_report.lease_report", lease_dir, libvirt_uri=None)["ok"]
    assert CLEANUP_LOCK_NAME not in [item["name"] for item in report["leases"] + report["invalid"]]


def _deleted_leases_helper():
    """tests/deleted_leases.py (the chaos test's check), loaded by path."""
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "deleted_leases.py")
    spec = importlib.util.spec_from_file_location("deleted_leases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_deleted_lease_check_finds_leases_on_deleted_files(lease_cluster, lease_dir, tmp_path):
    """The chaos test's check, on real views. Held on a missing file: host B holds a lease whose file is then
    moved out of the lease directory behind its back (what the cleanup must never cause; moved, not deleted, so
    that B can release it afterwards). Open although deleted: an fd of this process on a deleted lease file stands
    for a daemon caught between its open and close of the file. After a cleanup neither daemon shows either."""
    helper = _deleted_leases_helper()
    kept, gone, opened, cleaned = _make(lease_cluster, lease_dir, ["/img/check-%s.img" % kind for kind in (
        "kept", "gone", "opened", "cleaned")])

    def collected(host, pid):
        status = host.client("status").stdout
        return "%s\n==\n%s==\n%s" % ("\n".join(helper.local_fd_links(pid)), status,
                                     "\n".join(os.listdir(lease_dir)))

    with lease_cluster.b.hold(lease_dir, [kept, gone]):
        assert helper.leases_on_deleted_files(collected(lease_cluster.b, os.getpid()), lease_dir) == []
        fd = os.open(os.path.join(lease_dir, opened), os.O_RDONLY)
        os.rename(os.path.join(lease_dir, gone), str(tmp_path / gone))
        try:
            os.unlink(os.path.join(lease_dir, opened))
            found = helper.leases_on_deleted_files(collected(lease_cluster.b, os.getpid()), lease_dir)
        finally:
            os.close(fd)
            os.rename(str(tmp_path / gone), os.path.join(lease_dir, gone))
        assert found == sorted([os.path.join(lease_dir, gone), os.path.join(lease_dir, opened)])
        assert _run(lease_cluster, lease_dir, min_age=0)["removed"] == [cleaned]
        for host in (lease_cluster.a, lease_cluster.b):
            with open(os.path.join(host.run_dir, "sanlock.pid")) as handle:
                pid = int(handle.read().split()[0])
            assert helper.leases_on_deleted_files(collected(host, pid), lease_dir) == []


def test_a_cluster_wide_lock_that_is_not_a_regular_file_stops_the_cleanup(lease_cluster, lease_dir, tmp_path):
    """A symlink planted as the lock file (e.g. to a lease elsewhere) is never followed: the cleanup fails naming
    it and the fix, and removes nothing."""
    (name,) = _make(lease_cluster, lease_dir, ["/img/behind-a-planted-lock.img"])
    os.symlink(os.path.join(lease_dir, name), os.path.join(lease_dir, CLEANUP_LOCK_NAME))
    result = lease_cluster.a.call("_cleanup.run_cleanup", lease_dir, lock_dir=str(tmp_path))
    assert result["error"] == "LeaseError", result
    assert CLEANUP_LOCK_NAME in result["msg"] and "not a regular file" in result["msg"] and "remove it" \
        in result["msg"], result["msg"]
    assert os.path.isfile(os.path.join(lease_dir, name))


def test_a_broken_cluster_wide_lock_file_stops_the_cleanup_with_the_fix(lease_cluster, lease_dir, tmp_path):
    """A zero-filled lock file (not a lease: sanlock refuses it with -223) is never replaced behind another
    cleanup's back: the cleanup fails naming the file and how to check and fix it, and removes nothing."""
    (name,) = _make(lease_cluster, lease_dir, ["/img/behind-a-broken-lock.img"])
    with open(os.path.join(lease_dir, CLEANUP_LOCK_NAME), "wb") as handle:
        handle.write(b"\0" * 1048576)
    result = lease_cluster.a.call("_cleanup.run_cleanup", lease_dir, lock_dir=str(tmp_path))
    assert result["error"] == "LeaseError", result
    assert "sanlock direct dump %s" % os.path.join(lease_dir, CLEANUP_LOCK_NAME) in result["msg"] \
        and "remove it" in result["msg"], result["msg"]
    assert os.path.isfile(os.path.join(lease_dir, name))


def test_the_domain_store_is_neither_cleaned_nor_reported(lease_cluster, lease_dir, tmp_path):
    """The domain definitions kept beside the leases (autolease.sanlock/domains/<host>/*.xml) are the collection's
    own: the cleanup touches nothing there and reports the directory as its own, lease_info not as invalid. One
    stored domain is named like a lease, and its disk's lease is an orphan that goes."""
    from ansible_collections.autolease.sanlock.plugins.module_utils import _domain_store, _lease_report
    orphan = _make(lease_cluster, lease_dir, ["/img/stored.img"])[0]
    os.utime(os.path.join(lease_dir, orphan), (OLD, OLD))
    node = tmp_path / "node.xml"
    node.write_text("<node>%s</node>" % "".join(
        "<domain type='test'><name>%s</name><uuid>%s</uuid><memory>65536</memory><os><type>hvm</type></os>"
        "<devices><disk type='file' device='disk'><source file='/img/stored.img'/><target dev='vda'/></disk>"
        "</devices></domain>" % (name, uuid) for name, uuid in (
            ("vm1", "11111111-2222-3333-4444-555555555555"), (orphan, "11111111-2222-3333-4444-666666666666"))))
    for host in ("kvm1", "kvm2"):
        _domain_store.export(lease_dir, host, "test://%s" % node)
    store = os.path.join(lease_dir, "autolease.sanlock")

    def snapshot():
        found = {}
        for base, dirs, files in os.walk(store):
            for name in dirs + files:
                path = os.path.join(base, name)
                info = os.lstat(path)
                found[os.path.relpath(path, store)] = (info.st_mode, info.st_uid, info.st_mtime_ns, info.st_size)
        return found

    before = snapshot()
    assert sorted(before) == ["domains", "domains/kvm1", "domains/kvm1/%s.xml" % orphan, "domains/kvm1/vm1.xml",
                              "domains/kvm2", "domains/kvm2/%s.xml" % orphan, "domains/kvm2/vm1.xml"]
    for check_mode in (True, False):
        result = _run(lease_cluster, lease_dir, check_mode=check_mode, min_age=0)
        assert result["removed"] == [orphan], result
        everything = json.dumps(result)
        assert ".xml" not in everything and "domains" not in everything.replace("domain definitions", "")
        assert {"name": "autolease.sanlock", "reason": OWN_FILE_REASONS["autolease.sanlock"]} in result["skipped"]
        assert snapshot() == before
    report = _lease_report.lease_report(lease_dir, libvirt_uri="")
    assert report["invalid"] == [] and [lease["name"] for lease in report["leases"]] == []
