# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters state_unshared, host_ids_settled and lockspace_join (plugins/filter/state.py).

state_unshared proves (or not) that the hosts share one lockspace file;
host_ids_settled says whether the host_id allocation can be skipped;
lockspace_join picks a host's join of the lockspace. One test renders them
through the real ansible-core templating, so the FilterModule registration is
exercised.
"""

from ansible_collections.autolease.sanlock.plugins.filter.state import (
    FilterModule,
    host_ids_settled,
    lockspace_join,
    state_unshared,
)

CONF = "/etc/sanlock/sanlock.conf"
LEASES = "/var/lib/libvirt/sanlock"
LOCKSPACE = LEASES + "/__LIBVIRT__DISKS__"
CONF_TEXT = "# sanlock\nuse_watchdog = 0\nour_host_name = kvm1\nuse_watchdog = 1\n"


def slots(*host_ids):
    return dict((str(i), {"owner_name": "kvm%d" % i, "generation": 10 + i}) for i in host_ids)


def shared_states():
    """Three hosts that joined the same lockspace with ids 1-3 and read the same slots."""
    return dict(("kvm%d" % i, {"lease_dir": LEASES, "slots": slots(1, 2, 3),
                               "lockspaces": [{"name": "__LIBVIRT__DISKS__", "host_id": i, "path": LOCKSPACE,
                                               "verified": True}]})
                for i in (1, 2, 3))


def test_unshared_is_empty_for_hosts_that_share_the_lockspace():
    assert state_unshared(shared_states(), LOCKSPACE) == []


def test_unshared_ignores_slots_of_hosts_outside_the_play():
    states = shared_states()
    for state in states.values():
        state["slots"]["7"] = {"owner_name": "kvm7", "generation": 3}
    states["kvm1"]["slots"]["7"]["generation"] = 4  # differs, but host_id 7 is none of these hosts
    assert state_unshared(states, LOCKSPACE) == []


def test_unshared_names_a_host_that_has_not_joined():
    states = shared_states()
    states["kvm2"]["lockspaces"] = []
    assert state_unshared(states, LOCKSPACE) == ["kvm2 has not joined " + LOCKSPACE]
    states["kvm2"]["lockspaces"] = None  # daemon did not answer
    assert state_unshared(states, LOCKSPACE) == ["kvm2 has not joined " + LOCKSPACE]
    # Joined another lockspace file only.
    states["kvm2"]["lockspaces"] = [{"name": "__LIBVIRT__DISKS__", "host_id": 2, "path": "/srv/__LIBVIRT__DISKS__"}]
    assert state_unshared(states, LOCKSPACE) == ["kvm2 has not joined " + LOCKSPACE]


def test_unshared_names_a_host_whose_join_is_not_verified_by_content():
    # kvm2 joined before the storage was mounted: its daemon renews a hidden local file, and the slot it
    # reads at the path is a stale one of its own, so the slot views agree; only the content proof tells.
    states = shared_states()
    states["kvm2"]["lockspaces"][0].update(verified=False, proof="slot 2 ... renews another file")
    assert state_unshared(states, LOCKSPACE) == [
        "kvm2: sanlock's join of %s is not verified: slot 2 ... renews another file" % LOCKSPACE]


def test_unshared_names_a_host_with_a_private_copy():
    # kvm3's lease directory is local: its daemon writes only its own slot there.
    states = shared_states()
    states["kvm3"]["slots"] = slots(3)
    for state in ("kvm1", "kvm2"):
        del states[state]["slots"]["3"]
    found = state_unshared(states, LOCKSPACE)
    assert found == ["kvm1 and kvm3 read different slots in " + LOCKSPACE]


def test_unshared_names_a_host_reading_a_stale_copy():
    states = shared_states()
    states["kvm2"]["slots"]["1"]["generation"] = 5  # an old copy of kvm1's slot
    assert state_unshared(states, LOCKSPACE) == ["kvm1 and kvm2 read different slots in " + LOCKSPACE]


def test_unshared_names_a_host_not_seeing_its_own_slot():
    states = shared_states()
    del states["kvm1"]["slots"]["1"]
    assert state_unshared(states, LOCKSPACE) == ["kvm1 does not see its own slot 1 in " + LOCKSPACE]
    states["kvm1"]["slots"] = None
    assert state_unshared(states, LOCKSPACE) == ["kvm1 does not see its own slot 1 in " + LOCKSPACE]


def test_unshared_two_hosts_with_one_host_id():
    states = shared_states()
    states["kvm3"]["lockspaces"][0]["host_id"] = 2
    found = state_unshared(states, LOCKSPACE)
    assert len(found) == 1 and "one host_id" in found[0] and LOCKSPACE in found[0]
    assert "('kvm2', '2')" in found[0] and "('kvm3', '2')" in found[0]


def test_unshared_names_a_host_whose_lease_dir_differs():
    states = shared_states()
    states["kvm2"]["lease_dir"] = "/srv/leases"
    assert state_unshared(states, LOCKSPACE) == ["kvm2: the slots read are not those of " + LOCKSPACE]
    states["kvm2"]["lease_dir"] = None  # host_info run without lease_dir
    assert state_unshared(states, LOCKSPACE) == ["kvm2: the slots read are not those of " + LOCKSPACE]
    states["kvm2"] = None
    assert state_unshared(states, LOCKSPACE) == ["kvm2: the slots read are not those of " + LOCKSPACE]


# host_ids_settled


def facts(**ids):
    return dict((host, {"explicit": None, "existing": host_id, "joined": True}) for host, host_id in ids.items())


def test_settled_when_every_host_runs_with_its_registered_id():
    registry = {"kvm1": 1, "kvm2": 2, "retired": 5}
    assert host_ids_settled(facts(kvm1=1, kvm2=2), registry) == {"kvm1": 1, "kvm2": 2}
    # Values as strings (local facts, extra vars) and a matching pin.
    pinned = {"kvm1": {"explicit": "1", "existing": "1", "joined": True}}
    assert host_ids_settled(pinned, registry) == {"kvm1": 1}


def test_not_settled_when_a_host_has_not_joined():
    found = facts(kvm1=1, kvm2=2)
    found["kvm2"]["joined"] = False
    assert host_ids_settled(found, {"kvm1": 1, "kvm2": 2}) is None
    found["kvm2"] = {"explicit": None, "existing": None, "joined": False}  # a new host
    assert host_ids_settled(found, {"kvm1": 1}) is None


def test_not_settled_when_the_registry_disagrees():
    assert host_ids_settled(facts(kvm1=1, kvm2=2), {"kvm1": 1, "kvm2": 3}) is None
    assert host_ids_settled(facts(kvm1=1, kvm2=2), {"kvm1": 1}) is None


def test_not_settled_when_a_pin_differs():
    found = facts(kvm1=1, kvm2=2)
    found["kvm2"]["explicit"] = 4
    assert host_ids_settled(found, {"kvm1": 1, "kvm2": 2}) is None


def test_not_settled_without_a_registry_or_facts():
    assert host_ids_settled(facts(kvm1=1), None) is None
    assert host_ids_settled({}, {"kvm1": 1}) is None
    assert host_ids_settled(None, {"kvm1": 1}) is None


def test_not_settled_with_duplicate_ids():
    assert host_ids_settled(facts(kvm1=1), {"kvm1": 1, "old": 1}) is None
    assert host_ids_settled(facts(kvm1=1, kvm2=1), {"kvm1": 1, "kvm2": 1}) is None


# Registration and real templating


def test_registered_under_their_names():
    assert FilterModule().filters() == {"state_unshared": state_unshared, "host_ids_settled": host_ids_settled,
                                        "lockspace_join": lockspace_join}


def test_through_ansible_templating(render):
    expr = ("{{ {'unshared': states | autolease.sanlock.state_unshared('" + LOCKSPACE + "'),"
            " 'settled': facts | autolease.sanlock.host_ids_settled({'kvm1': 1, 'kvm2': 2})} }}")
    msg, result = render(expr, {"states": shared_states(), "facts": facts(kvm1=1, kvm2=2)})
    assert msg == {"unshared": [], "settled": {"kvm1": 1, "kvm2": 2}}, result


# lockspace_join


def test_lockspace_join_picks_the_verified_join_at_the_lease_directory():
    stale = {"name": "__LIBVIRT__DISKS__", "host_id": 2, "path": LOCKSPACE, "verified": False, "proof": "p"}
    good = dict(stale, verified=True)
    assert lockspace_join({"lockspaces": [stale, good]}, LEASES + "/") == good
    assert lockspace_join({"lockspaces": [stale]}, LEASES) == stale
    assert lockspace_join({"lockspaces": [dict(good, path="/other/__LIBVIRT__DISKS__")]}, LEASES) == {}
    assert lockspace_join({"lockspaces": None}, LEASES) == {}


def digested(states, keep_all=False):
    """The states as host_info returns them with all_slots=false: own slot, digest of all the slots read."""
    from ansible_collections.autolease.sanlock.plugins.module_utils._host_info import own_slots, slots_digest
    for state in states.values():
        state["slots_digest"] = slots_digest(state["slots"])
        if not keep_all:
            state["slots"] = own_slots(state["slots"], state["lockspaces"], LEASES)
    return states


def test_unshared_is_empty_for_hosts_carrying_only_their_own_slot_and_one_digest():
    states = digested(shared_states())
    assert [sorted(state["slots"]) for state in states.values()] == [["1"], ["2"], ["3"]]
    assert state_unshared(states, LOCKSPACE) == []


def test_unshared_with_digests_still_names_a_private_copy_a_stale_copy_and_a_missing_own_slot():
    private = shared_states()
    private["kvm3"]["slots"] = slots(3)
    for state in ("kvm1", "kvm2"):
        del private[state]["slots"]["3"]
    assert state_unshared(digested(private), LOCKSPACE) == ["kvm1 and kvm3 read different slots in " + LOCKSPACE]
    stale = shared_states()
    stale["kvm2"]["slots"]["1"]["generation"] = 5
    assert state_unshared(digested(stale), LOCKSPACE) == ["kvm1 and kvm2 read different slots in " + LOCKSPACE]
    blind = shared_states()
    del blind["kvm1"]["slots"]["1"]
    assert state_unshared(digested(blind), LOCKSPACE) == ["kvm1 does not see its own slot 1 in " + LOCKSPACE]


def test_unshared_with_unequal_digests_falls_back_to_the_slots_of_the_play():
    # a host outside the play joined between two readings: the digests differ, the full slots still prove it
    states = shared_states()
    for state in states.values():
        state["slots"]["7"] = {"owner_name": "kvm7", "generation": 3}
    del states["kvm1"]["slots"]["7"]
    assert state_unshared(digested(states, keep_all=True), LOCKSPACE) == []
    # with only their own slots the hosts cannot prove it: the caller falls back to the token check
    assert state_unshared(digested(states), LOCKSPACE) != []
