# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters migration_preflight, migration_plan and migration_disk_paths (documented in their .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.module_utils._migration import disk_paths, plan, preflight

_INFO = "the result of autolease.sanlock.migration_info"


def _info(filter_name, what, value):
    if not isinstance(value, dict) or "lock_manager" not in value:
        raise AnsibleFilterError("%s: %s must be %s (a dict with lock_manager, domains, ...), got %r"
                                 % (filter_name, what, _INFO, value if not isinstance(value, dict) else sorted(value)))
    return value


def _names(filter_name, domains):
    if domains is None:
        return None
    if isinstance(domains, str) or not isinstance(domains, (list, tuple)):
        raise AnsibleFilterError("%s: domains must be a list of domain names, got %r" % (filter_name, domains))
    return [str(name) for name in domains]


def migration_preflight(source_info, destination_info, domains=None):
    return preflight(_info("migration_preflight", "the source", source_info),
                     _info("migration_preflight", "the destination", destination_info),
                     _names("migration_preflight", domains))


def migration_plan(source_info, candidates_infos, domains=None):
    if not isinstance(candidates_infos, dict):
        raise AnsibleFilterError("migration_plan: the candidates must map each host name to %s, got %s"
                                 % (_INFO, type(candidates_infos).__name__))
    for name, info in candidates_infos.items():
        _info("migration_plan", "candidate %s" % name, info)
    return plan(_info("migration_plan", "the source", source_info), candidates_infos, _names("migration_plan", domains))


def migration_disk_paths(infos):
    if isinstance(infos, dict) and "lock_manager" in infos:
        infos = [infos]
    elif isinstance(infos, dict):
        infos = list(infos.values())
    if not isinstance(infos, list):
        raise AnsibleFilterError("migration_disk_paths: expected a list of %s results (or host -> result), got %s"
                                 % (_INFO, type(infos).__name__))
    return disk_paths([_info("migration_disk_paths", "each item", info) for info in infos])


class FilterModule(object):
    def filters(self):
        return {"migration_preflight": migration_preflight, "migration_plan": migration_plan,
                "migration_disk_paths": migration_disk_paths}
