#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lease_cleanup
short_description: Safely remove unused sanlock disk leases (a fast replacement of virt-sanlock-cleanup)
version_added: 0.1.0
description:
  - Removes lease files in O(lease_dir) that no host holds. Each candidate is acquired through the local sanlock
    daemon, deleted while held, then released; a lease that cannot be acquired (held by this or any other host)
    is never deleted.
  - The file deleted is the one acquired (a file put at the path meanwhile is left alone), and its lease is
    cleared on storage before the delete, so a sanlock daemon that opened it earlier cannot acquire the deleted
    file (it gets C(Lease does not exist on storage)).
  - Candidates are regular files directly in O(lease_dir) that are initialised leases of the lockspace
    C(__LIBVIRT__DISKS__) whose resource name is the file name.
  - Never deleted, and reported in RV(skipped) with the reason, or RV(kept) - the lockspace file, symlinks,
    directories and other non-regular files, invalid or uninitialised files, leases of another lockspace,
    leases named in O(keep), leases whose file changed less than O(min_age) seconds ago.
  - Several workers, each with its own sanlock registration, remove leases in parallel.
  - One cleanup per lease directory and host at a time - an exclusive lock on
    C(/run/autolease-sanlock-cleanup-<md5 of lease_dir>.lock); a second run fails at once naming the pid of the first.
  - One cleanup per lease directory in the whole cluster at a time - the cleanup holds the sanlock lease
    C(<lease_dir>/__AUTOLEASE_CLEANUP__) (created on the first run, owned like the lockspace file) while it runs;
    a cleanup on another host fails at once naming the host_id that holds it. The file is the collection's own -
    never removed, never reported as a lease or an invalid entry.
  - libvirt releases the leases of paused and migrating domains, so such a lease looks unused; use O(min_age) or
    O(keep) around migrations.
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
      - Reads the owners recorded on disk and acquires nothing. A lease with any owner recorded (even a host that
        died since) is reported as held; everything else as would-be removed. Does not create the cluster-wide
        lock file; RV(cluster_lock.created) says it would.
  diff_mode:
    support: full
    details:
      - Lists the leases removed.
options:
  keep:
    description:
      - Leases never to remove, as lease names (32 hex digits) or as absolute disk paths (converted with the lease
        naming). Any other entry (empty, relative path) is refused before anything is removed.
    type: list
    elements: str
    default: []
  min_age:
    description:
      - Keep leases whose file changed less than this many seconds ago (every acquire writes the lease). The
        default 0 removes any unused lease, as virt-sanlock-cleanup does. Must be >= 0.
    type: int
    default: 0
  workers:
    description:
      - Parallel workers. Default - the daemon's C(max_worker_threads) from C(/etc/sanlock/sanlock.conf), else 8.
      - Accepted range 1-64. Each worker is one thread with its own sanlock registration, and the daemon serves
        only C(max_worker_threads) requests at a time, so more workers only add load on the shared storage.
    type: int
requirements:
  - python3-sanlock
  - the local sanlock daemon running and joined to C(__LIBVIRT__DISKS__) (libvirtd joins it when its sanlock lock
    driver loads)
seealso:
  - module: autolease.sanlock.lease_info
  - module: autolease.sanlock.lease
"""

EXAMPLES = r"""
- name: Remove unused leases older than an hour
  autolease.sanlock.lease_cleanup:
    min_age: 3600

- name: See what would be removed
  autolease.sanlock.lease_cleanup:
  check_mode: true
  register: would

- name: Keep the lease of a disk during a maintenance window
  autolease.sanlock.lease_cleanup:
    keep:
      - /var/lib/libvirt/images/paused-vm.img
"""

RETURN = r"""
removed:
  description: Lease names removed (in check mode - that would be removed).
  returned: always
  type: list
  elements: str
held:
  description: Leases a host holds, not removed, with the owners' host_ids.
  returned: always
  type: list
  elements: dict
  sample: [{name: bfa0240911bc17753e0b473688822159, owners: [{host_id: 2, generation: 1, shared: false}],
            reason: "held (Lease is held by another host)"}]
kept:
  description: Leases kept because of O(keep) or O(min_age), with the reason.
  returned: always
  type: list
  elements: dict
skipped:
  description: Entries that are not removable leases, with the reason (lockspace file, symlink, directory,
    uninitialised, other lockspace...).
  returned: always
  type: list
  elements: dict
cluster_lock:
  description: The cluster-wide cleanup lock lease in O(lease_dir) and whether this run created it (in check mode -
    would create it).
  returned: always
  type: dict
  sample: {name: __AUTOLEASE_CLEANUP__, created: false}
  contains:
    name:
      description: File name of the lock lease in O(lease_dir).
      type: str
      returned: always
    created:
      description: Whether this run created the file (in check mode - would create it).
      type: bool
      returned: always
counts:
  description: Number of entries in each list.
  returned: always
  type: dict
  sample: {removed: 3, held: 1, kept: 0, skipped: 1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils._cleanup import run_cleanup
from ansible_collections.autolease.sanlock.plugins.module_utils import _options, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError

ARGUMENT_SPEC = dict(
    lease_dir=dict(type="path", default="/var/lib/libvirt/sanlock"),
    keep=dict(type="list", elements="str", default=[]),
    min_age=dict(type="int", default=0),
    workers=dict(type="int"),
    storage_timeout=dict(type="int", default=_storage_io.DEFAULT_TIMEOUT),
)


def check_options(params):
    _options.check_absolute("lease_dir", params["lease_dir"])
    _options.check_keep("keep", params["keep"])
    _options.check_range("min_age", params["min_age"], 0)
    _options.check_range("workers", params["workers"], *_options.WORKERS_RANGE, unit="threads")


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        check_options(params)
        _storage_io.set_timeout(params["storage_timeout"])
        _storage_io.probe(params["lease_dir"])
        result = run_cleanup(params["lease_dir"], keep=params["keep"], min_age=params["min_age"],
                             workers=params["workers"], check_mode=module.check_mode).as_dict()
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    if module._diff:
        result["diff"] = {"before": {"leases": result["removed"]}, "after": {"leases": []}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
