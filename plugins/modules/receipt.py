#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: receipt
short_description: Record what a role's change tasks produced on a host, for a fast idempotent re-run
version_added: 0.2.0
description:
  - Records a I(receipt) after a role's change tasks have all succeeded on a host. The receipt holds the role's
    inputs (O(inputs), its settings and the collection code) and an observation, taken now, of what O(watch) names,
    files (owner, group, mode, checksum), packages (version), systemd units (enabled, active), users (groups),
    mount points (source, filesystem, what is underneath) and joins of a sanlock lockspace (verified by content).
  - M(autolease.sanlock.host_info) with O(autolease.sanlock.host_info#module:receipts) observes the same things again
    and lists every difference (C(drift) in RV(autolease.sanlock.host_info#module:receipts)). A role skips its change
    tasks only when its receipt holds the same inputs and nothing drifted; any hand edit, stopped unit, changed
    setting or new collection code runs them all again.
  - The receipt says nothing about how the host should be; the role's change tasks do. It only records what they
    left, so the fast path cannot disagree with them.
  - Receipts are JSON files readable by root only in O(receipt_dir), one per O(name).
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  name:
    description:
      - Whose receipt this is (the role's name), made of letters, digits, V(.), V(_) and V(-).
    type: str
    required: true
  state:
    description:
      - V(present) records the receipt (observed now); V(absent) removes it, so that the next run applies every
        change task.
    type: str
    choices: [present, absent]
    default: present
  inputs:
    description:
      - What the change tasks were given, any data that compares equal when the run would be the same (the role's
        variables, the distribution, a digest of the collection's code).
    type: dict
    default: {}
  watch:
    description:
      - What the change tasks produced, to observe now and at every later read.
      - C(files), C(metadata), C(mounts) are lists of absolute paths (C(metadata) leaves the content out, for files
        that change on their own such as a lockspace); C(packages) and C(users) lists of names; C(units) maps a unit
        to the properties to watch (V(enabled), V(active)); C(joins) is a list of dicts with C(lease_dir) and
        C(host_id).
    type: dict
    default: {}
  receipt_dir:
    description:
      - Directory of the receipts (created root-only).
    type: path
    default: /var/lib/autolease-sanlock/receipts
seealso:
  - module: autolease.sanlock.host_info
"""

EXAMPLES = r"""
- name: Record what the sanlock role's change tasks produced
  autolease.sanlock.receipt:
    name: sanlock
    inputs:
      settings: {sanlock_use_watchdog: true}
      distribution: [Debian, "12"]
    watch:
      files: [/etc/sanlock/sanlock.conf]
      packages: [sanlock]
      units: {sanlock.service: [enabled, active]}
      users: [sanlock]

- name: Forget it (the next run applies every change task)
  autolease.sanlock.receipt:
    name: sanlock
    state: absent
"""

RETURN = r"""
observed:
  description: What O(watch) names, as observed now (empty with O(state=absent)).
  returned: always
  type: dict
  sample: {units: {sanlock.service: {enabled: enabled, active: active}}, packages: {sanlock: 3.8.5-2}}
receipts:
  description: Every receipt stored on the host, read again after this one was written, as
    RV(autolease.sanlock.host_info#module:receipts) returns them.
  returned: always
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _receipt
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            inputs=dict(type="dict", default={}),
            watch=dict(type="dict", default={}),
            receipt_dir=dict(type="path", default=_receipt.DEFAULT_DIR),
        ),
        supports_check_mode=True,
    )
    params = module.params
    directory = params["receipt_dir"]
    try:
        if params["state"] == "absent":
            _receipt.check_name(params["name"])
            changed = os.path.exists(_receipt.path_of(directory, params["name"]))
            if changed and not module.check_mode:
                _receipt.remove(directory, params["name"])
            observed = {}
        else:
            receipt = _receipt.build(params["name"], params["inputs"], params["watch"])
            observed = receipt["observed"]
            changed = _receipt.load(directory, params["name"]) != json.loads(json.dumps(receipt))
            if changed and not module.check_mode:
                _receipt.write(directory, receipt)
        receipts = _receipt.read(directory, _receipt.stored_names(directory))
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=changed, observed=observed, receipts=receipts)


if __name__ == "__main__":
    main()
