# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lockspace_info module through real private sanlock daemons (tests/unit/plugins/conftest.py: host-a and host-b
joined with host_ids 1 and 2, io_timeout 1; host-c joined nothing). FAIL and DEAD on the lab:
tests/integration/test_recover_lab.py."""

import os
import time

LS = "__LIBVIRT__DISKS__"


def _ready(cluster, lease_dir, check):
    """The daemon reports no host states until its first check after the join ("hosts not ready")."""
    deadline = time.monotonic() + 15
    while True:
        result = cluster.a.module("lockspace_info", dict(lease_dir=lease_dir, renewals=3), check=check)
        if all(host["state"] for host in result.get("hosts") or [None]) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_a_joined_host_sees_both_hosts_and_its_renewals(lease_cluster, lease_dir):
    for check in (True, False):
        result = _ready(lease_cluster, lease_dir, check)
        assert result["changed"] is False and "failed" not in result, result
        assert result["joined"] is True and result["host_id"] == 1 and result["our_host_name"] == "host-a"
        assert result["lockspace"] == os.path.join(lease_dir, LS)
        by_id = dict((host["host_id"], host) for host in result["hosts"])
        assert sorted(by_id) == [1, 2] and by_id[1]["state"] == "LIVE" and by_id[2]["owner_name"] == "host-b"
        assert by_id[2]["state"] in ("LIVE", "UNKNOWN")  # UNKNOWN until host-a has seen host-b renew once
        assert by_id[2]["io_timeout"] == 1 and 0 <= by_id[2]["dead_in"] <= 8 + 60
        assert result["timing"]["peers_see_dead"] == 8 * result["io_timeout"] + result["watchdog_fire_timeout"]
        assert 1 <= len(result["renewals"]) <= 3 and result["renewal"]["count"] >= len(result["renewals"])
        assert result["renewal"]["stalls"] == []


def test_a_host_that_has_not_joined_lists_the_slots_without_a_state(lease_cluster, lease_dir):
    result = lease_cluster.c.module("lockspace_info", dict(lease_dir=lease_dir))
    assert result["joined"] is False and result["host_id"] is None and result["timing"] is None, result
    assert sorted((h["host_id"], h["owner_name"], h["state"]) for h in result["hosts"]) == [
        (1, "host-a", None), (2, "host-b", None)]


def test_bad_options_fail_naming_them(lease_cluster, lease_dir):
    result = lease_cluster.a.module("lockspace_info", dict(lease_dir="relative/dir"))
    assert result.get("failed") and "relative/dir" in result["msg"], result
    result = lease_cluster.a.module("lockspace_info", dict(lease_dir=lease_dir, renewals=-1))
    assert result.get("failed") and "-1" in result["msg"], result
