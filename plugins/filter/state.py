# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters autolease.sanlock.state_unshared, lockspace_join and host_ids_settled over host_info results.

Documentation in their .yml files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def state_unshared(states, lockspace):
    """Why the hosts' host_info results do not prove one shared lease storage ([] = proven).

    Proof: every host has joined the lockspace file at the same path, with its
    own host_id, verified by content (host_info: the file at the path holds the
    daemon's own latest renewal), and every host reads the same owner and join generation in
    the slots of all of them - which only holds when their sanlock daemons
    write to one file. A host with a private lease directory sees only its own
    slot (or stale copies of the others). When every host reports the same
    slots_digest (host_info's digest of all the slots it read), that holds
    for all slots at once and the hosts' own slots are all they need to carry.
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
    # One digest of all the slots on every host: they read the same owners and generations in every slot,
    # theirs included (each sees its own, checked above). Linear in the hosts, with no slots but their own.
    digests = dict((host, (states[host] or {}).get("slots_digest")) for host in ids)
    with_digests = None not in digests.values()
    if with_digests and len(set(digests.values())) == 1:
        return []
    if with_digests and not all(set(ids.values()) <= set(states[host]["slots"]) for host in ids):
        views = digests  # the hosts carry their own slots only: the digests tell who reads what
    else:
        # compare the slots of the play's hosts only (a host outside the play may have joined between two
        # readings); a slot a host does not see is None in its view
        views = dict((host, dict((host_id, states[host]["slots"].get(host_id)) for host_id in ids.values()))
                     for host in ids)
    counts = {}
    for view in views.values():
        key = repr(view)
        counts[key] = counts.get(key, 0) + 1
    # the reference: the view most hosts read (on a tie, that of the first host)
    first = sorted(views, key=lambda host: (-counts[repr(views[host])], host))[0]
    return ["%s and %s read different slots in %s" % (first, host, lockspace)
            for host in sorted(views) if views[host] != views[first]]


def lockspace_join(state, lease_dir):
    """The host_info join of __LIBVIRT__DISKS__ at lease_dir ({} = none): the verified one if any."""
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
        return {"state_unshared": state_unshared, "host_ids_settled": host_ids_settled,
                "lockspace_join": lockspace_join}
