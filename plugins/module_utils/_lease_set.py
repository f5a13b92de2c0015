# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bring a set of disk leases to a state (present/absent): plan, then act.

PRIVATE to the autolease.sanlock collection: no compatibility promise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.autolease.sanlock.plugins.module_utils import _atomic_file, _lease_file, _lockspace
from ansible_collections.autolease.sanlock.plugins.module_utils._cleanup import run_cleanup
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

DEFAULT_REPAIR_GRACE = 300


def wanted_leases(disks=(), domain_disks=None):
    """{lease name: {"paths": [...], "shared": bool, "domains": [...]}} for disk paths and domain disks."""
    leases = {}

    def add(path, shared, domain):
        entry = leases.setdefault(lease_name(path), {"paths": [], "shared": False, "domains": []})
        if path not in entry["paths"]:
            entry["paths"].append(path)
        entry["shared"] = entry["shared"] or shared
        if domain and domain not in entry["domains"]:
            entry["domains"].append(domain)

    for path in disks or ():
        add(path, False, None)
    for domain, disk_list in sorted((domain_disks or {}).items()):
        for disk in disk_list:
            add(disk.path, disk.shared, domain)
    return leases


def ensure_present(lease_dir, leases, owner="sanlock", group="sanlock", io_timeout=0,
                   repair_grace=DEFAULT_REPAIR_GRACE, check_mode=False, now=None):
    """Ensure the lockspace and every lease in leases exist and are initialised.

    Returns dict: lockspace_created, created, repaired, pending (name -> reason), invalid (name -> reason).
    Uninitialised files younger than repair_grace seconds are pending, never touched.
    """
    _atomic_file.check_lease_dir(lease_dir)
    now = time.time() if now is None else now
    uid, gid = _atomic_file.resolve_ids(owner, group)
    result = {"lockspace_created": _lockspace.ensure_lockspace(lease_dir, owner, group, io_timeout, check_mode),
              "created": [], "repaired": [], "pending": {}, "invalid": {}}
    to_create, to_repair = [], []
    for name in sorted(leases):
        info = _lease_file.inspect(os.path.join(lease_dir, name), now=now)
        if info.kind == "lease":
            continue
        if info.reason.startswith("vanished"):
            to_create.append(name)
        elif info.uninitialised and info.reason not in ("symlink", "directory"):
            age = now - info.mtime
            if age >= repair_grace:
                to_repair.append(name)
            else:
                result["pending"][name] = ("%s, changed %d s ago (< repair_grace %d s): another host may be "
                                           "writing it" % (info.reason, max(0, age), repair_grace))
        else:
            result["invalid"][name] = info.reason
    if check_mode:
        result["created"], result["repaired"] = to_create, to_repair
        return result
    for name in to_create:
        if _lease_file.create(lease_dir, name, uid, gid):
            result["created"].append(name)
    for name in to_repair:
        again = _lease_file.inspect(os.path.join(lease_dir, name))  # unchanged since the plan?
        if again.kind == "invalid" and again.uninitialised and now - again.mtime >= repair_grace:
            _lease_file.create(lease_dir, name, uid, gid, repair=True)
            result["repaired"].append(name)
    return result


def ensure_absent(lease_dir, names, check_mode=False, workers=None, lock_dir=None):
    """Remove the named leases with cleanup's safety (held ones stay). Returns CleanupResult.as_dict()."""
    _atomic_file.check_lease_dir(lease_dir)
    present = set(name for name in names if os.path.lexists(os.path.join(lease_dir, name)))
    if not present:
        result = {"removed": [], "held": [], "kept": [], "skipped": [], "changed": False}
        return result
    return run_cleanup(lease_dir, workers=workers, check_mode=check_mode, only=present, lock_dir=lock_dir).as_dict()
