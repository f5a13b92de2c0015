# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # The storage_timeout option of the modules that read the lease storage.
    DOCUMENTATION = r"""
options:
  storage_timeout:
    description:
      - Seconds each read of the lease storage may take. When the storage does not answer in time (a hard NFS
        mount whose server hangs), the module fails right away, naming the host, the path and the mount, instead
        of hanging.
      - A read blocked in the kernel cannot be cancelled; it is left behind and ends with the module's process.
        Give the task an Ansible C(timeout) somewhat longer than this as the outer bound.
      - Accepted range 1-3600.
    type: int
    default: 30
"""
