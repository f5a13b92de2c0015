# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_liveness: sanlock's host states and timing, parsed from its client output (as sanlock 3.8.5 prints it on the lab),
and the audit's view of a cluster. The real daemons: tests/unit/plugins/modules/test_lockspace_info.py."""

from ansible_collections.autolease.sanlock.plugins.module_utils import _liveness

LS = "/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__"
# sanlock prints a blank after the lockspace line
GETS = "s __LIBVIRT__DISKS__:1:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0 \n" + """h 1 gen 1 timestamp 12696 LIVE
h 2 gen 1 timestamp 12700 FAIL
h 3 gen 4 timestamp 12697 DEAD
s other:1:/elsewhere/other:0
h 1 gen 9 timestamp 5 LIVE
"""
HOST_STATUS = """1 timestamp 12696
    last_check=12701
    last_live=12701
    owner_id=1
    owner_generation=1
    io_timeout=2
    owner_name=lab1
2 timestamp 12700
    last_check=12701
    last_live=12680
    owner_id=2
    owner_generation=1
    io_timeout=2
    owner_name=lab2
"""
RENEWALS = """timestamp=100 read_ms=1 write_ms=2 next_timeouts=0 next_errors=0
timestamp=104 read_ms=1 write_ms=1500 next_timeouts=0 next_errors=0
timestamp=130 read_ms=0 write_ms=2 next_timeouts=1 next_errors=0
"""


def test_timing_follows_sanlock_formulas():
    assert _liveness.timing(10) == {"renewal_interval": 20, "local_warning": 60, "vms_killed": 80,
                                    "peers_see_fail": 80, "watchdog_reset": 140, "peers_see_dead": 140}
    assert _liveness.timing(2, 10)["peers_see_dead"] == 26


def test_gets_hosts_of_the_asked_lockspace_only():
    hosts = _liveness.parse_gets_hosts(GETS, LS)
    assert hosts == {1: {"generation": 1, "timestamp": 12696, "state": "LIVE"},
                     2: {"generation": 1, "timestamp": 12700, "state": "FAIL"},
                     3: {"generation": 4, "timestamp": 12697, "state": "DEAD"}}
    assert _liveness.parse_gets_hosts(GETS, "/elsewhere/other") == {1: {"generation": 9, "timestamp": 5,
                                                                        "state": "LIVE"}}


def test_host_status_and_renewals():
    status = _liveness.parse_host_status(HOST_STATUS)
    assert status[2]["last_live"] == 12680 and status[2]["owner_name"] == "lab2" and status[1]["io_timeout"] == 2
    renewals = _liveness.parse_renewals(RENEWALS + "garbage line\n")
    assert [r["timestamp"] for r in renewals] == [100, 104, 130]
    summary = _liveness.renewal_summary(renewals, io_timeout=2, now=131.5)
    assert summary["max_gap"] == 26 and summary["stalls"] == [{"after": 104, "gap": 26}]
    assert summary["max_write_ms"] == 1500 and summary["timeouts"] == 1 and summary["since_last"] == 1
    ongoing = _liveness.renewal_summary(renewals, io_timeout=2, now=150)["stalls"]
    assert ongoing[-1] == {"after": 130, "gap": 20, "ongoing": True}


def test_observe_counts_from_the_last_renewal_seen_on_the_daemon_clock():
    outputs = {"gets": GETS, "host_status": HOST_STATUS, "renewal": RENEWALS}

    def run(argv):
        return outputs[argv[2]]

    def status():
        return {"our_host_name": "lab1", "daemon": {}, "lockspaces": {
            ("__LIBVIRT__DISKS__", 1, LS): {"name": "__LIBVIRT__DISKS__", "host_id": 1, "path": LS,
                                            "state": "joined"}}}
    seen = _liveness.observe(LS, run=run, status=status, now=lambda: 12700.0)
    assert seen["joined"] and seen["host_id"] == 1 and seen["io_timeout"] == 2
    by_id = dict((h["host_id"], h) for h in seen["hosts"])
    # host 2: last seen live at 12680, 20 s ago: FAIL after 16 s, DEAD after 16 + 60 = 76 s: 56 s left
    assert by_id[2]["seconds_since_live"] == 20 and by_id[2]["fail_in"] == 0 and by_id[2]["dead_in"] == 56
    assert by_id[1]["dead_in"] is None  # itself
    assert by_id[3]["state"] == "DEAD"


def _obs(host_id, states, io=2, wd=60, stalls=(), write_ms=1):
    return {"joined": True, "host_id": host_id, "io_timeout": io, "watchdog_fire_timeout": wd,
            "renewal": {"stalls": list(stalls), "max_read_ms": 1, "max_write_ms": write_ms},
            "hosts": [{"host_id": hid, "owner_name": "lab%d" % hid, "state": state, "seconds_since_live": 3,
                       "dead_in": 70} for hid, state in states.items()]}


def test_a_healthy_cluster_has_no_liveness_finding_and_a_full_table():
    views = {"lab%d" % i: _obs(i, {1: "LIVE", 2: "LIVE", 3: "LIVE"}) for i in (1, 2, 3)}
    assert _liveness.findings(views) == []
    rows = _liveness.table(views)
    assert len(rows) == 9 and set(r["state"] for r in rows) == {"LIVE"}
    assert set((r["host_id"], r["host"]) for r in rows) == {(1, "lab1"), (2, "lab2"), (3, "lab3")}
    assert "DEAD after 76 s" in _liveness.timing_facts(views)[0]


def test_disagreeing_views_stalls_slow_io_and_differing_timeouts_are_found():
    views = {"lab1": _obs(1, {1: "LIVE", 2: "LIVE", 3: "LIVE"}, stalls=[{"after": 5, "gap": 30}]),
             "lab2": _obs(2, {1: "LIVE", 2: "LIVE", 3: "FAIL"}, write_ms=1200),
             "lab3": _obs(3, {1: "LIVE", 2: "LIVE", 3: "LIVE"}, io=10)}
    found = _liveness.findings(views)
    text = "\n".join("%s %s %s" % (f["host"], f["subject"], f["detail"]) for f in found)
    assert "views disagree: lab1 sees LIVE, lab2 sees FAIL" in text
    assert "lab2 lab3 (host_id 3) seen FAIL" in text
    assert "lab1 renewals stalled: no renewal for 30 s" in text
    assert "renewal I/O took up to 1200 ms" in text
    assert "io_timeout differs between hosts" in text


def test_a_host_that_has_not_joined_has_no_view():
    found = _liveness.findings({"lab1": {"joined": False}})
    assert found == [{"host": "lab1", "subject": "view", "severity": "error",
                      "detail": "has not joined the lockspace: it sees nobody's liveness"}]
