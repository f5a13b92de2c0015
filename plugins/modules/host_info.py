#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_info
short_description: Read in one run what the autolease.sanlock roles need to know of a host
version_added: 0.1.0
description:
  - Reads files, mount points, systemd unit states, user groups, the lockspaces the local sanlock daemon has joined, the slots of the lockspace file, the
    host_id registry, the running VMs, the sanlock settings waiting for a daemon restart and the running VMs
    that hold no lease because sanlock does not know them, all in one module run.
  - With O(receipts), also reads the receipts M(autolease.sanlock.receipt) recorded and observes again what each one
    watches, listing every difference. The roles of this collection skip their change tasks when their receipt
    holds the same inputs and nothing drifted; C(playbooks/site.yml) reads the receipts of all roles once per host.
  - Anything a reader cannot answer is returned as C(null).
  - Lease storage that does not answer within O(storage_timeout) (O(lease_dir) or any of O(paths)) is not
    reported as C(null). The module fails, naming the host, the path and the mount, since the roles' change tasks
    would hang on the same storage.
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
      - Files and directories to read. Regular files up to 1 MiB are returned with their content.
    type: list
    elements: path
    default: []
  units:
    description:
      - systemd units whose state to return, with their suffix (V(sanlock.service), V(libvirtd.socket)).
    type: list
    elements: str
    default: []
  users:
    description:
      - Users whose groups to return.
    type: list
    elements: str
    default: []
  lease_dir:
    description:
      - Lease directory whose lockspace slots to read. Omit to skip.
    type: path
  all_slots:
    description:
      - Return every used slot of the lockspace file in RV(slots). V(false) returns only the slots of the ids the
        local daemon has joined with; RV(slots_digest) still covers all of them. The hosts of a play then hold n
        slots instead of n x n (1.5 GB on the controller for 2,000 hosts), and equal digests prove that they read
        one lockspace file.
    type: bool
    default: true
    version_added: 0.2.0
  libvirt_uri:
    description:
      - libvirt connection URI for the list of running VMs. An empty string skips the list.
    type: str
    default: qemu:///system
  qemu_run_dir:
    description:
      - Directory of the pid files of running QEMU domains.
    type: path
    default: /run/libvirt/qemu
  sanlock_conf:
    description:
      - The sanlock daemon's configuration file, compared with the settings the running daemon uses
        (RV(sanlock_pending)).
    type: path
    default: /etc/sanlock/sanlock.conf
  receipts:
    description:
      - Names of the receipts to read (the roles' names). A name without a receipt is returned as C(null).
    type: list
    elements: str
    default: []
  receipt_dir:
    description:
      - Directory of the receipts.
    type: path
    default: /var/lib/autolease-sanlock/receipts
  os_facts:
    description:
      - Also return the distribution and SELinux facts (as M(ansible.builtin.setup) collects them) as
        C(ansible_facts), which is all the roles of this collection need; a play can then skip gathering facts.
    type: bool
    default: false
seealso:
  - module: autolease.sanlock.lease_info
  - module: autolease.sanlock.receipt
"""

EXAMPLES = r"""
- name: Read the sanlock configuration, the lease directory and the services
  autolease.sanlock.host_info:
    paths:
      - /etc/sanlock/sanlock.conf
      - /var/lib/libvirt/sanlock
    units: [sanlock.service]
    users: [sanlock]
    lease_dir: /var/lib/libvirt/sanlock
  register: host

- name: Show whether sanlock runs
  ansible.builtin.debug:
    msg: "{{ host.units['sanlock.service'].active | default('not installed') }}"
"""

RETURN = r"""
files:
  description: Path -> exists, type (file, directory, link, other), owner, group, mode, and for regular files
    sha256 and (up to 1 MiB) content.
  returned: always
  type: dict
  sample: {"/etc/sanlock/sanlock.conf": {exists: true, type: file, owner: root, group: root, mode: "0644",
           sha256: "9f86d0...", content: "our_host_name = kvm1\n"}}
mounts:
  description: Path -> source, fstype, options, root (the directory of the source filesystem mounted there,
    C(/) except for bind mounts) and underneath (C(uid:gid:mode) of the directory the mounts hide, read in a
    private mount namespace; C(null) when it cannot be read), for those of O(paths) that are mount points.
  returned: always
  type: dict
  sample: {"/var/lib/libvirt/sanlock": {source: "nfs.example.org:/export/sanlock", fstype: nfs4, options: rw, root: /,
                                         underneath: "0:0:0"}}
units:
  description: Unit of O(units) -> enabled (UnitFileState, empty for a missing unit) and active (ActiveState);
    C(null) without systemd.
  returned: always
  type: dict
  sample: {"sanlock.service": {enabled: enabled, active: active}}
users:
  description: User -> names of its groups (C(null) for a missing user).
  returned: always
  type: dict
lockspaces:
  description: Lockspaces the local sanlock daemon has joined (name, host_id, path); C(null) when it does not
    answer.
  returned: always
  type: list
  elements: dict
lease_dir:
  description: O(lease_dir), the directory RV(slots) were read from.
  returned: always
  type: str
slots:
  description: host_id (as a string) -> owner_name and generation of the used slots of the lockspace file in
    O(lease_dir) (with O(all_slots=false), those of the ids the local daemon has joined with); C(null) without a
    readable lockspace.
  returned: always
  type: dict
slots_digest:
  description: sha256 of all the used slots (host_id, owner_name and generation, not the renewal times), the same
    on every host that reads one lockspace file while no host joins or leaves; C(null) without a readable lockspace.
  returned: always
  type: str
  version_added: 0.2.0
registry:
  description: Host name -> host_id recorded in the host_id registry of O(lease_dir) (empty without one);
    C(null) when it cannot be read.
  returned: always
  type: dict
running_vms:
  description: Names of the running VMs; C(null) when libvirt does not answer.
  returned: always
  type: list
  elements: str
qemu_pid_files:
  description: Number of pid files of QEMU domains in O(qemu_run_dir).
  returned: always
  type: int
sanlock_pending:
  description:
    - Settings of O(sanlock_conf) that the running sanlock daemon does not use (the daemon reads the file only
      when it starts and cannot restart while it has joined a lockspace), as C(setting), C(file) (the value in
      the file) and C(daemon) (the value the daemon runs with, as C(sanlock client status -D) prints it).
    - Only settings the daemon prints can be compared (not C(io_timeout) or C(watchdog_fire_timeout)). An
      option on the daemon's command line (such as C(-w 0)) wins over the file and keeps its difference.
    - Empty when nothing is pending; C(null) when the daemon does not answer or the file cannot be read.
  returned: always
  type: list
  elements: dict
  sample: [{setting: use_watchdog, file: "1", daemon: 0}]
unprotected_vms:
  description:
    - Names of the running QEMU domains (a pid file in O(qemu_run_dir) with a live process) whose process is
      not registered with the local sanlock daemon. libvirt registers a QEMU process only when it starts it
      with the sanlock lock manager, so such a VM holds no lease until it is restarted or live-migrated.
    - A paused VM stays registered and is not listed. C(null) when VMs run and the sanlock daemon does not
      answer.
  returned: always
  type: list
  elements: str
  sample: [web1]
receipts:
  description:
    - Name of O(receipts) -> C(null) without a receipt, else C(inputs) (a digest of the inputs recorded),
      C(input_values) (those inputs) and C(drift) (every difference between what the receipt observed and the host
      now; empty when nothing drifted).
  returned: always
  type: dict
  sample: {sanlock: {inputs: '{"settings":{}}', input_values: {settings: {}},
                     drift: ["units sanlock.service: active active -> inactive"]}}
ansible_facts:
  description: The distribution facts (C(distribution), C(distribution_major_version), C(os_family), ...) and
    C(selinux), as M(ansible.builtin.setup) collects them.
  returned: when O(os_facts=true)
  type: dict
  sample: {os_family: Debian, distribution: Debian, distribution_major_version: "12", selinux: {status: disabled}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _options, _receipt, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError, OptionError
from ansible_collections.autolease.sanlock.plugins.module_utils._host_info import host_info


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            units=dict(type="list", elements="str", default=[]),
            users=dict(type="list", elements="str", default=[]),
            lease_dir=dict(type="path"),
            all_slots=dict(type="bool", default=True),
            libvirt_uri=dict(type="str", default="qemu:///system"),
            qemu_run_dir=dict(type="path", default="/run/libvirt/qemu"),
            sanlock_conf=dict(type="path", default="/etc/sanlock/sanlock.conf"),
            receipts=dict(type="list", elements="str", default=[]),
            receipt_dir=dict(type="path", default=_receipt.DEFAULT_DIR),
            os_facts=dict(type="bool", default=False),
            storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        for option in ("lease_dir", "qemu_run_dir", "sanlock_conf"):
            _options.check_absolute(option, params[option])
        for path in params["paths"]:
            _options.check_absolute("paths", path)
        for name in params["receipts"]:
            _receipt.check_name(name)
        _storage_io.set_timeout(params["storage_timeout"])
    except OptionError as err:
        module.fail_json(msg=str(err))
    try:
        info = host_info(params["paths"], units=params["units"], users=params["users"],
                         lease_dir=params["lease_dir"], libvirt_uri=params["libvirt_uri"],
                         qemu_run_dir=params["qemu_run_dir"], sanlock_conf=params["sanlock_conf"],
                         all_slots=params["all_slots"])
        # The receipts' mounts and joins are read once, by host_info() above.
        info["receipts"] = _receipt.read(params["receipt_dir"], params["receipts"],
                                         known={"mounts": (params["paths"], info["mounts"]),
                                                "joins": info["lockspaces"]})
    except AutoleaseError as err:  # the lease storage does not answer (StorageTimeout)
        module.fail_json(msg=str(err))
    if params["os_facts"]:
        # Imported here: compiling the fact collectors costs every run that does not need them.
        from ansible.module_utils.facts.system.distribution import DistributionFactCollector
        from ansible.module_utils.facts.system.selinux import SelinuxFactCollector

        facts = DistributionFactCollector().collect(module=module)
        facts.update(SelinuxFactCollector().collect(module=module))
        info["ansible_facts"] = facts
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
