# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Range checks of module option values, run before a module does anything.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

The argument spec types an option; these checks bound it. Each raises
OptionError naming the option, the bad value, the accepted range and the fix,
so a bad value never reaches lease naming, time.sleep or a thread pool as an
exception.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import OptionError
from ansible_collections.autolease.sanlock.plugins.module_utils._names import is_lease_name

# io_timeout: sanlock renews every 2*io_timeout and declares a host dead after 8*io_timeout + 60 s; beyond 300 s a
# crashed host's leases stay locked for more than 40 minutes, which no cluster wants.
IO_TIMEOUT_RANGE = (0, 300)
# Two reads of the lockspace this many seconds apart; 2*io_timeout+1 is enough for every io_timeout above.
LIVENESS_INTERVAL_RANGE = (1, 3600)
# Waiting for the host_id registry lock: longer than a run holds it (a liveness check under it takes 2*io_timeout+1).
LOCK_TIMEOUT_RANGE = (1, 3600)
# One thread and one sanlock registration each; the daemon serves max_worker_threads (default 8) at a time, so
# more than 64 only adds registrations and load on the shared storage.
WORKERS_RANGE = (1, 64)


def check_range(option, value, low, high=None, unit="seconds"):
    """Raise OptionError unless value is None or an integer low..high (high None: no upper bound)."""
    if value is None:
        return
    if low <= value and (high is None or value <= high):
        return
    accepted = "%d-%d" % (low, high) if high is not None else ">= %d" % low
    raise OptionError("%s=%r is out of range: expected %s %s; set %s to a value in that range"
                      % (option, value, unit, accepted, option))


def check_absolute(option, value):
    """Raise OptionError unless value is None or an absolute path."""
    if value is None or (value and os.path.isabs(value)):
        return
    raise OptionError("%s=%r is not an absolute path; give the full path starting with /" % (option, value))


def check_disk_paths(option, values):
    """Disk source paths as written in the domain XML: non-empty and absolute."""
    for value in values or ():
        if not value or not value.startswith("/"):
            raise OptionError("%s entry %r is not an absolute disk path; give each disk's source path exactly as "
                              "written in the domain XML (it starts with /)" % (option, value))


def check_keep(option, values):
    """Lease names (32 lowercase hex digits) or absolute disk paths."""
    for value in values or ():
        if not value or not (is_lease_name(value) or value.startswith("/")):
            raise OptionError("%s entry %r is neither a lease name (32 hex digits) nor an absolute disk path; "
                              "give the lease file name or the disk source path as written in the domain XML "
                              "(it starts with /)" % (option, value))


def check_names(option, values, what):
    """Non-empty names (host names, domain names)."""
    for value in values or ():
        if not isinstance(value, str) or not value.strip():
            raise OptionError("%s entry %r is not a %s; give a non-empty %s or remove the entry"
                              % (option, value, what, what))
