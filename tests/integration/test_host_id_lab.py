"""The host_id role on real lab hosts (systemd-nspawn, tests/lab).

Runs on a private four-host lab (its own LAB_DIR, the shared image cache)
rather than the shared `lab` fixture: adding a fourth host and writing local
fact files must not change the lab other tests use. The lease directory is
a directory of the lab's shared storage (/srv/lab-shared in every host).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB_PY = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
HOSTS = ["lab1", "lab2", "lab3", "lab4"]
FACT = "/etc/ansible/facts.d/autolease_host_id.fact"
PLAYBOOK = """\
- name: Give the lab hosts their sanlock host_ids
  hosts: kvm_hosts
  gather_facts: false
  roles:
    - role: autolease.sanlock.host_id
"""


class PrivateLab:
    def __init__(self, lab_dir, play_dir):
        self.lab_dir = lab_dir
        self.play_dir = play_dir
        self.env = dict(os.environ, LAB_DIR=str(lab_dir), LAB_HOSTS=str(len(HOSTS)),
                        LAB_IMAGE_DIR=os.environ.get("LAB_IMAGE_DIR", "/var/tmp/autolease-lab/image"))

    def run(self, host, cmd, check=True):
        return subprocess.run(LAB_PY + ["run", host, cmd], env=self.env, capture_output=True, text=True,
                              timeout=300, check=check)

    def playbook(self, lease_dir, *args):
        env = dict(self.env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"), ANSIBLE_FORCE_COLOR="0",
                   PATH="%s:%s" % (pathlib.Path(sys.executable).parent, os.environ.get("PATH", "")))
        cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.lab_dir / "inventory.yml"),
               str(self.play_dir / "play.yml"), "-e", "host_id_lease_dir=" + lease_dir, *args]
        return subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=1800,
                              check=False)

    def fact(self, host):
        res = self.run(host, "cat %s" % FACT, check=False)
        return json.loads(res.stdout) if res.returncode == 0 else None

    def registry(self, name):
        path = self.lab_dir / "shared" / name / "autolease.sanlock" / "autolease-host-ids.json"
        return json.loads(path.read_text())["host_ids"] if path.exists() else None


def recap(res):
    """host -> (ok, changed, failed) from the PLAY RECAP."""
    rows = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", res.stdout, re.M)
    return dict((host, (int(ok), int(changed), int(failed))) for host, ok, changed, failed in rows)


@pytest.fixture(scope="module")
def private_lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("host-id-lab")
    lab = PrivateLab(base / "lab", base / "play")
    lab.play_dir.mkdir()
    (lab.play_dir / "play.yml").write_text(PLAYBOOK)
    subprocess.run(LAB_PY + ["up"], env=lab.env, check=True, timeout=1800)
    try:
        yield lab
    finally:
        subprocess.run(LAB_PY + ["down"], env=lab.env, check=False, timeout=600)


def test_three_hosts_get_distinct_ids_and_a_fourth_keeps_them(private_lab):
    lab = private_lab
    (lab.lab_dir / "shared" / "ids").mkdir()
    for host in HOSTS:
        lab.run(host, "rm -f %s" % FACT)
    three = ["--limit", "lab1,lab2,lab3"]

    check = lab.playbook("/srv/lab-shared/ids", "--check", *three)
    assert check.returncode == 0, check.stdout[-4000:]
    assert lab.registry("ids") is None and lab.fact("lab1") is None  # check mode wrote nothing

    real = lab.playbook("/srv/lab-shared/ids", *three)
    assert real.returncode == 0, real.stdout[-4000:]
    first = dict((host, lab.fact(host)["host_id"]) for host in HOSTS[:3])
    assert sorted(first.values()) == [1, 2, 3]
    assert lab.registry("ids") == first
    assert all(lab.fact(host)["lease_dir"] == "/srv/lab-shared/ids" for host in HOSTS[:3])

    for args in (["--check"], []):
        again = lab.playbook("/srv/lab-shared/ids", *args, *three)
        assert again.returncode == 0, again.stdout[-4000:]
        assert all(changed == 0 for _ok, changed, _failed in recap(again).values()), again.stdout[-3000:]

    four = lab.playbook("/srv/lab-shared/ids")
    assert four.returncode == 0, four.stdout[-4000:]
    after = dict((host, lab.fact(host)["host_id"]) for host in HOSTS)
    assert dict((host, after[host]) for host in HOSTS[:3]) == first
    assert after["lab4"] == 4
    assert lab.registry("ids") == after
    # Only the registry (allocated on lab1) and lab4 changed; lab2 and lab3 were not touched.
    changed = dict((host, row[1]) for host, row in recap(four).items())
    assert changed["lab1"] == 1 and changed["lab2"] == changed["lab3"] == 0 and changed["lab4"] >= 1, changed


def test_duplicate_explicit_id_fails_before_any_host_is_touched(private_lab):
    lab = private_lab
    (lab.lab_dir / "shared" / "dup").mkdir()
    for host in HOSTS:
        lab.run(host, "rm -f %s" % FACT)
    host_vars = lab.play_dir / "host_vars"
    host_vars.mkdir(exist_ok=True)
    try:
        for host in ("lab2", "lab4"):
            (host_vars / ("%s.yml" % host)).write_text("host_id_explicit: 5\n")
        res = lab.playbook("/srv/lab-shared/dup")
    finally:
        for path in host_vars.iterdir():
            path.unlink()
    assert res.returncode != 0
    assert "host_id 5 is claimed by 2 hosts: lab2 (explicit) and lab4 (explicit)" in res.stdout, res.stdout[-4000:]
    assert lab.registry("dup") is None
    assert [lab.fact(host) for host in HOSTS] == [None] * 4
    assert all(changed == 0 for _ok, changed, _failed in recap(res).values()), res.stdout[-3000:]


def test_id_change_under_a_running_vm_is_refused(private_lab):
    # Runs after the first test: the registry "ids" gives lab1 host_id 1.
    lab = private_lab
    assert lab.registry("ids")["lab1"] == 1
    for host in HOSTS:
        lab.run(host, "rm -f %s" % FACT)
    host_vars = lab.play_dir / "host_vars"
    host_vars.mkdir(exist_ok=True)
    start = subprocess.run(LAB_PY + ["vm-start", "lab1", "hostid-vm"], env=lab.env, capture_output=True, text=True,
                           timeout=300, check=False)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        assert lab.run("lab1", "virsh domstate hostid-vm").stdout.strip() == "running"
        (host_vars / "lab1.yml").write_text("host_id_explicit: 9\nhost_id_force_change: true\n")
        res = lab.playbook("/srv/lab-shared/ids")
    finally:
        for path in host_vars.iterdir():
            path.unlink()
        subprocess.run(LAB_PY + ["vm-stop", "lab1", "hostid-vm"], env=lab.env, capture_output=True, timeout=300,
                       check=False)
    assert res.returncode != 0
    assert "refusing changing the host_id of lab1 from 1 to 9 (explicit): 1 VM(s) run on it" in res.stdout, (
        res.stdout[-4000:])
    assert lab.registry("ids")["lab1"] == 1
    assert [lab.fact(host) for host in HOSTS] == [None] * 4  # no host was touched
