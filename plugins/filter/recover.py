# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters autolease.sanlock.recover_plan and leases_held_by (documented in their .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.module_utils._recover import held_leases, plan


def recover_plan(failed, views, registry=None, leases=None, domains=None, free_kib=None, target=None,
                 running_on_failed=None):
    if not isinstance(failed, str) or not failed:
        raise AnsibleFilterError("recover_plan: the failed host must be an inventory name, got %r" % (failed,))
    if not isinstance(views, dict):
        raise AnsibleFilterError("recover_plan: views must map each surviving host to its lockspace_info result")
    free = dict((name, int(value)) for name, value in (free_kib or {}).items())
    return plan(failed, views, registry, leases or [], domains or {}, free, target or None, running_on_failed or [])


def leases_held_by(leases, host_id):
    if not isinstance(leases, list):
        raise AnsibleFilterError("leases_held_by: expected lease_info's leases (a list), got %s" % type(leases).__name__)
    return held_leases(int(host_id), leases)


class FilterModule(object):
    def filters(self):
        return {"recover_plan": recover_plan, "leases_held_by": leases_held_by}
