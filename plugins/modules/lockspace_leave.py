#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lockspace_leave
short_description: Make the local sanlock daemon leave stale joins of the libvirt lockspace, when no lease is held
version_added: 0.2.0
description:
  - libvirt joins C(__LIBVIRT__DISKS__) when its sanlock lock driver loads and never leaves it. A join is stale when
    it is not the one O(lease_dir) and O(host_id) ask for, or when the file now at its path does not hold the
    daemon's own latest renewal (the lease storage was mounted over the directory after the join, so the daemon
    renews a hidden local file and other hosts cannot see its leases).
  - Leaves every stale join of C(__LIBVIRT__DISKS__), each only if no lease is held in it (sanlock checks and
    removes in one step); otherwise fails naming the join and the fix, and leaves nothing.
  - A libvirt daemon restarted afterwards joins the lockspace on the lease storage.
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
  - autolease.sanlock.lease_dir
attributes:
  check_mode:
    support: full
    details:
      - Reports the joins it would leave; leaves none.
  diff_mode:
    support: full
    details:
      - The joins of the libvirt lockspace before and after.
options:
  host_id:
    description:
      - The host_id this host should hold in the lockspace at O(lease_dir).
      - Omit it to leave every join of the libvirt lockspace, the verified one included, for example before the
        lease storage mounted on O(lease_dir) is replaced by another.
    type: int
seealso:
  - module: autolease.sanlock.host_info
"""

EXAMPLES = r"""
- name: Leave a lockspace joined before the lease storage was mounted
  autolease.sanlock.lockspace_leave:
    lease_dir: /var/lib/libvirt/sanlock
    host_id: 3
  register: left

- name: Restart libvirtd to join the lockspace on the lease storage
  ansible.builtin.service:
    name: libvirtd
    state: restarted
  when: left is changed

- name: Leave the lockspace before the lease storage is replaced (fails if a lease is held)
  autolease.sanlock.lockspace_leave:
    lease_dir: /var/lib/libvirt/sanlock
"""

RETURN = r"""
left:
  description: The joins left (or that would be left in check mode) - name, host_id, path, and why each was stale.
  returned: always
  type: list
  elements: dict
  sample: [{name: __LIBVIRT__DISKS__, host_id: 3, path: /var/lib/libvirt/sanlock/__LIBVIRT__DISKS__,
            proof: "slot 3 of the file now at ... belongs to ..."}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _join_proof
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError

ARGUMENT_SPEC = dict(
    lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
    host_id=dict(type="int"),
)


def _show(joins):
    return "".join("%s:%d:%s\n" % (join["name"], join["host_id"], join["path"]) for join in joins)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    host_id = module.params["host_id"]
    if host_id is not None and not 1 <= host_id <= 2000:
        module.fail_json(msg="host_id=%d is not a sanlock host_id: use the host's id, from 1 to 2000" % host_id)
    lease_dir = module.params["lease_dir"].rstrip("/") or "/"
    try:
        before = _join_proof.proven_joins()
        stale = _join_proof.stale_joins(before, lease_dir, host_id)
        if not module.check_mode:
            for join in stale:
                _join_proof.leave(join)
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    left = [dict((key, join[key]) for key in ("name", "host_id", "path", "proof")) for join in stale]
    result = dict(changed=bool(stale), left=left)
    if module._diff:
        result["diff"] = {"before": _show(before), "after": _show([j for j in before if j not in stale])}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
