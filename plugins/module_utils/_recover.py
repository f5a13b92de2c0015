# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan to start a failed host's VMs on the surviving hosts, and when it becomes safe.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

Pure functions over what the survivors read: sanlock's view of the failed
host from each of them (_liveness), the lease owners on the shared storage
(lease_info) and the failed host's domain definitions kept on the storage.
A VM is recovered only when its leases are held by the failed host's host_id
and generation, and only once every survivor sees that host DEAD (or FREE):
a LIVE, UNKNOWN or FAIL host may still be writing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import Dict, List, Optional

from ansible_collections.autolease.sanlock.plugins.module_utils._liveness import SAFE_STATES

_MEMORY = re.compile(r"<memory(?:\s+unit=['\"](\w+)['\"])?\s*>(\d+)</memory>")
_UNITS = {"b": 1.0 / 1024, "bytes": 1.0 / 1024, "k": 1, "kib": 1, "kb": 1000.0 / 1024, "m": 1024, "mib": 1024,
          "mb": 1000.0 * 1000 / 1024, "g": 1024 * 1024, "gib": 1024 * 1024, "gb": 1000.0 ** 3 / 1024}


def memory_kib(xml: str) -> int:
    """The domain's <memory> in KiB (libvirt's default unit), 0 when absent."""
    match = _MEMORY.search(xml or "")
    if not match:
        return 0
    return int(int(match.group(2)) * _UNITS.get((match.group(1) or "KiB").lower(), 1))


def failed_host_id(failed: str, registry: Optional[Dict[str, int]], views: Dict[str, Dict]) -> Optional[int]:
    """The failed host's host_id: from the registry, else from a lockspace slot named after it."""
    if registry and failed in registry:
        return int(registry[failed])
    for view in views.values():
        for host in (view or {}).get("hosts") or []:
            if host.get("owner_name") == failed:
                return int(host["host_id"])
    return None


def liveness(failed_id: int, views: Dict[str, Dict]) -> Dict:
    """How each survivor sees the failed host, whether all see it DEAD/FREE, and the longest wait left."""
    seen, waits = {}, []
    for observer, view in sorted(views.items()):
        view = view or {}
        entry = next((host for host in view.get("hosts") or [] if host["host_id"] == failed_id), None)
        if not view.get("joined"):
            seen[observer] = "not joined (no view)"
        elif entry is None:
            seen[observer] = "FREE"  # no slot: nothing held under that id
        else:
            seen[observer] = entry.get("state") or "unknown"
            if entry.get("dead_in") is not None:
                waits.append(entry["dead_in"])
    safe = bool(seen) and all(state in SAFE_STATES for state in seen.values())
    return {"seen": seen, "safe": safe, "wait": 0 if safe else (max(waits) if waits else None)}


def held_leases(failed_id: int, leases: List[Dict], generation: Optional[int] = None) -> List[str]:
    """Names of the leases whose owner is the failed host (its last generation when known)."""
    found = []
    for lease in leases or []:
        for owner in lease.get("owners") or []:
            if owner.get("host_id") == failed_id and (generation is None or owner.get("generation") == generation):
                found.append(lease["name"])
                break
    return sorted(found)


def vms_to_recover(held: List[str], domains: Dict[str, Dict]) -> List[Dict]:
    """The failed host's stored domains whose leases it holds: [{name, leases, disks, memory_kib, xml}]."""
    vms = []
    for name, domain in sorted((domains or {}).items()):
        mine = sorted(set(domain.get("leases") or []) & set(held))
        if mine:
            vms.append({"name": name, "leases": mine, "disks": domain.get("disks") or [],
                        "memory_kib": memory_kib(domain.get("xml", "")), "xml": domain.get("xml", "")})
    return vms


def place(vms: List[Dict], free_kib: Dict[str, int], target: Optional[str] = None) -> List[Dict]:
    """Give each VM a target: the one named, else the survivor with the most free memory (largest VMs first)."""
    free = dict(free_kib)
    placed = []
    for vm in sorted(vms, key=lambda item: -item["memory_kib"]):
        host = target if target else max(sorted(free), key=lambda name: free[name]) if free else None
        if host is not None and host in free:
            free[host] -= vm["memory_kib"]
        placed.append(dict(vm, target=host))
    return sorted(placed, key=lambda item: item["name"])


def plan(failed: str, views: Dict[str, Dict], registry: Optional[Dict[str, int]], leases: List[Dict],
         domains: Dict[str, Dict], free_kib: Dict[str, int], target: Optional[str] = None,
         running_on_failed: Optional[List[str]] = None) -> Dict:
    """Everything recover.yml decides, with the refusals in words (see the recover_plan filter's RETURN)."""
    refusals = []
    failed_id = failed_host_id(failed, registry, views)
    if failed_id is None:
        return {"failed": failed, "host_id": None, "vms": [], "liveness": None, "refusals": [
            "%s has no host_id in the registry or the lockspace: nothing of it to recover (is failed_host the "
            "inventory name of a host of this cluster?)" % failed]}
    if target is not None and target not in free_kib:
        refusals.append("target %s is not a surviving host of this play (%s)" % (target, ", ".join(sorted(free_kib))))
    live = liveness(failed_id, views)
    generation = None
    for view in views.values():
        for host in (view or {}).get("hosts") or []:
            if host["host_id"] == failed_id and host.get("generation"):
                generation = host["generation"]
    held = held_leases(failed_id, leases, generation)
    vms = place(vms_to_recover(held, domains), free_kib, target)
    missing = sorted(set(held) - set(lease for vm in vms for lease in vm["leases"]))
    if vms and not live["safe"]:
        refusals.append("%s (host_id %d) is not dead: %s. It may still be writing to its disks; %s" % (
            failed, failed_id, ", ".join("%s sees it %s" % item for item in sorted(live["seen"].items())),
            "the earliest it can be seen DEAD by all is in %s s (8 * io_timeout + watchdog_fire_timeout after "
            "the last renewal they saw); run again then, or with -e wait=true" % live["wait"]
            if live["wait"] is not None else "wait until every survivor sees it DEAD"))
    still = sorted(set(running_on_failed or []) & set(vm["name"] for vm in vms))
    if still:
        refusals.append("%s is reachable and still runs %s (qemu processes): it is hung, not dead; stop those VMs "
                        "there (virsh destroy) or power the host off, then run again" % (failed, ", ".join(still)))
    return {"failed": failed, "host_id": failed_id, "generation": generation, "liveness": live, "held": held,
            "unknown_leases": missing, "vms": vms, "refusals": refusals}
