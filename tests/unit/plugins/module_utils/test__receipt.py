# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_receipt.observe() reuses the mounts and joins host_info already read in the same run, and reads what it
was not given (on this machine's real mount table)."""

from ansible_collections.autolease.sanlock.plugins.module_utils import _receipt

JOIN = {"name": "__LIBVIRT__DISKS__", "host_id": 7, "path": "/leases/__LIBVIRT__DISKS__", "verified": True,
        "proof": "slot 7"}


def test_known_joins_are_used_instead_of_asking_the_daemon_again():
    # No sanlock daemon answers in this process: without the known joins, host_id 7 could not be joined.
    seen = _receipt.observe({"joins": [{"lease_dir": "/leases/", "host_id": 7}]}, known={"joins": [JOIN]})
    assert seen["joins"] == {"7@/leases/": True}, seen
    unverified = dict(JOIN, verified=False)
    seen = _receipt.observe({"joins": [{"lease_dir": "/leases", "host_id": 7}]}, known={"joins": [unverified]})
    assert seen["joins"] == {"7@/leases": False}, seen


def test_known_mounts_are_used_only_for_the_paths_they_were_read_for():
    table = {"/leases": {"source": "nfs:/export", "fstype": "nfs4", "options": "rw", "root": "/",
                         "underneath": "0:0:755"}}
    seen = _receipt.observe({"mounts": ["/leases"]}, known={"mounts": (["/leases", "/etc/x"], table)})
    assert seen["mounts"] == {"/leases": {"source": "nfs:/export", "fstype": "nfs4", "root": "/",
                                          "underneath": "0:0:755"}}, seen
    # /proc was not among the paths read: it is read now, from the real mount table.
    seen = _receipt.observe({"mounts": ["/leases", "/proc"]}, known={"mounts": (["/leases"], table)})
    assert seen["mounts"]["/leases"] is None and seen["mounts"]["/proc"]["fstype"] == "proc", seen
