#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lease_info
short_description: Report the sanlock lockspace, disk leases, their owners and the VMs they belong to
version_added: 0.1.0
description:
  - Reads the lockspace file and every entry of O(lease_dir) directly from storage; works whether or not the local
    sanlock daemon runs or has joined the lockspace.
  - Maps leases to disk paths and domains defined on this host when libvirtd answers (else a warning and no map).
  - With O(liveness), reads the lockspace twice some io_timeouts apart to tell live host_ids from dead ones.
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
  - autolease.sanlock.storage_timeout
  - autolease.sanlock.lease_dir
  - autolease.sanlock.attributes.INFO_MODULE
options:
  liveness:
    description:
      - Read the lockspace twice, O(liveness_interval) seconds apart, and report which used host_ids renewed.
    type: bool
    default: false
  liveness_interval:
    description:
      - Seconds between the two reads, 1-3600. Default 2*io_timeout+1 (21 s with sanlock's default io_timeout).
    type: int
  libvirt_uri:
    description:
      - libvirt connection URI for the lease -> domain map. An empty string skips the map.
    type: str
    default: qemu:///system
notes:
  - Host timestamps are each writer's monotonic seconds and cannot be compared across hosts; use O(liveness).
seealso:
  - module: autolease.sanlock.lease_cleanup
"""

EXAMPLES = r"""
- name: Inspect the leases
  autolease.sanlock.lease_info:
  register: leases

- name: Which host_ids are alive
  autolease.sanlock.lease_info:
    liveness: true
  register: info

- name: Show orphan leases
  ansible.builtin.debug:
    var: leases.orphans
"""

RETURN = r"""
lockspace:
  description: The lockspace - name, path, io_timeout, alignment, sector_size, size and every used host_id slot.
    C(null) when the file is missing or broken (see RV(invalid)).
  returned: always
  type: dict
  sample:
    name: __LIBVIRT__DISKS__
    io_timeout: 10
    alignment: 1048576
    slots: [{host_id: 1, owner_name: kvm1, generation: 3, timestamp: 51234, io_timeout: 10}]
live_host_ids:
  description: host_ids whose slot renewed between the two reads.
  returned: when O(liveness=true)
  type: list
  elements: int
leases:
  description: Every valid lease - name, size, initialized, owners (host_id, generation, shared), age in seconds
    since the file last changed, and the disk paths and domains of this host that use it.
  returned: always
  type: list
  elements: dict
map:
  description: Lease name -> disk path -> list of domains, for domains defined on this host.
  returned: when libvirtd answers
  type: dict
orphans:
  description: Lease names no domain on this host uses (another host may still use them).
  returned: when libvirtd answers
  type: list
  elements: str
missing:
  description: Lease names domains on this host use that have no valid lease file (libvirt creates them at the
    next start; M(autolease.sanlock.lease) pre-creates them).
  returned: when libvirtd answers
  type: list
  elements: str
invalid:
  description: Entries that are not leases of C(__LIBVIRT__DISKS__), with the reason (symlink, directory,
    uninitialised, torn, truncated, other lockspace, not a lease...).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _options, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._lease_report import lease_report

ARGUMENT_SPEC = dict(
    lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
    liveness=dict(type="bool", default=False),
    liveness_interval=dict(type="int"),
    libvirt_uri=dict(type="str", default="qemu:///system"),
    storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        _options.check_absolute("lease_dir", params["lease_dir"])
        _options.check_range("liveness_interval", params["liveness_interval"], *_options.LIVENESS_INTERVAL_RANGE)
        _storage_io.set_timeout(params["storage_timeout"])
        result = lease_report(params["lease_dir"], liveness=params["liveness"],
                              liveness_interval=params["liveness_interval"], libvirt_uri=params["libvirt_uri"])
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
