# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters autolease.sanlock.receipt_drift and code_digest (documentation in their .yml files).

A role records a receipt (module autolease.sanlock.receipt) after its change
tasks succeeded, and on the next run compares it with its inputs now and with
the host (module autolease.sanlock.host_info, option receipts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.module_utils._receipt import inputs_digest

_SKIP_DIRS = ("__pycache__", ".pytest_cache")


def receipt_drift(receipt, inputs, full=False):
    """Why the change tasks must run ([] = the receipt holds these inputs and nothing drifted)."""
    if full:
        return ["autolease_full_converge is true: every change task runs"]
    if receipt is None:
        return ["no receipt: the change tasks have not completed on this host yet (or the receipt was removed)"]
    if not isinstance(receipt, dict) or "inputs" not in receipt:
        raise AnsibleFilterError("receipt_drift: expected one entry of host_info's receipts (or null), got %r"
                                 % (receipt,))
    if receipt["inputs"] != inputs_digest(inputs):
        old = receipt.get("input_values") or {}
        changed = _changed_keys(old, inputs)
        return ["inputs changed since the receipt: %s" % (", ".join(changed) or "their form")]
    return list(receipt.get("drift") or [])


def _changed_keys(old, new, prefix=""):
    found = []
    for key in sorted(set(old) | set(new), key=str):
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            found.extend(_changed_keys(before, after, "%s%s." % (prefix, key)))
        elif inputs_digest(before) != inputs_digest(after):
            found.append("%s%s" % (prefix, key))
    return found


def code_digest(paths):
    """sha256 over the names and contents of the files under paths (directories walked, sorted)."""
    if isinstance(paths, str):
        paths = [paths]
    digest = hashlib.sha256()
    for top in paths:
        top = os.path.realpath(top)
        if not os.path.isdir(top):
            raise AnsibleFilterError("code_digest: %s is not a directory" % top)
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(name for name in dirs if name not in _SKIP_DIRS)
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, top).encode("utf-8") + b"\0")
                with open(path, "rb") as handle:
                    digest.update(handle.read())
                digest.update(b"\0")
    return digest.hexdigest()


class FilterModule(object):
    def filters(self):
        return {"receipt_drift": receipt_drift, "code_digest": code_digest}
