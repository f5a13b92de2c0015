# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage_timeout option of every module that reads the lease storage, on storage that hangs.

Each module runs as Ansible runs it (args file, a child process) through
host-a's private sanlock daemon (``lease_cluster``). ``hung_storage``
(tests/unit/plugins/conftest.py) is a FUSE mount whose server never answers,
the stand-in for a hard NFS mount whose server is gone: without a deadline
every one of these modules blocks on it for good.
"""

import time

import pytest

HUNG_ARGS = {
    "host_info": dict(libvirt_uri=""),
    "lease_info": dict(libvirt_uri=""),
    "lease_cleanup": dict(),
    "lease": dict(disks=["/var/lib/libvirt/images/demo.img"]),
    "host_id": dict(hosts={"host-a": {}}),
}
MODULE_START = 8  # seconds a module run may take besides the deadline (interpreter and Ansible start, slow CI)


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("module", sorted(HUNG_ARGS))
def test_module_on_hung_lease_dir_fails_within_the_deadline_naming_host_and_mount(lease_cluster, hung_storage, module):
    args = dict(HUNG_ARGS[module], lease_dir=hung_storage.path, storage_timeout=2)
    started = time.monotonic()
    result = lease_cluster.a.module(module, args)
    waited = time.monotonic() - started
    assert result.get("failed") is True, result
    assert waited < 2 + MODULE_START, waited
    msg = result["msg"]
    assert msg.startswith("host "), msg
    assert ("the lease storage mounted at %s (fuse.autolease-hung from autolease-hung) does not answer"
            % hung_storage.path) in msg, msg
    assert "got no reply within 2 s (storage_timeout)" in msg and "Check the storage server and the mount" in msg


@pytest.mark.parametrize("module", sorted(HUNG_ARGS))
def test_bad_storage_timeout_fails_with_the_range(lease_cluster, lease_dir, module):
    result = lease_cluster.a.module(module, dict(HUNG_ARGS[module], lease_dir=lease_dir, storage_timeout=0),
                                    check=True)
    assert result.get("failed") is True, result
    assert result["msg"].startswith("storage_timeout=0 is out of range: expected seconds 1-3600"), result["msg"]


def test_host_id_refuses_a_bad_lock_timeout(lease_cluster, lease_dir):
    result = lease_cluster.a.module("host_id", dict(lease_dir=lease_dir, hosts={"host-a": {}}, lock_timeout=0))
    assert result.get("failed") is True, result
    assert result["msg"].startswith("lock_timeout=0 is out of range: expected seconds 1-3600"), result["msg"]
