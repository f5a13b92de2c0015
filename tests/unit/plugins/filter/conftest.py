# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The `render` fixture: a Jinja expression rendered by real ansible-core, with the collection's filters."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


@pytest.fixture
def render(tmp_path):
    """render(expr, extra_vars) -> (msg, the task's host result), through `ansible localhost -m debug`."""
    def run(expr, extra_vars):
        vars_file = tmp_path / "vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"),
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                   ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                               "-e", "@" + str(vars_file), "-m", "ansible.builtin.debug", "-a", "msg=" + expr],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        try:
            result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("ansible printed no result: %s %s" % (proc.stdout, proc.stderr))
        return result.get("msg"), result
    return run
