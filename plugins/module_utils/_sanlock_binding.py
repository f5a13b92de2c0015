# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Access to python3-sanlock: import guard, error codes, daemon checks.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

libsanlock reads SANLOCK_RUN_DIR once per process, at the first call that
talks to the daemon: one process can talk to one sanlock daemon only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import (
    DaemonError,
    MissingDependency,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME

# sanlock result codes (<= -200 stay negative in SanlockException.errno), as in sanlock's src/sanlock_rv.h.
SANLK_LEADER_MAGIC = -223  # "Lease does not exist on storage"
SANLK_ACQUIRE_LVER = -240  # the lease version moved on while we tried
SANLK_ACQUIRE_LOCKSPACE = -241  # the owner's lockspace is unknown here
SANLK_ACQUIRE_IDDISK = -242  # the owner's delta lease could not be read
SANLK_ACQUIRE_IDLIVE = -243  # held by a live remote host
SANLK_ACQUIRE_OWNED = -244  # owned by another host (paxos ballot)
SANLK_ACQUIRE_OTHER = -245  # acquired by another host in a concurrent ballot
SANLK_ACQUIRE_SHRETRY = -246  # shared lease contention
SANLK_ACQUIRE_OWNED_RETRY = -247  # owner's lease not yet expired (newer sanlock, OWNER_NOWAIT)
# Codes meaning "somebody else holds it, or may": the lease is reported held, never removed and never an
# unexpected error. sanlock's own acquire_error_str() calls -243, -244, -245 and -247 "lease owned by other host";
# -240..-242 and -246 cannot prove the lease free either.
HELD_ERRNOS = frozenset((errno.EEXIST, errno.EAGAIN, errno.EBUSY,
                         SANLK_ACQUIRE_LVER, SANLK_ACQUIRE_LOCKSPACE, SANLK_ACQUIRE_IDDISK, SANLK_ACQUIRE_IDLIVE,
                         SANLK_ACQUIRE_OWNED, SANLK_ACQUIRE_OTHER, SANLK_ACQUIRE_SHRETRY, SANLK_ACQUIRE_OWNED_RETRY))
DAEMON_DOWN_ERRNOS = frozenset((errno.ENOENT, errno.ECONNREFUSED, errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET))

PACKAGE_HINT = ("install python3-sanlock (Debian/Ubuntu: apt-get install python3-sanlock; "
                "RHEL/Fedora: dnf install python3-sanlock, called sanlock-python on older releases) "
                "for the Python interpreter that runs this code")

START_HINT = "start it: systemctl start sanlock"

_sanlock = None


def get_sanlock():
    """Return the sanlock module or raise MissingDependency naming the package."""
    global _sanlock
    if _sanlock is None:
        try:
            import sanlock  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise MissingDependency("python3-sanlock is not importable (%s): %s" % (exc, PACKAGE_HINT))
        _sanlock = sanlock
    return _sanlock


def sanlock_errno(exc):
    """The sanlock result code of a SanlockException (negative for sanlock's own codes)."""
    code = getattr(exc, "errno", None)
    if code is None and getattr(exc, "args", None):
        code = exc.args[0]
    return code


def run_dir():
    """The sanlock run directory this process talks to."""
    return os.environ.get("SANLOCK_RUN_DIR", "/run/sanlock")


def daemon_down_error(exc, action):
    """DaemonError for an exception that means the local daemon is not reachable."""
    return DaemonError(
        "cannot %s: the local sanlock daemon is not running (no answer on %s/sanlock.sock: %s); %s"
        % (action, run_dir(), exc, START_HINT)
    )


def not_joined_error(lockspace_path, action):
    return DaemonError(
        "cannot %s: the local sanlock daemon has not joined the lockspace %s (%s). libvirtd joins it when "
        "its sanlock lock driver loads (auto_disk_leases = 1 and host_id set in qemu-sanlock.conf): restart "
        "libvirtd, or join by hand: sanlock client add_lockspace -s %s:<host_id>:%s:0"
        % (action, LOCKSPACE_NAME, lockspace_path, LOCKSPACE_NAME, lockspace_path)
    )


def joined_lockspaces(action="list the joined lockspaces"):
    """Lockspaces the local daemon has joined: list of dicts (lockspace, host_id, path, flags).

    Raises DaemonError when the daemon does not answer.
    """
    sanlock = get_sanlock()
    try:
        return sanlock.get_lockspaces()
    except sanlock.SanlockException as exc:
        if sanlock_errno(exc) in DAEMON_DOWN_ERRNOS:
            raise daemon_down_error(exc, action)
        raise DaemonError("the local sanlock daemon failed to list its lockspaces: %s" % (exc,))


def local_host_id(lockspace_path):
    """host_id the local daemon holds in the lockspace file, or None if it has not joined it."""
    want = os.path.realpath(lockspace_path)
    for entry in joined_lockspaces():
        name = entry.get("lockspace")
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if name != LOCKSPACE_NAME:
            continue
        if os.path.realpath(entry.get("path", "")) == want and not entry.get("flags"):
            return entry.get("host_id")
    return None
