"""A mixed cluster: Debian 12 and Debian 13 hosts, monolithic and modular libvirt daemons, one lockspace.

A private three-host lab (its own LAB_DIR, the shared image cache), booted once
for this module: lab1 Debian 12 (sanlock 3.8, libvirt 9, libvirtd), lab2
Debian 13 (sanlock 3.9, libvirt 11, libvirtd) and lab3 Debian 13 with the
modular unit layout (virtqemud units, socket-activated, libvirtd masked; see
tests/lab/image.sh). The roles run unchanged on all three: what differs lives
in their OS vars.

Proves: site.yml rolls out and a re-run changes nothing on any host; a lease
held by a Debian 12 host refuses the same disk on Debian 13 hosts and the
reverse; the cleanup run from a Debian 13 host keeps the lease a Debian 12
host holds and removes the unused ones; the audit finds nothing; a rolling
upgrade (lab1 replaced by a Debian 13 host of the same name, the lease storage
kept, a VM running on another host throughout) keeps lab1's host_id and the
refusal holds before, during and after.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".cache" / "collections"))

import lab as labmod  # noqa: E402  tests/lab/lab.py, on sys.path through conftest
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name  # noqa: E402

LAB_PY = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
SPECS = "lab1:bookworm lab2:trixie lab3:trixie-modular"
UPGRADED = "lab1:trixie lab2:trixie lab3:trixie-modular"
HOSTS = ["lab1", "lab2", "lab3"]
RELEASE = {"lab1": "12", "lab2": "13", "lab3": "13"}
LEASES = "/var/lib/libvirt/sanlock"  # the roles' default lease directory
IMAGES = "/var/lib/libvirt/images"


class MixedLab:
    def __init__(self, lab_dir):
        self.lab_dir = lab_dir
        self.env = dict(os.environ, LAB_DIR=str(lab_dir), LAB_HOSTS=SPECS,
                        LAB_IMAGE_DIR=os.environ.get("LAB_IMAGE_DIR", "/var/tmp/autolease-lab/image"))

    def up(self, specs):
        self.env["LAB_HOSTS"] = specs
        subprocess.run(LAB_PY + ["up"], env=self.env, check=True, timeout=2400)

    def run(self, host, cmd, check=True):
        res = subprocess.run(LAB_PY + ["run", host, cmd], env=self.env, capture_output=True, text=True,
                             timeout=600, check=False)
        if check and res.returncode:
            raise AssertionError("%s: %s failed (%d): %s %s" % (host, cmd, res.returncode, res.stdout, res.stderr))
        return res

    def vm_start(self, host, name, disk):
        return subprocess.run(LAB_PY + ["vm-start", host, name, disk], env=self.env, capture_output=True,
                              text=True, timeout=600, check=False)

    def vm_stop(self, host, name):
        self.run(host, "virsh destroy '%s'; virsh undefine '%s'" % (name, name), check=False)

    def _ansible_env(self):
        env = labmod.ansible_env()
        env.update(LAB_DIR=self.env["LAB_DIR"], LAB_HOSTS=self.env["LAB_HOSTS"])
        return env

    def playbook(self, playbook, *args):
        cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i",
               str(self.lab_dir / "inventory.yml"), str(REPO / "playbooks" / playbook), *args]
        return subprocess.run(cmd, cwd=str(REPO), env=self._ansible_env(), capture_output=True, text=True,
                              timeout=2400, check=False)

    def module(self, host, module, args):
        env = dict(self._ansible_env(), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
        cmd = [str(pathlib.Path(sys.executable).parent / "ansible"), "-i", str(self.lab_dir / "inventory.yml"),
               host, "-m", "autolease.sanlock." + module, "-a", json.dumps(args)]
        res = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600, check=False)
        try:
            return json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"][host]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("ansible %s on %s: %s %s" % (module, host, res.stdout[-3000:], res.stderr[-3000:]))

    def host_id(self, host):
        joined = re.findall(r"^s __LIBVIRT__DISKS__:(\d+):", self.run(host, "sanlock client gets").stdout, re.M)
        assert len(joined) == 1, "%s: not joined once: %s" % (host, joined)
        return int(joined[0])


def recap(res):
    """host -> (changed, failed) from the PLAY RECAP."""
    rows = re.findall(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", res.stdout, re.M)
    assert rows, res.stdout[-3000:] + res.stderr[-2000:]
    return dict((host, (int(changed), int(failed))) for host, changed, failed in rows)


def refused(res):
    return res.returncode != 0 and "held by another host" in res.stderr


@pytest.fixture(scope="module")
def mixed_lab(tmp_path_factory):
    """The mixed lab with site.yml rolled out once (the first run is the rollout test's subject)."""
    lab = MixedLab(tmp_path_factory.mktemp("mixed-lab") / "lab")
    lab.up(SPECS)
    try:
        lab.first_rollout = lab.playbook("site.yml")
        yield lab
    finally:
        subprocess.run(LAB_PY + ["down"], env=lab.env, check=False, timeout=600)


@pytest.mark.parametrize("value, expected", [
    ("2", [("lab1", "bookworm", "monolithic"), ("lab2", "bookworm", "monolithic")]),
    (SPECS, [("lab1", "bookworm", "monolithic"), ("lab2", "trixie", "monolithic"),
             ("lab3", "trixie", "modular")]),
])
def test_lab_hosts_is_a_count_or_a_list_of_specs(value, expected):
    assert labmod.host_specs(value) == expected
    assert labmod.host_names(value) == [spec[0] for spec in expected]


@pytest.mark.parametrize("value", ["lab1:buster", "lab1", "lab1:trixie lab1:bookworm", "0", "lab1:trixie-monolith"])
def test_a_bad_lab_hosts_names_the_value(value):
    with pytest.raises(labmod.LabError, match=re.escape(repr(value))):
        labmod.host_specs(value)


def test_images_are_keyed_by_recipe_release_and_variant():
    keys = set(labmod.image_key(release, variant) for release in labmod.RELEASES for variant in labmod.VARIANTS)
    assert len(keys) == 4 and all(key.endswith(("-monolithic", "-modular")) for key in keys)
    # A new build replaces older builds of its own release and variant only (and the pre-release-key images).
    assert labmod.replaced_by("b79ef068329b0aea", "bookworm", "monolithic")
    assert labmod.replaced_by("0123456789abcdef-trixie-modular", "trixie", "modular")
    assert not labmod.replaced_by("0123456789abcdef-trixie-modular", "trixie", "monolithic")
    assert not labmod.replaced_by("b79ef068329b0aea", "trixie", "monolithic")
    assert not labmod.replaced_by(".lock", "bookworm", "monolithic")


@pytest.mark.lab
def test_the_hosts_run_their_release_and_daemon_layout(mixed_lab):
    for host in HOSTS:
        out = mixed_lab.run(host, ". /etc/os-release; echo $VERSION_ID; systemctl is-enabled libvirtd.service "
                                  "virtqemud.socket 2>/dev/null; true").stdout.split()
        assert out[0] == RELEASE[host], (host, out)
        # systemd 252 (Debian 12) prints nothing for a unit it does not know, 257 (Debian 13) "not-found"
        assert out[1] == ("masked" if host == "lab3" else "enabled"), (host, out)
        assert ("enabled" in out[2:]) is (host == "lab3"), (host, out)


@pytest.mark.lab
def test_site_rolls_out_on_every_release_and_a_rerun_changes_nothing(mixed_lab):
    first = mixed_lab.first_rollout
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    assert set(recap(first)) == set(HOSTS)
    again = mixed_lab.playbook("site.yml")
    assert again.returncode == 0 and set(recap(again).values()) == {(0, 0)}, again.stdout[-4000:]
    # Every task again (no receipt shortcut): still no change on any release.
    full = mixed_lab.playbook("site.yml", "-e", "autolease_full_converge=true")
    assert full.returncode == 0 and set(recap(full).values()) == {(0, 0)}, full.stdout[-6000:]
    ids = set()
    for host in HOSTS:
        ids.add(mixed_lab.host_id(host))
        daemon = "virtqemud" if host == "lab3" else "libvirtd"
        dropin = mixed_lab.run(host, "cat /etc/systemd/system/%s.service.d/autolease-sanlock.conf" % daemon).stdout
        assert "RequiresMountsFor=%s" % LEASES in dropin, (host, dropin)
    assert len(ids) == len(HOSTS), ids
    assert mixed_lab.run("lab3", "systemctl is-enabled libvirtd.service", check=False).stdout.strip() == "masked"


@pytest.mark.lab
def test_a_host_whose_sanlock_ids_differ_from_the_lockspace_owner_is_refused(mixed_lab):
    """Debian allocates the sanlock user's ids at install (101:102 on a fresh Debian 12, 100:101 on a fresh
    Debian 13): on shared storage the hosts must agree, or a host cannot open what the others made. Before the
    check the rollout chowned the lease directory to its own ids, taking it from the other hosts."""
    lockspace = LEASES + "/__LIBVIRT__DISKS__"
    owner = mixed_lab.run("lab2", "stat -c %%u:%%g %s" % lockspace).stdout.strip()
    mixed_lab.run("lab2", "chown 4242:4343 %s" % lockspace)  # as a host with other ids would have made it
    try:
        res = mixed_lab.playbook("site.yml", "--limit", "lab1", "-e", "autolease_full_converge=true")
        assert res.returncode != 0 and "fatal: [lab1]" in res.stdout, res.stdout[-4000:]
        assert "belongs to uid 4242 and gid 4343" in res.stdout and "usermod -u 4242 sanlock" in res.stdout, \
            res.stdout[-4000:]
        assert mixed_lab.run("lab1", "stat -c %%u:%%g %s" % LEASES).stdout.strip() == owner
    finally:
        mixed_lab.run("lab2", "chown %s %s" % (owner, lockspace))


@pytest.mark.lab
@pytest.mark.parametrize("holder, other", [("lab1", "lab2"), ("lab2", "lab1"), ("lab3", "lab1"), ("lab1", "lab3")])
def test_a_lease_refuses_the_disk_on_a_host_of_the_other_release(mixed_lab, holder, other):
    disk = "%s/mixed-%s-%s.img" % (IMAGES, holder, other)
    try:
        started = mixed_lab.vm_start(holder, "held", disk)
        assert started.returncode == 0, started.stderr
        copy = mixed_lab.vm_start(other, "copy", disk)
        assert refused(copy), (copy.stdout, copy.stderr)
    finally:
        mixed_lab.vm_stop(holder, "held")
        mixed_lab.vm_stop(other, "copy")


@pytest.mark.lab
def test_cleanup_from_debian_13_keeps_the_lease_debian_12_holds(mixed_lab):
    disk = IMAGES + "/mixed-held.img"
    orphans = [IMAGES + "/mixed-orphan-%d.img" % i for i in range(3)]
    made = mixed_lab.module("lab1", "lease", {"lease_dir": LEASES, "disks": orphans})
    assert sorted(made["created"]) == sorted(lease_name(p) for p in orphans), made
    try:
        started = mixed_lab.vm_start("lab1", "held", disk)
        assert started.returncode == 0, started.stderr
        res = mixed_lab.playbook("cleanup.yml", "-e", "autolease_cleanup_host=lab2",
                                 "-e", "autolease_cleanup_keep=held")
        assert res.returncode == 0, res.stdout[-5000:]
        present = set(mixed_lab.run("lab3", "ls -A %s" % LEASES).stdout.split())
        assert lease_name(disk) in present and not present & set(lease_name(p) for p in orphans), present
        status = mixed_lab.run("lab1", "sanlock client status").stdout
        assert "r __LIBVIRT__DISKS__:%s:" % lease_name(disk) in status, status
        assert refused(mixed_lab.vm_start("lab2", "copy", disk))

        # The disk at its path on lab3 too (each host its own file, as everywhere in the lab): the VM could
        # migrate anywhere, so the audit has nothing to say (a disk other hosts lack is a migration warning).
        mixed_lab.run("lab3", "test -e {d} || qemu-img create -q -f raw {d} 8M".format(d=disk))
        audit = mixed_lab.playbook("audit.yml", "-e", "autolease_audit_strict=true")
        assert audit.returncode == 0 and "audit: no findings" in audit.stdout, audit.stdout[-5000:]
    finally:
        mixed_lab.vm_stop("lab1", "held")
        mixed_lab.vm_stop("lab2", "copy")


@pytest.mark.lab
def test_maintenance_upgrades_the_packages_the_roles_install_on_debian_13(mixed_lab):
    """maintenance.yml -e upgrade=true on the Debian 13 host upgrades the roles' own packages for Debian 13
    (libvirt-daemon-plugin-sanlock; libvirt-sanlock is a transitional package there, not installed); the host
    rejoins with its host_id."""
    before = mixed_lab.host_id("lab2")
    res = mixed_lab.playbook("maintenance.yml", "-e", "host=lab2", "-e", "upgrade=true")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert re.search(r"TASK \[Upgrade the sanlock and libvirt packages the roles install\][^\n]*\nok: \[lab2\]",
                     res.stdout), res.stdout[-6000:]
    assert mixed_lab.host_id("lab2") == before
    status = mixed_lab.run("lab2", "dpkg-query -W -f='${Status}' libvirt-sanlock 2>/dev/null; true").stdout
    assert "install ok installed" not in status, status


@pytest.mark.lab
def test_a_rolling_upgrade_keeps_the_host_id_and_the_refusal(mixed_lab):
    """lab1 goes from Debian 12 to a fresh Debian 13 host of the same name while lab2 keeps its VM."""
    disk = IMAGES + "/mixed-upgrade.img"
    before = dict((host, mixed_lab.host_id(host)) for host in HOSTS)
    started = mixed_lab.vm_start("lab2", "kept", disk)
    assert started.returncode == 0, started.stderr
    try:
        assert refused(mixed_lab.vm_start("lab1", "copy", disk))
        mixed_lab.vm_stop("lab1", "copy")
        # lab up recreates the host whose image changed; the lease storage (LAB_DIR/shared) stays.
        mixed_lab.up(UPGRADED)
        assert mixed_lab.run("lab1", ". /etc/os-release; echo $VERSION_ID").stdout.strip() == "13"
        assert refused(mixed_lab.vm_start("lab3", "copy", disk))  # while lab1 is not back yet
        mixed_lab.vm_stop("lab3", "copy")

        res = mixed_lab.playbook("site.yml")
        assert res.returncode == 0, res.stdout[-6000:]
        assert dict((host, mixed_lab.host_id(host)) for host in HOSTS) == before
        assert "running" in mixed_lab.run("lab2", "virsh domstate kept").stdout
        assert refused(mixed_lab.vm_start("lab1", "copy", disk))
        again = mixed_lab.playbook("site.yml")
        assert again.returncode == 0 and set(recap(again).values()) == {(0, 0)}, again.stdout[-4000:]
    finally:
        mixed_lab.vm_stop("lab2", "kept")
        mixed_lab.vm_stop("lab1", "copy")
