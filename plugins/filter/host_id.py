# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter host_id_same_pin (documented in host_id_same_pin.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


def _pin(value):
    """A pin as the id it names: "07", " 7", 7 and 7.0 are all 7; None and "" are no pin.

    Values that are not ids are kept as written (stripped); they are reported as invalid elsewhere.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if text == "":
        return None
    return int(text) if text.isdigit() else text


def host_id_same_pin(pins, host=None):
    """The other hosts whose pinned host_id is the one host pins, sorted; [] when host pins none.

    Without host: every host that shares its pin with others -> those others, in one pass over the pins (a play
    computes this once, not once per host).
    """
    if not isinstance(pins, dict):
        raise AnsibleFilterError("host_id_same_pin: expected a dict host -> host_id_explicit (null when not "
                                 "pinned), got %s" % type(pins).__name__)
    if host is not None:
        mine = _pin(pins.get(host))
        if mine is None:
            return []
        return sorted(other for other, value in pins.items() if other != host and _pin(value) == mine)
    by_pin = {}
    for name, value in pins.items():
        pin = _pin(value)
        if pin is not None:
            by_pin.setdefault(pin, []).append(name)
    clashes = {}
    for names in by_pin.values():
        if len(names) > 1:
            for name in names:
                clashes[name] = sorted(other for other in names if other != name)
    return clashes


class FilterModule(object):
    def filters(self):
        return {"host_id_same_pin": host_id_same_pin}
