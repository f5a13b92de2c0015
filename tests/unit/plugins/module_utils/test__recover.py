# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_recover: what recover.yml starts where, and when it refuses. The lab: tests/integration/test_recover_lab.py."""

from ansible_collections.autolease.sanlock.plugins.module_utils import _recover

XML = "<domain type='qemu'><name>%s</name><memory unit='MiB'>%d</memory></domain>"


def view(host_id, failed_state, dead_in=30, joined=True):
    return {"joined": joined, "host_id": host_id, "hosts": [
        {"host_id": host_id, "state": "LIVE", "generation": 1, "dead_in": None},
        {"host_id": 3, "owner_name": "kvm03", "state": failed_state, "generation": 4, "dead_in": dead_in}]}


LEASES = [{"name": "aaa", "owners": [{"host_id": 3, "generation": 4}]},
          {"name": "bbb", "owners": [{"host_id": 3, "generation": 4}]},
          {"name": "ccc", "owners": [{"host_id": 1, "generation": 1}]},
          {"name": "old", "owners": [{"host_id": 3, "generation": 2}]},
          {"name": "zzz", "owners": [{"host_id": 3, "generation": 4}]}]
DOMAINS = {"web": {"xml": XML % ("web", 512), "leases": ["aaa"], "disks": ["/d/web"]},
           "db": {"xml": XML % ("db", 2048), "leases": ["bbb"], "disks": ["/d/db"]},
           "stopped": {"xml": XML % ("stopped", 64), "leases": ["ddd"], "disks": ["/d/s"]}}


def test_memory_units():
    assert _recover.memory_kib(XML % ("x", 512)) == 512 * 1024
    assert _recover.memory_kib("<memory>1024</memory>") == 1024
    assert _recover.memory_kib("<domain/>") == 0


def test_a_dead_host_s_vms_go_to_the_survivors_with_most_free_memory():
    plan = _recover.plan("kvm03", {"kvm01": view(1, "DEAD", 0), "kvm02": view(2, "DEAD", 0)}, {"kvm03": 3},
                         LEASES, DOMAINS, {"kvm01": 4 * 1024 * 1024, "kvm02": 3 * 1024 * 1024})
    assert plan["refusals"] == [] and plan["host_id"] == 3 and plan["generation"] == 4
    assert plan["held"] == ["aaa", "bbb", "zzz"]  # "old": an earlier generation's, "ccc": another host's
    assert plan["unknown_leases"] == ["zzz"]  # held, but no stored domain uses it
    assert [(vm["name"], vm["target"]) for vm in plan["vms"]] == [("db", "kvm01"), ("web", "kvm02")]


def test_a_host_not_dead_for_every_survivor_is_refused_with_the_longest_wait():
    plan = _recover.plan("kvm03", {"kvm01": view(1, "DEAD", 0), "kvm02": view(2, "FAIL", 41)}, {"kvm03": 3},
                         LEASES, DOMAINS, {"kvm01": 1, "kvm02": 1})
    assert plan["liveness"] == {"seen": {"kvm01": "DEAD", "kvm02": "FAIL"}, "safe": False, "wait": 41}
    assert len(plan["refusals"]) == 1 and "kvm02 sees it FAIL" in plan["refusals"][0]
    assert "in 41 s" in plan["refusals"][0]


def test_a_survivor_without_a_view_is_not_a_dead_verdict():
    plan = _recover.plan("kvm03", {"kvm01": view(1, "DEAD", 0), "kvm02": view(2, None, joined=False)},
                         {"kvm03": 3}, LEASES, DOMAINS, {"kvm01": 1, "kvm02": 1})
    assert plan["liveness"]["safe"] is False and plan["refusals"]


def test_a_reachable_host_still_running_the_qemu_is_hung_not_dead():
    plan = _recover.plan("kvm03", {"kvm01": view(1, "DEAD", 0)}, {"kvm03": 3}, LEASES, DOMAINS, {"kvm01": 1},
                         running_on_failed=["web", "unrelated"])
    assert len(plan["refusals"]) == 1 and "still runs web" in plan["refusals"][0]


def test_target_and_unknown_host():
    plan = _recover.plan("kvm03", {"kvm01": view(1, "DEAD", 0)}, {"kvm03": 3}, LEASES, DOMAINS, {"kvm01": 1},
                         target="kvm09")
    assert "target kvm09 is not a surviving host" in plan["refusals"][0]
    plan = _recover.plan("kvm07", {"kvm01": view(1, "DEAD", 0)}, {"kvm03": 3}, LEASES, DOMAINS, {"kvm01": 1})
    assert plan["host_id"] is None and "kvm07 has no host_id" in plan["refusals"][0]


def test_nothing_held_means_nothing_to_do_even_when_the_host_is_live():
    plan = _recover.plan("kvm03", {"kvm01": view(1, "LIVE")}, {"kvm03": 3}, LEASES[2:3], DOMAINS, {"kvm01": 1})
    assert plan["vms"] == [] and plan["refusals"] == []
