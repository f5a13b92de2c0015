# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cleanup_library
short_description: The digest of the lease cleanup library that the cleanup_library module installs
version_added: 0.1.0
description:
  - Returns the sha256 of the library that M(autolease.sanlock.cleanup_library) would install from this
    controller's copy of the collection, the value the module records in C(library.sha256) under its O(autolease.sanlock.cleanup_library#module:path).
  - Found by the same code as the module's, from the collection's files as the controller loads them, so the two
    agree on which files belong to the library.
  - Takes no terms.
author:
  - autolease.sanlock developers (@autolease)
options: {}
seealso:
  - module: autolease.sanlock.cleanup_library
"""

EXAMPLES = r"""
- name: Tell whether a host has the current cleanup library
  ansible.builtin.assert:
    that: (lookup('ansible.builtin.file', '/usr/local/lib/autolease-sanlock/library.sha256') | trim)
          == lookup('autolease.sanlock.cleanup_library')
  delegate_to: localhost
"""

RETURN = r"""
_raw:
  description: One element, the sha256 of the library as 64 hex digits.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.autolease.sanlock.plugins.module_utils import _bundled_library
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError("cleanup_library takes no terms, got %r; call lookup('autolease.sanlock."
                                     "cleanup_library')" % (terms,))
        self.set_options(var_options=variables, direct=kwargs)
        try:
            return [_bundled_library.digest(_bundled_library.library_files(_bundled_library.CLEANUP_ENTRY_POINTS))]
        except AutoleaseError as err:
            raise AnsibleLookupError(str(err))
