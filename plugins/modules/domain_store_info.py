#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: domain_store_info
short_description: Read the domain definitions the hosts keep on the shared lease storage
version_added: 0.1.0
description:
  - Reads O(lease_dir)/C(autolease.sanlock/domains/<host>/<domain name>.xml) as M(autolease.sanlock.domain_store)
    writes them - of every host, or of O(host) only - with the disks of each domain that get an automatic lease
    and their lease file names.
  - Any host sharing the lease storage can read the definitions of another, also when that host is gone.
  - Symbolic links and files not owned by root in the store are not followed or are refused.
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
  - autolease.sanlock.storage_timeout
  - autolease.sanlock.lease_dir
  - autolease.sanlock.attributes.INFO_MODULE
options:
  host:
    description:
      - Read only the definitions stored under this name (the O(autolease.sanlock.domain_store#module:host) the
        host exported with). Default - every host of the store.
    type: str
notes:
  - Runs as root (the store is root's, mode 0700).
  - The definitions hold security information (passwords of graphics or storage, when set); the task output shows
    them, so register the result with C(no_log) where logs are shared.
seealso:
  - module: autolease.sanlock.domain_store
"""

EXAMPLES = r"""
- name: Read the definitions of a host that is gone
  autolease.sanlock.domain_store_info:
    host: kvm3
  register: stored
  no_log: true

- name: List its domains and the leases of their disks
  ansible.builtin.debug:
    msg: "{{ stored.hosts.kvm3 | default({}) | dict2items | map(attribute='key') }}"
"""

RETURN = r"""
hosts:
  description:
    - Host name -> domain name -> its definition (C(xml)), the source paths of its disks that get an automatic
      lease (C(disks)), their lease file names (C(leases)) and when its file last changed (C(mtime), seconds since
      the epoch).
    - A host that never exported is absent; one that exported while it had no domain maps to an empty dict.
    - A file whose XML cannot be parsed has empty C(disks) and C(leases) and an C(error) naming the file.
  returned: always
  type: dict
  sample:
    kvm3:
      vm1:
        xml: "<domain type='kvm'>...</domain>"
        disks: [/var/lib/libvirt/images/vm1.img]
        leases: [7d1b4ba8a7a0bc1dd8f8f8a5f81f0a7e]
        mtime: 1733371200.25
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _domain_store, _options, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError

ARGUMENT_SPEC = dict(
    lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
    host=dict(type="str"),
    storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        _options.check_absolute("lease_dir", params["lease_dir"])
        _storage_io.set_timeout(params["storage_timeout"])
        hosts = _domain_store.read(params["lease_dir"], params["host"])
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=False, hosts=hosts)


if __name__ == "__main__":
    main()
