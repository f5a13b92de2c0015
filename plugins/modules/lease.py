#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lease
short_description: Create or remove libvirt's automatic sanlock disk leases (and the lockspace)
version_added: 0.1.0
description:
  - With O(state=present), ensures the lockspace file C(__LIBVIRT__DISKS__) and the leases of O(disks) and
    O(domains) exist in O(lease_dir) and are initialised, named exactly as libvirt names them (md5 of the disk
    source path as written in the domain XML).
  - With neither O(disks) nor O(domains), O(state=present) only ensures the lockspace file.
  - Files are built under a temporary name in O(lease_dir), initialised, then linked into place, so no host ever
    sees a half-written lease; an existing file is never replaced, except an uninitialised one (zero-filled,
    torn, truncated) older than O(repair_grace), which is rebuilt. Younger ones are reported in RV(pending) and
    left alone, because another host may be writing them.
  - With O(state=absent), removes the named leases with the safety of M(autolease.sanlock.lease_cleanup) -
    each lease is acquired through the local sanlock daemon, deleted while held and released; a lease held by any
    host stays (RV(held)). The lockspace file is never removed.
  - Creating files needs the local sanlock daemon running (sanlock writes through it); removing needs it joined to
    the lockspace.
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
  - autolease.sanlock.storage_timeout
  - autolease.sanlock.lease_dir
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be created, repaired or removed; writes and acquires nothing (owners are read from disk).
  diff_mode:
    support: full
    details:
      - Lists the leases created, repaired and removed.
options:
  state:
    description:
      - V(present) creates missing leases, V(absent) removes unused ones.
    type: str
    choices: [present, absent]
    default: present
  disks:
    description:
      - Disk source paths exactly as written in the domain XML (no canonicalisation; C(//a.img) and C(/a.img)
        are different leases). Each must be an absolute path.
    type: list
    elements: str
    default: []
  domains:
    description:
      - Names of domains defined in the local libvirtd whose disks get leases, or V(all) for every defined domain.
      - V(all) alone selects every domain (a domain literally named C(all) cannot be selected by name).
      - As libvirt, only the top-level source of file, block and dir disks; read-only disks get no lease;
        shareable disks are reported with C(shared=true) (libvirt takes them in shared mode).
    type: list
    elements: str
    default: []
  libvirt_uri:
    description:
      - libvirt connection URI used to read O(domains).
    type: str
    default: qemu:///system
  owner:
    description:
      - Owner of created files (the user the sanlock daemon runs as). Empty keeps the current user.
    type: str
    default: sanlock
  group:
    description:
      - Group of created files. Empty keeps the current group.
    type: str
    default: sanlock
  io_timeout:
    description:
      - io_timeout in seconds written into a new lockspace; 0 means sanlock's default (10 s).
      - Ignored when the lockspace exists.
      - Accepted range 0-300. A crashed host's leases can be taken after 8*io_timeout+60 s; beyond 300 s that
        is more than 40 minutes.
    type: int
    default: 0
  repair_grace:
    description:
      - Seconds since an uninitialised lease file last changed after which it is rebuilt. Must be >= 0.
    type: int
    default: 300
notes:
  - Modes as libvirt uses them - the lockspace C(0660), leases C(0600), both owned by O(owner) and O(group).
  - Requires python3-sanlock, and python3-libvirt when O(domains) is used, on the managed host.
requirements:
  - python3-sanlock
  - python3-libvirt (for O(domains))
seealso:
  - module: autolease.sanlock.lease_info
  - module: autolease.sanlock.lease_cleanup
"""

EXAMPLES = r"""
- name: Pre-create the lockspace only
  autolease.sanlock.lease:
    state: present
    io_timeout: 10

- name: Pre-create the leases of every defined VM
  autolease.sanlock.lease:
    domains: all

- name: Create leases for two disk paths
  autolease.sanlock.lease:
    disks:
      - /var/lib/libvirt/images/demo.img
      - /dev/vg0/db

- name: Remove the lease of a deleted disk (kept if a host still holds it)
  autolease.sanlock.lease:
    state: absent
    disks:
      - /var/lib/libvirt/images/old.img
"""

RETURN = r"""
leases:
  description: The leases asked for, by lease name, with their disk paths, domains and shared flag.
  returned: always
  type: dict
  sample:
    bfa0240911bc17753e0b473688822159:
      paths: [/var/lib/libvirt/images/demo.img]
      domains: [demo]
      shared: false
lockspace_created:
  description: Whether the lockspace file was (or would be) created.
  returned: state=present
  type: bool
created:
  description: Lease names created (or that would be).
  returned: state=present
  type: list
  elements: str
repaired:
  description: Uninitialised lease files older than O(repair_grace) rebuilt (or that would be).
  returned: state=present
  type: list
  elements: str
pending:
  description: Uninitialised lease files younger than O(repair_grace), left alone, with the reason.
  returned: state=present
  type: dict
invalid:
  description: Entries at a lease's name that are not leases and are left alone (directory, symlink, other lockspace).
  returned: state=present
  type: dict
removed:
  description: Lease names removed (or that would be).
  returned: state=absent
  type: list
  elements: str
held:
  description: Leases not removed because a host holds them, with the owners' host_ids.
  returned: state=absent
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils._domains import domain_disks
from ansible_collections.autolease.sanlock.plugins.module_utils import _options, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._lease_set import (
    ensure_absent,
    ensure_present,
    wanted_leases,
)

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
    disks=dict(type="list", elements="str", default=[]),
    domains=dict(type="list", elements="str", default=[]),
    libvirt_uri=dict(type="str", default="qemu:///system"),
    owner=dict(type="str", default="sanlock"),
    group=dict(type="str", default="sanlock"),
    io_timeout=dict(type="int", default=0),
    repair_grace=dict(type="int", default=300),
    storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
)


def run(module):
    params = module.params
    _options.check_absolute("lease_dir", params["lease_dir"])
    _options.check_disk_paths("disks", params["disks"])
    _options.check_names("domains", params["domains"], "domain name")
    _options.check_range("io_timeout", params["io_timeout"], *_options.IO_TIMEOUT_RANGE)
    _options.check_range("repair_grace", params["repair_grace"], 0)
    _storage_io.set_timeout(params["storage_timeout"])
    _storage_io.probe(params["lease_dir"])
    domains = params["domains"]
    disk_map = {}
    if domains:
        disk_map = domain_disks("all" if domains == ["all"] else domains, uri=params["libvirt_uri"])
    leases = wanted_leases(params["disks"], disk_map)
    if params["state"] == "present":
        result = ensure_present(params["lease_dir"], leases, owner=params["owner"], group=params["group"],
                                io_timeout=params["io_timeout"], repair_grace=params["repair_grace"],
                                check_mode=module.check_mode)
        changed = bool(result["lockspace_created"] or result["created"] or result["repaired"])
        before = {"created": [], "repaired": []}
        after = {"created": result["created"], "repaired": result["repaired"],
                 "lockspace_created": result["lockspace_created"]}
    else:
        result = ensure_absent(params["lease_dir"], sorted(leases), check_mode=module.check_mode)
        result = {"removed": result["removed"], "held": result["held"], "skipped": result["skipped"]}
        changed = bool(result["removed"])
        before = {"present": result["removed"]}
        after = {"present": []}
    result.update(changed=changed, leases=leases)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except AutoleaseError as err:
        module.fail_json(msg=str(err))


if __name__ == "__main__":
    main()
