# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter autolease.sanlock.lease_name; documentation in lease_name.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name as _lease_name


def lease_name(disk_path):
    """The lease name libvirt's sanlock plugin uses for a disk source path."""
    if not isinstance(disk_path, (str, bytes)):
        raise AnsibleFilterError("lease_name: expected a disk path string, got %s %r; pass the disk source path "
                                 "as written in the domain XML" % (type(disk_path).__name__, disk_path))
    try:
        return _lease_name(to_text(disk_path, errors="surrogate_or_strict") if isinstance(disk_path, str)
                           else disk_path)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError(str(err))


class FilterModule(object):
    def filters(self):
        return {"lease_name": lease_name}
