# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only report of a lease directory: lockspace, leases, owners, domains.

PRIVATE to the autolease.sanlock collection: no compatibility promise.
Everything is read from storage; no sanlock daemon is needed. Every read has
the deadline of _storage_io: a lease directory that does not answer fails
with StorageTimeout naming the host, the path and its mount.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.autolease.sanlock.plugins.module_utils import _domains, _lease_file, _lockspace, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._atomic_file import check_lease_dir
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import (
    LeaseError,
    LibvirtError,
    MissingDependency,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME, OWN_FILES, lease_name


def _domain_map(uri):
    """({lease: {path: [domains]}}, warning or None)."""
    if not uri:
        return None, None
    try:
        disks = _domains.domain_disks("all", uri=uri)
    except (LibvirtError, MissingDependency) as err:
        return None, "no lease -> domain map: %s" % err
    mapping = {}
    for domain, disk_list in sorted(disks.items()):
        for disk in disk_list:
            users = mapping.setdefault(lease_name(disk.path), {}).setdefault(disk.path, [])
            if domain not in users:
                users.append(domain)
    return mapping, None


def lease_report(lease_dir, liveness=False, liveness_interval=None, libvirt_uri=_domains.DEFAULT_URI,
                 now=None):
    _storage_io.probe(lease_dir)
    _storage_io.bounded("checking the lease directory", lease_dir, check_lease_dir, lease_dir)
    now = time.time() if now is None else now
    warnings = []
    report = {"lockspace": None, "leases": [], "invalid": []}
    path = _lockspace.lockspace_path(lease_dir)
    try:
        report["lockspace"] = _lockspace.lockspace_info(path)
    except LeaseError as err:
        if _storage_io.bounded("looking up", path, os.path.lexists, path):
            report["invalid"].append({"name": LOCKSPACE_NAME, "reason": str(err)})
        warnings.append("no usable lockspace in %s: %s" % (lease_dir, err))
    if liveness and report["lockspace"] is not None:
        report["live_host_ids"] = sorted(_lockspace.live_host_ids(path, interval=liveness_interval))
    mapping, warning = _domain_map(libvirt_uri)
    if warning:
        warnings.append(warning)
    try:
        entries = sorted(_storage_io.bounded("listing the lease directory", lease_dir, os.listdir, lease_dir))
    except OSError as exc:
        raise LeaseError("cannot list %s: %s" % (lease_dir, exc.strerror))
    max_host_id = _lockspace.max_used_host_id(path)
    for entry in entries:
        if entry in OWN_FILES:  # the host_id registry: neither a lease nor an invalid entry
            continue
        entry_path = os.path.join(lease_dir, entry)
        info = _storage_io.bounded("reading the lease", entry_path, _lease_file.inspect, entry_path, now=now,
                                   max_host_id=max_host_id)
        if info.kind == "lockspace":
            continue
        if info.kind == "invalid":
            report["invalid"].append({"name": entry, "reason": info.reason, "size": info.size})
            continue
        item = _lease_file.as_dict(info, now=now)
        if mapping is not None:
            users = mapping.get(entry, {})
            item["paths"] = sorted(users)
            item["domains"] = sorted(set(d for domains in users.values() for d in domains))
        report["leases"].append(item)
    if mapping is not None:
        present = set(item["name"] for item in report["leases"])
        report["map"] = {name: paths for name, paths in mapping.items() if name in present}
        report["orphans"] = sorted(present - set(mapping))
        report["missing"] = sorted(set(mapping) - present)
    report["warnings"] = warnings
    return report
