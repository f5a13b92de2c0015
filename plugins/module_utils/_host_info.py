# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read, in one pass, what the roles and playbooks need to know of a host.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

Files, mounts, units, users, the lockspaces the daemon has joined, the slots
and registry of the lease directory, the running VMs and what the running
sanlock daemon does not use yet. Every reader here only reads: a reader that
cannot answer returns None ("unknown"). _receipt reuses the readers to
observe what a role's change tasks produced.

Lease storage that does not answer is not "unknown": lease_dir is probed
first and every read of a path, of the lockspaces and of the registry has the
deadline of _storage_io, and StorageTimeout fails the whole snapshot, naming
the host, the path and its mount. A snapshot with the storage left out would
send the roles on to change tasks that hang on the same storage.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess

from ansible_collections.autolease.sanlock.plugins.module_utils import (
    _daemon_settings,
    _join_proof,
    _storage_io,
    _unprotected_vms,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import (
    AutoleaseError,
    LeaseError,
    StorageTimeout,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._lockspace import lockspace_path, read_slots
from ansible_collections.autolease.sanlock.plugins.module_utils._mountinfo import read_mounts
from ansible_collections.autolease.sanlock.plugins.module_utils._registry import read_registry

MAX_CONTENT = 1024 * 1024  # config files, scripts and stamps; larger files get a digest only


def run_command(argv, timeout=30):
    """stdout of argv, or None when it is missing, fails or hangs."""
    if not shutil.which(argv[0]):
        return None
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def read_path(path):
    """exists, type, owner, group, mode ("0644"), and for small regular files content and sha256.

    StorageTimeout when the read does not finish within the storage deadline (a hung mount).
    """
    return _storage_io.bounded("reading", path, _read_path, path)


def _read_path(path):
    try:
        st = os.lstat(path)
    except OSError:
        return {"exists": False}
    kind = "link" if stat.S_ISLNK(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode) else \
        "file" if stat.S_ISREG(st.st_mode) else "other"
    info = {"exists": True, "type": kind, "owner": _name(pwd.getpwuid, st.st_uid),
            "group": _name(grp.getgrgid, st.st_gid), "mode": "%04o" % stat.S_IMODE(st.st_mode)}
    if kind == "file":
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return info
        info["sha256"] = hashlib.sha256(data).hexdigest()
        if len(data) <= MAX_CONTENT:
            info["content"] = data.decode("utf-8", "replace")
    return info


def unit_states(units):
    """unit -> {enabled: UnitFileState, active: ActiveState} (a missing unit: "" and inactive), or None."""
    if not units:
        return {}
    out = run_command(["systemctl", "show", "--property=Id,ActiveState,UnitFileState", "--"] + list(units))
    if out is None:
        return None
    states = {}
    for block in out.strip().split("\n\n"):
        props = dict(line.partition("=")[::2] for line in block.splitlines())
        if props.get("Id"):
            states[props["Id"]] = {"enabled": props.get("UnitFileState", ""),
                                   "active": props.get("ActiveState", "")}
    # systemctl show answers in the order asked; a name given without a suffix comes back as .service.
    return dict((unit, states.get(unit, states.get(unit + ".service"))) for unit in units)


# In a private mount namespace (nothing leaves it): take every mount off the
# directory and print the owner and mode of what is underneath.
_UNDERNEATH = 'while mountpoint -q "$1"; do umount -l "$1"; done; stat -c %u:%g:%a "$1"'


def underneath(path):
    """"uid:gid:mode" (octal, as stat prints it) of the directory under the mounts on path; None if unknown."""
    out = run_command(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", _UNDERNEATH, "sh", path])
    return out.strip() if out else None


def mounts(paths, mountinfo="/proc/self/mountinfo", read_underneath=underneath):
    """path (as given) -> {source, fstype, options, root, underneath} for those of paths that are mount points.

    root is the directory of the source filesystem mounted there ("/" except for bind mounts); underneath is
    "uid:gid:mode" of the directory the mounts hide (see underneath()).
    """
    wanted = dict((os.path.normpath(path), path) for path in paths)
    table = read_mounts(mountinfo)
    if table is None:
        return None
    found = {}
    for mount in table:  # the last mount on a point is the top one
        if mount.point in wanted:
            found[wanted[mount.point]] = {"source": mount.source, "fstype": mount.fstype, "options": mount.options,
                                          "root": mount.root}
    for path, mount in found.items():
        mount["underneath"] = read_underneath(path)  # bounded: the child is killed after 30 s
    return found


def joined_lockspaces():
    """Lockspaces the local sanlock daemon has joined: [{name, host_id, path, verified, proof}], or None if it
    does not answer. verified: the file now at path holds the daemon's own latest renewal (_join_proof)."""
    joins = _join_proof.proven_joins()
    if joins is None:
        return None
    return [dict((key, join[key]) for key in ("name", "host_id", "path", "verified", "proof"))
            for join in joins if join["state"] == "joined"]


def lockspace_slots(lease_dir):
    """host_id (as text, for Jinja) -> {owner_name, generation} of the used slots; None without a lockspace."""
    try:
        slots = read_slots(lockspace_path(lease_dir))
    except LeaseError:
        return None
    return dict((str(slot.host_id), {"owner_name": slot.owner_name, "generation": slot.generation})
                for slot in slots)


def slots_digest(slots):
    """sha256 of the used slots (host_id, owner_name, generation; no renewal times): every host that reads one
    lockspace file gets the same digest while no host joins or leaves. None without a lockspace."""
    if slots is None:
        return None
    return hashlib.sha256(json.dumps(slots, sort_keys=True).encode("utf-8")).hexdigest()


def own_slots(slots, joins, lease_dir):
    """The slots of the ids the local daemon has joined the lockspace of lease_dir with (None stays None)."""
    if slots is None:
        return None
    path = lockspace_path(lease_dir)
    own = set(str(join["host_id"]) for join in joins or [] if join.get("path") == path)
    return dict((host_id, slot) for host_id, slot in slots.items() if host_id in own)


def registry(lease_dir):
    """host name -> host_id recorded in the host_id registry; None when it cannot be read."""
    try:
        return read_registry(lease_dir)
    except StorageTimeout:
        raise
    except (AutoleaseError, OSError):
        return None


def running_vms(uri):
    """Names of the running domains, or None when libvirt does not answer."""
    out = run_command(["virsh", "--connect", uri, "list", "--name"])
    return None if out is None else [name.strip() for name in out.splitlines() if name.strip()]


def qemu_pid_files(run_dir):
    """How many QEMU domains have a pid file (counted when libvirt does not answer)."""
    try:
        return len([name for name in os.listdir(run_dir) if name.endswith(".pid") and name != "driver.pid"])
    except OSError:
        return 0


def user_groups(users):
    """user -> names of its supplementary and primary groups; None for a missing user."""
    result = {}
    everyone = grp.getgrall()
    for user in users:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            result[user] = None
            continue
        names = set(group.gr_name for group in everyone if user in group.gr_mem)
        names.add(_name(grp.getgrgid, entry.pw_gid))
        result[user] = sorted(names)
    return result


def _asked_once(ask):
    """ask() the first time it is called, the same answer after."""
    answers = []

    def once():
        if not answers:
            answers.append(ask())
        return answers[0]
    return once


def host_info(paths, units=(), users=(), lease_dir=None, libvirt_uri="qemu:///system", qemu_run_dir="/run/libvirt/qemu",
              sanlock_conf=_daemon_settings.SANLOCK_CONF, all_slots=True):
    """The whole snapshot as one dict (see the host_info module's RETURN). StorageTimeout when lease_dir hangs.

    all_slots=False returns only this host's own slots, with the digest of all of them: a play of n hosts then
    holds n slots instead of n x n (1.5 GB for 2,000 hosts)."""
    if lease_dir:
        _storage_io.probe(lease_dir)
    status = _asked_once(_join_proof.daemon_status)
    joins = joined_lockspaces()
    slots = lockspace_slots(lease_dir) if lease_dir else None
    return {
        "files": dict((path, read_path(path)) for path in paths),
        "mounts": mounts(paths),
        "units": unit_states(units),
        "users": user_groups(users),
        "lockspaces": joins,
        "lease_dir": lease_dir,
        "slots": slots if all_slots else own_slots(slots, joins, lease_dir),
        "slots_digest": slots_digest(slots),
        "registry": registry(lease_dir) if lease_dir else None,
        "running_vms": running_vms(libvirt_uri) if libvirt_uri else None,
        "qemu_pid_files": qemu_pid_files(qemu_run_dir),
        "sanlock_pending": _daemon_settings.pending_settings(sanlock_conf, status=status),
        "unprotected_vms": _unprotected_vms.unprotected_vms(qemu_run_dir, status=status),
    }
