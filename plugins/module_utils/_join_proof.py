# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prove by content that the local sanlock daemon renews the lockspace file at its path.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

The daemon keeps the lockspace file open from the moment it joined. A path
string is no proof: if the lease storage was mounted over the directory after
the join, the daemon renews a hidden local file and the file at the path is a
different one. The proof reads the file at the path now and compares this
host's slot with what the daemon says of itself (``sanlock client status -D``):

- the slot's owner name is the daemon's ``our_host_name``,
- its owner generation is the daemon's ``host_generation`` for the lockspace,
- its timestamp is the daemon's ``renewal_last_success``: sanlock stores the
  timestamp it wrote at each successful renewal there, so the file at the path
  holds the daemon's latest renewal only if the daemon writes to that file.

The daemon is asked before and after the file is read, so a renewal between
the two reads is accepted (the slot may hold either value).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import shutil
import subprocess

from ansible_collections.autolease.sanlock.plugins.module_utils import _sanlock_binding
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import DaemonError, LeaseError
from ansible_collections.autolease.sanlock.plugins.module_utils._lockspace import read_slots
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME

STATUS_TIMEOUT = 30


# A word of sanlock's status output where blanks may be escaped, and an optional word after it (ADD, REM).
_ESCAPED_WORD = re.compile(r"((?:\\.|[^\s\\])+)(?:\s+(\S+))?")


def _split_escaped(spec):
    """Split sanlock's NAME:ID:PATH:OFFSET at the colons it did not escape, and drop its escapes."""
    fields, current, chars = [], [], iter(spec)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def parse_status(text):
    """Parse ``sanlock client status -D``.

    Returns {"our_host_name": str, "lockspaces": {(name, host_id, path): info}, "daemon": {setting: value},
    "clients": {pid: name}, "resources": [{"lockspace", "name", "shared", "pid"}]}.

    info holds the lockspace's settings as integers where they are numbers,
    plus "state": "joined", or "adding"/"removing" for a lockspace on its way in or out.
    daemon holds the running daemon's settings (use_watchdog, max_worker_threads, ...), integers where they
    are numbers. clients are the processes registered with the daemon (its own helper threads, listed with
    pid -1, left out); resources the leases they hold, each with the pid of its holder.
    """
    daemon, spaces, clients, resources, current = {}, {}, {}, [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            words = line.split()
            current = None
            if words[0] == "daemon":
                current = daemon
            elif words[0] == "s" and len(words) >= 2:
                # s NAME:HOST_ID:PATH:OFFSET [ADD|REM]; sanlock escapes blanks and colons with a backslash
                spec, flag = _ESCAPED_WORD.match(line[2:]).group(1, 2)
                fields = _split_escaped(spec)
                name, host_id, path = fields[0], fields[1], ":".join(fields[2:-1])
                flag = flag or ""
                current = {"name": name, "host_id": int(host_id), "path": path,
                           "state": {"ADD": "adding", "REM": "removing"}.get(flag, "joined")}
                spaces[(name, int(host_id), path)] = current
            elif words[0] == "p" and len(words) >= 2 and words[1].isdigit():
                clients[int(words[1])] = " ".join(words[2:])
            elif words[0] == "r" and "p" in words[2:-1]:
                # r LOCKSPACE:RESOURCE:PATH:OFFSET:LVER p PID [ADD|REM], ...:OFFSET:SH p PID for a shared lease
                lockspace, resource = words[1].split(":", 2)[:2]
                pid = words[words.index("p", 2) + 1]
                if pid.isdigit():
                    resources.append({"lockspace": lockspace, "name": resource, "shared": words[1].endswith(":SH"),
                                      "pid": int(pid)})
            continue
        if current is not None:
            for word in line.split():
                key, sep, value = word.partition("=")
                if sep:
                    current[key] = int(value) if value.isdigit() else value
    return {"our_host_name": daemon.get("our_host_name"), "lockspaces": spaces, "daemon": daemon,
            "clients": clients, "resources": resources}


def daemon_status(timeout=STATUS_TIMEOUT):
    """The parsed ``sanlock client status -D``, or None when the daemon does not answer."""
    if not shutil.which("sanlock"):
        return None
    try:
        res = subprocess.run(["sanlock", "client", "status", "-D"], capture_output=True, text=True,
                             timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0 or not res.stdout.startswith("daemon"):
        return None
    return parse_status(res.stdout)


def judge(key, before, slots, after):
    """Why the daemon's join `key` is not proven by the slots read at its path ("" = proven)."""
    name, host_id, path = key
    space = before["lockspaces"].get(key)
    later = after["lockspaces"].get(key) if after else None
    if space is None or later is None:
        return "the daemon left %s while it was being checked" % name
    if space["state"] != "joined":
        return "the daemon is still %s %s" % (space["state"], name)
    if slots is None:
        return "the lockspace file %s cannot be read" % path
    slot = dict((s.host_id, s) for s in slots).get(host_id)
    daemon_name = before.get("our_host_name")
    generation = space.get("host_generation")
    first, last = space.get("renewal_last_success"), later.get("renewal_last_success")
    if slot is None:
        seen = "is free"
    elif slot.owner_name != daemon_name or slot.generation != generation:
        seen = "belongs to %s (generation %s)" % (slot.owner_name, slot.generation)
    elif not (isinstance(first, int) and isinstance(last, int) and first <= slot.timestamp <= last):
        seen = "was last renewed at %s, not at the daemon's last renewal %s" % (slot.timestamp, last)
    else:
        return ""
    return ("slot %d of the file now at %s %s, but this host's sanlock daemon (%s, generation %s) renews "
            "another file: it joined a lockspace that is no longer at that path (a local file hidden under a "
            "mount, or a file replaced since)" % (host_id, path, seen, daemon_name, generation))


def _slots(path):
    """Slots of the file at path; None when it cannot be read. A storage that hangs raises StorageTimeout
    (read_slots has the storage deadline): a join on a hung mount is neither proven nor disproven."""
    try:
        return read_slots(path)
    except LeaseError:
        return None


def proven_joins(status=daemon_status, slots=_slots):
    """Each lockspace the daemon is in: {name, host_id, path, state, verified, proof}; None if it does not answer.

    verified is true only when the file at the lockspace's path holds the
    daemon's own, current renewal (see the module docstring); proof says why not.
    """
    before = status()
    if before is None:
        return None
    read = dict((key, slots(key[2])) for key in before["lockspaces"])
    after = status()
    joins = []
    for key, space in sorted(before["lockspaces"].items()):
        why = judge(key, before, read[key], after)
        joins.append({"name": space["name"], "host_id": space["host_id"], "path": space["path"],
                      "state": space["state"], "verified": not why, "proof": why or "the file at the path "
                      "holds this daemon's latest renewal"})
    return joins


def stale_joins(joins, lease_dir, host_id):
    """Those of joins (proven_joins) of the libvirt lockspace other than the verified one at lease_dir, host_id.

    host_id None: every join of the libvirt lockspace is stale (the lease storage is about to be replaced).
    """
    if joins is None:
        raise DaemonError("cannot read the joins of the local sanlock daemon: it does not answer "
                          "(sanlock client status -D); %s" % _sanlock_binding.START_HINT)
    wanted = os.path.join(lease_dir, LOCKSPACE_NAME)
    if host_id is None:
        return [dict(join, proof="the lease storage at %s is to be replaced" % lease_dir) if join["verified"]
                else join for join in joins if join["name"] == LOCKSPACE_NAME]
    return [join for join in joins if join["name"] == LOCKSPACE_NAME
            and not (join["verified"] and join["host_id"] == host_id and join["path"] == wanted)]


def leave(join):
    """Leave one join, only if no lease is held in it (sanlock refuses with EBUSY otherwise).

    Without the "unused" flag sanlock would kill the processes holding leases
    in the lockspace; with it the check and the removal are one step in the daemon.
    """
    sanlock = _sanlock_binding.get_sanlock()
    try:
        sanlock.rem_lockspace(join["name"].encode(), join["host_id"], join["path"], unused=True)
    except sanlock.SanlockException as exc:
        code = _sanlock_binding.sanlock_errno(exc)
        if code == errno.EBUSY:
            raise DaemonError(
                "the local sanlock daemon must leave its join of %s with host_id %d at %s (%s), but leases are "
                "held in it by the VMs running here. Shut down or migrate the VMs of this host (virsh list), then "
                "run again: the host then leaves that lockspace and joins the one on the lease storage."
                % (join["name"], join["host_id"], join["path"], join["proof"]))
        if code == errno.ENOENT:
            return  # left meanwhile
        raise DaemonError("the local sanlock daemon failed to leave %s:%d:%s: %s"
                          % (join["name"], join["host_id"], join["path"], exc))


def require_verified_join(lockspace_path, action):
    """host_id of the local daemon's join of the libvirt lockspace at lockspace_path, verified by content.

    Raises DaemonError when the daemon does not answer, has not joined there, or renews another file than
    the one now at that path (the lease storage is not mounted there, or was mounted after the join).
    """
    joins = proven_joins()
    if joins is None:
        raise _sanlock_binding.daemon_down_error("sanlock client status -D gave no answer", action)
    want = os.path.realpath(lockspace_path)
    here = [join for join in joins if join["name"] == LOCKSPACE_NAME and join["state"] == "joined"
            and os.path.realpath(join["path"]) == want]
    if not here:
        raise _sanlock_binding.not_joined_error(lockspace_path, action)
    verified = [join for join in here if join["verified"]]
    if not verified:
        raise DaemonError(
            "cannot %s: the local sanlock daemon's join of %s is not verified (%s): the lease storage is not "
            "mounted at %s, or was mounted after the daemon joined, so the files there are not the ones the "
            "cluster shares. Nothing was changed. Mount the lease storage at %s; if it is mounted, the daemon "
            "joined before the mount: with no VM running, leave that join (the lockspace_leave module) and restart "
            "the libvirt daemon so that it joins the lockspace on the lease storage. Then run again."
            % (action, lockspace_path, here[0]["proof"], os.path.dirname(lockspace_path),
               os.path.dirname(lockspace_path)))
    return verified[0]["host_id"]
