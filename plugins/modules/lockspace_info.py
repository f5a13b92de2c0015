#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lockspace_info
short_description: sanlock's view, from this host, of every host of the libvirt lockspace and when each is dead
version_added: 0.2.0
description:
  - Reports how the local sanlock daemon sees every host of C(__LIBVIRT__DISKS__) in O(lease_dir) - host_id, owner
    name and generation (from the lockspace file), the state sanlock gives it (V(LIVE), V(UNKNOWN), V(FAIL), V(DEAD),
    V(FREE), as C(sanlock client gets -h 1) prints them), how long ago this host last saw it renew, and in how many
    seconds it will be seen V(FAIL) and V(DEAD) if it does not renew again.
  - Also this host's own renewal history (C(sanlock client renewal)) - read and write latency, gaps, stalls - and the
    timing that follows from the real io_timeout and watchdog_fire_timeout.
  - A host's leases can be taken by another host only once it is V(DEAD) (or V(FREE)); V(LIVE), V(UNKNOWN) and V(FAIL)
    hosts may still hold them. Each observer measures on its own clock from the last renewal it saw.
  - Without a join of the lockspace on this host, the hosts are read from the lockspace file with no state.
  - Only reads; changes nothing.
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
  - autolease.sanlock.lease_dir
  - autolease.sanlock.attributes.INFO_MODULE
options:
  renewals:
    description:
      - How many of the latest renewals of this host to return (the summary in RV(renewal) uses all sanlock keeps).
    type: int
    default: 20
seealso:
  - module: autolease.sanlock.lease_info
  - module: autolease.sanlock.host_info
"""

EXAMPLES = r"""
- name: Read sanlock's view of the cluster from every host
  autolease.sanlock.lockspace_info:
  register: liveness

- name: Show in how many seconds kvm03 (host_id 3) can be replaced, as this host sees it
  ansible.builtin.debug:
    msg: "{{ (liveness.hosts | selectattr('host_id', 'equalto', 3) | first).dead_in }}"
"""

RETURN = r"""
lockspace:
  description: Path of the lockspace file.
  returned: always
  type: str
daemon:
  description: Whether the local sanlock daemon answered.
  returned: always
  type: bool
joined:
  description: Whether the local daemon has joined the lockspace at that path.
  returned: always
  type: bool
host_id:
  description: This host's host_id in the lockspace (C(null) when not joined).
  returned: always
  type: int
our_host_name:
  description: The local daemon's name, written into its slot.
  returned: always
  type: str
io_timeout:
  description: This host's io_timeout in the lockspace (C(null) when not joined).
  returned: always
  type: int
watchdog_fire_timeout:
  description: The watchdog_fire_timeout sanlock uses (60 unless the daemon reports another).
  returned: always
  type: int
timing:
  description:
    - Seconds after a host's last successful renewal, for this host's io_timeout - V(renewal_interval) (2 io),
      V(local_warning) (6 io), V(vms_killed) (8 io, its daemon kills the lease holders), V(peers_see_fail) (8 io),
      V(watchdog_reset) and V(peers_see_dead) (8 io + watchdog_fire_timeout).
  returned: when joined
  type: dict
  sample: {renewal_interval: 20, local_warning: 60, vms_killed: 80, peers_see_fail: 80, watchdog_reset: 140,
           peers_see_dead: 140}
hosts:
  description:
    - Every host of the lockspace - C(host_id), C(owner_name), C(generation), C(state) (sanlock's verdict; C(null)
      when not joined here), C(timestamp) (the owner's clock), C(io_timeout) (the owner's), C(last_live) (this
      host's clock), C(seconds_since_live), and for other hosts C(fail_in) and C(dead_in) (seconds until this host
      sees it V(FAIL) or V(DEAD) if it does not renew again; 0 once reached).
  returned: always
  type: list
  elements: dict
  sample: [{host_id: 3, owner_name: kvm03, generation: 4, state: FAIL, io_timeout: 10, seconds_since_live: 95,
            fail_in: 0, dead_in: 45}]
renewals:
  description: The latest O(renewals) renewals of this host - C(timestamp), C(read_ms), C(write_ms),
    C(next_timeouts), C(next_errors).
  returned: always
  type: list
  elements: dict
renewal:
  description: Summary of the renewal history - C(count), C(since_last) (seconds), C(max_gap), C(max_read_ms),
    C(max_write_ms), C(timeouts), and C(stalls) (gaps over 8 io_timeout, C(ongoing) for the current one).
  returned: when joined
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _liveness, _options
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import OptionError
from ansible_collections.autolease.sanlock.plugins.module_utils._lockspace import lockspace_path


def main():
    module = AnsibleModule(
        argument_spec=dict(
            lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
            renewals=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        _options.check_absolute("lease_dir", params["lease_dir"])
        if params["renewals"] < 0:
            raise OptionError("renewals must be 0 or more, got %d" % params["renewals"])
    except OptionError as err:
        module.fail_json(msg=str(err))
    path = lockspace_path(os.path.normpath(params["lease_dir"]))
    module.exit_json(changed=False, **_liveness.observe(path, renewals=params["renewals"]))


if __name__ == "__main__":
    main()
