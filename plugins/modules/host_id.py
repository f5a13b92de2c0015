#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_id
short_description: Allocate unique, stable sanlock host_ids for all hosts sharing one lease directory
version_added: 0.1.0
description:
  - Plans the sanlock C(host_id) (1-2000) of every host that shares one lease directory and records it in a
    registry file beside the lockspace (C(<lease_dir>/autolease.sanlock/autolease-host-ids.json)).
  - Run it B(once) for the whole group (C(run_once)) on one host that mounts the shared lease storage, with the
    facts of every host of the play in O(hosts).
  - "Where an id comes from, in this order: O(hosts) C(explicit) (an admin-set id), C(existing) (the id the host
    uses now), the registry entry of that name, else a new id: the lockspace slot last owned by the host's own
    sanlock name if any, otherwise the lowest id that no host of the group uses, that the registry does not record
    and whose lockspace slot is free."
  - Ids recorded for hosts outside this run (C(--limit), retired hosts) are never handed out; they are freed only
    by naming the hosts in O(release).
  - All conflicts are detected before anything is written; the module then fails naming the hosts and the id
    (two hosts with one id, a slot owned by another live host, an id change on a host that joined the lockspace
    or runs VMs).
  - The registry is updated under an exclusive lock and replaced atomically.
  - The registry and its lock live in a subdirectory owned by root, mode 0755, that the sanlock user and group
    (owners of the lease directory) cannot write. The module refuses, naming the path and the fix, a symlink in
    their place, or a directory or file not owned by root or writable by group or others.
  - A registry at the location of older releases (C(<lease_dir>/autolease-host-ids.json)) is read, and moved into
    the subdirectory by the next run that is not in check mode (reported as a change).
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
      - Reports the planned ids and the registry change; writes nothing.
  diff_mode:
    support: full
    details:
      - Shows the registry file before and after.
options:
  hosts:
    description:
      - Every host of the group, by inventory name.
      - "Each value is a dict with the optional keys C(explicit) (int 1-2000 or null: an admin-set id),
        C(existing) (int or null: the id in its qemu-sanlock.conf or its live lockspace membership),
        C(joined) (bool: the host's sanlock daemon has joined the lockspace with C(existing)),
        C(running_vms) (int: VMs running on it) and C(lockspace_name) (the sanlock host name it writes into the
        lockspace, sanlock.conf C(our_host_name); default the inventory name)."
    type: dict
    required: true
  release:
    description:
      - Names of retired hosts whose registry entries are removed, freeing their ids.
      - A name that is also in O(hosts) is refused.
    type: list
    elements: str
    default: []
  force:
    description:
      - Allow changing the id of a host that has joined the lockspace, provided no VM runs on it. The host must
        then leave the lockspace and join again (restart libvirtd).
      - A host that runs VMs never changes its id.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for the lock of the host_id registry while another run holds it. Then the module fails,
        naming the lock file and the host and process that hold it.
      - Accepted range 1-3600.
    type: int
    default: 120
  liveness_interval:
    description:
      - Seconds between the two reads of the lockspace that tell a live slot owner from a dead one.
      - Only used when a requested id's slot was written by another host name. Default 2*io_timeout+1.
      - Accepted range 1-3600.
    type: int
notes:
  - Liveness of a slot owner needs two reads of the lockspace some seconds apart (21 s with the default
    io_timeout); the module waits only when a requested id's slot was written by another name.
seealso:
  - name: sanlock host_id in libvirt
    description: qemu-sanlock.conf host_id must be unique among the hosts sharing disk_lease_dir.
    link: https://libvirt.org/kbase/locking-sanlock.html
"""

EXAMPLES = r"""
- name: Allocate host_ids for all hosts of the play
  autolease.sanlock.host_id:
    lease_dir: /var/lib/libvirt/sanlock
    hosts:
      kvm1: {}
      kvm2: {existing: 2, joined: true, running_vms: 3}
      kvm3: {explicit: 7}
  run_once: true
  register: host_ids

- name: Release the ids of retired hosts
  autolease.sanlock.host_id:
    hosts: {}
    release:
      - kvm-old1
  run_once: true
"""

RETURN = r"""
host_ids:
  description: The id of every host of O(hosts), where it came from and warnings.
  returned: success
  type: dict
  sample:
    kvm1: {host_id: 1, source: new, warnings: []}
    kvm2: {host_id: 2, source: existing, warnings: []}
registry:
  description: The registry (host name -> host_id) after this run (planned, in check mode).
  returned: success
  type: dict
  sample: {kvm1: 1, kvm2: 2, kvm3: 7}
released:
  description: Registry entries removed through O(release).
  returned: success
  type: dict
  sample: {kvm-old1: 4}
registry_path:
  description: Path of the registry file.
  returned: success
  type: str
  sample: /var/lib/libvirt/sanlock/autolease.sanlock/autolease-host-ids.json
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _options, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._registry import LOCK_WAIT, allocate_and_record


def main():
    module = AnsibleModule(
        argument_spec=dict(
            lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
            hosts=dict(type="dict", required=True),
            release=dict(type="list", elements="str", default=[]),
            force=dict(type="bool", default=False),
            liveness_interval=dict(type="int"),
            lock_timeout=dict(type="int", default=LOCK_WAIT),
            storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        _options.check_absolute("lease_dir", params["lease_dir"])
        _options.check_names("hosts", list(params["hosts"]), "host name")
        _options.check_names("release", params["release"], "host name")
        _options.check_range("liveness_interval", params["liveness_interval"], *_options.LIVENESS_INTERVAL_RANGE)
        _options.check_range("lock_timeout", params["lock_timeout"], *_options.LOCK_TIMEOUT_RANGE)
        _storage_io.set_timeout(params["storage_timeout"])
        recorded = allocate_and_record(params["lease_dir"], params["hosts"], release=params["release"],
                                       force=params["force"], liveness_interval=params["liveness_interval"],
                                       check_mode=module.check_mode, lock_timeout=params["lock_timeout"],
                                       diff=module._diff)
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    for warning in recorded.warnings:
        module.warn(warning)
    module.exit_json(**recorded.as_dict())


if __name__ == "__main__":
    main()
