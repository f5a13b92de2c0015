# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sanlock's view of the hosts of a lockspace, and the timing that follows from it.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

The local daemon checks the delta lease of every other host at each renewal
and keeps, on its own monotonic clock, when it last saw that host's timestamp
change (last_live). Its verdict (lockspace.c, get_host_flag), with io the
owner's io_timeout and wd the watchdog_fire_timeout (equal on all hosts):

    FREE     the slot's timestamp is 0 (released)
    UNKNOWN  seen only once so far, for up to 8*io
    LIVE     its timestamp changed within the last 8*io
    FAIL     no change for more than 8*io (its VMs are being killed)
    DEAD     no change for more than 8*io + wd: its leases may be taken

FREE and DEAD cannot hold leases; LIVE, UNKNOWN and FAIL may. A host is
therefore safe to replace only when every surviving observer sees it DEAD
(or FREE), and the earliest moment is its last renewal seen + 8*io + wd.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from typing import Callable, Dict, List, Optional

from ansible_collections.autolease.sanlock.plugins.module_utils import _join_proof
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LeaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._host_info import run_command
from ansible_collections.autolease.sanlock.plugins.module_utils._lockspace import read_slots
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME

# sanlock 3.8 has no setting for it; newer daemons print it in `sanlock client status -D`.
DEFAULT_WATCHDOG_FIRE_TIMEOUT = 60
HOLDING_STATES = ("LIVE", "UNKNOWN", "FAIL")  # may hold leases
SAFE_STATES = ("DEAD", "FREE")
_GETS_HOST = re.compile(r"^h (\d+) gen (\d+) timestamp (\d+) (\w+)")
_RENEWAL_FIELDS = ("timestamp", "read_ms", "write_ms", "next_timeouts", "next_errors")


def timing(io_timeout: int, watchdog_fire_timeout: int = DEFAULT_WATCHDOG_FIRE_TIMEOUT) -> Dict[str, int]:
    """Seconds after a host's last successful renewal (sanlock's timeouts.c)."""
    return {
        "renewal_interval": 2 * io_timeout,
        "local_warning": 6 * io_timeout,
        "vms_killed": 8 * io_timeout,
        "peers_see_fail": 8 * io_timeout,
        "watchdog_reset": 8 * io_timeout + watchdog_fire_timeout,
        "peers_see_dead": 8 * io_timeout + watchdog_fire_timeout,
    }


def parse_gets_hosts(text: str, lockspace_path: str) -> Dict[int, Dict]:
    """host_id -> {generation, timestamp, state} under the lockspace at lockspace_path in `sanlock client gets -h 1`."""
    hosts, inside = {}, False
    for line in text.splitlines():
        if line.startswith("s "):
            fields = _join_proof._split_escaped(line[2:].strip().split()[0])
            inside = ":".join(fields[2:-1]) == lockspace_path
        elif inside:
            match = _GETS_HOST.match(line.strip())
            if match:
                hosts[int(match.group(1))] = {"generation": int(match.group(2)), "timestamp": int(match.group(3)),
                                              "state": match.group(4)}
    return hosts


def parse_host_status(text: str) -> Dict[int, Dict]:
    """host_id -> the fields of `sanlock client host_status -s LS -D` (numbers as ints)."""
    hosts, current = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            words = line.split()
            current = hosts.setdefault(int(words[0]), {}) if words and words[0].isdigit() else None
            continue
        if current is not None:
            key, sep, value = line.strip().partition("=")
            if sep:
                current[key] = int(value) if value.isdigit() else value
    return hosts


def parse_renewals(text: str) -> List[Dict[str, int]]:
    """The renewal history of `sanlock client renewal -s LS`, oldest first."""
    found = []
    for line in text.splitlines():
        fields = dict(word.partition("=")[::2] for word in line.split() if "=" in word)
        if all(key in fields and fields[key].lstrip("-").isdigit() for key in _RENEWAL_FIELDS):
            found.append(dict((key, int(fields[key])) for key in _RENEWAL_FIELDS))
    return found


def renewal_summary(renewals: List[Dict[str, int]], io_timeout: int, now: float) -> Dict:
    """Gaps, stalls (gaps over 8*io, and the time since the last renewal) and the worst latency."""
    stamps = [item["timestamp"] for item in renewals]
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:])]
    limit = 8 * io_timeout
    stalls = [{"after": earlier, "gap": later - earlier} for earlier, later in zip(stamps, stamps[1:])
              if later - earlier > limit]
    since = int(now - stamps[-1]) if stamps else None
    if since is not None and since > limit:
        stalls.append({"after": stamps[-1], "gap": since, "ongoing": True})
    return {"count": len(renewals), "since_last": since, "max_gap": max(gaps) if gaps else None,
            "max_read_ms": max((item["read_ms"] for item in renewals), default=None),
            "max_write_ms": max((item["write_ms"] for item in renewals), default=None),
            "timeouts": sum(1 for item in renewals if item["next_timeouts"] > 0),
            "stalls": stalls}


def _our_join(status: Optional[Dict], lockspace_path: str) -> Optional[Dict]:
    if not status:
        return None
    for (name, _host_id, path), info in status["lockspaces"].items():
        if name == LOCKSPACE_NAME and path == lockspace_path and info.get("state") == "joined":
            return info
    return None


def _slots_without_state(lockspace_path: str) -> List[Dict]:
    try:
        slots = read_slots(lockspace_path)
    except LeaseError:
        slots = []
    return [{"host_id": slot.host_id, "owner_name": slot.owner_name, "generation": slot.generation, "state": None,
             "io_timeout": slot.io_timeout, "seconds_since_live": None, "fail_in": None, "dead_in": None}
            for slot in slots]


def observe(lockspace_path: str, renewals: int = 20, run: Callable = run_command,
            status: Callable = _join_proof.daemon_status, now: Callable = time.monotonic) -> Dict:
    """The local daemon's view of every host of the lockspace at lockspace_path (see lockspace_info's RETURN)."""
    daemon = status()
    join = _our_join(daemon, lockspace_path)
    settings = (daemon or {}).get("daemon", {})
    wd = int(settings.get("watchdog_fire_timeout", DEFAULT_WATCHDOG_FIRE_TIMEOUT))
    result = {"lockspace": lockspace_path, "daemon": daemon is not None, "joined": join is not None,
              "host_id": join["host_id"] if join else None,
              "our_host_name": (daemon or {}).get("our_host_name"), "watchdog_fire_timeout": wd,
              "io_timeout": None, "timing": None, "hosts": [], "renewals": [], "renewal": None}
    if join is None:
        # Not joined here: the lockspace file still names its hosts, but this host has no view of their liveness.
        result["hosts"] = _slots_without_state(lockspace_path)
        return result
    name = join["name"]
    flags = parse_gets_hosts(run(["sanlock", "client", "gets", "-h", "1"]) or "", lockspace_path)
    details = parse_host_status(run(["sanlock", "client", "host_status", "-s", name, "-D"]) or "")
    history = parse_renewals(run(["sanlock", "client", "renewal", "-s", name]) or "")
    moment = now()
    own_io = int(details.get(join["host_id"], {}).get("io_timeout") or join.get("io_timeout") or 10)
    result.update(io_timeout=own_io, timing=timing(own_io, wd), renewals=history[-renewals:] if renewals else [],
                  renewal=renewal_summary(history, own_io, moment))
    for host_id in sorted(set(flags) | set(details)):
        seen, flag = details.get(host_id, {}), flags.get(host_id, {})
        io = int(seen.get("io_timeout") or own_io)
        # sanlock counts from last_live, or from its first check when it never saw a change (not printed:
        # last_check is later, so the times below are never earlier than sanlock's own).
        last = seen.get("last_live") or seen.get("last_check")
        since = int(moment - last) if last else None
        entry = {"host_id": host_id, "owner_name": seen.get("owner_name"),
                 "generation": seen.get("owner_generation", flag.get("generation")),
                 "state": flag.get("state"), "timestamp": seen.get("timestamp", flag.get("timestamp")),
                 "io_timeout": io, "last_live": seen.get("last_live"), "seconds_since_live": since,
                 "fail_in": None, "dead_in": None}
        if host_id != join["host_id"] and since is not None and flag.get("state") not in ("FREE",):
            entry["fail_in"] = max(0, 8 * io - since)
            entry["dead_in"] = max(0, 8 * io + wd - since)
        result["hosts"].append(entry)
    if not result["hosts"]:
        # Joined a moment ago: the daemon has not checked the other hosts yet ("hosts not ready").
        result["hosts"] = _slots_without_state(lockspace_path)
    return result


def _name_of(observations: Dict[str, Dict]) -> Dict[int, str]:
    """host_id -> inventory name, from each observer's own join."""
    return dict((obs["host_id"], name) for name, obs in observations.items() if obs and obs.get("joined"))


def table(observations: Dict[str, Dict]) -> List[Dict]:
    """One row per observer and host: every host's view of every other host."""
    names = _name_of(observations)
    rows = []
    for observer in sorted(observations):
        obs = observations[observer] or {}
        for host in obs.get("hosts") or []:
            # a host that did not answer has no view of its own: its owner name (by default its inventory name)
            rows.append({"observer": observer, "host_id": host["host_id"],
                         "host": names.get(host["host_id"], host.get("owner_name") or "?"),
                         "owner_name": host.get("owner_name"),
                         "state": host.get("state") or ("not joined here" if not obs.get("joined") else "?"),
                         "seconds_since_live": host.get("seconds_since_live"), "dead_in": host.get("dead_in")})
    return rows


def findings(observations: Dict[str, Dict]) -> List[Dict]:
    """What the cluster's views of each other say is wrong: [{host, subject, detail, severity}]."""
    names = _name_of(observations)
    found = []

    def add(host, subject, detail, severity="error"):
        found.append({"host": host, "subject": subject, "detail": detail, "severity": severity})

    states = {}
    for observer, obs in sorted(observations.items()):
        obs = obs or {}
        if not obs.get("joined"):
            add(observer, "view", "has not joined the lockspace: it sees nobody's liveness")
            continue
        for host in obs.get("hosts") or []:
            if host["host_id"] == obs["host_id"] or not host.get("state"):
                continue
            label = "%s (host_id %d)" % (names.get(host["host_id"], host.get("owner_name") or "?"), host["host_id"])
            states.setdefault(label, {})[observer] = host["state"]
            if host["state"] in ("FAIL", "DEAD", "UNKNOWN"):
                add(observer, label, "seen %s, last renewal seen %s s ago%s" % (
                    host["state"], host.get("seconds_since_live"),
                    "; DEAD (its leases free) in %s s" % host["dead_in"] if host["state"] != "DEAD" else
                    "; its leases may be taken (playbooks/recover.yml)"),
                    "warning" if host["state"] == "UNKNOWN" else "error")
        summary = obs.get("renewal") or {}
        io = obs.get("io_timeout") or 10
        for stall in summary.get("stalls") or []:
            add(observer, "renewals", "%s: no renewal for %d s (more than 8 * io_timeout = %d s)%s" % (
                "stalled now" if stall.get("ongoing") else "stalled", stall["gap"], 8 * io,
                "" if stall.get("ongoing") else " after monotonic %d" % stall["after"]))
        worst = max(summary.get("max_read_ms") or 0, summary.get("max_write_ms") or 0)
        if worst * 2 >= io * 1000:
            add(observer, "renewals", "renewal I/O took up to %d ms, over half of io_timeout (%d s): the storage is "
                "close to making renewals fail" % (worst, io), "warning")
    for label, seen in sorted(states.items()):
        if len(set(seen.values())) > 1 and "LIVE" in seen.values() and set(seen.values()) & {"FAIL", "DEAD"}:
            add("cluster", label, "views disagree: %s" % ", ".join("%s sees %s" % item for item in sorted(seen.items())))
    for key, what in (("io_timeout", "io_timeout"), ("watchdog_fire_timeout", "watchdog_fire_timeout")):
        values = dict((name, obs.get(key)) for name, obs in observations.items() if obs and obs.get("joined"))
        if len(set(values.values())) > 1:
            add("cluster", what, "differs between hosts (%s); %s" % (
                ", ".join("%s %s" % item for item in sorted(values.items())),
                "all hosts must use the same watchdog_fire_timeout" if key != "io_timeout" else
                "peers judge each host by its own io_timeout: set one value everywhere (libvirt_io_timeout)"))
    return found


def timing_facts(observations: Dict[str, Dict]) -> List[str]:
    """The timing an admin needs, from the cluster's real settings, once per distinct (io_timeout, watchdog)."""
    seen = sorted(set((obs["io_timeout"], obs["watchdog_fire_timeout"]) for obs in observations.values()
                      if obs and obs.get("joined") and obs.get("io_timeout")))
    lines = []
    for io, wd in seen:
        t = timing(io, wd)
        lines.append("io_timeout %d s, watchdog_fire_timeout %d s: a host renews every %d s; one that stops renewing "
                     "kills its VMs %d s after its last renewal (its watchdog resets it by %d s if that fails); its "
                     "peers see it FAIL after %d s and DEAD after %d s, when its leases may be taken and its VMs "
                     "started elsewhere." % (io, wd, t["renewal_interval"], t["vms_killed"], t["watchdog_reset"],
                                             t["peers_see_fail"], t["peers_see_dead"]))
    return lines
