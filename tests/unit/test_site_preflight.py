# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml's duplicate pin check, rendered by ansible-playbook on local-only hosts.

The tasks are taken from playbooks/site.yml itself (the pre-task that finds the clashes once for the play, and the
expression of the pre-task that checks every host), so this tests what site.yml runs; the comparison lives in the
host_id_same_pin filter (tests/unit/plugins/filter/test_host_id.py).
"""

import json
import os
import pathlib
import subprocess
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


def _same_pin_tasks():
    """site.yml's task that finds the clashes (run once) and its per-host __site_same_pin expression."""
    play = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())[0]
    clashes = [task for task in play["pre_tasks"] if "__site_pin_clashes" in (task.get("ansible.builtin.set_fact") or {})]
    expressions = [(task.get("vars") or {}).get("__site_same_pin") for task in play["pre_tasks"]]
    expressions = [expression for expression in expressions if expression]
    assert len(clashes) == 1 and len(expressions) == 1, "site.yml has no __site_pin_clashes/__site_same_pin check"
    assert clashes[0].get("run_once") is True, "the clashes are found once for the play, not once per host"
    return clashes[0], expressions[0]


def test_pins_07_and_7_are_one_id_in_the_site_preflight(tmp_path):
    inventory = {"all": {"hosts": {"kvm1": {"host_id_explicit": "07"}, "kvm2": {"host_id_explicit": 7},
                                   "kvm3": {"host_id_explicit": 8}, "kvm4": {}},
                         "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    clashes, expression = _same_pin_tasks()
    playbook = [{"hosts": "all", "gather_facts": False, "tasks": [
        clashes, {"name": "Render the check", "ansible.builtin.set_fact": {"same_pin": "{{ __site_same_pin }}"},
                  "vars": {"__site_same_pin": expression}}]}]
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"), ANSIBLE_LOCALHOST_WARNING="false")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    hosts = json.loads(proc.stdout)["plays"][0]["tasks"][1]["hosts"]
    same = {name: result["ansible_facts"]["same_pin"] for name, result in hosts.items()}
    assert same == {"kvm1": ["kvm2"], "kvm2": ["kvm1"], "kvm3": [], "kvm4": []}
