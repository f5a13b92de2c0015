# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the pure host_id allocator (plugins/module_utils/_host_id.py).

Example tests pin each source and each conflict message; the hypothesis test
drives a simulated cluster through random sequences of inventories, limits,
explicit ids, retirements and releases and checks the invariants after every
run against an independent oracle of when a run must be refused.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import HostIdConflict, HostIdError
from ansible_collections.autolease.sanlock.plugins.module_utils._host_id import (
    HostFacts,
    SlotOwner,
    allocate,
    parse_host_id,
    slots_to_probe,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._names import MAX_HOST_ID


def ids(alloc):
    return dict((name, r.host_id) for name, r in alloc.host_ids.items())


def sources(alloc):
    return dict((name, r.source) for name, r in alloc.host_ids.items())


# --- sources and order ------------------------------------------------------

def test_new_hosts_get_lowest_ids_in_name_order():
    alloc = allocate({"c": {}, "a": {}, "b": {}})
    assert ids(alloc) == {"a": 1, "b": 2, "c": 3}
    assert set(sources(alloc).values()) == {"new"}
    assert alloc.registry == {"a": 1, "b": 2, "c": 3}


def test_order_explicit_beats_existing_beats_registry_beats_new():
    alloc = allocate(
        {"a": {"explicit": 7, "existing": 7}, "b": {"existing": 5}, "c": {}, "d": {}},
        registry={"c": 9, "b": 5},
    )
    assert ids(alloc) == {"a": 7, "b": 5, "c": 9, "d": 1}
    assert sources(alloc) == {"a": "explicit", "b": "existing", "c": "registry", "d": "new"}


def test_registry_names_outside_the_run_are_kept_and_their_ids_never_handed_out():
    alloc = allocate({"new-host": {}}, registry={"old-1": 1, "old-2": 2, "limited-out": 4})
    assert ids(alloc) == {"new-host": 3}
    assert alloc.registry == {"old-1": 1, "old-2": 2, "limited-out": 4, "new-host": 3}


def test_existing_id_differing_from_registry_wins_with_warning():
    alloc = allocate({"a": {"existing": 5}}, registry={"a": 3})
    assert ids(alloc) == {"a": 5}
    assert "recorded host_id 3 for a; it is updated to 5" in alloc.host_ids["a"].warnings[0]
    # The old id stays blocked for new hosts in this run.
    assert ids(allocate({"a": {"existing": 5}, "b": {}}, registry={"a": 3})) == {"a": 5, "b": 1}
    assert ids(allocate({"a": {"existing": 5}, "b": {}}, registry={"a": 1})) == {"a": 5, "b": 2}


def test_release_frees_the_id_and_is_reported():
    alloc = allocate({"b": {}}, registry={"a": 1}, release=["a"])
    assert ids(alloc) == {"b": 1}
    assert alloc.released == {"a": 1}
    assert alloc.registry == {"b": 1}


def test_release_of_unknown_name_warns():
    alloc = allocate({"b": {}}, registry={}, release=["ghost"])
    assert alloc.warnings == ["release names ghost, which the registry does not record; nothing to release"]


def test_release_of_a_host_in_the_run_is_refused():
    with pytest.raises(HostIdError, match=r"host a is listed in release but is also in hosts; .*remove a from release or from hosts"):
        allocate({"a": {}}, registry={"a": 1}, release=["a"])


# --- validation -------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 2001, -1, "abc", "1.5", 1.5, True, [1]])
def test_explicit_out_of_range_or_not_integer_is_refused(value):
    with pytest.raises(HostIdError, match=r"explicit host_id of host a is .*expected an integer 1-2000"):
        allocate({"a": {"explicit": value}})


@pytest.mark.parametrize("value,expected", [(1, 1), (2000, 2000), ("17", 17), (" 3 ", 3), (4.0, 4), (None, None),
                                            ("", None)])
def test_parse_host_id_accepts_integers_and_decimal_strings(value, expected):
    assert parse_host_id(value, "x") == expected


def test_unknown_host_keys_are_refused():
    with pytest.raises(HostIdError, match="facts of host a have unknown keys colour"):
        allocate({"a": {"colour": "red"}})


def test_joined_without_existing_is_refused():
    with pytest.raises(HostIdError, match="host a is reported as joined .* pass the host_id it joined with"):
        HostFacts("a", joined=True)


# --- conflicts --------------------------------------------------------------

def test_duplicate_explicit_ids_name_both_hosts_and_the_id():
    with pytest.raises(HostIdConflict, match=r"host_id 3 is claimed by 2 hosts: a \(explicit\) and b \(explicit\); "
                                             r"set the explicit id of one of them \(hosts.<name>.explicit\) to a free id or remove it$"):
        allocate({"a": {"explicit": 3}, "b": {"explicit": 3}, "c": {}})


def test_duplicate_names_every_host_claiming_the_id():
    with pytest.raises(HostIdConflict, match=r"host_id 7 is claimed by 3 hosts: a \(explicit\), b \(explicit\) and "
                                             r"c \(explicit\)"):
        allocate({"a": {"explicit": 7}, "b": {"explicit": 7}, "c": {"explicit": 7}})


def test_duplicate_existing_and_registry_ids_name_both_hosts():
    with pytest.raises(HostIdConflict, match=r"host_id 2 is claimed by 2 hosts: a \(registry\) and b \(existing\);.*"
                                             r"release a retired name with the release option$"):
        allocate({"a": {}, "b": {"existing": 2}}, registry={"a": 2})


def test_explicit_id_recorded_for_a_host_outside_the_run_is_refused():
    with pytest.raises(HostIdConflict, match=r"host_id 1 of a \(explicit\) is recorded in the registry for old, "
                                             r"which is not in hosts .*set hosts.a.explicit to another id, or if old is retired release it with "
                                             r"release: \[old\]$"):
        allocate({"a": {"explicit": 1}}, registry={"old": 1})


def test_duplicate_ids_in_the_registry_are_refused():
    with pytest.raises(HostIdConflict, match="host_id 4 is recorded in the registry for both x and y"):
        allocate({"a": {}}, registry={"x": 4, "y": 4})


def test_slot_owned_by_live_foreign_name_blocks_a_pinned_id():
    with pytest.raises(HostIdConflict, match=r"host_id 2 of a \(explicit\) is in use in the lockspace by the live "
                                             r"host stranger; pick another id with hosts.a.explicit, or stop "
                                             r"stranger's sanlock lockspace first"):
        allocate({"a": {"explicit": 2}}, slots={2: SlotOwner("stranger", True)})


def test_slot_owned_by_dead_foreign_name_warns_for_a_pinned_id():
    alloc = allocate({"a": {"explicit": 2}}, slots={2: ("stranger", False)})
    assert ids(alloc) == {"a": 2}
    assert "slot 2 was last owned by stranger, which is not alive" in alloc.host_ids["a"].warnings[0]


def test_new_ids_skip_slots_written_by_other_names():
    alloc = allocate({"a": {}}, slots={1: ("x", True), 2: ("y", False)})
    assert ids(alloc) == {"a": 3}


def test_slot_last_owned_by_own_name_is_reused():
    alloc = allocate({"a": {}, "b": {}}, slots={5: ("b", False)})
    assert ids(alloc) == {"a": 1, "b": 5}
    assert "slot 5 was last owned by b; the host gets it back" in alloc.host_ids["b"].warnings[0]


def test_own_slot_uses_lockspace_name_not_inventory_name():
    alloc = allocate({"a": {"lockspace_name": "a.example.org"}}, slots={4: ("a.example.org", True)})
    assert ids(alloc) == {"a": 4}


def test_joined_host_keeps_its_slot_under_a_random_owner_name():
    # sanlock without our_host_name writes a random name per daemon start.
    alloc = allocate({"a": {"existing": 3, "joined": True}}, slots={3: ("1b7c9f0e-random", True)})
    assert ids(alloc) == {"a": 3}


def test_id_change_on_host_with_running_vms_is_refused_even_with_force():
    with pytest.raises(HostIdConflict, match=r"refusing changing the host_id of a from 3 to 4 \(explicit\): "
                                             r"2 VM\(s\) run on it .*run again with force: true, or set "
                                             r"hosts.a.explicit back to 3$"):
        allocate({"a": {"explicit": 4, "existing": 3, "joined": True, "running_vms": 2}}, force=True)


def test_id_change_on_joined_host_is_refused_without_force():
    with pytest.raises(HostIdConflict, match=r"refusing changing the host_id of a from 3 to 4 \(explicit\): the host "
                                             r"has joined the lockspace with host_id 3.*set force: true .*lockspace_leave module.*"
                                             r"or set hosts.a.explicit back to 3$"):
        allocate({"a": {"explicit": 4, "existing": 3, "joined": True}}, slots={3: ("a", True)})


def test_id_change_on_joined_host_without_vms_is_allowed_with_force():
    alloc = allocate({"a": {"explicit": 4, "existing": 3, "joined": True}}, force=True, slots={3: ("a", True)})
    assert ids(alloc) == {"a": 4}
    assert "forced" in alloc.host_ids["a"].warnings[0]


def test_id_change_on_idle_host_is_allowed_with_warning():
    alloc = allocate({"a": {"explicit": 4, "existing": 3}})
    assert ids(alloc) == {"a": 4}
    assert "has not joined the lockspace and runs no VM" in alloc.host_ids["a"].warnings[0]


def test_id_change_against_the_registry_on_host_with_vms_is_refused():
    # qemu-sanlock.conf unreadable: the registry still tells which id the VMs run under.
    with pytest.raises(HostIdConflict, match=r"refusing changing the host_id of a from 2 to 6 \(explicit\): "
                                             r"1 VM\(s\) run on it"):
        allocate({"a": {"explicit": 6, "running_vms": 1}}, registry={"a": 2})


def test_exhaustion_names_the_host_and_the_way_out():
    registry = dict(("old-%d" % i, i) for i in range(1, MAX_HOST_ID + 1))
    with pytest.raises(HostIdError, match=r"no free host_id in 1-2000 for host late: .*2000 recorded in the registry.*"
                                          r"release a retired name with the release option$"):
        allocate({"late": {}}, registry=registry)


def test_two_thousand_hosts_fill_every_id_once():
    hosts = dict(("h%04d" % i, {}) for i in range(MAX_HOST_ID))
    alloc = allocate(hosts)
    assert sorted(ids(alloc).values()) == list(range(1, MAX_HOST_ID + 1))


# --- property test: a simulated cluster over many runs ----------------------

NAMES = ["h%d" % i for i in range(7)]

step = st.one_of(
    # run: limit (hosts named on the command line), add them to the inventory?, force, join after the run?
    st.tuples(st.just("run"), st.frozensets(st.sampled_from(NAMES), min_size=1), st.booleans(), st.booleans(),
              st.booleans()),
    st.tuples(st.just("explicit"), st.sampled_from(NAMES), st.one_of(st.none(), st.integers(1, 8))),
    st.tuples(st.just("retire"), st.sampled_from(NAMES)),
    st.tuples(st.just("release"), st.sampled_from(NAMES)),
    st.tuples(st.just("vms"), st.sampled_from(NAMES), st.integers(0, 2)),
)


class Cluster(object):
    """Hosts and shared storage as the allocator sees them between runs."""

    def __init__(self):
        self.registry = {}
        self.conf = {}        # name -> host_id in its qemu-sanlock.conf (joined once configured)
        self.explicit = {}    # name -> admin variable
        self.vms = {}         # name -> running VMs
        self.slots = {}       # host_id -> (owner name, live)

    def facts(self, name):
        existing = self.conf.get(name)
        return {"explicit": self.explicit.get(name), "existing": existing, "joined": existing is not None,
                "running_vms": self.vms.get(name, 0)}

    def expected_failure(self, group, release, force):
        """Independent oracle: must this run be refused?"""
        if set(release) & set(group):
            return "release"
        registry = dict((n, i) for n, i in self.registry.items() if n not in release)
        pinned = {}
        for name in group:
            f = self.facts(name)
            pid = f["explicit"] or f["existing"] or registry.get(name)
            current = f["existing"] or registry.get(name)
            if f["explicit"] and current and f["explicit"] != current:
                if f["running_vms"] or (f["joined"] and not force):
                    return "change"
            if pid is not None:
                pinned.setdefault(pid, []).append(name)
                owner = self.slots.get(pid)
                if owner and owner[0] != name and owner[1] and not (f["joined"] and pid == f["existing"]):
                    return "slot"
        if any(len(v) > 1 for v in pinned.values()):
            return "duplicate"
        outside = set(i for n, i in registry.items() if n not in group)
        if outside & set(pinned):
            return "outside"
        return None

    def run(self, group, release, force, join):
        """One playbook run over group."""
        before = dict(self.registry)
        hosts = dict((name, self.facts(name)) for name in group)
        slots = dict((i, SlotOwner(n, live)) for i, (n, live) in self.slots.items())
        expected = self.expected_failure(group, release, force)
        try:
            alloc = allocate(hosts, registry=before, slots=slots, force=force, release=sorted(release))
        except HostIdError as err:
            assert expected is not None, "refused without a reason the oracle knows: %s" % err
            assert self.registry == before
            return
        assert expected is None, "expected a %s conflict, got %r" % (expected, ids(alloc))
        after = alloc.registry
        values = list(after.values())
        # Unique per storage, in range.
        assert len(values) == len(set(values))
        assert all(1 <= v <= MAX_HOST_ID for v in values)
        # Released names are gone, everything else outside the run is untouched.
        for name, host_id in before.items():
            if name in release:
                assert name not in after
            elif name not in group:
                assert after[name] == host_id
        for name in group:
            result = alloc.host_ids[name]
            assert after[name] == result.host_id
            f = hosts[name]
            if f["explicit"] is not None:
                assert result.host_id == f["explicit"] and result.source == "explicit"
            elif f["existing"] is not None:
                # A host that keeps its place keeps its id.
                assert result.host_id == f["existing"] and result.source == "existing"
            elif name in before and name not in release:
                assert result.host_id == before[name] and result.source == "registry"
            else:
                # Never reused while recorded: a new id is no id the registry held.
                assert result.source == "new"
                assert result.host_id not in set(i for n, i in before.items() if n not in release)
                owner = self.slots.get(result.host_id)
                assert owner is None or owner[0] == name
        # Apply: each host of the run configures its id, and joins if asked
        # (a host that does not join leaves its registry id without a slot).
        self.registry = dict(after)
        for name in group:
            new = alloc.host_ids[name].host_id
            old = self.conf.get(name)
            if old is not None and old != new and self.slots.get(old, ("", False))[0] == name:
                self.slots[old] = (name, False)
            if join:
                self.conf[name] = new
                self.slots[new] = (name, True)
            else:
                self.conf.pop(name, None)
                if self.slots.get(new, ("", False))[0] == name:
                    self.slots[new] = (name, False)

    def retire(self, name):
        old = self.conf.pop(name, None)
        if old is not None:
            self.slots[old] = (name, False)
        self.explicit.pop(name, None)
        self.vms.pop(name, None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=30))
def test_random_histories_keep_ids_unique_stable_and_unreused(steps):
    cluster = Cluster()
    inventory = set()
    release = set()
    for item in steps:
        kind = item[0]
        if kind == "run":
            _kind, limit, add, force, join = item
            if add:
                inventory |= set(limit)
            group = sorted(set(limit) & inventory) or sorted(limit)
            inventory |= set(group)
            cluster.run(group, sorted(release), force, join)
            release = set()
        elif kind == "explicit":
            _kind, name, value = item
            cluster.explicit[name] = value
        elif kind == "retire":
            inventory.discard(item[1])
            cluster.retire(item[1])
        elif kind == "release":
            if item[1] not in inventory:
                release.add(item[1])
        else:
            cluster.vms[item[1]] = item[2]


def test_slots_to_probe_lists_only_pinned_ids_written_by_foreign_names():
    hosts = {"a": {"explicit": 2}, "b": {"existing": 3, "joined": True}, "c": {}, "d": {}, "e": {"explicit": 6}}
    owners = {2: "stranger", 3: "random-uuid-of-b", 4: "c", 5: "x", 6: "e"}
    assert slots_to_probe(hosts, {"c": 4, "d": 9}, owners) == {2}
