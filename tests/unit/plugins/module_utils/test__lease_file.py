"""_lease_file: leases created through a real daemon, inspected straight from disk."""

import os
import shutil
import stat
import struct
import subprocess

import pytest

from tests.unit.plugins.fake_sanlock import failing_acquire

from ansible_collections.autolease.sanlock.plugins.module_utils import _lease_file, _leader_record, _lockspace
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

NAME = lease_name("/var/lib/libvirt/images/demo.img")


def _create(cluster, lease_dir, name=NAME, **kwargs):
    result = cluster.a.call("_lease_file.create", lease_dir, name, **kwargs)
    assert "ok" in result, result
    return result["ok"]


def test_create_writes_an_initialised_lease_sanlock_can_read(lease_cluster, lease_dir):
    assert _create(lease_cluster, lease_dir) is True
    path = os.path.join(lease_dir, NAME)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 1048576
    assert sorted(os.listdir(lease_dir)) == sorted(["__LIBVIRT__DISKS__", NAME])  # no temp file left
    info = _lease_file.inspect(path)
    assert (info.kind, info.resource, info.lockspace, info.owners) == ("lease", NAME, "__LIBVIRT__DISKS__", [])
    dump = subprocess.run(["sanlock", "direct", "dump", path], check=True, capture_output=True, text=True).stdout
    assert "__LIBVIRT__DISKS__" in dump and NAME in dump


def test_create_never_replaces_an_existing_file(lease_cluster, lease_dir):
    path = os.path.join(lease_dir, NAME)
    with open(path, "wb") as handle:
        handle.write(b"\0" * 1048576)
    assert _create(lease_cluster, lease_dir) is False
    assert _lease_file.inspect(path).reason == "uninitialised (zero-filled)"
    assert _create(lease_cluster, lease_dir, repair=True) is True
    assert _lease_file.inspect(path).kind == "lease"


def test_owners_of_an_exclusive_lease_held_by_the_other_host(lease_cluster, lease_dir):
    _create(lease_cluster, lease_dir)
    path = os.path.join(lease_dir, NAME)
    with lease_cluster.b.hold(lease_dir, [NAME]):
        owners = _lease_file.inspect(path).owners
        assert [(o.host_id, o.shared) for o in owners] == [(2, False)]
        assert owners[0].generation == [s.generation for s in _lockspace.read_slots(lease_cluster.lockspace)
                                        if s.host_id == 2][0]
    assert _lease_file.inspect(path).owners == []


def test_owners_of_a_shared_lease_held_by_both_hosts(lease_cluster, lease_dir):
    _create(lease_cluster, lease_dir)
    path = os.path.join(lease_dir, NAME)
    with lease_cluster.a.hold(lease_dir, [NAME], shared=True):
        with lease_cluster.b.hold(lease_dir, [NAME], shared=True):
            owners = _lease_file.inspect(path).owners
            assert sorted((o.host_id, o.shared) for o in owners) == [(1, True), (2, True)]
            # each owner's generation is that host's generation in the lockspace
            generations = {slot.host_id: slot.generation for slot in _lockspace.read_slots(lease_cluster.lockspace)}
            assert {o.host_id: o.generation for o in owners} == generations
    assert _lease_file.inspect(path).owners == []


def _rewrite_leader(path, **fields):
    with open(path, "r+b") as handle:
        sector = bytearray(handle.read(512))
        if "space" in fields:
            sector[56:104] = fields["space"].encode().ljust(48, b"\0")
        struct.pack_into("<I", sector, 168, _leader_record.crc32c(bytes(sector[:168])))
        handle.seek(0)
        handle.write(sector)


@pytest.mark.parametrize("kind, reason", [
    ("symlink", "symlink"),
    ("directory", "directory"),
    ("fifo", "not a regular file"),
    ("zeros", "uninitialised (zero-filled)"),
    ("garbage", "not a sanlock lease"),
    ("torn", "torn (leader checksum mismatch)"),
    ("truncated", "truncated"),
    ("other_lockspace", "lease of another lockspace (OTHER)"),
    ("renamed", "does not match the file name"),
])
def test_inspect_names_what_is_wrong(lease_cluster, lease_dir, kind, reason):
    path = os.path.join(lease_dir, NAME)
    if kind in ("torn", "truncated", "other_lockspace", "renamed"):
        _create(lease_cluster, lease_dir, name=lease_name("/template"))
        shutil.copyfile(os.path.join(lease_dir, lease_name("/template")), path)
        if kind == "renamed":
            pass
        elif kind == "other_lockspace":
            _rewrite_leader(path, space="OTHER")
            _rewrite_leader(path)
        else:
            with open(path, "r+b") as handle:
                if kind == "torn":
                    handle.seek(130)
                    handle.write(b"x")
                else:
                    handle.truncate(4096)
        if kind != "renamed":
            # the copy names the template's resource: give it this file's name, keep the checksum right
            with open(path, "r+b") as handle:
                sector = bytearray(handle.read(512))
                sector[104:152] = NAME.encode().ljust(48, b"\0")
                if kind != "torn":
                    struct.pack_into("<I", sector, 168, _leader_record.crc32c(bytes(sector[:168])))
                handle.seek(0)
                handle.write(sector)
    elif kind == "symlink":
        os.symlink("/etc/passwd", path)
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "zeros":
        with open(path, "wb") as handle:
            handle.write(b"\0" * 1048576)
    elif kind == "garbage":
        with open(path, "wb") as handle:
            handle.write(b"not a lease\n" * 1000)
    info = _lease_file.inspect(path)
    assert info.kind == "invalid"
    assert reason in info.reason


def test_inspect_lockspace_file(lease_cluster):
    assert _lease_file.inspect(lease_cluster.lockspace).kind == "lockspace"


def test_shared_owners_are_looked_up_only_up_to_the_highest_used_host_id(lease_cluster, lease_dir):
    _create(lease_cluster, lease_dir)
    path = os.path.join(lease_dir, NAME)
    with lease_cluster.b.hold(lease_dir, [NAME], shared=True):
        assert [o.host_id for o in _lease_file.inspect(path, max_host_id=2).owners] == [2]
        assert _lease_file.inspect(path, max_host_id=1).owners == []  # host 2's sector is not read


# FAKE sanlock binding for one race that cannot be produced on demand: between our listing and our acquire,
# another host's cleanup removes the lease and a VM start creates it again, so the daemon answers ENOENT for a
# path that exists when we look. Only acquire is faked; everything else here is real.
FakeSanlock = failing_acquire(2, "No such file or directory")


@pytest.mark.parametrize("daemon_answers", [True, False])
def test_enoent_on_acquire_of_an_existing_lease_is_a_race_when_the_daemon_answers(tmp_path, monkeypatch,
                                                                                  daemon_answers):
    run = tmp_path / "run"
    run.mkdir()
    if daemon_answers:
        (run / "sanlock.sock").write_text("")
    monkeypatch.setenv("SANLOCK_RUN_DIR", str(run))
    monkeypatch.setattr(_lease_file, "get_sanlock", FakeSanlock)
    path = tmp_path / lease_name("/img/raced.img")
    path.write_bytes(b"\0" * 512)
    lease = _lease_file.LeaseFile(name=path.name, path=str(path), kind="lease", reason=None, size=512, mtime=0,
                                  resource=path.name, lockspace="__LIBVIRT__DISKS__", owners=(), uninitialised=False)
    remover = _lease_file.Remover(str(tmp_path / "__LIBVIRT__DISKS__"))
    try:
        if daemon_answers:
            assert remover.remove(lease) == ("skipped", "removed and created again during removal")
        else:
            with pytest.raises(Exception, match="the local sanlock daemon is not running"):
                remover.remove(lease)
    finally:
        remover.close()
    assert path.exists()  # never deleted without holding it
