#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: migration_info
short_description: Read what a live migration from or to this host needs to keep its disk leases
version_added: 0.2.0
description:
  - Reads, on one host, what the C(autolease.sanlock.migration_preflight) and C(autolease.sanlock.migration_plan)
    filters compare between a source and a destination - libvirt's lock settings, this host's lockspace join
    (verified by content) and the lockspace records it reads, its sanlock name, its domains with their lockable
    disks and memory, its available memory, and whether given disk paths exist here.
  - Run it on every host; on the candidate destinations pass the disk paths of the source's domains in O(paths)
    (the C(autolease.sanlock.migration_disk_paths) filter lists them).
  - Lease storage or a disk path that does not answer within O(storage_timeout) fails the module, naming the host,
    the path and the mount. What cannot be read otherwise (libvirt or sanlock not answering, a configuration file
    libvirt would refuse) is listed in RV(errors); the filters report those as problems.
  - Only reads; changes nothing.
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
  - autolease.sanlock.storage_timeout
  - autolease.sanlock.attributes.INFO_MODULE
options:
  paths:
    description:
      - Disk paths to check on this host (exactly as written in the domain XML), for this host as a migration
        destination. Returned in RV(paths).
    type: list
    elements: path
    default: []
  all_domains:
    description:
      - Also return the domains that are defined but not running (with C(active=false)).
    type: bool
    default: false
  libvirt_uri:
    description:
      - libvirt connection URI for the domains. An empty string skips them (RV(domains) is then C(null)).
    type: str
    default: qemu:///system
  qemu_conf:
    description:
      - libvirt's QEMU driver configuration, for C(lock_manager).
    type: path
    default: /etc/libvirt/qemu.conf
  qemu_sanlock_conf:
    description:
      - libvirt's sanlock plugin configuration, for C(disk_lease_dir), C(auto_disk_leases) and C(host_id).
    type: path
    default: /etc/libvirt/qemu-sanlock.conf
seealso:
  - module: autolease.sanlock.host_info
  - module: autolease.sanlock.lease_info
"""

EXAMPLES = r"""
- name: Read every host
  autolease.sanlock.migration_info:
  register: migration

- name: Check on the other hosts the disk paths of kvm01's running VMs
  autolease.sanlock.migration_info:
    paths: "{{ [hostvars['kvm01'].migration] | autolease.sanlock.migration_disk_paths }}"
  register: destination
  when: inventory_hostname != 'kvm01'

- name: Refuse to migrate from kvm01 to kvm02 when it is not safe
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems }}"
  vars:
    problems: "{{ hostvars['kvm01'].migration | autolease.sanlock.migration_preflight(hostvars['kvm02'].destination) }}"
  run_once: true
"""

RETURN = r"""
hostname:
  description: This host's name (the filters use it in problems unless the caller adds a C(host) key).
  returned: always
  type: str
lock_manager:
  description: C(lock_manager) of O(qemu_conf); V(none) when it is not set or commented out (libvirt's
    default); C(null) when the file cannot be read.
  returned: always
  type: str
  sample: sanlock
disk_lease_dir:
  description: C(disk_lease_dir) of O(qemu_sanlock_conf), V(/var/lib/libvirt/sanlock) when not set.
  returned: always
  type: str
auto_disk_leases:
  description: C(auto_disk_leases) of O(qemu_sanlock_conf), V(false) when not set.
  returned: always
  type: bool
host_id:
  description: C(host_id) of O(qemu_sanlock_conf); C(null) when not set (or 0).
  returned: always
  type: int
owner_name:
  description: The name the local sanlock daemon writes into its lockspace records (its C(our_host_name));
    C(null) when the daemon does not answer.
  returned: always
  type: str
join:
  description: The local daemon's join of C(__LIBVIRT__DISKS__) in RV(disk_lease_dir) - C(host_id), C(path),
    C(verified) (the file at the path holds the daemon's latest renewal) and C(proof) (why, or why not);
    C(null) when it has not joined there.
  returned: always
  type: dict
joined:
  description: RV(join) exists and is verified.
  returned: always
  type: bool
slots:
  description: host_id (as a string) -> C(owner_name) and C(generation) of the used slots of the lockspace file
    in RV(disk_lease_dir) as this host reads it; C(null) without a readable lockspace.
  returned: always
  type: dict
  sample: {"1": {owner_name: kvm01, generation: 3}, "2": {owner_name: kvm02, generation: 1}}
domains:
  description:
    - Domain name -> C(state) (running, paused, shutoff, ...), C(active), C(memory_kib) (its current memory) and
      C(disks), its lockable disks (those libvirt gives an automatic lease - read-write file, block and dir disks,
      shareable ones included with C(shared=true)), each with C(path), C(target), C(shared) and C(kind)
      (V(file), V(block), V(directory), V(other), or C(null) when the path does not exist here).
    - The active domains, or all with O(all_domains). C(null) when libvirt does not answer (see RV(errors)) or
      O(libvirt_uri) is empty.
  returned: always
  type: dict
  sample: {web1: {state: running, active: true, memory_kib: 1048576,
                  disks: [{path: /var/lib/libvirt/images/web1.img, target: vda, shared: false, kind: file}]}}
mem_available_kib:
  description: C(MemAvailable) of C(/proc/meminfo) in KiB; C(null) when it cannot be read.
  returned: always
  type: int
paths:
  description: Each of O(paths) -> C(exists) and C(kind) (as in RV(domains)).
  returned: always
  type: dict
  sample: {/var/lib/libvirt/images/web1.img: {exists: true, kind: file}}
errors:
  description: What could not be read, each naming the file or daemon and what to do; empty when everything
    was read.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _options, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError, OptionError
from ansible_collections.autolease.sanlock.plugins.module_utils._migration import host_info


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            all_domains=dict(type="bool", default=False),
            libvirt_uri=dict(type="str", default="qemu:///system"),
            qemu_conf=dict(type="path", default="/etc/libvirt/qemu.conf"),
            qemu_sanlock_conf=dict(type="path", default="/etc/libvirt/qemu-sanlock.conf"),
            storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        for option in ("qemu_conf", "qemu_sanlock_conf"):
            _options.check_absolute(option, params[option])
        for path in params["paths"]:
            _options.check_absolute("paths", path)
        _storage_io.set_timeout(params["storage_timeout"])
    except OptionError as err:
        module.fail_json(msg=str(err))
    try:
        info = host_info(params["paths"], libvirt_uri=params["libvirt_uri"], all_domains=params["all_domains"],
                         qemu_conf=params["qemu_conf"], qemu_sanlock_conf=params["qemu_sanlock_conf"])
    except AutoleaseError as err:  # the lease storage or a disk path does not answer (StorageTimeout)
        module.fail_json(msg=str(err))
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
