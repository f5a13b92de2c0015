# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters audit_findings, audit_failures, audit_report, audit_liveness and lockspace_membership (see <name>.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.autolease.sanlock.plugins.module_utils._audit import (
    audit,
    failures,
    liveness_report,
    lockspace_membership,
    report,
)


def audit_findings(hosts):
    if not isinstance(hosts, dict):
        raise AnsibleFilterError("audit_findings: expected a dict host -> collected data, got %s" % type(hosts).__name__)
    return audit(hosts)


def audit_failures(findings):
    if not isinstance(findings, list):
        raise AnsibleFilterError("audit_failures: expected the list from audit_findings, got %s" % type(findings).__name__)
    return failures(findings)


def sanlock_lockspace_membership(gets_output):
    if not isinstance(gets_output, str):
        raise AnsibleFilterError("lockspace_membership: expected the output of 'sanlock client gets', got %s"
                                 % type(gets_output).__name__)
    return lockspace_membership(gets_output)


def audit_report(findings):
    if not isinstance(findings, list):
        raise AnsibleFilterError("audit_report: expected the list from audit_findings, got %s" % type(findings).__name__)
    return report(findings)


def audit_liveness(hosts):
    if not isinstance(hosts, dict):
        raise AnsibleFilterError("audit_liveness: expected a dict host -> collected data, got %s" % type(hosts).__name__)
    return liveness_report(hosts)


class FilterModule(object):
    def filters(self):
        return {"audit_findings": audit_findings, "audit_failures": audit_failures, "audit_report": audit_report,
                "lockspace_membership": sanlock_lockspace_membership, "audit_liveness": audit_liveness}
