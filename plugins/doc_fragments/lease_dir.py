# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # The lease_dir option every module of the collection takes.
    DOCUMENTATION = r"""
options:
  lease_dir:
    description:
      - The shared lease directory (qemu-sanlock.conf C(disk_lease_dir)). It must exist; libvirt never creates it.
    type: path
    default: /var/lib/libvirt/sanlock
"""
