# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters audit_findings and audit_report (documented in audit_findings.yml, audit_report.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.autolease.sanlock.plugins.module_utils._audit import audit, report


def audit_findings(hosts):
    if not isinstance(hosts, dict):
        raise AnsibleFilterError("audit_findings: expected a dict host -> collected data, got %s" % type(hosts).__name__)
    return audit(hosts)


def audit_report(findings):
    if not isinstance(findings, list):
        raise AnsibleFilterError("audit_report: expected the list from audit_findings, got %s" % type(findings).__name__)
    return report(findings)


class FilterModule(object):
    def filters(self):
        return {"audit_findings": audit_findings, "audit_report": audit_report}
