# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host_info readers (plugins/module_utils/_host_info.py) on real files and on this machine.

Files, mountinfo and /proc/modules copies are written in tmp_path; packages,
users and the missing SELinux tools are those of this Debian test machine.
The lockspace readers use the private sanlock daemons of ``lease_cluster``
(tests/unit/plugins/conftest.py): host-a (host_id 1) and host-b (host_id 2)
have joined the lockspace in ``lease_dir``.
"""

import grp
import hashlib
import os
import pwd
import subprocess
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _host_info
from ansible_collections.autolease.sanlock.plugins.module_utils._host_info import (
    host_info,
    lockspace_slots,
    mounts,
    qemu_pid_files,
    read_path,
    registry,
    running_vms,
    slots_digest,
    unit_states,
    user_groups,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import StorageTimeout
from ansible_collections.autolease.sanlock.plugins.module_utils._names import REGISTRY_FILE

LS = "__LIBVIRT__DISKS__"
ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


# read_path


def test_regular_file(tmp_path):
    path = tmp_path / "sanlock.conf"
    path.write_bytes("our_host_name = kvm1\n# é\n".encode("utf-8"))
    os.chmod(str(path), 0o640)
    info = read_path(str(path))
    assert info == {"exists": True, "type": "file", "owner": ME, "group": MY_GROUP, "mode": "0640",
                    "sha256": hashlib.sha256("our_host_name = kvm1\n# é\n".encode("utf-8")).hexdigest(),
                    "content": "our_host_name = kvm1\n# é\n"}


def test_mode_has_four_digits_with_special_bits(tmp_path):
    path = tmp_path / "dir"
    path.mkdir()
    os.chmod(str(path), 0o2775)
    assert read_path(str(path))["mode"] == "2775"
    os.chmod(str(path), 0o700)
    assert read_path(str(path))["mode"] == "0700"


def test_directory(tmp_path):
    path = tmp_path / "leases"
    path.mkdir()
    os.chmod(str(path), 0o755)
    (path / "inside").write_text("x")
    assert read_path(str(path)) == {"exists": True, "type": "directory", "owner": ME, "group": MY_GROUP,
                                    "mode": "0755"}


def test_symlink_is_not_followed(tmp_path):
    target = tmp_path / "target"
    target.write_text("secret\n")
    link = tmp_path / "link"
    os.symlink(str(target), str(link))
    info = read_path(str(link))
    assert info["exists"] is True and info["type"] == "link"
    assert "content" not in info and "sha256" not in info
    # A dangling link exists too (lstat).
    os.unlink(str(target))
    assert read_path(str(link))["type"] == "link"


def test_other_file_type(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    info = read_path(str(fifo))
    assert info["type"] == "other" and "content" not in info  # not opened: a FIFO would block


def test_missing_path(tmp_path):
    assert read_path(str(tmp_path / "nope")) == {"exists": False}
    assert read_path(str(tmp_path / "nope" / "deeper")) == {"exists": False}


def test_large_file_gets_a_digest_but_no_content(tmp_path, monkeypatch):
    monkeypatch.setattr(_host_info, "MAX_CONTENT", 8)
    path = tmp_path / "big"
    path.write_text("123456789")
    info = read_path(str(path))
    assert info["sha256"] == hashlib.sha256(b"123456789").hexdigest() and "content" not in info
    path.write_text("12345678")  # exactly MAX_CONTENT: still returned
    assert read_path(str(path))["content"] == "12345678"


def test_unknown_owner_is_the_number(tmp_path):
    # The tests run as root (make test; the daemons they start need it): chown to an unused uid works.
    uid = next(i for i in range(54321, 60000) if not _exists(pwd.getpwuid, i) and not _exists(grp.getgrgid, i))
    path = tmp_path / "orphan"
    path.write_text("")
    os.chown(str(path), uid, uid)
    info = read_path(str(path))
    assert info["owner"] == str(uid) and info["group"] == str(uid)


def _exists(lookup, ident):
    try:
        lookup(ident)
        return True
    except KeyError:
        return False


# mounts


MOUNTINFO = "\n".join([
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
    "40 27 0:45 / /var/lib/libvirt/sanlock rw,relatime shared:20 - nfs4 nfs.example.org:/export/sanlock rw,vers=4.2",
    "41 27 0:46 / /srv/lease\\040dir rw,nosuid master:3 - nfs my\\040server:/export rw",
    "42 27 0:47 / /srv/not-asked rw - tmpfs tmpfs rw",
    "43 27 0:48 / /srv/twice rw - tmpfs tmpfs rw",
    "44 43 0:49 / /srv/twice ro - xfs /dev/sdc ro",
    "45 27 254:0 /srv/lab\\040shared /srv/bound rw - ext4 /dev/vda rw",
    "this line is not mountinfo",
    "",
])


def test_mounts_parses_mountinfo(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO + "\n")
    found = mounts(["/var/lib/libvirt/sanlock/", "/srv/lease dir", "/srv/twice", "/srv/bound", "/srv/not-a-mount",
                    "/etc"], mountinfo=str(info), read_underneath=lambda path: "0:0:0")
    assert found == {
        # keyed by the path as asked (a trailing slash kept), so that the caller finds it
        "/var/lib/libvirt/sanlock/": {"source": "nfs.example.org:/export/sanlock", "fstype": "nfs4",
                                      "options": "rw,relatime", "root": "/", "underneath": "0:0:0"},
        "/srv/lease dir": {"source": "my server:/export", "fstype": "nfs", "options": "rw,nosuid", "root": "/",
                           "underneath": "0:0:0"},
        "/srv/twice": {"source": "/dev/sdc", "fstype": "xfs", "options": "ro", "root": "/",
                       "underneath": "0:0:0"},  # the top (last) mount
        # a bind mount: root is the directory of the source filesystem
        "/srv/bound": {"source": "/dev/vda", "fstype": "ext4", "options": "rw", "root": "/srv/lab shared",
                       "underneath": "0:0:0"},
    }


def test_mounts_escaped_non_ascii_mount_point(tmp_path):
    # The kernel escapes only space, tab, newline and backslash (\040 \011 \012 \134); other bytes,
    # UTF-8 included, are written as they are. Unescaping must keep "é" intact.
    info = tmp_path / "mountinfo"
    info.write_bytes("50 27 0:50 / /mnt/dé\\040x rw - tmpfs tmpfs rw\n".encode("utf-8"))
    found = mounts(["/mnt/dé x"], mountinfo=str(info), read_underneath=lambda path: None)
    assert found == {"/mnt/dé x": {"source": "tmpfs", "fstype": "tmpfs", "options": "rw", "root": "/",
                                   "underneath": None}}


def test_mounts_unreadable_mountinfo_is_none(tmp_path):
    assert mounts(["/"], mountinfo=str(tmp_path / "nope")) is None
    assert mounts([], mountinfo=str(tmp_path / "nope")) is None


def test_mounts_on_this_machine():
    found = mounts(["/", "/proc/self"])
    assert list(found) == ["/"]
    assert found["/"]["fstype"] and found["/"]["options"].split(",")[0] in ("rw", "ro")


# units, users, libvirt


def test_unit_states_without_units_is_empty():
    assert unit_states([]) == {}


def test_unit_states_without_systemctl_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemctl to be found
    assert unit_states(["sanlock.service"]) is None


def test_user_groups():
    found = user_groups(["root", "no-such-user-xyz"])
    assert set(found) == {"root", "no-such-user-xyz"}
    assert "root" in found["root"] and found["root"] == sorted(found["root"])
    assert found["no-such-user-xyz"] is None
    assert user_groups([]) == {}


def test_user_groups_include_supplementary_groups():
    # Debian's sanlock package (make deps installs it) adds the sanlock user to the disk group.
    assert "sanlock" in grp.getgrnam("disk").gr_mem  # a supplementary group, not the primary one
    assert {"disk", "sanlock"} <= set(user_groups(["sanlock"])["sanlock"])


def test_running_vms_of_the_libvirt_test_driver():
    # make deps installs libvirt-clients (virsh).
    assert running_vms("test:///default") == ["test"]
    assert running_vms("qemu+unix:///system?socket=/nonexistent/sock") is None


# sanlock lockspace, slots and registry


def test_joined_lockspaces_without_a_daemon(lease_cluster):
    # A child process whose SANLOCK_RUN_DIR has no daemon socket (libsanlock reads it once per process).
    assert lease_cluster.no_daemon.call("_host_info.joined_lockspaces") == {"ok": None}


def test_joined_lockspaces_of_a_real_daemon(lease_cluster, lease_dir):
    lockspace = os.path.join(lease_dir, LS)
    for host, host_id in ((lease_cluster.a, 1), (lease_cluster.b, 2)):
        joins = host.call("_host_info.joined_lockspaces")["ok"]
        assert [dict((k, j[k]) for k in ("name", "host_id", "path", "verified")) for j in joins] == [
            {"name": LS, "host_id": host_id, "path": lockspace, "verified": True}], joins
    assert lease_cluster.c.call("_host_info.joined_lockspaces") == {"ok": []}  # runs, joined nothing


def test_lockspace_slots_of_the_joined_hosts(lease_dir):
    slots = lockspace_slots(lease_dir)
    assert sorted(slots) == ["1", "2"]
    assert slots["1"]["owner_name"] == "host-a" and slots["2"]["owner_name"] == "host-b"
    for slot in slots.values():
        assert sorted(slot) == ["generation", "owner_name"]
        assert isinstance(slot["generation"], int) and slot["generation"] >= 1


def test_lockspace_slots_without_a_lockspace_is_none(tmp_path):
    assert lockspace_slots(str(tmp_path)) is None
    (tmp_path / LS).write_bytes(b"\0" * 4096)  # not a lockspace
    assert lockspace_slots(str(tmp_path)) is None


def test_registry(lease_dir):
    path = os.path.join(lease_dir, REGISTRY_FILE)
    assert registry(lease_dir) == {}
    try:
        with open(path, "w") as handle:
            handle.write('{"host_ids": {"host-a": 1, "host-b": 2}}\n')
        assert registry(lease_dir) == {"host-a": 1, "host-b": 2}
        with open(path, "w") as handle:
            handle.write("{not json")
        assert registry(lease_dir) is None
        with open(path, "w") as handle:
            handle.write('{"host_ids": {"host-a": "one"}}')
        assert registry(lease_dir) is None
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_registry_of_a_missing_directory_is_empty(tmp_path):
    # read_registry only opens the file: a missing directory reads as "no registry yet".
    assert registry(str(tmp_path / "nope")) == {}


def test_qemu_pid_files(tmp_path):
    for name in ("vm1.pid", "vm2.pid", "driver.pid", "vm1.xml", "vm1.monitor", "pid"):
        (tmp_path / name).write_text("")
    assert qemu_pid_files(str(tmp_path)) == 2
    assert qemu_pid_files(str(tmp_path / "nope")) == 0


# host_info


KEYS = ["files", "lease_dir", "lockspaces", "mounts", "qemu_pid_files", "registry", "running_vms", "sanlock_pending",
        "slots", "slots_digest", "units", "unprotected_vms", "users"]


def test_host_info_returns_every_documented_key(lease_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SANLOCK_RUN_DIR", str(tmp_path))  # no daemon: lockspaces unknown
    conf = tmp_path / "a.conf"
    conf.write_text("x = 1\n")
    run_dir = tmp_path / "qemu"
    run_dir.mkdir()
    (run_dir / "vm1.pid").write_text("1")
    state = host_info([str(conf), "/"], users=["root"], lease_dir=lease_dir, libvirt_uri="",
                      qemu_run_dir=str(run_dir))
    assert sorted(state) == KEYS
    assert state["files"][str(conf)]["content"] == "x = 1\n" and state["files"]["/"]["type"] == "directory"
    assert list(state["mounts"]) == ["/"]
    assert "root" in state["users"]["root"]
    assert state["units"] == {} and state["lockspaces"] in (None, [])
    assert state["lease_dir"] == lease_dir and sorted(state["slots"]) == ["1", "2"] and state["registry"] == {}
    assert state["running_vms"] is None and state["qemu_pid_files"] == 1
    # no daemon answers: the pending settings are unknown; the pid file "1" is init, a live process
    assert state["sanlock_pending"] is None and state["unprotected_vms"] is None


def test_host_info_without_lease_dir():
    state = host_info([], libvirt_uri="", qemu_run_dir="/nonexistent")
    assert sorted(state) == KEYS
    assert state["files"] == {} and state["mounts"] == {}
    assert state["lease_dir"] is None and state["slots"] is None and state["registry"] is None
    assert state["qemu_pid_files"] == 0


def test_mounts_read_the_directory_under_the_mount_without_touching_it(tmp_path):
    """A real bind mount over a directory: the private namespace shows what is under it, the mount stays."""
    point, source = tmp_path / "point", tmp_path / "source"
    point.mkdir(mode=0o750)
    source.mkdir()
    os.chmod(str(point), 0o750)
    subprocess.run(["mount", "--bind", str(source), str(point)], check=True)
    try:
        found = mounts([str(point)])
        assert found[str(point)]["underneath"] == "0:0:750"
        assert subprocess.run(["mountpoint", "-q", str(point)], check=False).returncode == 0
    finally:
        subprocess.run(["umount", str(point)], check=True)


# hung lease storage (hung_storage: a FUSE mount that never answers, the stand-in for a hung hard NFS mount)


@pytest.mark.timeout(120, method="thread")
def test_readers_of_a_hung_lease_dir_fail_at_the_deadline_instead_of_answering_unknown(hung_storage,
                                                                                       storage_deadline):
    """None means "unknown" to the roles, which then run change tasks on the same storage: a hang must fail."""
    readers = [
        ("reading %s got no reply" % hung_storage.path, lambda: read_path(hung_storage.path)),
        ("reading the lockspace file %s/%s got no reply" % (hung_storage.path, LS),
         lambda: lockspace_slots(hung_storage.path)),
        ("reading the host_id registry", lambda: registry(hung_storage.path)),
        ("checking %s got no reply" % hung_storage.path,
         lambda: host_info([], lease_dir=hung_storage.path, libvirt_uri="")),
    ]
    for expected, reader in readers:
        started = time.monotonic()
        with pytest.raises(StorageTimeout, match=expected):
            reader()
        assert time.monotonic() - started < storage_deadline + 1.5, expected


def test_host_info_with_own_slots_keeps_the_daemons_slot_and_the_digest_of_all(lease_cluster, lease_dir):
    everything = lease_cluster.a.call("_host_info.host_info", [], lease_dir=lease_dir, libvirt_uri="")["ok"]
    own = lease_cluster.a.call("_host_info.host_info", [], lease_dir=lease_dir, libvirt_uri="", all_slots=False)["ok"]
    assert sorted(everything["slots"]) == ["1", "2"] and sorted(own["slots"]) == ["1"]
    assert own["slots"]["1"] == everything["slots"]["1"]
    assert own["slots_digest"] == everything["slots_digest"] == slots_digest(everything["slots"])
    other = lease_cluster.b.call("_host_info.host_info", [], lease_dir=lease_dir, libvirt_uri="", all_slots=False)["ok"]
    assert sorted(other["slots"]) == ["2"] and other["slots_digest"] == own["slots_digest"]
    assert lease_cluster.c.call("_host_info.host_info", [], lease_dir=lease_dir, libvirt_uri="",
                                all_slots=False)["ok"]["slots"] == {}  # joined nothing: no slot of its own
