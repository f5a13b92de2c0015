# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running QEMU domains that the local sanlock daemon does not know: they can hold no lease.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

libvirt registers a QEMU process with sanlock only when it starts it, with the
sanlock lock manager loaded. A domain that was already running when the lock
manager was switched on stays unregistered until it is restarted or migrated:
it holds no lease and another host can start its disks. A registered process
is listed as a client (``p PID``) in ``sanlock client status``; a paused
domain stays registered (libvirt releases its leases and keeps the
registration), so it is not counted here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.autolease.sanlock.plugins.module_utils import _join_proof

QEMU_RUN_DIR = "/run/libvirt/qemu"


def running_domains(run_dir=QEMU_RUN_DIR):
    """domain name -> pid, from the pid files in run_dir whose process is alive."""
    domains = {}
    try:
        names = os.listdir(run_dir)
    except OSError:
        return domains
    for entry in names:
        if not entry.endswith(".pid") or entry == "driver.pid":
            continue
        try:
            with open(os.path.join(run_dir, entry)) as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        if pid > 0 and os.path.exists("/proc/%d" % pid):
            domains[entry[:-len(".pid")]] = pid
    return domains


def unregistered(domains, status):
    """Sorted names of domains (name -> pid) whose process is not a client of the daemon (parsed status)."""
    clients = status.get("clients") or {}
    return sorted(name for name, pid in domains.items() if pid not in clients)


def unprotected_vms(run_dir=QEMU_RUN_DIR, status=_join_proof.daemon_status):
    """Names of the running domains not registered with the local sanlock daemon; None when it does not answer."""
    domains = running_domains(run_dir)
    if not domains:
        return []
    running = status()
    if running is None:
        return None
    return unregistered(domains, running)
