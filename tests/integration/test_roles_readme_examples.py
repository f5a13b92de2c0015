"""Each role README's example playbooks pass Ansible's checks of the role's inputs.

Every ```yaml block of roles/<role>/README.md is a playbook. It must pass
`ansible-playbook --syntax-check`, use the README's own role, and pass the
argument spec validation of every role it includes: the run is the real one,
against an inventory whose host `kvm1` (group kvm_hosts) is this controller
with connection local, in check mode and with a tag no task has, so the only
tasks that run are the ones tagged `always`, which are the validation task
ansible-core puts at the start of each role (ansible.builtin.validate_argument_spec
with the role's meta/argument_specs.yml, fed the role's defaults and the
example's vars) and fact gathering. Nothing on the host changes.

A control case puts one invalid value into each role's example and expects
that run to fail naming the variable, so a broken example cannot pass.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.name for p in (REPO / "roles").glob("*/README.md"))
BIN = pathlib.Path(sys.executable).parent
NO_SUCH_TAG = "readme-example-validation-only"
# One value per role that its argument spec refuses.
INVALID = {
    "cleanup_schedule": ("cleanup_schedule_state", "gone"),
    "host_id": ("host_id_explicit", "two"),
    "libvirt": ("libvirt_daemon", "qemud"),
    "sanlock": ("sanlock_use_watchdog", "sometimes"),
    "shared_storage": ("shared_storage_fstype", "nfs5"),
}


def examples(role):
    readme = (REPO / "roles" / role / "README.md").read_text()
    return re.findall(r"^```yaml\n(.*?)^```$", readme, re.M | re.S)


def _env():
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".cache" / "collections")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    return env


def _inventory(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"kvm_hosts": {"hosts": {"kvm1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    return path


def _roles_of(plays):
    """The role names the example's plays include, in order (short names, without autolease.sanlock.)."""
    names = []
    for play in plays:
        for entry in play.get("roles", []):
            name = entry["role"] if isinstance(entry, dict) else entry
            assert name.startswith("autolease.sanlock."), "use the role's full name: %s" % name
            names.append(name.split(".")[-1])
    return names


def _validate(tmp_path, plays):
    """Run the playbook's role validation only; returns (returncode, output)."""
    playbook = tmp_path / "example.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    inventory = _inventory(tmp_path)
    syntax = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(inventory), str(playbook)],
                            capture_output=True, text=True, env=_env(), cwd=str(REPO), timeout=300, check=False)
    assert syntax.returncode == 0, "syntax check failed:\n%s\n%s" % (syntax.stdout[-3000:], syntax.stderr[-3000:])
    res = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "--check",
                          "--tags", NO_SUCH_TAG], capture_output=True, text=True, env=_env(), cwd=str(REPO),
                         timeout=300, check=False)
    return res.returncode, res.stdout + res.stderr


def _cases():
    return [(role, index) for role in ROLES for index in range(len(examples(role)))]


@pytest.mark.parametrize("role", ROLES)
def test_readme_has_an_example_with_its_role(role):
    found = examples(role)
    assert found, "roles/%s/README.md has no ```yaml example" % role
    assert any(role in _roles_of(yaml.safe_load(text)) for text in found), \
        "no example of roles/%s/README.md includes autolease.sanlock.%s" % (role, role)


@pytest.mark.parametrize("role,index", _cases(), ids=["%s-%d" % case for case in _cases()])
def test_readme_example_passes_argument_spec_validation(tmp_path, role, index):
    plays = yaml.safe_load(examples(role)[index])
    assert isinstance(plays, list) and plays, "the example is not a playbook (a list of plays)"
    included = _roles_of(plays)
    returncode, output = _validate(tmp_path, plays)
    assert returncode == 0, "the example of roles/%s/README.md fails validation:\n%s" % (role, output[-4000:])
    validated = re.findall(r"^TASK \[autolease\.sanlock\.(\w+) : Validating arguments against arg spec 'main'",
                           output, re.M)
    assert validated == included, "validated %s, the example includes %s:\n%s" % (validated, included, output[-3000:])
    recap = re.search(r"^kvm1\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    assert recap and recap.groups() == ("0", "0", "0"), output[-3000:]


@pytest.mark.parametrize("role", ROLES)
def test_an_invalid_value_in_the_example_fails_validation(tmp_path, role):
    variable, value = INVALID[role]
    plays = yaml.safe_load(next(text for text in examples(role) if role in _roles_of(yaml.safe_load(text))))
    for play in plays:
        for index, entry in enumerate(play.get("roles", [])):
            entry = play["roles"][index] = entry if isinstance(entry, dict) else {"role": entry}
            if entry["role"] == "autolease.sanlock." + role:
                entry.setdefault("vars", {})[variable] = value
    returncode, output = _validate(tmp_path, plays)
    assert returncode != 0, "%s=%r passed validation:\n%s" % (variable, value, output[-3000:])
    assert "Validation of arguments failed" in output and variable in output, output[-3000:]
