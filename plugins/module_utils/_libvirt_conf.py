# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read libvirt's configuration files (qemu.conf, qemu-sanlock.conf) as libvirt reads them.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

libvirt's own parser (virconf): ``name = value`` entries (ended by a line end
or ``;``), ``#`` comments (also after a value), strings in double or single quotes (or triple double quotes),
integers, lists in ``[ ]`` that may span lines. An entry set twice: libvirt's
lookup returns the first one, so the first wins here too. A commented-out
entry is not set: libvirt then uses its built-in default (DEFAULTS below).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

QEMU_CONF = "/etc/libvirt/qemu.conf"
QEMU_SANLOCK_CONF = "/etc/libvirt/qemu-sanlock.conf"

# libvirt's values when a setting is not set: no lock manager (libvirt's "nop" driver), the sanlock plugin's
# lease directory, no automatic leases, no host_id (the plugin then refuses to set up the lockspace).
DEFAULT_LOCK_MANAGER = "none"
DEFAULT_DISK_LEASE_DIR = "/var/lib/libvirt/sanlock"

_NAME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*")
_NUMBER = re.compile(r"[-+]?\d+")


def _value(text, pos):
    """(value, end) of the value at text[pos:]; raises ValueError on what libvirt rejects too."""
    if text.startswith('"""', pos):
        end = text.find('"""', pos + 3)
        if end < 0:
            raise ValueError("unterminated string")
        return text[pos + 3:end], end + 3
    if pos < len(text) and text[pos] in "\"'":
        quote = text[pos]
        end = pos + 1
        while end < len(text) and text[end] != quote and text[end] not in "\r\n":
            end += 1
        if end >= len(text) or text[end] != quote:
            raise ValueError("unterminated string")
        return text[pos + 1:end], end + 1
    if pos < len(text) and text[pos] == "[":
        items, pos = [], pos + 1
        while True:
            pos = _skip(text, pos, eol=True)
            if pos < len(text) and text[pos] == "]":
                return items, pos + 1
            if pos >= len(text):
                raise ValueError("list is not closed with ]")
            if items:
                if text[pos] != ",":
                    raise ValueError("expecting a separator in list")
                pos = _skip(text, pos + 1, eol=True)
                if pos < len(text) and text[pos] == "]":
                    return items, pos + 1
            item, pos = _value(text, pos)
            items.append(item)
    match = _NUMBER.match(text, pos)
    if match:
        return int(match.group()), match.end()
    raise ValueError("expecting a value")


def _skip(text, pos, eol=False):
    """Position after blanks (and line ends and comments when eol)."""
    while pos < len(text):
        char = text[pos]
        if char in " \t" or (eol and char in "\r\n"):
            pos += 1
        elif eol and char == "#":
            while pos < len(text) and text[pos] not in "\r\n":
                pos += 1
        else:
            break
    return pos


def parse(text):
    """setting -> value (str, int or list) of a libvirt configuration file; the first of a setting set twice wins.

    Raises ValueError naming the line of what libvirt's parser rejects as well.
    """
    settings, pos = {}, 0
    while True:
        pos = _skip(text, pos, eol=True)
        if pos >= len(text):
            return settings
        line = text.count("\n", 0, pos) + 1
        match = _NAME.match(text, pos)
        if not match:
            raise ValueError("line %d: expecting a name = value entry" % line)
        try:
            value, pos = _value(text, match.end())
        except ValueError as exc:
            raise ValueError("line %d: %s (setting %s)" % (line, exc, match.group(1)))
        settings.setdefault(match.group(1), value)
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ";":
            pos += 1  # a separator: the next entry may follow on the same line
            continue
        if pos < len(text) and text[pos] == "#":
            continue  # a comment after the value: _skip(eol=True) drops it
        if pos < len(text) and text[pos] not in "\r\n":
            raise ValueError("line %d: expecting a line end after the value of %s" % (line, match.group(1)))


def read(path):
    """{"settings": parse(file), "error": None}; settings {} when the file does not exist; settings None and
    error (why, naming the file) when it cannot be read or parsed."""
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return {"settings": {}, "error": None}
    except (OSError, UnicodeDecodeError) as exc:
        return {"settings": None, "error": "cannot read %s: %s" % (path, exc)}
    try:
        return {"settings": parse(text), "error": None}
    except ValueError as exc:
        return {"settings": None, "error": "%s: %s; libvirt refuses the file as well: correct it" % (path, exc)}


def lock_settings(qemu_conf=QEMU_CONF, qemu_sanlock_conf=QEMU_SANLOCK_CONF):
    """What libvirt's QEMU driver uses for disk locking, with libvirt's defaults for what is not set.

    {lock_manager, disk_lease_dir, auto_disk_leases (bool), host_id (int or None), errors: [str]}; a value that
    cannot be read is None and errors says why.
    """
    qemu, sanlock = read(qemu_conf), read(qemu_sanlock_conf)
    errors = [err for err in (qemu["error"], sanlock["error"]) if err]
    result = {"lock_manager": None, "disk_lease_dir": None, "auto_disk_leases": None, "host_id": None,
              "errors": errors}
    if qemu["settings"] is not None:
        manager = qemu["settings"].get("lock_manager", DEFAULT_LOCK_MANAGER)
        result["lock_manager"] = manager if isinstance(manager, str) else str(manager)
    conf = sanlock["settings"]
    if conf is not None:
        lease_dir = conf.get("disk_lease_dir", DEFAULT_DISK_LEASE_DIR)
        result["disk_lease_dir"] = lease_dir if isinstance(lease_dir, str) else None
        auto = conf.get("auto_disk_leases", 0)
        result["auto_disk_leases"] = bool(auto) if isinstance(auto, int) else None
        host_id = conf.get("host_id", 0)
        result["host_id"] = host_id if isinstance(host_id, int) and host_id > 0 else None
        for name, value in (("disk_lease_dir", lease_dir), ("auto_disk_leases", auto), ("host_id", host_id)):
            expected = str if name == "disk_lease_dir" else int
            if not isinstance(value, expected):
                errors.append("%s: %s = %r is not %s as libvirt expects; correct it" % (
                    qemu_sanlock_conf, name, value, "a quoted string" if expected is str else "a number"))
    return result
