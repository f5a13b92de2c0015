# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad-input and fault table, rows that need no lab (docs/DEVELOPING.md, "Reliability").

Every test is one row: the modules run as Ansible runs them, against the real
private daemons of ``lease_cluster`` (host-a id 1 and host-b id 2 joined,
host-c running but not joined, no_daemon: no daemon at all). Each asserts a
clear error naming the bad value and the fix, or a safe skip with its reason,
AND that nothing was lost: every lease and file still there, held leases
still held. No fakes: the read-only directory is a real read-only bind mount.

Rows proven elsewhere are listed in the table of docs/DEVELOPING.md with their own tests
(e.g. _lease_file inspect reasons, the lab rows in tests/integration/test_faults.py).
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.unit.plugins.fake_sanlock import failing_acquire

from ansible_collections.autolease.sanlock.plugins.module_utils._names import REGISTRY_DIR, lease_name
from ansible_collections.autolease.sanlock.plugins.module_utils._registry import read_registry

LS = "__LIBVIRT__DISKS__"


def _leases(cluster, lease_dir, paths):
    out = cluster.a.call("_lease_set.ensure_present", lease_dir, {lease_name(p): {} for p in paths},
                         owner="root", group="root")
    assert "ok" in out, out
    return [lease_name(p) for p in paths]


def _snapshot(lease_dir):
    """Name -> (size, first 4 KiB) of every entry: proves nothing was deleted or rewritten.

    The lockspace only by size: the joined daemons renew their slots in it all the time.
    """
    snap = {}
    for entry in os.listdir(lease_dir):
        path = os.path.join(lease_dir, entry)
        if entry == LS:
            snap[entry] = os.path.getsize(path)
        elif os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as handle:
                snap[entry] = (os.path.getsize(path), handle.read(4096))
        else:
            snap[entry] = os.readlink(path) if os.path.islink(path) else "dir"
    return snap


# host_id: bad explicit ids fail before anything is written --------------------------------------------------
@pytest.mark.parametrize("bad, named", [(0, "0"), (2001, "2001"), ("three", "three"), (1.5, "1.5")])
def test_host_id_out_of_range_or_not_integer(lease_cluster, lease_dir, bad, named):
    hosts = {"host-a": {"existing": 1, "joined": True}, "kvm9": {"explicit": bad}}
    before = _snapshot(lease_dir)
    result = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": hosts})
    assert result["failed"] is True, result
    assert "kvm9" in result["msg"] and named in result["msg"] and "2000" in result["msg"], result["msg"]
    assert read_registry(lease_dir) == {}
    # the registry lock (in its directory) may have been created; nothing else
    assert {k: v for k, v in _snapshot(lease_dir).items() if k != REGISTRY_DIR} == before


def test_host_id_duplicated(lease_cluster, lease_dir):
    first = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"kvm1": {}, "kvm2": {}}})
    recorded = read_registry(lease_dir)
    assert first["changed"] is True and sorted(recorded) == ["kvm1", "kvm2"]
    taken = recorded["kvm2"]
    dup = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {
        "kvm1": {}, "kvm2": {}, "kvm3": {"explicit": taken}}})
    assert dup["failed"] is True and "host_id %d" % taken in dup["msg"], dup
    assert "kvm2" in dup["msg"] and "kvm3" in dup["msg"], dup
    assert read_registry(lease_dir) == recorded  # the registry kept every id


# lease_dir faults ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["lease", "lease_cleanup", "lease_info", "host_id"])
def test_lease_dir_missing(lease_cluster, tmp_path, module):
    args = {"lease_dir": str(tmp_path / "nowhere")}
    if module == "host_id":
        args["hosts"] = {"kvm1": {}}
    if module == "lease":
        args.update(owner="root", group="root")
    result = lease_cluster.a.module(module, args)
    assert result["failed"] is True and str(tmp_path / "nowhere") in result["msg"], result
    assert "does not exist" in result["msg"]
    assert not (tmp_path / "nowhere").exists()  # nothing created in its place


@pytest.mark.parametrize("module", ["lease", "lease_cleanup"])
def test_lease_dir_not_a_directory(lease_cluster, tmp_path, module):
    target = tmp_path / "a-file"
    target.write_text("keep me\n")
    args = {"lease_dir": str(target), "owner": "root", "group": "root"} if module == "lease" else \
        {"lease_dir": str(target)}
    result = lease_cluster.a.module(module, args)
    assert result["failed"] is True and "is not a directory" in result["msg"] and str(target) in result["msg"]
    assert target.read_text() == "keep me\n"


@pytest.fixture
def read_only(lease_cluster, lease_dir):
    """lease_dir with two leases, then made read-only by a real read-only bind mount onto itself (root ignores modes)."""
    names = _leases(lease_cluster, lease_dir, ["/img/ro-1.img", "/img/ro-2.img"])
    subprocess.run(["mount", "--bind", lease_dir, lease_dir], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", lease_dir], check=True)
        yield names
    finally:
        subprocess.run(["umount", lease_dir], check=True)


def test_lease_dir_not_writable_create(lease_cluster, lease_dir, read_only):
    before = _snapshot(lease_dir)
    result = lease_cluster.a.module("lease", {"lease_dir": lease_dir, "disks": ["/img/new.img"],
                                              "owner": "root", "group": "root"})
    assert result["failed"] is True and lease_dir in result["msg"], result
    assert "writable" in result["msg"] or "Read-only" in result["msg"], result["msg"]
    assert _snapshot(lease_dir) == before


def test_lease_dir_not_writable_cleanup(lease_cluster, lease_dir, read_only):
    before = _snapshot(lease_dir)
    result = lease_cluster.a.module("lease_cleanup", {"lease_dir": lease_dir})
    assert _snapshot(lease_dir) == before
    if result.get("failed"):
        assert lease_dir in result["msg"] or "Read-only" in result["msg"], result
    else:  # a safe, reported skip of every lease
        skipped = {s["name"]: s["reason"] for s in result["skipped"]}
        assert result["removed"] == [] and all("Read-only" in skipped[n] for n in read_only), result


# entries that are not removable leases ------------------------------------------------------------------------
def test_odd_entries_are_skipped_with_reasons_and_kept(lease_cluster, lease_dir, tmp_path):
    truncated, held = _leases(lease_cluster, lease_dir, ["/img/truncated.img", "/img/held.img"])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.img").write_bytes(b"data" * 1024)
    entries = {
        "notes.txt": "not a sanlock lease",
        lease_name("/img/zero.img"): "uninitialised (zero-filled)",
        lease_name("/img/truncated.img"): "truncated",
        lease_name("/img/link-out.img"): "symlink",
        lease_name("/img/link-dir.img"): "symlink",
        lease_name("/img/other.img"): "lease of another lockspace (OTHER)",
    }
    with open(os.path.join(lease_dir, "notes.txt"), "w") as handle:
        handle.write("operator notes\n" * 100)
    with open(os.path.join(lease_dir, lease_name("/img/zero.img")), "wb") as handle:
        handle.write(b"\0" * 1048576)
    os.truncate(os.path.join(lease_dir, truncated), 300)  # a half-written copy: the leader sector cut short
    os.symlink(str(outside / "precious.img"), os.path.join(lease_dir, lease_name("/img/link-out.img")))
    os.symlink(str(outside), os.path.join(lease_dir, lease_name("/img/link-dir.img")))
    other = os.path.join(lease_dir, lease_name("/img/other.img"))
    out = lease_cluster.a.call("_lease_file.create", lease_dir, lease_name("/img/other.img"))
    assert "ok" in out, out
    _rewrite_space(other, "OTHER")
    with lease_cluster.b.hold(lease_dir, [held]):
        before = _snapshot(lease_dir)  # taken while held: acquiring writes the lease
        result = lease_cluster.a.module("lease_cleanup", {"lease_dir": lease_dir})
        after = _snapshot(lease_dir)
    assert not result.get("failed"), result
    skipped = {s["name"]: s["reason"] for s in result["skipped"]}
    for name, reason in entries.items():
        assert reason in skipped.get(name, ""), (name, skipped)
    assert [h["name"] for h in result["held"]] == [held] and result["removed"] == []
    assert result["cluster_lock"]["created"] is True  # the one file the cleanup adds: its cluster-wide lock
    assert {k: v for k, v in after.items() if k != "__AUTOLEASE_CLEANUP__"} == before
    assert (outside / "precious.img").read_bytes() == b"data" * 1024


def _rewrite_space(path, space):
    """Give an initialised lease another lockspace name, checksum kept valid (a real lease of lockspace OTHER)."""
    import struct
    from ansible_collections.autolease.sanlock.plugins.module_utils import _leader_record
    with open(path, "r+b") as handle:
        sector = bytearray(handle.read(512))
        sector[56:104] = space.encode().ljust(48, b"\0")
        struct.pack_into("<I", sector, 168, _leader_record.crc32c(bytes(sector[:168])))
        handle.seek(0)
        handle.write(sector)


# daemon faults ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["lease_cleanup", "lease"])
def test_sanlock_daemon_stopped(lease_cluster, lease_dir, module):
    names = _leases(lease_cluster, lease_dir, ["/img/a.img", "/img/b.img"])
    before = _snapshot(lease_dir)
    args = {"lease_dir": lease_dir}
    if module == "lease":
        args.update(disks=["/img/c.img"], owner="root", group="root")
    result = lease_cluster.no_daemon.module(module, args)
    assert result["failed"] is True and "systemctl start sanlock" in result["msg"], result
    assert _snapshot(lease_dir) == before and all(n in before for n in names)


def test_lockspace_not_joined(lease_cluster, lease_dir):
    _leases(lease_cluster, lease_dir, ["/img/a.img"])
    before = _snapshot(lease_dir)
    result = lease_cluster.c.module("lease_cleanup", {"lease_dir": lease_dir})
    assert result["failed"] is True and "has not joined" in result["msg"], result
    assert "sanlock client add_lockspace" in result["msg"] and lease_dir in result["msg"]
    assert _snapshot(lease_dir) == before


# two cleanups at once on one host (real concurrent processes) ------------------------------------------------
_WAIT_FOR_LOCK = textwrap.dedent("""
    import glob, sys, time
    deadline = time.time() + 120
    while time.time() < deadline:
        for path in glob.glob(sys.argv[1] + "/autolease-sanlock-cleanup-*.lock"):
            with open(path) as handle:
                if handle.read().strip():
                    sys.exit(0)
        time.sleep(0.01)
    sys.exit(1)
""")


def test_two_cleanups_at_once_on_one_host(lease_cluster, lease_dir, tmp_path):
    names = _leases(lease_cluster, lease_dir, ["/img/many-%04d.img" % i for i in range(600)])
    lock_dir = tmp_path / "lock"
    lock_dir.mkdir()
    script = ("import json, sys; from ansible_collections.autolease.sanlock.plugins.module_utils._cleanup import "
              "run_cleanup; print(json.dumps(run_cleanup(sys.argv[1], workers=1, lock_dir=sys.argv[2]).as_dict()))")
    with lease_cluster.b.hold(lease_dir, names[:2]):
        first = subprocess.Popen([sys.executable, "-c", script, lease_dir, str(lock_dir)], env=lease_cluster.a.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        subprocess.run([sys.executable, "-c", _WAIT_FOR_LOCK, str(lock_dir)], check=True, timeout=150)
        second = lease_cluster.a.call("_cleanup.run_cleanup", lease_dir, lock_dir=str(lock_dir))
        out, err = first.communicate(timeout=600)
        still_running_when_refused = "error" in second
    assert first.returncode == 0, err
    # the first run held the lock for its whole run: the second was refused naming the holder, removed nothing
    assert still_running_when_refused, second
    assert second["error"] == "CleanupLockBusy" and "another lease cleanup" in second["msg"] \
        and "pid %d" % first.pid in second["msg"], second
    import json
    done = json.loads(out)
    assert done["counts"]["removed"] == 598 and sorted(h["name"] for h in done["held"]) == sorted(names[:2])
    assert sorted(os.listdir(lease_dir)) == sorted([LS, "__AUTOLEASE_CLEANUP__"] + names[:2])
    time.sleep(0)  # nothing else: the held leases were never deleted


# bad option values: a clear error naming the option, the value and the accepted range; nothing touched --------
_BAD_OPTIONS = [
    # (module, args, words the message must hold)
    ("lease_cleanup", {"keep": [""]}, ["keep", "''", "absolute disk path", "32 hex"]),
    ("lease_cleanup", {"keep": ["images/a.img"]}, ["keep", "'images/a.img'", "absolute disk path"]),
    ("lease_cleanup", {"workers": 0}, ["workers", "0", "1-64"]),
    ("lease_cleanup", {"workers": 100000}, ["workers", "100000", "1-64"]),
    ("lease_cleanup", {"workers": -3}, ["workers", "-3", "1-64"]),
    ("lease_cleanup", {"min_age": -1}, ["min_age", "-1", ">= 0"]),
    ("lease_info", {"liveness": True, "liveness_interval": -5}, ["liveness_interval", "-5", "1-3600"]),
    ("lease_info", {"liveness": True, "liveness_interval": 0}, ["liveness_interval", "0", "1-3600"]),
    ("host_id", {"hosts": {"kvm1": {}}, "liveness_interval": -1}, ["liveness_interval", "-1", "1-3600"]),
    ("host_id", {"hosts": {"kvm1": {}}, "release": [""]}, ["release", "''", "host name"]),
    ("host_id", {"hosts": {"": {}}}, ["hosts", "''", "host name"]),
    ("lease", {"disks": [""]}, ["disks", "''", "absolute disk path"]),
    ("lease", {"disks": ["a.img"]}, ["disks", "'a.img'", "absolute disk path"]),
    ("lease", {"domains": [""]}, ["domains", "''", "domain name"]),
    ("lease", {"disks": ["/img/a.img"], "io_timeout": -1}, ["io_timeout", "-1", "0-300"]),
    ("lease", {"disks": ["/img/a.img"], "io_timeout": 301}, ["io_timeout", "301", "0-300"]),
    ("lease", {"disks": ["/img/a.img"], "repair_grace": -1}, ["repair_grace", "-1", ">= 0"]),
    ("lease_cleanup", {"lease_dir": "relative/dir"}, ["lease_dir", "'relative/dir'", "absolute"]),
    ("host_info", {"qemu_run_dir": "run/qemu"}, ["qemu_run_dir", "'run/qemu'", "absolute"]),
]


@pytest.mark.parametrize("module, args, words", _BAD_OPTIONS,
                         ids=["%s-%s" % (m, "-".join("%s=%s" % kv for kv in a.items())) for m, a, w in _BAD_OPTIONS])
def test_bad_option_values_fail_cleanly_naming_option_value_and_range(lease_cluster, lease_dir, module, args, words):
    names = _leases(lease_cluster, lease_dir, ["/img/kept-1.img", "/img/kept-2.img"])
    before = _snapshot(lease_dir)
    args = dict(args)
    args.setdefault("lease_dir", lease_dir)
    if module == "lease":
        args.update(owner="root", group="root")
    if module == "host_info":
        args.pop("lease_dir")
    started = time.monotonic()
    result = lease_cluster.a.module(module, args)
    assert result.get("failed") is True, result
    assert "Traceback" not in result.get("module_stderr", "") and "exception" not in result, result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert time.monotonic() - started < 30  # refused up front, no sleep
    assert _snapshot(lease_dir) == before and all(os.path.exists(os.path.join(lease_dir, n)) for n in names)


# sanlock's "owned by another host" codes (sanlock_rv.h): held, never an error, never free -------------------------
@pytest.mark.parametrize("code", [-244, -245, -247])
def test_owned_elsewhere_codes_count_as_held(tmp_path, monkeypatch, code):
    """With a FAKE sanlock binding: acquire fails with one of sanlock's acquire codes that two private daemons
    cannot be made to return on demand (-244 SANLK_ACQUIRE_OWNED, -245 SANLK_ACQUIRE_OTHER: lost paxos ballots
    against another host; -247 SANLK_ACQUIRE_OWNED_RETRY: owner's lease not yet expired, newer sanlock). -243
    SANLK_ACQUIRE_IDLIVE is produced for real in test_held_by_a_live_host_is_reported_held_for_real."""
    from ansible_collections.autolease.sanlock.plugins.module_utils import _lease_file
    from ansible_collections.autolease.sanlock.plugins.module_utils._sanlock_binding import HELD_ERRNOS

    assert code in HELD_ERRNOS
    monkeypatch.setattr(_lease_file, "get_sanlock", failing_acquire(code, "lease owned by other host"))
    path = tmp_path / lease_name("/img/owned-elsewhere.img")
    path.write_bytes(b"\1" * 512)
    lease = _lease_file.LeaseFile(name=path.name, path=str(path), kind="lease", reason=None, size=512, mtime=0,
                                  resource=path.name, lockspace=LS, owners=(), uninitialised=False)
    remover = _lease_file.Remover(str(tmp_path / LS))
    try:
        status, reason = remover.remove(lease)
    finally:
        remover.close()
    assert status == "held", (status, reason)
    assert path.read_bytes() == b"\1" * 512  # never deleted


def test_held_by_a_live_host_is_reported_held_for_real(lease_cluster, lease_dir):
    (held,) = _leases(lease_cluster, lease_dir, ["/img/held-live.img"])
    with lease_cluster.b.hold(lease_dir, [held]):
        result = lease_cluster.a.module("lease_cleanup", {"lease_dir": lease_dir})
    assert result.get("failed") is not True, result
    assert [h["name"] for h in result["held"]] == [held] and result["removed"] == [], result
    assert os.path.exists(os.path.join(lease_dir, held))


def test_host_id_pins_07_and_7_are_one_id(lease_cluster, lease_dir):
    result = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {
        "kvm1": {"explicit": "07"}, "kvm2": {"explicit": 7}}})
    assert result.get("failed") is True and "host_id 7" in result["msg"], result
    assert "kvm1" in result["msg"] and "kvm2" in result["msg"], result["msg"]
    assert read_registry(lease_dir) == {}


# the collection's own files: planted symlinks and files of other users are refused, old registries migrated ------
def test_host_id_refuses_a_planted_symlink_at_the_registry_lock(lease_cluster, lease_dir, tmp_path):
    from ansible_collections.autolease.sanlock.plugins.module_utils._registry import registry_dir

    target = tmp_path / "precious"
    target.write_text("precious\n")
    os.mkdir(registry_dir(lease_dir), 0o755)
    lock = os.path.join(registry_dir(lease_dir), ".autolease-host-ids.lock")
    os.symlink(str(target), lock)
    result = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"kvm1": {}}})
    assert result.get("failed") is True and lock in result["msg"] and "symbolic link" in result["msg"], result
    assert "rm %s" % lock in result["msg"]
    assert target.read_text() == "precious\n" and read_registry(lease_dir) == {}


def test_host_id_refuses_a_registry_directory_of_another_user(lease_cluster, lease_dir):
    from ansible_collections.autolease.sanlock.plugins.module_utils._registry import registry_dir

    os.mkdir(registry_dir(lease_dir), 0o755)
    os.chown(registry_dir(lease_dir), 4242, 4242)
    result = lease_cluster.a.module("host_id", {"lease_dir": lease_dir, "hosts": {"kvm1": {}}})
    assert result.get("failed") is True and registry_dir(lease_dir) in result["msg"], result
    assert "owned by uid 4242" in result["msg"] and "chown" in result["msg"], result["msg"]
    assert os.listdir(registry_dir(lease_dir)) == []


def test_host_id_migrates_a_registry_at_the_old_location_check_real_check_real(lease_cluster, lease_dir):
    from ansible_collections.autolease.sanlock.plugins.module_utils._registry import (
        legacy_registry_path, registry_path, render_registry)

    with open(legacy_registry_path(lease_dir), "w") as handle:
        handle.write(render_registry({"kvm1": 5, "retired": 9}))
    args = {"lease_dir": lease_dir, "hosts": {"kvm1": {}}}
    runs = [lease_cluster.a.module("host_id", args, check=check) for check in (True, False, True, False)]
    assert [run.get("changed") for run in runs] == [True, True, False, False], runs
    assert all(run["host_ids"]["kvm1"]["host_id"] == 5 for run in runs), runs
    assert not os.path.exists(legacy_registry_path(lease_dir))
    assert read_registry(lease_dir) == {"kvm1": 5, "retired": 9} and os.path.exists(registry_path(lease_dir))
