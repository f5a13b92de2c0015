# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the rolling_batches filter (plugins/filter/rolling.py), the libvirt role's rolling restart."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.filter.rolling import rolling_batches

HOSTS = ["kvm%d" % index for index in range(1, 9)]


def test_one_size_cuts_like_the_batch_filter():
    assert rolling_batches(HOSTS, 3) == [HOSTS[0:3], HOSTS[3:6], HOSTS[6:8]]
    assert rolling_batches(HOSTS) == [[host] for host in HOSTS]


def test_a_list_of_sizes_repeats_its_last_entry_and_percentages_are_of_all_hosts():
    assert [len(batch) for batch in rolling_batches(HOSTS, [1, "10%", "25%"])] == [1, 1, 2, 2, 2]
    assert [len(batch) for batch in rolling_batches(HOSTS, ["50%"])] == [4, 4]


@pytest.mark.parametrize("count, batches", [(1, 1), (3, 3), (8, 5), (100, 6), (500, 6), (2000, 6)])
def test_the_default_needs_few_batches_however_many_hosts(count, batches):
    hosts = ["h%d" % index for index in range(count)]
    cut = rolling_batches(hosts, [1, "10%", "25%"])
    assert len(cut) == batches
    assert [host for batch in cut for host in batch] == hosts
    assert cut[0] == ["h0"]


@pytest.mark.parametrize("sizes", [0, "0", "0%", "101%", "ten", -1, [], [1, 0], True, None])
def test_a_bad_size_is_named_with_the_fix(sizes):
    with pytest.raises(AnsibleFilterError, match=r"rolling_batches: .*(e\.g\.|for example)"):
        rolling_batches(HOSTS, sizes)


def test_no_hosts_no_batches():
    assert rolling_batches([], [1, "10%"]) == []
