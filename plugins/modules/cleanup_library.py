#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cleanup_library
short_description: Install the collection's lease cleanup library for a script that runs without Ansible
version_added: 0.1.0
description:
  - Writes the Python library that the lease cleanup (the code of M(autolease.sanlock.lease_cleanup)) needs under
    O(path), laid out as the package C(ansible_collections.autolease.sanlock.plugins.module_utils), so that a script
    that puts O(path) first on C(sys.path) can import C(_cleanup.run_cleanup). The cleanup_schedule role's cron
    script does.
  - The files come from this module's own payload, the library Ansible ships with the module from the collection
    on the controller, however the collection was installed (a checkout, a tarball, Galaxy). They are the cleanup
    entry points (C(_cleanup), C(_domain_store) for the export of the domain definitions, C(_errors)) and every
    library file they import, found from their import statements, plus empty C(__init__.py) files for each
    package level.
  - Each file is written to a temporary file in its directory and renamed into place, owned by root:root with mode
    0644; directories are root:root 0755. A failed run leaves no partial file under a final name.
  - Files in the package directory that are not part of the library (from an older release) are removed.
    Python's C(__pycache__) directories are left alone.
  - O(path)/C(library.sha256) records a digest of the library (RV(digest)), written last.
author:
  - autolease.sanlock developers (@autolease)
extends_documentation_fragment:
  - autolease.sanlock.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports the files that would be added, changed and removed; writes nothing.
  diff_mode:
    support: full
    details:
      - One line per file, its path under O(path) and its sha256, before and after.
options:
  path:
    description:
      - Root directory of the library. Created when missing (its parent must exist).
      - The module owns everything it writes below it; do not keep other files in
        O(path)/ansible_collections/autolease/sanlock/plugins/module_utils.
    type: path
    default: /usr/local/lib/autolease-sanlock
notes:
  - Runs as root (the files are owned by root).
seealso:
  - module: autolease.sanlock.lease_cleanup
"""

EXAMPLES = r"""
- name: Install the cleanup library for the cron script
  autolease.sanlock.cleanup_library:
    path: /usr/local/lib/autolease-sanlock

# A script then runs the cleanup with:
#   sys.path.insert(0, "/usr/local/lib/autolease-sanlock")
#   from ansible_collections.autolease.sanlock.plugins.module_utils._cleanup import run_cleanup
"""

RETURN = r"""
path:
  description: The root directory of the library.
  returned: always
  type: str
  sample: /usr/local/lib/autolease-sanlock
files:
  description: Every file the module manages under O(path) (the library, its C(__init__.py) files, the stamp).
  returned: always
  type: list
  elements: str
  sample: [ansible_collections/__init__.py, ansible_collections/autolease/sanlock/plugins/module_utils/_cleanup.py,
           library.sha256]
added:
  description: Files written that did not exist (in check mode - that would be written).
  returned: always
  type: list
  elements: str
updated:
  description: Files rewritten because their content, owner or mode differed (in check mode - that would be).
  returned: always
  type: list
  elements: str
removed:
  description: Entries of the package directory removed because they are not part of the library (in check
    mode - that would be removed).
  returned: always
  type: list
  elements: str
  sample: [ansible_collections/autolease/sanlock/plugins/module_utils/_old_helper.py]
digest:
  description: The sha256 of the library, as recorded in O(path)/C(library.sha256).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autolease.sanlock.plugins.module_utils import _bundled_library
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError

# The entry points are imported here so that Ansible ships them, and every module_utils file they import, with
# this module: _bundled_library reads them back from the payload.
from ansible_collections.autolease.sanlock.plugins.module_utils import _cleanup, _domain_store, _errors  # noqa: F401 pylint: disable=unused-import

ARGUMENT_SPEC = dict(
    path=dict(type="path", default="/usr/local/lib/autolease-sanlock"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        library = _bundled_library.library_files(_bundled_library.CLEANUP_ENTRY_POINTS)
        plan = _bundled_library.plan(module.params["path"], _bundled_library.wanted_files(library))
        if plan.changes and not module.check_mode:
            _bundled_library.install(plan)
    except AutoleaseError as err:
        module.fail_json(msg=str(err))
    result = dict(plan.as_dict(), changed=plan.changes, digest=_bundled_library.digest(library))
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
