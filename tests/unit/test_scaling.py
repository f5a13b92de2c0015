# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Nothing in the playbooks and roles grows with the square of the host count.

Every reading of hostvars[host] builds that host's variables. A task that runs on every host and loops over all
the play's hosts through hostvars therefore costs hosts x hosts such readings: 200 hosts took 10.5 s for one such
check against 2.7 s computed once (docs/DEVELOPING.md, Scale). Such a loop must run once for the play (run_once,
usually a set_fact the other tasks read) or on one host (when: inventory_hostname == ...).

The check reads the YAML: a variable is cross-host when its definition loops over hosts through hostvars, or uses
a cross-host variable; a task that runs on every host must not use one.
"""

import json
import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
LOOP = re.compile(r"for\s+\w+\s+in\s+(ansible_play_hosts\w*|ansible_play_batch|groups\b)|map\(\s*'extract',\s*hostvars")
TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_LISTS = ("block", "rescue", "always")


def _text(value):
    return json.dumps(value, default=str)


def _loops_over_hosts(text):
    return "hostvars" in text and LOOP.search(text) is not None


def _uses(text, names):
    return [name for name in names if re.search(r"(?<![\w.])%s\b" % re.escape(name), text)]


def cross_host_names(definitions):
    """The names whose definition loops over the hosts through hostvars, directly or through another such name."""
    found = set(name for name, value in definitions.items() if _loops_over_hosts(_text(value)))
    while True:
        more = set(name for name, value in definitions.items()
                   if name not in found and _uses(_text(value), found))
        if not more:
            return found
        found |= more


def _leaf_tasks(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        if any(key in task for key in BLOCK_LISTS):
            for key in BLOCK_LISTS:
                for leaf, outer in _leaf_tasks(task.get(key)):
                    yield leaf, [task] + outer
        else:
            yield task, []


def _once(task, outer):
    """The task runs once for the play, or on one host."""
    for scope in [task] + outer:
        if scope.get("run_once") is True:
            return True
        conditions = scope.get("when") or []
        conditions = conditions if isinstance(conditions, list) else [conditions]
        if any(re.match(r"\s*inventory_hostname\s*==", str(condition)) for condition in conditions):
            return True
    return False


def per_host_uses(tasks, definitions):
    """(task name, what it uses) for each task that runs on every host and uses a cross-host loop."""
    names = cross_host_names(definitions)
    found = []
    for task, outer in _leaf_tasks(tasks):
        if _once(task, outer):
            continue
        text = _text(dict((key, value) for key, value in task.items() if key != "name"))
        used = _uses(text, names) + (["a loop over the hosts"] if _loops_over_hosts(text) else [])
        if used:
            found.append((task.get("name", "?"), sorted(used)))
    return found


def _vars_in(tasks):
    found = {}
    for task in tasks or []:
        if isinstance(task, dict):
            found.update(task.get("vars") or {})
            for key in BLOCK_LISTS:
                found.update(_vars_in(task.get(key)))
    return found


def _load(path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


def _playbook_cases():
    for path in sorted((REPO / "playbooks").glob("*.yml")):
        for index, play in enumerate(_load(path) or []):
            if not isinstance(play, dict) or play.get("hosts") in ("localhost", "127.0.0.1"):
                continue
            tasks = [task for key in TASK_LISTS for task in play.get(key) or []]
            definitions = dict(play.get("vars") or {}, **_vars_in(tasks))
            yield "%s#%d" % (path.name, index), tasks, definitions


def _role_cases():
    for role in sorted(path for path in (REPO / "roles").iterdir() if (path / "tasks").is_dir()):
        definitions = {}
        for part in ("defaults", "vars"):
            for path in sorted((role / part).glob("*.yml")):
                definitions.update(_load(path) or {})
        tasks = []
        for part in ("tasks", "handlers"):
            for path in sorted((role / part).glob("*.yml")):
                tasks.extend(_load(path) or [])
        definitions.update(_vars_in(tasks))
        yield role.name, tasks, definitions


CASES = list(_playbook_cases()) + list(_role_cases())


@pytest.mark.parametrize("name, tasks, definitions", CASES, ids=[case[0] for case in CASES])
def test_no_task_on_every_host_loops_over_all_hosts(name, tasks, definitions):
    found = per_host_uses(tasks, definitions)
    assert not found, ("%s: these tasks run on every host and loop over all hosts through hostvars (hosts x hosts "
                       "readings); compute the value once with run_once (a set_fact the tasks read): %s"
                       % (name, found))


def test_the_check_finds_a_per_host_loop_through_a_variable_and_accepts_it_once():
    definitions = {"__pins": "{% for host in ansible_play_hosts %}{{ hostvars[host].x }}{% endfor %}",
                   "__clash": "{{ __pins | length }}", "__mine": "{{ inventory_hostname }}"}
    per_host = [{"name": "Check", "ansible.builtin.assert": {"that": "__clash == 0"}},
                {"name": "Fine", "ansible.builtin.debug": {"msg": "{{ __mine }}"}}]
    assert per_host_uses(per_host, definitions) == [("Check", ["__clash"])]
    once = [{"name": "Once", "ansible.builtin.set_fact": {"c": "{{ __clash }}"}, "run_once": True},
            {"block": [{"name": "One host", "ansible.builtin.debug": {"msg": "{{ __pins }}"}}],
             "when": "inventory_hostname == 'kvm1'"}]
    assert per_host_uses(once, definitions) == []
    direct = [{"name": "Direct", "ansible.builtin.debug": {
        "msg": "{{ ansible_play_hosts | map('extract', hostvars, 'x') | list }}"}}]
    assert per_host_uses(direct, {}) == [("Direct", ["a loop over the hosts"])]
