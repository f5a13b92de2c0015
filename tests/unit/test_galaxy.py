# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""galaxy.yml declares every collection the content (roles, playbooks, plugins) uses.

A name counts as a collection reference when it reads <namespace>.<collection>.<name> and that collection is
installed beside ansible-core (the ``ansible`` package of tests/requirements.txt ships them), so os.path.join or
plugins.module_utils never match. Lab and molecule files (tests/, extensions/) are test tooling, not content:
community.docker's nsenter connection there is no dependency.
"""

import os
import pathlib
import re

import ansible_collections
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
CONTENT = ("roles", "playbooks", "plugins")
SELF = ("ansible.builtin", "autolease.sanlock")
FQCN = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z_][a-z0-9_]*\b")


def _installed_collections():
    found = {}
    for root in ansible_collections.__path__:
        for namespace in os.listdir(root):
            ns_dir = os.path.join(root, namespace)
            if not os.path.isdir(ns_dir):
                continue
            for name in os.listdir(ns_dir):
                manifest = os.path.join(ns_dir, name, "MANIFEST.json")
                if os.path.exists(manifest):
                    found.setdefault("%s.%s" % (namespace, name), manifest)
    return found


def _used_collections(installed):
    used = {}
    for top in CONTENT:
        for path in sorted((REPO / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            text = path.read_text(errors="replace")
            for match in FQCN.finditer(text):
                collection = "%s.%s" % match.groups()
                if collection in installed and collection not in SELF:
                    used.setdefault(collection, str(path.relative_to(REPO)))
    return used


def _version(text):
    return tuple(int(part) for part in text.split("."))


def test_every_collection_the_content_uses_is_declared():
    installed = _installed_collections()
    assert "ansible.posix" in installed, "the ansible package of tests/requirements.txt is not installed"
    declared = yaml.safe_load((REPO / "galaxy.yml").read_text()).get("dependencies") or {}
    used = _used_collections(installed)
    assert used, "no collection references found: the scan is broken"
    missing = dict((name, where) for name, where in used.items() if name not in declared)
    assert not missing, "used but not in galaxy.yml dependencies (collection: first file): %s" % missing


def test_declared_ranges_accept_the_versions_the_ansible_package_ships():
    import json

    installed = _installed_collections()
    declared = yaml.safe_load((REPO / "galaxy.yml").read_text()).get("dependencies") or {}
    for name, spec in declared.items():
        with open(installed[name]) as handle:
            shipped = _version(json.load(handle)["collection_info"]["version"])
        for clause in str(spec).split(","):
            clause = clause.strip()
            op, bound = re.match(r"^(>=|<|==|\*)?\s*([0-9.]*)$", clause).groups()
            if op == ">=":
                assert shipped >= _version(bound), (name, spec, shipped)
            elif op == "<":
                assert shipped < _version(bound), (name, spec, shipped)
            elif op == "==" or (op is None and bound):
                assert shipped == _version(bound), (name, spec, shipped)
