# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cluster audit: findings from what every host reported.

PRIVATE to the autolease.sanlock collection: no compatibility promise.
Pure functions over plain data (what the caller collects on every host),
so every kind of finding is testable without a cluster.

Per host the input holds:
  host_id        int or None  (qemu-sanlock.conf)
  sanlock_name   str          (the daemon's our_host_name)
  local_mode     bool         (protection on this host only, chosen explicitly)
  mount_source   str          ('' when the lease directory is not a mount point)
  joined         bool         (the local daemon has joined __LIBVIRT__DISKS__ at the lease directory,
                               verified by content: the file there holds the daemon's latest renewal)
  join_proof     str          (optional: why a join of __LIBVIRT__DISKS__ is not verified)
  membership     str          (optional: lockspace_membership()'s state - joined, adding, removing or
                               absent; adding and removing win over joined)
  running        [str]        (active domains, paused ones included, as `virsh list --name` lists them)
  paused         [str]        (optional: paused domains; libvirt releases their leases until they resume)
  unprotected    [str]        (optional: running domains whose QEMU process is not registered with the local
                               sanlock daemon - started before the lock manager was on: they hold no lease)
  sanlock_pending [dict]      (optional: settings of sanlock.conf the running daemon does not use yet,
                               each {setting, file, daemon}; a restart of the daemon is pending)
  info           dict         (the lease_info module result)
  devices        {path: str}  (identity of block devices used by domains: WWN or serial)
  migration      dict         (optional: the migration_info module result, its paths holding the disk paths
                               of every host's active domains: _migration.group_findings)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import Counter

from ansible_collections.autolease.sanlock.plugins.module_utils import _liveness, _migration
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME

# One lockspace line of `sanlock client gets`: "s NAME:HOST_ID:PATH:OFFSET" and, while the daemon is still
# adding or removing it, the flag word ADD or REM (sanlock's client prints them after the offset).
GETS_LOCKSPACE = re.compile(r"^s (?P<name>[^:\s]+):(?P<host_id>\d+):(?P<path>.*):(?P<offset>\d+)(?P<flags>(?:[ \t]+\S+)*)[ \t]*$")

UNSTABLE_PATH = re.compile(r"^/dev/(sd[a-z]+|vd[a-z]+|hd[a-z]+|xvd[a-z]+|nvme\d+n\d+|dm-\d+|loop\d+)(p?\d+)?$")

KINDS = (
    ("storage", "Lease storage"),
    ("host_id", "host_ids"),
    ("joined", "Lockspace membership"),
    ("running_vm_lease", "Leases of running VMs"),
    ("unprotected_vm", "Running VMs unknown to sanlock (no leases)"),
    ("orphan", "Orphaned lease files"),
    ("invalid", "Invalid entries in the lease directory"),
    ("unstable_path", "Unstable disk paths"),
    ("migration", "Live migration: settings that refuse it, disks other hosts cannot reach, too many disks"),
    ("liveness", "Liveness: how the hosts see each other (sanlock)"),
    ("restart_pending", "sanlock settings waiting for a daemon restart (warning)"),
    ("paused", "Paused VMs, leases released (information)"),
)
# Findings of these kinds are information or warnings: they never make a strict audit fail.
INFO_KINDS = frozenset(("paused",))
WARNING_KINDS = frozenset(("restart_pending",))

RESTART_FIX = ("drain the host (migrate or stop its VMs), then systemctl restart sanlock and the libvirt daemon "
               "(a daemon option on its command line, such as -w 0, wins over the file: change it there)")


def lockspace_membership(gets_output, lockspace=LOCKSPACE_NAME):
    """The local daemon's membership in lockspace from `sanlock client gets` output.

    Returns {"state": "joined" | "adding" | "removing" | "absent", "host_id", "path"}. A lockspace still being
    added (flag ADD) holds no slot yet and protects nothing: it is not joined.
    """
    for line in (gets_output or "").splitlines():
        match = GETS_LOCKSPACE.match(line)
        if not match or match.group("name") != lockspace:
            continue
        flags = match.group("flags").split()
        membership = "adding" if "ADD" in flags else "removing" if "REM" in flags else "joined"
        return {"state": membership, "host_id": int(match.group("host_id")), "path": match.group("path")}
    return {"state": "absent", "host_id": None, "path": None}


def failures(findings):
    """The findings that are failures (not information or warnings)."""
    return [f for f in findings if f.get("severity") not in ("info", "warning")]


def _finding(kind, host, subject, detail, severity=None):
    # "check" is the key the audit filters document for the kind of a finding.
    return {"check": kind, "host": host, "subject": subject, "detail": detail,
            "severity": severity or ("info" if kind in INFO_KINDS else "warning" if kind in WARNING_KINDS else "error")}


def _slots(data):
    lockspace = (data.get("info") or {}).get("lockspace") or {}
    return {slot["host_id"]: slot for slot in lockspace.get("slots") or []}


def _storage_findings(hosts):
    found = []
    for name, data in sorted(hosts.items()):
        if not data.get("local_mode") and not data.get("mount_source"):
            found.append(_finding("storage", name, "lease directory",
                                  "not a mount point: this host only gets local protection; "
                                  "mount the shared lease storage on the lease directory"))
    shared = {n: d for n, d in hosts.items() if not d.get("local_mode")}
    views = {n: tuple(sorted((s["host_id"], s.get("owner_name")) for s in _slots(d).values()))
             for n, d in shared.items()}
    if len(set(views.values())) > 1:
        common, _count = Counter(views.values()).most_common(1)[0]
        for name, view in sorted(views.items()):
            if view != common:
                found.append(_finding("storage", name, "lockspace",
                                      "sees other lockspace records than the other hosts (%s vs %s): "
                                      "it does not share their lease storage" % (list(view), list(common))))
    return found


def _host_id_findings(hosts):
    found = []
    by_id = {}
    for name, data in sorted(hosts.items()):
        host_id = data.get("host_id")
        if not host_id:
            found.append(_finding("host_id", name, "host_id", "no host_id in qemu-sanlock.conf: give the host "
                                  "its own host_id there (the host_id module allocates one), then restart the libvirt "
                                  "daemon with no VM running so that it joins the lockspace"))
            continue
        by_id.setdefault(host_id, []).append(name)
        slot = _slots(data).get(host_id)
        expected = data.get("sanlock_name") or name
        if slot is None:
            found.append(_finding("host_id", name, "host_id %s" % host_id, "no lockspace record for this host_id"))
        elif slot.get("owner_name") != expected:
            found.append(_finding("host_id", name, "host_id %s" % host_id,
                                  "the lockspace records %r as its owner, not this host (%r)"
                                  % (slot.get("owner_name"), expected)))
    for host_id, names in sorted(by_id.items()):
        if len(names) > 1:
            for name in names:
                found.append(_finding("host_id", name, "host_id %s" % host_id,
                                      "also used by %s: two hosts with one host_id break the protection"
                                      % ", ".join(n for n in names if n != name)))
    return found


_NOT_JOINED = {
    "adding": "the lockspace is still being added by the local sanlock daemon (sanlock client gets shows ADD): it holds no "
              "slot yet and VMs started now get no lease; audit again in a minute, and if it stays ADD check the "
              "lease storage (sanlock client renewal -s __LIBVIRT__DISKS__)",
    "removing": "the lockspace is being removed by the local sanlock daemon (sanlock client gets shows REM): restart "
                "the libvirt daemon once it has left: it joins again when its sanlock driver loads",
}


def _membership(data):
    if data.get("membership"):
        return data["membership"]
    return "joined" if data.get("joined") else "absent"


def _join_findings(hosts):
    found = []
    for name, data in sorted(hosts.items()):
        membership = _membership(data)
        if membership in _NOT_JOINED:
            found.append(_finding("joined", name, "__LIBVIRT__DISKS__", _NOT_JOINED[membership]))
        elif data.get("joined"):
            continue
        elif data.get("join_proof"):
            found.append(_finding("joined", name, "__LIBVIRT__DISKS__",
                                  "the local sanlock daemon's join is not verified: %s. Its VMs' leases are "
                                  "invisible to the other hosts: with no VM running on this host, leave that "
                                  "join (the lockspace_leave module) and restart the libvirt daemon so that it "
                                  "joins the lockspace on the lease storage"
                                  % data["join_proof"]))
        else:
            found.append(_finding("joined", name, "__LIBVIRT__DISKS__",
                                  "the local sanlock daemon has not joined the lockspace: restart the libvirt "
                                  "daemon (it joins when its sanlock driver loads)"))
    return found


def _running_lease_findings(hosts):
    found = []
    for name, data in sorted(hosts.items()):
        info = data.get("info") or {}
        running = set(data.get("running") or []) - set(data.get("paused") or [])
        held = {lease["name"]: {o["host_id"] for o in lease.get("owners") or []} for lease in info.get("leases") or []}
        for lease, paths in sorted((info.get("map") or {}).items()):
            for path, domains in sorted(paths.items()):
                for domain in sorted(set(domains) & running):
                    if lease not in held:
                        detail = "no valid lease file %s" % lease
                    elif data.get("host_id") not in held[lease]:
                        detail = "lease %s is not held by this host (owners: %s)" % (lease, sorted(held[lease]) or "none")
                    else:
                        continue
                    found.append(_finding("running_vm_lease", name, "%s: %s" % (domain, path), detail))
    return found


def _orphan_findings(hosts):
    used = set()
    for data in hosts.values():
        used.update(((data.get("info") or {}).get("map") or {}).keys())
    found = {}
    for name, data in sorted(hosts.items()):
        for lease in (data.get("info") or {}).get("leases") or []:
            if lease["name"] not in used and lease["name"] not in found:
                found[lease["name"]] = _finding("orphan", name, lease["name"],
                                                "no domain on any host uses this lease (the lease_cleanup "
                                                "module removes it)")
    return [found[k] for k in sorted(found)]


def _invalid_entry_findings(hosts):
    found = {}
    for name, data in sorted(hosts.items()):
        for entry in (data.get("info") or {}).get("invalid") or []:
            found.setdefault(entry["name"], _finding("invalid", name, entry["name"], entry.get("reason", "invalid")))
    return [found[k] for k in sorted(found)]


def _disk_path_findings(hosts):
    found = []
    identities = {}
    for name, data in sorted(hosts.items()):
        for paths in ((data.get("info") or {}).get("map") or {}).values():
            for path in sorted(paths):
                if UNSTABLE_PATH.match(path):
                    found.append(_finding("unstable_path", name, path,
                                          "kernel device names change between boots and hosts; the lease (md5 of the "
                                          "path) then protects the wrong disk: use /dev/disk/by-id/... or by-uuid"))
        for path, identity in sorted((data.get("devices") or {}).items()):
            identities.setdefault(path, {})[name] = identity
    for path, per_host in sorted(identities.items()):
        if len(set(per_host.values())) > 1:
            found.append(_finding("unstable_path", ", ".join(sorted(per_host)), path,
                                  "resolves to different devices on different hosts (%s): one lease then guards "
                                  "different disks" % ", ".join("%s=%s" % kv for kv in sorted(per_host.items()))))
    return found


def _unprotected_vm_findings(hosts):
    return [_finding("unprotected_vm", name, domain,
                     "running, but its QEMU process is not registered with the local sanlock daemon (it was started "
                     "before the sanlock lock manager was on): it holds no lease and another host can start its "
                     "disks. Restart or live-migrate this VM to give it leases")
            for name, data in sorted(hosts.items()) for domain in sorted(set(data.get("unprotected") or []))]


def pending_text(pending):
    """One line for the settings of sanlock.conf waiting for a restart: "use_watchdog (file 1, daemon 0), ..."."""
    return ", ".join("%s (file %s, daemon %s)" % (p["setting"], p["file"], p["daemon"]) for p in pending)


def _restart_pending_findings(hosts):
    return [_finding("restart_pending", name, "sanlock.conf",
                     "restart pending: the running sanlock daemon does not use %s; to apply them %s"
                     % (pending_text(data["sanlock_pending"]), RESTART_FIX))
            for name, data in sorted(hosts.items()) if data.get("sanlock_pending")]


def _paused_vm_findings(hosts):
    return [_finding("paused", name, domain,
                     "paused: leases released (libvirt releases a paused VM's leases and acquires them again on "
                     "resume; the resume fails if another host took them meanwhile)")
            for name, data in sorted(hosts.items()) for domain in sorted(set(data.get("paused") or []))]


def _migration_findings(hosts):
    infos = dict((name, data["migration"]) for name, data in hosts.items() if data.get("migration"))
    # A disk other hosts cannot reach is a warning: a VM on local storage is protected, it only cannot migrate.
    return [_finding("migration", item["host"], item["subject"], item["detail"],
                     "warning" if item.get("warning") else None)
            for item in _migration.group_findings(infos)]


def _liveness_findings(hosts):
    observations = dict((name, data["liveness"]) for name, data in hosts.items() if data.get("liveness") is not None)
    return [dict(_finding("liveness", item["host"], item["subject"], item["detail"]), severity=item["severity"])
            for item in _liveness.findings(observations)] if observations else []


def audit(hosts):
    """All findings for a cluster, in KINDS order; see failures() for the ones that are not information or warnings."""
    return (_storage_findings(hosts) + _host_id_findings(hosts) + _join_findings(hosts)
            + _running_lease_findings(hosts) + _unprotected_vm_findings(hosts) + _orphan_findings(hosts) + _invalid_entry_findings(hosts)
            + _disk_path_findings(hosts) + _migration_findings(hosts) + _liveness_findings(hosts) + _restart_pending_findings(hosts)
            + _paused_vm_findings(hosts))


def liveness_report(hosts):
    """The liveness table (every host's view of every host) and the timing facts of the cluster's settings."""
    observations = dict((name, data["liveness"]) for name, data in hosts.items() if data.get("liveness") is not None)
    rows = _liveness.table(observations)
    lines = ["== Liveness: every host's view of every host (sanlock client gets -h 1)"]
    header = ("observer", "host_id", "host", "owner_name", "state", "since_live_s", "dead_in_s")
    cells = [header] + [(r["observer"], str(r["host_id"]), r["host"], str(r["owner_name"]), r["state"],
                         "-" if r["seconds_since_live"] is None else str(r["seconds_since_live"]),
                         "-" if r["dead_in"] is None else str(r["dead_in"])) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)
    return lines + _liveness.timing_facts(observations)


def report(findings):
    """A readable report: one table per kind of finding."""
    if not findings:
        return ["audit: no findings"]
    lines = []
    for kind, title in KINDS:
        rows = [f for f in findings if f["check"] == kind]
        if not rows:
            continue
        width_host = max(len("host"), *(len(r["host"]) for r in rows))
        width_subject = max(len("subject"), *(len(r["subject"]) for r in rows))
        lines.append("== %s (%d)" % (title, len(rows)))
        lines.append("%-*s  %-*s  %s" % (width_host, "host", width_subject, "subject", "finding"))
        for row in rows:
            lines.append("%-*s  %-*s  %s" % (width_host, row["host"], width_subject, row["subject"], row["detail"]))
    return lines
