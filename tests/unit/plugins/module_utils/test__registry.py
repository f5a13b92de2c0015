# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the host_id registry file (plugins/module_utils/_registry.py)."""

import json
import multiprocessing
import os
import re
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _registry
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import (
    HostIdConflict,
    HostIdError,
    LeaseDirError,
    RegistryLockBusy,
    StorageTimeout,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._registry import (
    REGISTRY_DIR,
    locked,
    needs_migration,
    read_registry,
    registry_path,
    allocate_and_record,
    render_registry,
    write_registry,
)


def record(lease_dir, *names, **kwargs):
    """One run of the host_id module's library path for the new hosts names (no lockspace: no slot owners)."""
    return allocate_and_record(str(lease_dir), dict((name, {}) for name in names), **kwargs)


def test_missing_registry_reads_empty(tmp_path):
    assert read_registry(str(tmp_path)) == {}


def test_write_then_read_round_trips_with_about_key_and_0644(tmp_path):
    with locked(str(tmp_path)):
        write_registry(str(tmp_path), {"b": 2, "a": 1})
    path = registry_path(str(tmp_path))
    assert read_registry(str(tmp_path)) == {"a": 1, "b": 2}
    data = json.loads(open(path).read())
    assert "never handed out" in data["about"]
    assert list(data["host_ids"]) == ["a", "b"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == [REGISTRY_DIR]
    assert sorted(os.listdir(os.path.dirname(path))) == [".autolease-host-ids.lock", "autolease-host-ids.json"]


def test_render_is_stable_and_human_readable():
    text = render_registry({"host-b": 2, "host-a": 1})
    assert text == render_registry({"host-a": 1, "host-b": 2})
    assert '\n    "host-a": 1,\n' in text


def test_write_replaces_the_file_by_rename(tmp_path):
    record(tmp_path, "a")
    old = open(registry_path(str(tmp_path)))
    record(tmp_path, "b")
    # A reader that opened the old file keeps a complete old version.
    assert json.loads(old.read())["host_ids"] == {"a": 1}
    old.close()
    assert read_registry(str(tmp_path)) == {"a": 1, "b": 2}


def test_unchanged_update_does_not_rewrite(tmp_path):
    assert record(tmp_path, "a").changed is True
    inode = os.stat(registry_path(str(tmp_path))).st_ino
    again = record(tmp_path, "a")
    assert again.changed is False and again.before == again.allocation.registry == {"a": 1}
    assert os.stat(registry_path(str(tmp_path))).st_ino == inode


def test_update_that_raises_writes_nothing(tmp_path):
    record(tmp_path, "a")
    inode = os.stat(registry_path(str(tmp_path))).st_ino
    with pytest.raises(HostIdConflict, match="host_id 1 of b .explicit. is recorded in the registry for a"):
        allocate_and_record(str(tmp_path), {"b": {"explicit": 1}, "c": {}})
    assert read_registry(str(tmp_path)) == {"a": 1}
    assert os.stat(registry_path(str(tmp_path))).st_ino == inode


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    # Fake: a full or failing disk at fsync time cannot be produced for real here.
    record(tmp_path, "a")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_registry.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        record(tmp_path, "a", "b")
    monkeypatch.undo()
    assert read_registry(str(tmp_path)) == {"a": 1}
    own_dir = os.path.join(str(tmp_path), REGISTRY_DIR)
    assert sorted(os.listdir(own_dir)) == [".autolease-host-ids.lock", "autolease-host-ids.json"]


def test_check_mode_plans_and_shows_the_diff_but_writes_nothing(tmp_path):
    record(tmp_path, "a")
    inode = os.stat(registry_path(str(tmp_path))).st_ino
    planned = record(tmp_path, "a", "b", check_mode=True, diff=True)
    assert planned.changed is True and planned.allocation.registry == {"a": 1, "b": 2}
    assert read_registry(str(tmp_path)) == {"a": 1}
    assert os.stat(registry_path(str(tmp_path))).st_ino == inode
    assert planned.diff["before"] == render_registry({"a": 1}) and planned.diff["after"] == render_registry(
        {"a": 1, "b": 2})
    assert planned.diff["before_header"] == planned.diff["after_header"] == registry_path(str(tmp_path))
    assert record(tmp_path, "a", check_mode=True, diff=True).diff is None  # no change, no diff


def test_warnings_of_one_host_are_prefixed_with_its_name(tmp_path):
    record(tmp_path, "a")
    moved = allocate_and_record(str(tmp_path), {"a": {"existing": 5}})
    assert moved.warnings == ["a: the registry recorded host_id 1 for a; it is updated to 5 (existing)"]
    assert moved.as_dict()["host_ids"] == {"a": {"host_id": 5, "source": "existing", "warnings": [
        "the registry recorded host_id 1 for a; it is updated to 5 (existing)"]}}
    assert read_registry(str(tmp_path)) == {"a": 5}


@pytest.mark.parametrize("text,message", [
    ("{not json", "autolease-host-ids.json is not valid JSON"),
    ('{"about": "x"}', 'autolease-host-ids.json has no "host_ids" mapping'),
    ('{"host_ids": {"a": 0}}', "host_id of a in .*autolease-host-ids.json is 0, expected an integer 1-2000"),
    ('{"host_ids": {"a": null}}', "autolease-host-ids.json records no host_id for a"),
    ('{"version": 9, "host_ids": {}}', "autolease-host-ids.json has format version 9.*upgrade the collection"),
])
def test_bad_registry_is_refused_naming_the_file(tmp_path, text, message):
    with locked(str(tmp_path)):  # creates the registry directory
        pass
    with open(registry_path(str(tmp_path)), "w") as handle:
        handle.write(text)
    with pytest.raises(HostIdError, match=message):
        read_registry(str(tmp_path))


def test_missing_lease_dir_is_refused(tmp_path):
    with pytest.raises(LeaseDirError, match="lease_dir .*/nope does not exist"):
        record(tmp_path / "nope")


def _hold_lock(lease_dir, seconds, ready):
    with locked(lease_dir):
        ready.set()
        time.sleep(seconds)
        write_registry(lease_dir, dict(read_registry(lease_dir), holder=1))


def test_update_waits_for_the_lock_held_by_another_process(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(tmp_path), 1.0, ready))
    proc.start()
    assert ready.wait(10)
    start = time.monotonic()
    waiter = record(tmp_path, "waiter")
    waited = time.monotonic() - start
    proc.join(10)
    assert proc.exitcode == 0
    assert waited > 0.5
    assert waiter.before == {"holder": 1}
    assert read_registry(str(tmp_path)) == {"holder": 1, "waiter": 2}


def _add_hosts(lease_dir, prefix, count):
    for i in range(count):
        record(lease_dir, "%s-%d" % (prefix, i))


def test_concurrent_writers_in_several_processes_lose_no_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_add_hosts, args=(str(tmp_path), "p%d" % n, 15)) for n in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    registry = read_registry(str(tmp_path))
    assert len(registry) == 90
    assert sorted(registry.values()) == list(range(1, 91))


# Hardening: the registry and its lock live in a root-owned subdirectory the sanlock group cannot write ---------
def _own_dir(tmp_path):
    return os.path.join(str(tmp_path), REGISTRY_DIR)


def test_registry_and_lock_live_in_a_root_owned_0755_subdirectory(tmp_path):
    os.chmod(str(tmp_path), 0o775)  # the lease directory: group-writable for the sanlock group
    old_umask = os.umask(0o077)
    try:
        record(tmp_path, "a")
    finally:
        os.umask(old_umask)
    own = _own_dir(tmp_path)
    assert os.listdir(str(tmp_path)) == [REGISTRY_DIR]
    info = os.lstat(own)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o755 and info.st_uid == os.geteuid()
    assert sorted(os.listdir(own)) == [".autolease-host-ids.lock", "autolease-host-ids.json"]
    assert registry_path(str(tmp_path)) == os.path.join(own, "autolease-host-ids.json")


def _lock_path(tmp_path):
    return os.path.join(_own_dir(tmp_path), ".autolease-host-ids.lock")


def test_planted_symlink_at_the_lock_path_is_refused_and_its_target_untouched(tmp_path):
    record(tmp_path, "a")
    target = tmp_path.parent / ("%s-target" % tmp_path.name)
    target.write_text("precious\n")
    os.unlink(_lock_path(tmp_path))
    os.symlink(str(target), _lock_path(tmp_path))
    with pytest.raises(HostIdError, match=r"%s is a symbolic link.*remove it" % re.escape(_lock_path(tmp_path))):
        record(tmp_path, "b")
    assert target.read_text() == "precious\n" and stat.S_IMODE(target.stat().st_mode) != 0o000
    assert read_registry(str(tmp_path)) == {"a": 1}


def test_planted_symlink_at_the_registry_path_is_refused_and_its_target_untouched(tmp_path):
    record(tmp_path, "a")
    target = tmp_path.parent / ("%s-target" % tmp_path.name)
    target.write_text(render_registry({"evil": 1}))
    os.unlink(registry_path(str(tmp_path)))
    os.symlink(str(target), registry_path(str(tmp_path)))
    with pytest.raises(HostIdError, match=r"%s is a symbolic link" % re.escape(registry_path(str(tmp_path)))):
        read_registry(str(tmp_path))
    with pytest.raises(HostIdError, match="is a symbolic link"):
        record(tmp_path, "b")
    assert target.read_text() == render_registry({"evil": 1})


def test_registry_directory_replaced_by_a_symlink_is_refused(tmp_path):
    elsewhere = tmp_path.parent / ("%s-elsewhere" % tmp_path.name)
    elsewhere.mkdir()
    os.symlink(str(elsewhere), _own_dir(tmp_path))
    with pytest.raises(HostIdError, match=r"%s is a symbolic link" % re.escape(_own_dir(tmp_path))):
        record(tmp_path, "a")
    assert os.listdir(str(elsewhere)) == []


@pytest.mark.parametrize("which", ["lock", "registry", "directory"])
def test_wrong_owner_is_refused_naming_the_path_and_the_fix(tmp_path, which):
    record(tmp_path, "a")
    path = {"lock": _lock_path(tmp_path), "registry": registry_path(str(tmp_path)), "directory": _own_dir(tmp_path)}[which]
    os.chown(path, 4242, -1)
    with pytest.raises(HostIdError, match=r"%s is owned by uid 4242, not %d.*chown" % (re.escape(path), os.geteuid())):
        record(tmp_path, "b")
    os.chown(path, os.geteuid(), -1)
    assert read_registry(str(tmp_path)) == {"a": 1}


@pytest.mark.parametrize("which, mode", [("lock", 0o664), ("registry", 0o646), ("directory", 0o775)])
def test_group_or_world_writable_is_refused_naming_the_path_and_the_fix(tmp_path, which, mode):
    record(tmp_path, "a")
    path = {"lock": _lock_path(tmp_path), "registry": registry_path(str(tmp_path)), "directory": _own_dir(tmp_path)}[which]
    os.chmod(path, mode)
    with pytest.raises(HostIdError, match=r"%s has mode %04o.*chmod" % (re.escape(path), mode)):
        record(tmp_path, "b")


def test_lock_is_opened_close_on_exec(tmp_path):
    with locked(str(tmp_path)):
        flags = None
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink("/proc/self/fd/%s" % fd) == _lock_path(tmp_path):
                    with open("/proc/self/fdinfo/%s" % fd) as handle:
                        flags = int(dict(line.split(":", 1) for line in handle)["flags"].strip(), 8)
            except OSError:
                continue
    assert flags is not None and flags & os.O_CLOEXEC and flags & os.O_NOFOLLOW


def _legacy(tmp_path, text):
    path = os.path.join(str(tmp_path), "autolease-host-ids.json")
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o644)
    return path


def test_registry_at_the_old_location_is_read(tmp_path):
    _legacy(tmp_path, render_registry({"old-a": 1, "old-b": 2}))
    assert read_registry(str(tmp_path)) == {"old-a": 1, "old-b": 2}


def test_registry_at_the_old_location_is_migrated_on_update_nothing_lost(tmp_path):
    legacy = _legacy(tmp_path, render_registry({"old-a": 1, "old-b": 2}))
    recorded = record(tmp_path, "new")
    before, after = recorded.before, recorded.allocation.registry
    assert before == {"old-a": 1, "old-b": 2} and after == {"old-a": 1, "old-b": 2, "new": 3}
    assert not os.path.exists(legacy)
    assert read_registry(str(tmp_path)) == after
    assert json.loads(open(registry_path(str(tmp_path))).read())["host_ids"] == after


def test_unchanged_update_still_migrates_the_old_registry(tmp_path):
    legacy = _legacy(tmp_path, render_registry({"old-a": 1}))
    assert needs_migration(str(tmp_path))
    assert record(tmp_path).changed is True
    assert not os.path.exists(legacy) and read_registry(str(tmp_path)) == {"old-a": 1}
    assert not needs_migration(str(tmp_path))


def test_both_locations_present_the_new_one_wins_and_the_old_one_goes(tmp_path):
    # a migration interrupted between writing the new file and removing the old one
    record(tmp_path, "a", "b")
    legacy = _legacy(tmp_path, render_registry({"a": 1}))
    assert read_registry(str(tmp_path)) == {"a": 1, "b": 2}
    assert record(tmp_path).changed is True
    assert not os.path.exists(legacy) and read_registry(str(tmp_path)) == {"a": 1, "b": 2}


def test_old_registry_replaced_by_another_user_is_refused_not_trusted(tmp_path):
    legacy = _legacy(tmp_path, render_registry({"evil": 1}))
    os.chown(legacy, 4242, -1)
    with pytest.raises(HostIdError, match=r"%s is owned by uid 4242" % re.escape(legacy)):
        read_registry(str(tmp_path))
    with pytest.raises(HostIdError, match="owned by uid 4242"):
        record(tmp_path, "b")
    assert os.path.exists(legacy)


_HOLD_LOCK = """
import sys
from ansible_collections.autolease.sanlock.plugins.module_utils._registry import locked
with locked(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.timeout(90, method="thread")
def test_lock_held_by_another_process_is_a_bounded_wait_naming_the_lock_and_its_holder(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if "collections" in p))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(tmp_path)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        lock = os.path.join(str(tmp_path), REGISTRY_DIR, ".autolease-host-ids.lock")
        started = time.monotonic()
        with pytest.raises(RegistryLockBusy) as err:
            with locked(str(tmp_path), wait=2):
                pytest.fail("took a lock another process holds")
        assert 2 <= time.monotonic() - started < 3.5
        msg = str(err.value)
        assert "the host_id registry lock %s is still held by another run after 2 s" % lock in msg, msg
        assert "pid %d, since " % holder.pid in msg, msg
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        with locked(str(tmp_path), wait=2):  # released: taken at once
            assert "pid %d," % os.getpid() in open(lock).read()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


@pytest.mark.timeout(120, method="thread")
def test_registry_on_hung_storage_fails_at_the_deadline(hung_storage, storage_deadline):
    """hung_storage: a FUSE mount that never answers, the stand-in for a hung hard NFS mount."""
    for action in (lambda: read_registry(hung_storage.path), lambda: record(hung_storage.path)):
        started = time.monotonic()
        with pytest.raises(StorageTimeout, match="the lease storage mounted at %s" % hung_storage.path):
            action()
        assert time.monotonic() - started < storage_deadline + 1.5
