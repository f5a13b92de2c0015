# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's mount table (/proc/self/mountinfo), read without touching any mounted path.

PRIVATE to the autolease.sanlock collection: no compatibility promise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from typing import NamedTuple

MOUNTINFO = "/proc/self/mountinfo"


class Mount(NamedTuple):
    """One line of /proc/self/mountinfo."""

    point: str
    root: str
    options: str
    fstype: str
    source: str


def _unescape(field):
    """The kernel writes space, tab, newline and backslash in mountinfo as octal escapes (\\040...)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def read_mounts(mountinfo=MOUNTINFO):
    """Every mount as a Mount, in the table's order (a later mount on one point is on top); None if unreadable."""
    try:
        with open(mountinfo) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        found.append(Mount(point=_unescape(fields[4]), root=_unescape(fields[3]), options=fields[5],
                           fstype=tail[0], source=_unescape(tail[1])))
    return found
