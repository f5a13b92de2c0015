# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the host_id_same_pin filter (plugins/filter/host_id.py), site.yml's duplicate pin check."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.filter.host_id import host_id_same_pin


@pytest.mark.parametrize("mine, other", [("07", 7), (7, "07"), ("7", 7), (" 7", "007"), (7.0, 7)])
def test_one_id_written_two_ways_is_the_same_pin(mine, other):
    pins = {"kvm1": mine, "kvm2": other, "kvm3": 8, "kvm4": None}
    assert host_id_same_pin(pins, "kvm1") == ["kvm2"]
    assert host_id_same_pin(pins, "kvm2") == ["kvm1"]


def test_unpinned_hosts_and_other_ids_do_not_clash():
    pins = {"kvm1": 7, "kvm2": 8, "kvm3": None, "kvm4": ""}
    assert [host_id_same_pin(pins, host) for host in sorted(pins)] == [[], [], [], []]


def test_all_other_hosts_with_the_pin_are_named_sorted():
    pins = {"kvm3": "7", "kvm1": 7, "kvm2": "0007"}
    assert host_id_same_pin(pins, "kvm1") == ["kvm2", "kvm3"]


def test_pins_that_are_not_ids_compare_as_written():
    # site.yml reports them as "not a sanlock host_id" anyway; they must not raise here
    pins = {"kvm1": "seven", "kvm2": "seven", "kvm3": "7"}
    assert host_id_same_pin(pins, "kvm1") == ["kvm2"]
    assert host_id_same_pin(pins, "kvm3") == []


def test_a_host_missing_from_the_pins_has_no_pin():
    assert host_id_same_pin({"kvm1": 7}, "kvm9") == []


def test_input_must_be_a_dict():
    with pytest.raises(AnsibleFilterError, match="host_id_same_pin: expected a dict host -> host_id_explicit"):
        host_id_same_pin([7, 7], "kvm1")


@pytest.mark.parametrize("pins", [
    {"kvm1": "07", "kvm2": 7, "kvm3": 8, "kvm4": None, "kvm5": "", "kvm6": "0007"},
    {"kvm1": "seven", "kvm2": "seven", "kvm3": "7", "kvm4": 9},
    dict(("kvm%d" % index, index % 5 or None) for index in range(1, 40)),
])
def test_the_clashes_of_all_hosts_at_once_are_those_host_by_host(pins):
    expected = dict((host, host_id_same_pin(pins, host)) for host in pins if host_id_same_pin(pins, host))
    assert host_id_same_pin(pins) == expected
    assert expected  # every case has a clash to find


def test_no_clash_gives_an_empty_map():
    assert host_id_same_pin({"kvm1": 1, "kvm2": 2, "kvm3": None}) == {}
