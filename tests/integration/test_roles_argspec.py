"""Bad role inputs fail before any change, with a message naming the variable.

Real ansible-playbook runs against localhost in check mode (no mocks): each
case includes one role with one bad input and expects the play to fail with
the variable's name in the output and nothing changed.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "tests" / "integration" / "playbooks" / "role_argspec.yml"


def run_role(role, extra, check=True):
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".cache" / "collections")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", ""))
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
           str(PLAYBOOK), "-e", json.dumps(dict(extra, role_under_test=role, ansible_python_interpreter=sys.executable))]
    if check:
        cmd.append("--check")
    res = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    return res, res.stdout + res.stderr


def recap(output):
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, "no PLAY RECAP for localhost in:\n" + output[-3000:]
    return {"ok": int(match.group(1)), "changed": int(match.group(2)), "failed": int(match.group(4))}


BAD_INPUTS = [
    ("libvirt", {"libvirt_host_id": 0}, "libvirt_host_id"),
    ("libvirt", {"libvirt_host_id": 2001}, "libvirt_host_id"),
    ("libvirt", {"libvirt_host_id": "two"}, "libvirt_host_id"),
    ("libvirt", {"libvirt_host_id": 3, "libvirt_io_timeout": -1}, "libvirt_io_timeout"),
    ("libvirt", {"libvirt_host_id": 3, "libvirt_daemon": "qemud"}, "libvirt_daemon"),
    ("libvirt", {"libvirt_host_id": 3, "libvirt_restart_batch": 0}, "libvirt_restart_batch"),
    ("libvirt", {"libvirt_host_id": 3, "libvirt_restart_batch": [1, "0%"]}, "libvirt_restart_batch"),
    ("libvirt", {"libvirt_host_id": 3, "libvirt_restart_batch": "ten"}, "libvirt_restart_batch"),
    ("shared_storage", {"shared_storage_src": ""}, "shared_storage_src"),
    ("shared_storage", {"shared_storage_src": "   "}, "shared_storage_src"),
    ("shared_storage", {"shared_storage_src": "nfs:/x", "shared_storage_fstype": "nfs5"}, "shared_storage_fstype"),
    ("shared_storage", {"shared_storage_src": "nfs:/x", "shared_storage_io_timeout": -1}, "shared_storage_io_timeout"),
    ("shared_storage", {"shared_storage_src": "nfs:/x", "shared_storage_lease_dir": "relative/dir"},
     "shared_storage_lease_dir"),
    ("sanlock", {"sanlock_max_worker_threads": 1}, "sanlock_max_worker_threads"),
    ("sanlock", {"sanlock_our_host_name": "x" * 49}, "sanlock_our_host_name"),
    ("sanlock", {"sanlock_use_watchdog": "sometimes"}, "sanlock_use_watchdog"),
    ("cleanup_schedule", {"cleanup_schedule_host": "no-such-host"}, "cleanup_schedule_host"),
    ("cleanup_schedule", {"cleanup_schedule_state": "gone"}, "cleanup_schedule_state"),
    ("cleanup_schedule", {"cleanup_schedule_minute": 60}, "cleanup_schedule_minute"),
    ("cleanup_schedule", {"cleanup_schedule_stale_after": 59}, "cleanup_schedule_stale_after"),
]


@pytest.mark.parametrize("role,extra,variable", BAD_INPUTS,
                         ids=["%s-%s" % (case[0], "-".join("%s=%s" % kv for kv in case[1].items())[:60])
                              for case in BAD_INPUTS])
def test_bad_input_fails_naming_the_variable(role, extra, variable):
    res, output = run_role(role, extra)
    assert res.returncode != 0, "bad input %r was accepted:\n%s" % (extra, output[-3000:])
    counts = recap(output)
    assert counts["failed"] == 1, output[-3000:]
    assert counts["changed"] == 0, "something changed before validation failed:\n" + output[-3000:]
    failure = "\n".join(line for line in output.splitlines() if "fatal:" in line or "FAILED!" in line
                        or "msg" in line or variable in line)
    assert variable in failure, "the failure does not name %s:\n%s" % (variable, output[-3000:])


def test_valid_input_passes_validation_and_check_mode_changes_nothing(tmp_path):
    """Control case: good input gets past validation; check mode creates nothing."""
    lease_dir = tmp_path / "leases"
    res, output = run_role("shared_storage", {
        "shared_storage_local": True,
        "shared_storage_lease_dir": str(lease_dir),
        "shared_storage_owner": "root",
        "shared_storage_group": "root",
    })
    assert res.returncode == 0, output[-3000:]
    counts = recap(output)
    assert counts["failed"] == 0
    assert counts["changed"] == 1, "check mode should report the directory it would create:\n" + output[-3000:]
    assert "only stop a disk from being used" in output, "local mode did not warn:\n" + output[-3000:]
    assert not lease_dir.exists(), "check mode created %s" % lease_dir
