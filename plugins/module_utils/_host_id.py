# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cluster-wide sanlock host_id allocation: pure planning, no I/O.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

Every host that shares one lease directory needs its own host_id (1-2000).
``allocate()`` takes what is known about the hosts of the group, the registry
kept on the shared storage (host name -> host_id) and the owners of the
lockspace slots, and returns one id per host plus the new registry. It raises
``HostIdError``/``HostIdConflict`` before anything is written.

Where an id comes from, in this order:

1. ``explicit``: an admin-set variable (validated integer 1-2000);
2. ``existing``: the id the host uses now (its qemu-sanlock.conf or its live
   membership of the lockspace);
3. ``registry``: the id recorded for the host name on the shared storage;
4. ``new``: the slot last owned by the host's own lockspace name if there is
   one, else the lowest id that no host of the group uses, that the registry
   does not record (before or after this run) and whose slot is free.

Ids of names in the registry that are not part of the group (``--limit``,
retired hosts) are never handed out; ``release`` removes names explicitly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Set, Tuple, Union

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import (
    HostIdConflict,
    HostIdError,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._names import MAX_HOST_ID

# Where an id comes from, in this order (see the module docstring).
Source = Literal["explicit", "existing", "registry", "new"]

# What a caller can do when a conflict is reported, in the host_id module's option names (hosts.<name>.explicit,
# release, force); kept in one place so that all messages of the library agree.
_FIX_EXPLICIT = "set the explicit id of one of them (hosts.<name>.explicit) to a free id or remove it"
_FIX_RELEASE = "release a retired name with the release option"


@dataclass
class HostFacts:
    """What is known about one host of the group.

    Built from raw values (inventory and template values arrive as strings):
    each is validated and normalised on construction, HostIdError otherwise.
    """

    name: str
    explicit: Optional[int] = None        # admin-set id
    existing: Optional[int] = None        # id in its qemu-sanlock.conf or its live lockspace membership
    joined: bool = False                  # its sanlock daemon has joined the lockspace with existing
    running_vms: int = 0
    lockspace_name: Optional[str] = None  # the name it writes into the lockspace; default: name

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name:
            raise HostIdError("host name %r is not a non-empty string; give inventory host names" % (name,))
        self.explicit = parse_host_id(self.explicit, "explicit host_id of host %s" % name)
        self.existing = parse_host_id(self.existing, "existing host_id of host %s" % name)
        self.joined = _parse_bool(self.joined, "joined of host %s" % name)
        self.running_vms = _parse_count(self.running_vms, "running_vms of host %s" % name)
        if self.lockspace_name is None or self.lockspace_name == "":
            self.lockspace_name = name
        if not isinstance(self.lockspace_name, str):
            raise HostIdError("lockspace_name of host %s is %r, expected the sanlock host name (a string)"
                              % (name, self.lockspace_name))
        if self.joined and self.existing is None:
            raise HostIdError("host %s is reported as joined to the lockspace but without its existing host_id; "
                              "pass the host_id it joined with as existing" % name)

    @classmethod
    def from_dict(cls, name: str, data: Optional[Mapping[str, Any]]) -> "HostFacts":
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise HostIdError("facts of host %s are %r, expected a dict with keys %s"
                              % (name, data, ", ".join(sorted(HOST_KEYS))))
        unknown = set(data) - HOST_KEYS
        if unknown:
            raise HostIdError("facts of host %s have unknown keys %s; expected only %s"
                              % (name, ", ".join(sorted(unknown)), ", ".join(sorted(HOST_KEYS))))
        return cls(name, **data)


# The keys of one host's facts (the host_id module's hosts option): every field but the name.
HOST_KEYS = frozenset(f.name for f in fields(HostFacts)) - {"name"}


@dataclass
class SlotOwner:
    """Owner of one lockspace slot: the name last written into it and whether it is alive."""

    name: Optional[str]
    live: bool

    def __post_init__(self) -> None:
        self.live = bool(self.live)


@dataclass
class HostId:
    """The id chosen for one host."""

    host_id: int
    source: Source
    warnings: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class Allocation:
    """Result of ``allocate()``."""

    host_ids: Dict[str, HostId]  # every host of the group
    registry: Dict[str, int]     # the new registry
    released: Dict[str, int]     # entries removed from the registry by release
    warnings: List[str]          # warnings not tied to one host


# hosts as allocate() takes them; slots as allocate() takes them.
Hosts = Mapping[str, Union[HostFacts, Mapping[str, Any], None]]
Slots = Mapping[Any, Union[SlotOwner, Mapping[str, Any], Tuple[Optional[str], bool]]]


def parse_host_id(value: Any, what: str) -> Optional[int]:
    """Return value as an int 1-MAX_HOST_ID, or None for None/empty.

    Accepts ints and decimal strings (inventory and template values arrive as
    strings); refuses booleans, fractions and anything out of range.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        raise HostIdError("%s is %r, expected an integer 1-%d" % (what, value, MAX_HOST_ID))
    number = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None:
        raise HostIdError("%s is %r, expected an integer 1-%d" % (what, value, MAX_HOST_ID))
    if not 1 <= number <= MAX_HOST_ID:
        raise HostIdError("%s is %d, expected an integer 1-%d (sanlock refuses 0 and ids above %d)"
                          % (what, number, MAX_HOST_ID, MAX_HOST_ID))
    return number


def _parse_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0", ""):
        return value.lower() in ("true", "yes", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise HostIdError("%s is %r, expected a boolean" % (what, value))


def _parse_count(value: Any, what: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise HostIdError("%s is %r, expected a count of running VMs (integer >= 0)" % (what, value))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 0:
        raise HostIdError("%s is %r, expected a count of running VMs (integer >= 0)" % (what, value))
    return value


def _parse_registry(registry: Optional[Mapping[str, Any]]) -> Dict[str, int]:
    parsed = {}
    by_id = {}
    for name, value in (registry or {}).items():
        host_id = parse_host_id(value, "host_id recorded in the registry for %s" % name)
        if host_id is None:
            raise HostIdError("the registry records no host_id for %s (value %r); "
                              "fix the registry file or release the name with the release option" % (name, value))
        if host_id in by_id:
            first = by_id[host_id]
            a, b = sorted((first, name))
            raise HostIdConflict("host_id %d is recorded in the registry for both %s and %s; "
                                 "fix the registry file or release one name with the release option"
                                 % (host_id, a, b))
        by_id[host_id] = name
        parsed[name] = host_id
    return parsed


def _parse_slots(slots: Optional[Slots]) -> Dict[int, SlotOwner]:
    parsed = {}
    for host_id, owner in (slots or {}).items():
        number = parse_host_id(host_id, "lockspace slot")
        if not isinstance(owner, SlotOwner):
            if isinstance(owner, dict):
                owner = SlotOwner(owner.get("name", owner.get("owner_name")), owner.get("live", False))
            else:
                name, live = owner
                owner = SlotOwner(name, live)
        parsed[number] = owner
    return parsed


def _describe(name: str, source: Source) -> str:
    return "%s (%s)" % (name, source)


def allocate(hosts: Hosts, registry: Optional[Mapping[str, Any]] = None, slots: Optional[Slots] = None,
             force: bool = False, release: Optional[Iterable[str]] = None) -> Allocation:
    """Plan the host_id of every host of the group.

    hosts: dict name -> HostFacts or dict (explicit, existing, joined,
        running_vms, lockspace_name); the group sharing one lease directory.
    registry: dict name -> host_id as recorded on the shared storage.
    slots: dict host_id -> SlotOwner (or (name, live) / {"name", "live"}) for the
        slots of the lockspace that are in use; missing ids are free.
    force: allow changing the id of a host that joined the lockspace, as long
        as it runs no VM.
    release: names whose registry entries are removed; none may be in hosts.

    Returns an Allocation; raises HostIdError/HostIdConflict on any conflict.
    Runs in O(hosts + registry + slots + MAX_HOST_ID).
    """
    facts = _parse_hosts(hosts)
    old_registry = _parse_registry(registry)
    owners = _parse_slots(slots)
    released, kept_registry, global_warnings = _release(release or [], facts, old_registry)
    chosen = _pin(facts, kept_registry, force)
    _refuse_shared_ids(chosen)
    _refuse_ids_recorded_outside(chosen, facts, kept_registry)
    for name in sorted(chosen):
        _refuse_slot_of_live_owner(facts[name], chosen[name], owners.get(chosen[name].host_id))
    _assign_new(facts, chosen, kept_registry, owners)
    new_registry = dict(kept_registry)
    for name, result in chosen.items():
        new_registry[name] = result.host_id
    return Allocation(chosen, new_registry, released, global_warnings)


def _parse_hosts(hosts: Hosts) -> Dict[str, HostFacts]:
    """name -> HostFacts, validating the dicts."""
    return dict((name, data if isinstance(data, HostFacts) else HostFacts.from_dict(name, data))
                for name, data in hosts.items())


def _release(names: Iterable[str], facts: Dict[str, HostFacts],
             registry: Dict[str, int]) -> Tuple[Dict[str, int], Dict[str, int], List[str]]:
    """Explicit release, first: the freed ids become available to this run.

    Returns (released name -> id, the registry without them, warnings).
    """
    released = {}
    warnings = []
    for name in names:
        if name in facts:
            raise HostIdError("host %s is listed in release but is also in hosts; "
                              "release only retired hosts (remove %s from release or from hosts)"
                              % (name, name))
        if name in registry:
            released[name] = registry[name]
        else:
            warnings.append("release names %s, which the registry does not record; nothing to release"
                            % name)
    kept = dict((n, i) for n, i in registry.items() if n not in released)
    return released, kept, warnings


def _pin(facts: Dict[str, HostFacts], registry: Dict[str, int], force: bool) -> Dict[str, HostId]:
    """1.-3. Pinned ids: explicit > existing > registry. Returns name -> HostId of the pinned hosts."""
    chosen = {}
    for name in sorted(facts):
        host = facts[name]
        warnings = []
        if host.explicit is not None:
            chosen[name] = HostId(host.explicit, "explicit", warnings)
        elif host.existing is not None:
            chosen[name] = HostId(host.existing, "existing", warnings)
        elif name in registry:
            chosen[name] = HostId(registry[name], "registry", warnings)
        recorded = registry.get(name)
        if name in chosen and recorded is not None and recorded != chosen[name].host_id:
            warnings.append("the registry recorded host_id %d for %s; it is updated to %d (%s)"
                            % (recorded, name, chosen[name].host_id, chosen[name].source))
        # The id the host runs with today: its own config or live membership,
        # else what the registry says it was given.
        current = host.existing if host.existing is not None else recorded
        if host.explicit is not None and current is not None and current != host.explicit:
            _refuse_unsafe_change(host, current, force, warnings)
    return chosen


def _refuse_shared_ids(chosen: Dict[str, HostId]) -> None:
    """Duplicates among the group."""
    claims = {}
    for name in sorted(chosen):
        claims.setdefault(chosen[name].host_id, []).append(name)
    for host_id in sorted(claims):
        names = claims[host_id]
        if len(names) > 1:
            described = [_describe(n, chosen[n].source) for n in names]
            fix = _FIX_EXPLICIT
            if any(chosen[n].source == "registry" for n in names):
                fix += ", or " + _FIX_RELEASE
            raise HostIdConflict("host_id %d is claimed by %d hosts: %s and %s; %s"
                                 % (host_id, len(names), ", ".join(described[:-1]), described[-1], fix))


def _refuse_ids_recorded_outside(chosen: Dict[str, HostId], facts: Dict[str, HostFacts],
                                 registry: Dict[str, int]) -> None:
    """Duplicates against registry names outside the group."""
    outside = dict((i, n) for n, i in registry.items() if n not in facts)
    for name in sorted(chosen):
        host_id = chosen[name].host_id
        if host_id in outside:
            raise HostIdConflict(
                "host_id %d of %s is recorded in the registry for %s, which is not in hosts (left out of this "
                "run, e.g. by --limit, or retired); set hosts.%s.explicit to another id, or if %s is retired "
                "release it with release: [%s]"
                % (host_id, _describe(name, chosen[name].source), outside[host_id], name, outside[host_id],
                   outside[host_id]))


def _assign_new(facts: Dict[str, HostFacts], chosen: Dict[str, HostId], registry: Dict[str, int],
                owners: Dict[int, SlotOwner]) -> None:
    """4. New ids, added to chosen for every host not pinned.

    Blocked: every id of the group, every id the registry records before or
    after this run (minus explicit releases) and every slot written by some
    name. A slot last owned by the host's own name is preferred: the host
    comes back to its place.
    """
    holder = dict((result.host_id, name) for name, result in chosen.items())
    blocked = set(holder)
    blocked.update(registry.values())
    own_slots = {}
    for host_id in sorted(owners):
        owner = owners[host_id]
        blocked.add(host_id)
        if owner.name:
            own_slots.setdefault(owner.name, []).append(host_id)
    registry_owner = dict((i, n) for n, i in registry.items())
    cursor = 1
    for name in sorted(facts):
        if name in chosen:
            continue
        host = facts[name]
        warnings = []
        host_id = None
        for candidate in own_slots.get(host.lockspace_name, ()):
            if candidate not in holder and registry_owner.get(candidate, name) == name:
                host_id = candidate
                warnings.append("lockspace slot %d was last owned by %s; the host gets it back"
                                % (candidate, host.lockspace_name))
                break
        if host_id is None:
            while cursor <= MAX_HOST_ID and cursor in blocked:
                cursor += 1
            if cursor > MAX_HOST_ID:
                raise HostIdError(
                    "no free host_id in 1-%d for host %s: %d used by hosts of this run, %d recorded in the registry, "
                    "%d lockspace slots written; %s"
                    % (MAX_HOST_ID, name, len(holder), len(registry), len(owners), _FIX_RELEASE))
            host_id = cursor
        chosen[name] = HostId(host_id, "new", warnings)
        holder[host_id] = name
        blocked.add(host_id)


def slots_to_probe(hosts: Hosts, registry: Mapping[str, Any], owner_names: Mapping[int, Optional[str]]) -> Set[int]:
    """Slot ids whose liveness matters: pinned ids written by a foreign name.

    hosts: as for allocate(); registry: name -> id; owner_names: host_id ->
    owner name of the written slots. Telling live from dead takes two reads
    some seconds apart, so a caller only waits when this set is not empty
    (new ids never take a slot written by another name, dead or alive).
    """
    probe = set()
    for name, data in hosts.items():
        host = data if isinstance(data, HostFacts) else HostFacts.from_dict(name, data)
        pinned = host.explicit or host.existing or parse_host_id(registry.get(name), "registry id of %s" % name)
        if pinned is None or pinned not in owner_names:
            continue
        owner = owner_names[pinned]
        if owner and owner != host.lockspace_name and not (host.joined and pinned == host.existing):
            probe.add(pinned)
    return probe


def _refuse_unsafe_change(host: HostFacts, current: int, force: bool, warnings: List[str]) -> None:
    """host.explicit differs from the id the host has now: refuse unless it is safe."""
    change = "changing the host_id of %s from %d to %d (explicit)" % (host.name, current, host.explicit)
    if host.running_vms:
        raise HostIdConflict(
            "refusing %s: %d VM(s) run on it and hold leases under host_id %d; migrate or stop them, "
            "then run again with force: true, or set hosts.%s.explicit back to %d"
            % (change, host.running_vms, current, host.name, current))
    if host.joined and not force:
        raise HostIdConflict(
            "refusing %s: the host has joined the lockspace with host_id %d; with no VM running, "
            "set force: true (the host must then leave the lockspace and join it again with the new id: the "
            "lockspace_leave module, then a restart of the libvirt daemon), or set hosts.%s.explicit back to %d"
            % (change, current, host.name, current))
    if host.joined:
        warnings.append("%s forced: the host must leave the lockspace and join again with %d"
                        % (change, host.explicit))
    elif host.existing is not None:
        warnings.append("%s: the host has not joined the lockspace and runs no VM" % change)


def _refuse_slot_of_live_owner(host: HostFacts, result: HostId, owner: Optional[SlotOwner]) -> None:
    """Refuse an id whose slot a live foreign name owns; warn about a dead one."""
    if owner is None or not owner.name or owner.name == host.lockspace_name:
        return
    if host.joined and result.host_id == host.existing:
        # The host holds this slot now (under a name it does not pin, e.g. a
        # random per-start name when sanlock has no our_host_name).
        return
    if owner.live:
        raise HostIdConflict(
            "host_id %d of %s is in use in the lockspace by the live host %s; "
            "pick another id with hosts.%s.explicit, or stop %s's sanlock lockspace first if it is the same "
            "machine" % (result.host_id, _describe(host.name, result.source), owner.name, host.name, owner.name))
    result.warnings.append("lockspace slot %d was last owned by %s, which is not alive; %s takes it over"
                           % (result.host_id, owner.name, host.name))
