# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Names libvirt's sanlock plugin uses for automatic disk leases.

PRIVATE to the autolease.sanlock collection: no compatibility promise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

LOCKSPACE_NAME = "__LIBVIRT__DISKS__"
LEASE_NAME_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_HOST_ID = 2000

# Files the collection itself keeps in the lease directory: the host_id
# registry and its lock, the recorded cleanup host and every host's domain
# definitions (_domain_store), in a root-owned subdirectory REGISTRY_DIR (older
# releases kept the registry and its lock directly in the lease directory), and the cleanup's
# cluster-wide lock (a sanlock resource lease of the lockspace, held by the one
# cleanup that runs). They are neither disk leases (never orphans, never
# removed) nor invalid entries.
REGISTRY_DIR = "autolease.sanlock"
REGISTRY_FILE = "autolease-host-ids.json"
REGISTRY_LOCK_FILE = ".autolease-host-ids.lock"
CLEANUP_LOCK_FILE = "__AUTOLEASE_CLEANUP__"
OWN_FILE_REASONS = {
    REGISTRY_DIR: "autolease.sanlock's own directory (host_id registry, cleanup host, domain definitions)",
    REGISTRY_FILE: "autolease.sanlock host_id registry",
    REGISTRY_LOCK_FILE: "autolease.sanlock host_id registry",
    CLEANUP_LOCK_FILE: "autolease.sanlock cluster-wide cleanup lock",
}
OWN_FILES = frozenset(OWN_FILE_REASONS)


def lease_name(disk_path):
    """Return the lease (file and resource) name libvirt uses for a disk path.

    libvirt hashes the source path exactly as written in the domain XML: no
    canonicalization, no trailing NUL, UTF-8 bytes; md5 as 32 lowercase hex digits.
    """
    if isinstance(disk_path, bytes):
        data = disk_path
    elif isinstance(disk_path, str):
        if not disk_path:
            raise ValueError("lease_name: the disk path is empty; give the disk source path as written in the domain XML")
        data = disk_path.encode("utf-8", "surrogateescape")
    else:
        raise TypeError(
            "lease_name: expected a disk path string, got %s %r" % (type(disk_path).__name__, disk_path)
        )
    return hashlib.md5(data).hexdigest()  # nosec - libvirt's naming, not security


def is_lease_name(name):
    """True if name looks like a libvirt automatic disk lease file name."""
    return bool(LEASE_NAME_RE.match(name))
