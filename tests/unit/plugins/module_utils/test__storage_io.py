# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_storage_io: reads of the lease storage with a deadline, on a mount that really hangs.

``hung_storage`` (tests/unit/plugins/conftest.py) is a FUSE mount whose server
never answers, the stand-in for a hard NFS mount whose server is gone.
"""

import os
import socket
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import OptionError, StorageTimeout

SLACK = 1.5  # seconds past the deadline a reader may take to give up


@pytest.mark.timeout(90, method="thread")
def test_read_on_hung_mount_gives_up_at_the_deadline_naming_host_path_and_mount(hung_storage, storage_deadline):
    path = os.path.join(hung_storage.path, "__LIBVIRT__DISKS__")
    started = time.monotonic()
    with pytest.raises(StorageTimeout) as err:
        _storage_io.bounded("reading the lockspace file", path, os.stat, path)
    waited = time.monotonic() - started
    assert storage_deadline <= waited < storage_deadline + SLACK
    msg = str(err.value)
    assert msg.startswith("host %s: the lease storage mounted at %s (fuse.autolease-hung from autolease-hung) does "
                          "not answer: reading the lockspace file %s got no reply within 2 s"
                          % (socket.gethostname(), hung_storage.path, path)), msg
    assert "findmnt --target %s" % path in msg and "8*io_timeout" in msg


@pytest.mark.timeout(90, method="thread")
def test_probe_fails_on_a_hung_lease_dir_and_passes_on_a_good_or_missing_one(hung_storage, storage_deadline, tmp_path):
    started = time.monotonic()
    with pytest.raises(StorageTimeout, match="checking %s got no reply within 2 s" % hung_storage.path):
        _storage_io.probe(hung_storage.path)
    assert time.monotonic() - started < storage_deadline + SLACK
    _storage_io.probe(str(tmp_path))  # no lockspace: lists the directory
    _storage_io.probe(str(tmp_path / "missing"))  # the readers after the probe report a missing directory


def test_bounded_returns_the_result_and_raises_the_error_of_the_read(tmp_path):
    assert _storage_io.bounded("listing", str(tmp_path), os.listdir, str(tmp_path)) == []
    with pytest.raises(FileNotFoundError):
        _storage_io.bounded("reading", str(tmp_path / "nope"), os.stat, str(tmp_path / "nope"))


@pytest.mark.parametrize("value", [0, -1, 3601, True, "30"])
def test_bad_storage_timeout_is_refused_with_the_range(value):
    with pytest.raises(OptionError, match=r"storage_timeout=.* is out of range: expected seconds 1-3600"):
        _storage_io.set_timeout(value)
    assert _storage_io.get_timeout() == _storage_io.DEFAULT_TIMEOUT


def test_mount_of_takes_the_deepest_mount_and_never_touches_the_path(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "40 22 0:50 / /var/lib/libvirt/sanlock rw - nfs4 filer:/export/sanlock rw\n"
        "41 22 0:51 / /var/lib/libvirt/sanlock\\040old rw - nfs4 filer:/old rw\n")
    assert _storage_io.mount_of("/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__", str(mountinfo)) == (
        "/var/lib/libvirt/sanlock", "filer:/export/sanlock", "nfs4")
    assert _storage_io.mount_of("/var/lib/libvirt/sanlock old/x", str(mountinfo)) == (
        "/var/lib/libvirt/sanlock old", "filer:/old", "nfs4")
    assert _storage_io.mount_of("/var/lib/libvirt/sanlockx", str(mountinfo)) == ("/", "/dev/sda1", "ext4")
