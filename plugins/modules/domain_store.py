#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: domain_store
short_description: Keep this host's libvirt domain definitions on the shared lease storage
version_added: 0.1.0
description:
  - Writes every domain defined on this host to
    O(lease_dir)/C(autolease.sanlock/domains/)O(host)C(/<domain name>.xml), so that the other hosts sharing the
    lease storage still have the definitions when this host is gone (see the recover playbook).
  - Persistent domains are stored as C(virsh dumpxml --inactive --security-info) prints them, transient (running,
    never defined) domains with their live definition. Files of domains no longer defined on this host are
    removed; the files of other hosts are never touched.
  - The files are root:root 0600 in root 0700 directories (a definition with security information may hold
    passwords), inside the collection's root-owned directory C(autolease.sanlock) beside the leases, which the lease
    cleanup and M(autolease.sanlock.lease_info) skip.
  - Each file is written to a temporary file in its directory, synced and renamed into place, so a reader never sees
    a partial file. A file whose content, owner and mode are already right is not written again.
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
      - Reports the domains whose files would be written and removed; writes nothing.
  diff_mode:
    support: full
    details:
      - One line per file of this host's directory, C(<domain name>.xml <sha256>), before and after.
options:
  host:
    description:
      - The name the store files this host's definitions under, normally C({{ inventory_hostname }}), the name the
        recover playbook is given for a host that is gone.
      - One file name - no C(/), not C(.) or C(..), not starting with C(.).
    type: str
    required: true
  libvirt_uri:
    description:
      - libvirt connection URI whose domains are stored.
    type: str
    default: qemu:///system
requirements:
  - python3-libvirt on the managed host (Debian/Ubuntu C(apt-get install python3-libvirt), RHEL/Fedora
    C(dnf install python3-libvirt)).
notes:
  - Runs as root (the store is root's).
  - The cleanup_schedule role runs this module on every host it installs on and refreshes the store every 10 minutes
    from cron (C(/usr/local/sbin/autolease-sanlock-export-domains)).
seealso:
  - module: autolease.sanlock.domain_store_info
"""

EXAMPLES = r"""
- name: Keep this host's domain definitions on the lease storage
  autolease.sanlock.domain_store:
    host: "{{ inventory_hostname }}"
    lease_dir: /var/lib/libvirt/sanlock
  register: store

- name: Show which lease each disk of the stored domains uses
  ansible.builtin.debug:
    msg: "{{ store.domains | dict2items | map(attribute='value.leases') | flatten }}"
"""

RETURN = r"""
written:
  description: Domains whose file was written because it was missing or differed in content, owner or mode (in
    check mode - that would be written).
  returned: always
  type: list
  elements: str
  sample: [vm1]
removed:
  description: Domains whose file was removed because the domain is no longer defined on this host (in check
    mode - that would be removed).
  returned: always
  type: list
  elements: str
  sample: [retired-vm]
domains:
  description:
    - Every domain defined on this host - the path of its file in the store, the source paths of its disks that
      get an automatic lease (as written in the XML) and the lease file names of those disks (md5 of the path).
  returned: always
  type: dict
  sample:
    vm1:
      path: /var/lib/libvirt/sanlock/autolease.sanlock/domains/kvm1/vm1.xml
      disks: [/var/lib/libvirt/images/vm1.img]
      leases: [7d1b4ba8a7a0bc1dd8f8f8a5f81f0a7e]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _domain_store, _options, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError

ARGUMENT_SPEC = dict(
    lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
    host=dict(type="str", required=True),
    libvirt_uri=dict(type="str", default="qemu:///system"),
    storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        _options.check_absolute("lease_dir", params["lease_dir"])
        _storage_io.set_timeout(params["storage_timeout"])
        plan = _domain_store.export_plan(params["lease_dir"], params["host"], uri=params["libvirt_uri"],
                                         check_mode=module.check_mode)
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    result = plan.as_dict()
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
