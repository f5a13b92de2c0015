# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Receipts: what a run's change tasks produced on a host, to compare later.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

A receipt is written after the change tasks of a run have all succeeded. It
holds the inputs of that run (any JSON data; compared whole) and an
observation of what the caller names in `watch`, taken right then:

    files      paths -> exists, type, owner, group, mode, sha256 (regular files)
    metadata   paths -> exists, type, owner, group, mode (content left out:
               files that change on their own, such as a lockspace)
    packages   names -> installed version (None when not installed)
    units      unit -> {property: value} for the properties asked
               (enabled: UnitFileState, active: ActiveState)
    users      names -> their groups
    mounts     paths -> source, fstype, root, underneath (None: not mounted)
    joins      [{lease_dir, host_id}] -> whether the local sanlock daemon's
               join of <lease_dir>/__LIBVIRT__DISKS__ with that host_id is
               verified by content (_join_proof)

Reading a receipt observes the same things again and lists every difference
(`drift`). The receipt does not say what the state should be: the change
tasks do, and the receipt only records what they left. Nothing here knows the
rules of the modules that produced the state, so it cannot disagree with them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import subprocess

from ansible_collections.autolease.sanlock.plugins.module_utils import _host_info
from ansible_collections.autolease.sanlock.plugins.module_utils._atomic_file import write_bytes
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import OptionError
from ansible_collections.autolease.sanlock.plugins.module_utils._lockspace import lockspace_path

DEFAULT_DIR = "/var/lib/autolease-sanlock/receipts"
WATCH_KINDS = ("files", "metadata", "packages", "units", "users", "mounts", "joins")
UNIT_PROPERTIES = ("enabled", "active")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_FORMAT = 1


def inputs_digest(inputs):
    """sha256 of the canonical text of inputs: equal inputs give equal digests, on the controller and the host."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_name(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise OptionError("receipt name %r: use letters, digits, '.', '_' and '-' only (the role's name)" % (name,))
    return name


def check_watch(watch):
    """Raise OptionError naming the bad entry unless watch is a dict of WATCH_KINDS as documented."""
    if not isinstance(watch, dict):
        raise OptionError("watch must be a dict with keys among %s, got %r" % (", ".join(WATCH_KINDS), watch))
    unknown = sorted(set(watch) - set(WATCH_KINDS))
    if unknown:
        raise OptionError("watch: unknown kind(s) %s; use %s" % (", ".join(unknown), ", ".join(WATCH_KINDS)))
    for kind in ("files", "metadata", "mounts"):
        for path in watch.get(kind) or []:
            if not isinstance(path, str) or not os.path.isabs(path):
                raise OptionError("watch.%s: %r is not an absolute path" % (kind, path))
    units = watch.get("units") or {}
    if not isinstance(units, dict):
        raise OptionError("watch.units must map a unit to the properties to watch (%s), got %r"
                          % (", ".join(UNIT_PROPERTIES), units))
    for unit, props in units.items():
        bad = [prop for prop in props or [] if prop not in UNIT_PROPERTIES]
        if bad or not props:
            raise OptionError("watch.units.%s: %r; watch one or more of %s" % (unit, props, ", ".join(UNIT_PROPERTIES)))
    for join in watch.get("joins") or []:
        if not isinstance(join, dict) or not str(join.get("host_id", "")).isdigit() or \
                not os.path.isabs(str(join.get("lease_dir", ""))):
            raise OptionError("watch.joins: %r must be {lease_dir: <absolute path>, host_id: <1-2000>}" % (join,))
    return watch


def package_versions(names):
    """name -> installed version (None when not installed); None when neither dpkg nor rpm answers."""
    if not names:
        return {}
    found = {}
    if shutil.which("dpkg-query"):
        res = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev} ${Version}\n", "--"]
                             + list(names), capture_output=True, text=True, check=False, timeout=60)
        for line in res.stdout.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] == "ii":
                found[fields[0]] = fields[2]
    elif shutil.which("rpm"):
        res = subprocess.run(["rpm", "-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\n", "--"] + list(names),
                             capture_output=True, text=True, check=False, timeout=60)
        for line in res.stdout.splitlines():
            fields = line.split()
            if len(fields) == 2:
                found[fields[0]] = fields[1]
    else:
        return None
    return dict((name, found.get(name)) for name in names)


def _metadata(info):
    return dict((key, info[key]) for key in ("exists", "type", "owner", "group", "mode") if key in info)


def observe(watch, known=None):
    """The observation of everything watch names (see the module docstring).

    known: readings the caller already made in this run, reused instead of reading again:
    {"mounts": (paths asked, _host_info.mounts(paths)), "joins": _host_info.joined_lockspaces()}.
    """
    known = known or {}
    seen = {}
    if watch.get("files"):
        seen["files"] = dict((path, dict(_metadata(info), **({"sha256": info["sha256"]} if "sha256" in info else {})))
                             for path, info in ((path, _host_info.read_path(path)) for path in watch["files"]))
    if watch.get("metadata"):
        seen["metadata"] = dict((path, _metadata(_host_info.read_path(path))) for path in watch["metadata"])
    if watch.get("packages"):
        seen["packages"] = package_versions(watch["packages"])
    if watch.get("units"):
        states = _host_info.unit_states(sorted(watch["units"])) or {}
        seen["units"] = dict((unit, dict((prop, (states.get(unit) or {}).get(prop, "")) for prop in props))
                             for unit, props in watch["units"].items())
    if watch.get("users"):
        seen["users"] = _host_info.user_groups(watch["users"])
    if watch.get("mounts"):
        asked, table = known.get("mounts") or ((), None)
        if table is None or not set(watch["mounts"]) <= set(asked):
            table = _host_info.mounts(watch["mounts"])
        table = table or {}
        seen["mounts"] = dict((path, dict((key, table[path].get(key)) for key in ("source", "fstype", "root",
                                                                                  "underneath"))
                               if path in table else None) for path in watch["mounts"])
    if watch.get("joins"):
        joins = known["joins"] if known.get("joins") is not None else _host_info.joined_lockspaces()
        joins = joins or []
        seen["joins"] = dict(("%s@%s" % (int(join["host_id"]), join["lease_dir"]),
                              any(have["verified"] and have["host_id"] == int(join["host_id"])
                                  and have["path"] == lockspace_path(os.path.normpath(join["lease_dir"]))
                                  for have in joins))
                             for join in watch["joins"])
    return seen


def drift(recorded, now):
    """Every difference between two observations, as text ([] when they are the same)."""
    found = []
    for kind in sorted(set(recorded) | set(now)):
        before, after = recorded.get(kind) or {}, now.get(kind) or {}
        for item in sorted(set(before) | set(after)):
            old, new = before.get(item), after.get(item)
            if old == new:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                changes = ["%s %s -> %s" % (key, old.get(key), new.get(key))
                           for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
                found.append("%s %s: %s" % (kind, item, ", ".join(changes)))
            else:
                found.append("%s %s: %s -> %s" % (kind, item, _show(old), _show(new)))
    return found


def _show(value):
    return "absent" if value is None else json.dumps(value, sort_keys=True)


def path_of(receipt_dir, name):
    return os.path.join(receipt_dir, check_name(name) + ".json")


def load(receipt_dir, name):
    """The receipt stored for name, or None (none yet, or one this version cannot read)."""
    try:
        with open(path_of(receipt_dir, name)) as handle:
            receipt = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(receipt, dict) or receipt.get("format") != _FORMAT:
        return None
    return receipt


def build(name, inputs, watch):
    """A new receipt: inputs and what watch names, observed now."""
    check_watch(watch)
    return {"format": _FORMAT, "name": check_name(name), "inputs": inputs_digest(inputs), "input_values": inputs,
            "watch": watch, "observed": observe(watch)}


def _merged(watches):
    """One watch covering all of watches (observed once: one systemctl, one dpkg-query... for all receipts)."""
    merged = {}
    for watch in watches:
        for kind, items in watch.items():
            if kind == "units":
                units = merged.setdefault("units", {})
                for unit, props in items.items():
                    units[unit] = sorted(set(units.get(unit, [])) | set(props))
            else:
                seen = merged.setdefault(kind, [])
                seen.extend(item for item in items if item not in seen)
    return merged


def _part(seen, watch):
    """The observation of watch, taken out of the observation of a merged watch."""
    part = {}
    for kind, items in watch.items():
        if not items:
            continue
        if kind == "joins":
            keys = ["%s@%s" % (int(join["host_id"]), join["lease_dir"]) for join in items]
        elif kind == "units":
            part["units"] = dict((unit, dict((prop, seen["units"][unit][prop]) for prop in props))
                                 for unit, props in items.items())
            continue
        else:
            keys = items
        table = seen.get(kind)
        part[kind] = None if table is None else dict((key, table.get(key)) for key in keys)
    return part


def read(receipt_dir, names, known=None):
    """name -> {inputs, input_values, drift} (drift: the host now against the receipt), None without a receipt.

    known: readings already made in this run (see observe()).
    """
    receipts = {}
    for name in names:
        receipt = load(receipt_dir, name)
        try:
            receipts[name] = receipt and dict(receipt, watch=check_watch(receipt.get("watch") or {}))
        except OptionError:
            receipts[name] = None  # written by another version: no receipt
    seen = observe(_merged(receipt["watch"] for receipt in receipts.values() if receipt), known)
    return dict((name, None if receipt is None else
                 {"inputs": receipt["inputs"], "input_values": receipt.get("input_values"),
                  "drift": drift(receipt.get("observed") or {}, _part(seen, receipt["watch"]))})
                for name, receipt in receipts.items())


def stored_names(receipt_dir):
    try:
        return sorted(entry[:-5] for entry in os.listdir(receipt_dir) if entry.endswith(".json"))
    except OSError:
        return []


def write(receipt_dir, receipt):
    """Store receipt atomically (root only, 0600). Returns False when the stored one is the same."""
    if load(receipt_dir, receipt["name"]) == json.loads(json.dumps(receipt)):
        return False
    os.makedirs(receipt_dir, mode=0o700, exist_ok=True)
    text = json.dumps(receipt, sort_keys=True, indent=1) + "\n"
    write_bytes(path_of(receipt_dir, receipt["name"]), text.encode("utf-8"), 0o600)
    return True


def remove(receipt_dir, name):
    """Forget the receipt of name. Returns whether there was one."""
    try:
        os.unlink(path_of(receipt_dir, name))
    except FileNotFoundError:
        return False
    return True
