# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters autolease.sanlock.state_differences, state_unread, state_unshared and host_ids_settled.

Documentation in their .yml files.

A role describes the state it wants ("wanted") and compares it with what the
host_state module read. The comparison mirrors the modules the role would
otherwise run (lineinfile, template, file, service, user, package): an empty
difference list means those modules would change nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.errors import AnsibleFilterError

# UnitFileStates for which `systemctl is-enabled` succeeds: ansible.builtin.service enabled=true changes nothing.
ENABLED = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient")
SECTIONS = ("packages", "files", "mounts", "units", "users", "kernel_modules", "selinux_booleans", "lockspaces")


def _mode(value):
    if isinstance(value, int):  # an unquoted YAML 0644 arrives as 420, as ansible.builtin.file takes it
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise AnsibleFilterError("state_differences: mode %r is not an octal mode such as \"0644\"" % (value,))


def _file_differences(path, have, want):
    if not want.get("exists", True):
        return ["%s exists, wanted absent" % path] if have.get("exists") else []
    if not have.get("exists"):
        return ["%s is missing" % path]
    found = []
    kind = want.get("type", "file")
    if have.get("type") != kind:
        return ["%s is a %s, wanted a %s" % (path, have.get("type"), kind)]
    for attr in ("owner", "group"):
        if attr in want and str(want[attr]) != have.get(attr):
            found.append("%s: %s is %s, wanted %s" % (path, attr, have.get(attr), want[attr]))
    if "mode" in want and _mode(want["mode"]) != _mode(have.get("mode", "0")):
        found.append("%s: mode is %s, wanted %s" % (path, have.get("mode"), want["mode"]))
    if "content" in want and have.get("content") != want["content"]:
        found.append("%s: content differs" % path)
    text = have.get("content")
    for line in want.get("lines", []):
        matches = [candidate for candidate in (text or "").splitlines() if re.search(line["regexp"], candidate)]
        # fields: compared field by field, as ansible.posix.mount reads fstab (blanks of any kind and width)
        same = (lambda a, b: a.split() == b.split()) if line.get("fields") else (lambda a, b: a == b)
        if not matches or not same(matches[-1], line["line"]):
            found.append("%s: %s wanted, found %s" % (path, line["line"], matches[-1] if matches else "none"))
    return found


def state_differences(state, wanted):
    """Human-readable differences between the host_state result and the wanted state ([] = in state)."""
    if not isinstance(wanted, dict) or set(wanted) - set(SECTIONS):
        raise AnsibleFilterError("state_differences: wanted must be a dict with keys among %s, got %r"
                                 % (", ".join(SECTIONS), wanted if not isinstance(wanted, dict) else sorted(wanted)))
    state = state or {}
    found = []
    packages = state.get("packages")
    missing = [name for name in wanted.get("packages", []) if packages is None or name not in packages]
    if missing:
        found.append("packages not installed: %s" % ", ".join(missing))
    files = state.get("files") or {}
    for path, want in sorted(wanted.get("files", {}).items()):
        found.extend(_file_differences(path, files.get(path, {}), want))
    mounts = state.get("mounts") or {}
    for path, want in sorted(wanted.get("mounts", {}).items()):
        have = mounts.get(path)
        if have is None:
            found.append("%s is not a mount point" % path)
        elif want.get("fstype") and have.get("fstype") != want["fstype"]:
            found.append("%s is mounted as %s, wanted %s" % (path, have.get("fstype"), want["fstype"]))
        elif want.get("underneath") and have.get("underneath") != want["underneath"]:
            found.append("the directory under the mount on %s is %s (uid:gid:mode), wanted %s"
                         % (path, have.get("underneath") or "unknown", want["underneath"]))
    units = state.get("units") or {}
    for unit, want in sorted(wanted.get("units", {}).items()):
        have = units.get(unit) or {}
        for attr in ("enabled", "active"):
            if attr not in want:
                continue
            if attr == "enabled" and want[attr] == "enabled" and have.get(attr) in ENABLED:
                continue
            if have.get(attr) != want[attr]:
                found.append("%s is %s, wanted %s" % (unit, have.get(attr) or "unknown", want[attr]))
    users = state.get("users") or {}
    for user, want in sorted(wanted.get("users", {}).items()):
        groups = users.get(user)
        if groups is None:
            found.append("user %s is missing" % user)
            continue
        lacking = [group for group in want.get("groups", []) if group not in groups]
        if lacking:
            found.append("user %s is not in the groups %s" % (user, ", ".join(lacking)))
    modules = state.get("kernel_modules") or []
    found.extend("kernel module %s is not loaded" % name for name in wanted.get("kernel_modules", [])
                 if name not in modules)
    booleans = state.get("selinux_booleans") or {}
    found.extend("SELinux boolean %s is not %s" % (name, "on" if value else "off")
                 for name, value in sorted(wanted.get("selinux_booleans", {}).items())
                 if booleans.get(name) is not bool(value))
    joined = state.get("lockspaces") or []
    for space in wanted.get("lockspaces", []):
        if not any(all(have.get(key) == value for key, value in space.items()) for have in joined):
            found.append("sanlock has not joined %s" % ", ".join("%s=%s" % item for item in sorted(space.items())))
    return found


def state_unread(state, read):
    """Those of read's paths, units and users the host_state result does not cover ([] = all read)."""
    state = state or {}
    unread = []
    for section, key in (("paths", "files"), ("units", "units"), ("users", "users")):
        have = state.get(key)
        unread.extend(item for item in (read or {}).get(section, []) if have is None or item not in have)
    return unread


def state_unshared(states, lockspace):
    """Why the hosts' host_state results do not prove one shared lease storage ([] = proven).

    Proof: every host has joined the lockspace file at the same path, with its
    own host_id, verified by content (host_state: the file at the path holds the
    daemon's own latest renewal), and every host reads the same owner and join generation in
    the slots of all of them - which only holds when their sanlock daemons
    write to one file. A host with a private lease directory sees only its own
    slot (or stale copies of the others).
    """
    problems, ids = [], {}
    for host, state in sorted((states or {}).items()):
        if os.path.join((state or {}).get("lease_dir") or "", os.path.basename(lockspace)) != lockspace:
            problems.append("%s: the slots read are not those of %s" % (host, lockspace))
            continue
        spaces = [space for space in (state or {}).get("lockspaces") or [] if space.get("path") == lockspace]
        joined = [space["host_id"] for space in spaces if space.get("verified")]
        if spaces and not joined:
            problems.append("%s: sanlock's join of %s is not verified: %s"
                            % (host, lockspace, spaces[0].get("proof") or "no proof read"))
        elif not joined:
            problems.append("%s has not joined %s" % (host, lockspace))
        elif (state.get("slots") or {}).get(str(joined[0])) is None:
            problems.append("%s does not see its own slot %d in %s" % (host, joined[0], lockspace))
        else:
            ids[host] = str(joined[0])
    if problems:
        return problems
    if len(set(ids.values())) != len(ids):
        return ["two hosts have joined %s with one host_id: %s" % (lockspace, sorted(ids.items()))]
    views = dict((host, dict((host_id, states[host]["slots"].get(host_id)) for host_id in ids.values()))
                 for host in ids)
    first = sorted(views)[0]
    return ["%s and %s read different slots in %s" % (first, host, lockspace)
            for host in sorted(views) if views[host] != views[first]]


def lockspace_join(state, lease_dir):
    """The host_state join of __LIBVIRT__DISKS__ at lease_dir ({} = none): the verified one if any."""
    path = os.path.join(lease_dir.rstrip("/") or "/", "__LIBVIRT__DISKS__")
    joins = [space for space in (state or {}).get("lockspaces") or []
             if space.get("name") == "__LIBVIRT__DISKS__" and space.get("path") == path]
    return sorted(joins, key=lambda space: not space.get("verified"))[0] if joins else {}


def host_ids_settled(facts, registry):
    """host -> host_id when every host has joined with the id the registry records for it, else None.

    facts: host -> the host_id role's facts (explicit, existing, joined). When
    this holds, allocating again would return the same ids and write nothing.
    """
    if not facts or not isinstance(registry, dict):
        return None
    settled = {}
    for host, fact in facts.items():
        existing = (fact or {}).get("existing")
        explicit = (fact or {}).get("explicit")
        if not (fact or {}).get("joined") or existing in (None, "") or registry.get(host) != int(existing):
            return None
        if explicit not in (None, "") and int(explicit) != int(existing):
            return None
        settled[host] = int(existing)
    if len(set(settled.values())) != len(settled) or len(set(registry.values())) != len(registry):
        return None
    return settled


class FilterModule(object):
    def filters(self):
        return {"state_differences": state_differences, "state_unread": state_unread,
                "state_unshared": state_unshared, "host_ids_settled": host_ids_settled,
                "lockspace_join": lockspace_join}
