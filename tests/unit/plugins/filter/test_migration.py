# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters migration_preflight, migration_plan and migration_disk_paths (plugins/filter/migration.py).

The checks themselves are tested in tests/unit/plugins/module_utils/test__migration.py; here the filters'
input checks, their registration and a render through the real ansible-core templating.
"""

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.filter.migration import (
    FilterModule,
    migration_disk_paths,
    migration_plan,
    migration_preflight,
)

LEASES = "/var/lib/libvirt/sanlock"
SLOTS = dict((str(i), {"owner_name": "kvm%d" % i, "generation": 1}) for i in (1, 2, 3))


def info(i, domains=None, paths=None):
    """What migration_info returns on host kvm<i> (host_id i) of a clean three-host cluster."""
    return {"hostname": "kvm%d" % i, "lock_manager": "sanlock", "disk_lease_dir": LEASES, "auto_disk_leases": True,
            "host_id": i, "owner_name": "kvm%d" % i, "joined": True, "slots": copy.deepcopy(SLOTS),
            "join": {"host_id": i, "path": LEASES + "/__LIBVIRT__DISKS__", "verified": True, "proof": "p"},
            "domains": domains or {}, "mem_available_kib": 4194304, "paths": paths or {}, "errors": []}


def cluster():
    vms = dict((name, {"state": "running", "active": True, "memory_kib": 1024, "disks": [
        {"path": "/images/%s.img" % name, "target": "vda", "shared": False, "kind": "file"}]}) for name in ("db", "web"))
    paths = dict((path, {"exists": True, "kind": "file"}) for path in ("/images/db.img", "/images/web.img"))
    return {"kvm1": info(1, vms), "kvm2": info(2, paths=paths), "kvm3": info(3, paths=paths)}


def test_registered_under_their_names():
    assert FilterModule().filters() == {"migration_preflight": migration_preflight, "migration_plan": migration_plan,
                                        "migration_disk_paths": migration_disk_paths}


def test_inputs_that_are_not_migration_info_results_fail_naming_them():
    hosts = cluster()
    with pytest.raises(AnsibleFilterError, match="migration_preflight: the destination must be the result of "
                                                 "autolease.sanlock.migration_info"):
        migration_preflight(hosts["kvm1"], {"changed": False})
    with pytest.raises(AnsibleFilterError, match="migration_preflight: domains must be a list of domain names, "
                                                 "got 'web'"):
        migration_preflight(hosts["kvm1"], hosts["kvm2"], "web")
    with pytest.raises(AnsibleFilterError, match="migration_plan: the candidates must map each host name"):
        migration_plan(hosts["kvm1"], [hosts["kvm2"]])
    with pytest.raises(AnsibleFilterError, match="migration_plan: candidate kvm9 must be the result"):
        migration_plan(hosts["kvm1"], {"kvm9": None})
    with pytest.raises(AnsibleFilterError, match="migration_disk_paths: expected a list"):
        migration_disk_paths("kvm1")


def test_disk_paths_of_one_result_a_list_or_a_dict():
    hosts = cluster()
    want = ["/images/db.img", "/images/web.img"]
    assert migration_disk_paths(hosts["kvm1"]) == want
    assert migration_disk_paths(list(hosts.values())) == want
    assert migration_disk_paths(hosts) == want


def test_through_ansible_templating(render):
    hosts = cluster()
    hosts["kvm3"]["lock_manager"] = "none"
    expr = ("{{ {'pre': hosts.kvm1 | combine({'host': 'kvm1'}) | autolease.sanlock.migration_preflight("
            "hosts.kvm3 | combine({'host': 'kvm3'}), ['web']) | map(attribute='reason') | list,"
            " 'plan': hosts.kvm1 | combine({'host': 'kvm1'}) | autolease.sanlock.migration_plan(hosts),"
            " 'paths': hosts | autolease.sanlock.migration_disk_paths} }}")
    msg, result = render(expr, {"hosts": hosts})
    assert msg == {"pre": ["lock_manager on kvm3 is 'none', not 'sanlock': libvirt refuses a migration between "
                           "hosts whose lock managers differ, and without sanlock no disk lease protects the VM "
                           "there"],
                   "plan": {"plan": {"db": "kvm2", "web": "kvm2"}, "problems": []},
                   "paths": ["/images/db.img", "/images/web.img"]}, result
