# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the option range checks (plugins/module_utils/_options.py); the modules' use is in test_faults.py."""

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _options
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import OptionError
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name


@pytest.mark.parametrize("value", [None, 1, 64])
def test_range_accepts_its_bounds_and_none(value):
    _options.check_range("workers", value, *_options.WORKERS_RANGE, unit="threads")


@pytest.mark.parametrize("value", [0, 65, -1])
def test_range_refuses_outside_naming_option_value_and_range(value):
    with pytest.raises(OptionError, match=r"^workers=%d is out of range: expected threads 1-64; set workers" % value):
        _options.check_range("workers", value, *_options.WORKERS_RANGE, unit="threads")


def test_open_range_says_at_least():
    with pytest.raises(OptionError, match="min_age=-1 .* expected seconds >= 0"):
        _options.check_range("min_age", -1, 0)


def test_keep_accepts_lease_names_and_absolute_paths_only():
    _options.check_keep("keep", [lease_name("/a.img"), "/a.img", "//a.img"])
    for bad in ["", "a.img", lease_name("/a.img").upper(), " /a.img"]:
        with pytest.raises(OptionError, match="keep entry %r is neither" % bad):
            _options.check_keep("keep", [bad])


def test_names_refuse_empty_and_blank():
    _options.check_names("release", ["kvm1"], "host name")
    for bad in ["", "  ", None]:
        with pytest.raises(OptionError, match="release entry %r is not a host name" % (bad,)):
            _options.check_names("release", [bad], "host name")
