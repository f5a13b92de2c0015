# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter autolease.sanlock.rolling_batches; documentation in rolling_batches.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

_SIZE = re.compile(r"^\s*(?:(?P<count>[0-9]+)|(?P<percent>[0-9]+)\s*%)\s*$")


def _size(entry, total):
    """One batch size: a host count, or a percentage of all hosts (at least one host)."""
    match = None if isinstance(entry, bool) else _SIZE.match(str(entry))
    if match and match.group("count") is not None and int(match.group("count")) >= 1:
        return int(match.group("count"))
    if match and match.group("percent") is not None and 1 <= int(match.group("percent")) <= 100:
        return max(1, int(total * int(match.group("percent")) / 100))
    raise AnsibleFilterError("rolling_batches: batch size %r is neither a host count (1 or more) nor a percentage "
                             "of the hosts (1%%-100%%); write for example 1, \"10%%\" or [1, \"10%%\", \"25%%\"]"
                             % (entry,))


def rolling_batches(hosts, sizes=1):
    """The hosts cut into consecutive batches, as Ansible's serial does: sizes is one size or a list of sizes, the
    last repeating; a size is a host count or a percentage of all the hosts."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("rolling_batches: expected a list of hosts, got %s" % type(hosts).__name__)
    entries = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
    if not entries:
        raise AnsibleFilterError("rolling_batches: the list of batch sizes is empty; give at least one, e.g. [1]")
    counts = [_size(entry, len(hosts)) for entry in entries]
    batches, start = [], 0
    while start < len(hosts):
        count = counts[min(len(batches), len(counts) - 1)]
        batches.append(list(hosts[start:start + count]))
        start += count
    return batches


class FilterModule(object):
    def filters(self):
        return {"rolling_batches": rolling_batches}
