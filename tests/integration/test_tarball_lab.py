"""The cleanup job from the built tarball: its library comes from the installed collection (issue 12).

A clean copy of the tree (the files git tracks or would track, plus decoys
where build_ignore must hold: .cache, .venv, bench-results, tests/output, lab
files) is built with `ansible-galaxy collection build` alone and installed
with `ansible-galaxy collection install --no-deps` into an empty directory;
ansible.posix and community.general come from the venv's `ansible` package,
after it on the collections path. From that installed copy (ansible-doc
proves which one is found) the cleanup_schedule role runs on the lab, over a
library directory emptied and given a stale file; the installed cron script
then runs the cleanup on the designated host and removes an unused lease.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap

import pytest

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
LIB_ROOT = "/usr/local/lib/autolease-sanlock"
PACKAGE_DIR = "ansible_collections/autolease/sanlock/plugins/module_utils"
SCRIPT = "/usr/local/sbin/autolease-sanlock-cleanup"
LEASE_DIR = "/var/lib/libvirt/sanlock"
STALE = "_retired_helper.py"
# Files build_ignore must keep out of the tarball, planted in the copy that is built.
DECOYS = (".cache/collections/decoy.txt", ".cache/lab/inventory.yml", ".venv/bin/decoy", "bench-results/decoy.json",
          "tests/output/decoy.txt", ".ansible/decoy.txt", "autolease-sanlock-0.0.1.tar.gz")


def _venv_collections():
    """The directory holding the `ansible` package's ansible_collections (ansible.posix, community.general)."""
    import ansible  # pylint: disable=import-outside-toplevel
    site = pathlib.Path(ansible.__file__).resolve().parents[1]
    for dependency in ("ansible/posix", "community/general", "community/docker"):
        assert (site / "ansible_collections" / dependency).is_dir(), "pip install ansible: %s is missing" % dependency
    return site


def _run(args, env, timeout=900, check=True, **kwargs):
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout,
                         check=False, **kwargs)
    if check:
        assert res.returncode == 0, "%s failed (rc=%d):\n%s\n%s" % (" ".join(map(str, args)), res.returncode,
                                                                    res.stdout[-5000:], res.stderr[-3000:])
    return res


def _recap(output):
    rows = re.findall(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    assert rows, output[-3000:]
    return {host: (int(changed), int(unreachable), int(failed)) for host, changed, unreachable, failed in rows}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment that finds only the installed tarball's collection, its root, the tarball's member names)."""
    tmp = tmp_path_factory.mktemp("tarball")
    source = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=str(REPO),
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(REPO / name), str(source / name))
    for decoy in DECOYS:
        (source / decoy).parent.mkdir(parents=True, exist_ok=True)
        (source / decoy).write_text("must not be in the tarball\n")

    config = tmp / "ansible.cfg"  # not the checkout's, which points at the checkout's collections
    config.write_text("[defaults]\nstdout_callback = default\nretry_files_enabled = false\nforks = 10\n")
    collections = tmp / "collections"
    collections.mkdir()
    env = dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH="%s:%s" % (BIN, os.environ.get("PATH", "")),
               ANSIBLE_COLLECTIONS_PATH="%s:%s" % (collections, _venv_collections()))
    env.pop("ANSIBLE_CALLBACK_RESULT_FORMAT", None)

    dist = tmp / "dist"
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", dist, source], env, cwd=str(tmp))
    tarballs = list(dist.glob("autolease-sanlock-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    with tarfile.open(str(tarballs[0])) as tar:
        names = tar.getnames()
    _run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", collections, tarballs[0]], env)
    root = collections / "ansible_collections" / "autolease" / "sanlock"
    return env, root, names


def test_tarball_holds_the_collection_and_nothing_of_the_build_machine(installed):
    _env, root, names = installed
    outside = (".cache", ".venv", ".ansible", "bench-results")
    leaked = [name for name in names if name in DECOYS or name.split("/")[0] in outside
              or name.startswith("tests/output") or name.endswith(".tar.gz")]
    assert not leaked, "build_ignore lets these into the tarball: %s" % leaked
    for wanted in ("plugins/modules/cleanup_library.py", "plugins/filter/receipt.py",
                   "plugins/module_utils/_cleanup.py", "roles/cleanup_schedule/tasks/present.yml"):
        assert wanted in names, wanted
        assert (root / wanted).is_file(), wanted


def test_the_installed_copy_is_the_one_ansible_finds(installed):
    env, root, _names = installed
    text = _run([BIN / "ansible-doc", "autolease.sanlock.cleanup_library"], env).stdout
    assert "(%s)" % (root / "plugins" / "modules" / "cleanup_library.py") in text.splitlines()[0], text[:400]
    text = _run([BIN / "ansible-doc", "-t", "filter", "autolease.sanlock.receipt_drift"], env).stdout
    assert "(%s)" % (root / "plugins" / "filter" / "receipt_drift.yml") in text.splitlines()[0], text[:400]
    assert not root.is_symlink() and REPO not in root.resolve().parents


def _installed_library(lab, host):
    """Paths of the files under LIB_ROOT (without Python's __pycache__) and the modules the library imports."""
    listed = lab.run(host, "cd %s && find . -path '*/__pycache__' -prune -o -type f -print | sort" % LIB_ROOT).stdout
    files = sorted(line[2:] for line in listed.split())
    # Python alone (-I: no site-packages, no environment), with only the library on the path.
    probe = textwrap.dedent("""
        import json, sys
        sys.path[:] = ['%s'] + [p for p in sys.path if p.startswith('/usr/lib/python3')]
        from ansible_collections.autolease.sanlock.plugins.module_utils import _cleanup, _errors
        prefix = 'ansible_collections.autolease.sanlock.plugins.module_utils.'
        print(json.dumps(sorted(n[len(prefix):] for n in sys.modules if n.startswith(prefix))))
    """) % LIB_ROOT
    imported = json.loads(lab.run(host, "cd / && /usr/bin/python3 -I - <<'PY'\n%sPY" % probe).stdout)
    return files, imported


def test_role_from_the_tarball_installs_the_library_and_the_cron_script_cleans(installed, rolled_out_lab, tmp_path):
    lab = rolled_out_lab
    env, root, _names = installed
    first = sorted(lab.hosts)[0]
    # No library on any host; on the designated host a stale file of an older release and an old stamp.
    for host in lab.hosts:
        lab.run(host, "rm -rf %s" % LIB_ROOT)
    lab.run(first, "mkdir -p {r}/{p} && echo 'old = 1' > {r}/{p}/{s} && echo old > {r}/library.sha256"
            .format(r=LIB_ROOT, p=PACKAGE_DIR, s=STALE))

    playbook = tmp_path / "cleanup_schedule.yml"
    playbook.write_text(textwrap.dedent("""\
        ---
        - name: The cleanup job from the installed collection
          hosts: kvm_hosts
          gather_facts: true
          roles:
            - role: autolease.sanlock.cleanup_schedule
        """))

    def play(*args):
        return _run([BIN / "ansible-playbook", "-i", lab.inventory, playbook, *args], env, cwd=str(tmp_path))

    res = play("--diff")
    assert "Install the cleanup library for the script" in res.stdout, res.stdout[-4000:]
    for host, (changed, _unreachable, failed) in _recap(res.stdout).items():
        assert failed == 0 and changed > 0, "%s:\n%s" % (host, res.stdout[-4000:])
    assert "-%s/%s" % (PACKAGE_DIR, STALE) in res.stdout, "the diff does not show the stale file removed"
    for args in (["--check"], []):
        res = play(*args)
        for host, (changed, _unreachable, failed) in _recap(res.stdout).items():
            assert (changed, failed) == (0, 0), "%s: %s changed:\n%s" % (args, host, res.stdout[-4000:])

    for host in lab.hosts:
        files, imported = _installed_library(lab, host)
        library = ["%s/%s.py" % (PACKAGE_DIR, name) for name in imported]
        inits = ["/".join(PACKAGE_DIR.split("/")[:depth] + ["__init__.py"]) for depth in range(1, 6)]
        # Exactly what the cleanup imports, the package inits and the stamp: nothing stale, nothing extra.
        assert files == sorted(library + inits + ["library.sha256"]), (host, files, imported)
        assert "_cleanup" in imported and "_lease_file" in imported and STALE[:-3] not in imported
        for name in imported:  # byte for byte the installed collection's file
            have = lab.run(host, "sha256sum %s/%s/%s.py" % (LIB_ROOT, PACKAGE_DIR, name)).stdout.split()[0]
            want = subprocess.run(["sha256sum", str(root / "plugins" / "module_utils" / ("%s.py" % name))],
                                  capture_output=True, text=True, check=True).stdout.split()[0]
            assert have == want, (host, name)
        perms = lab.run(host, "find %s -path '*/__pycache__' -prune -o -printf '%%y %%u:%%g %%m %%P\\n'"
                        % LIB_ROOT).stdout.splitlines()
        assert perms and all(line.split()[1:3] in (["root:root", "644"], ["root:root", "755"]) for line in perms)
        assert all(line.startswith("d") == (line.split()[2] == "755") for line in perms), perms

    # An unused lease (a VM started and stopped), removed by the installed cron script on the designated host.
    vm = "tarball-vm"
    disk = "/var/lib/libvirt/images/%s.img" % vm
    started = lab.vm_start(first, vm, disk)
    assert started.returncode == 0, started.stderr
    lab.vm_stop(first, vm)
    lab.run(first, "virsh undefine %s >/dev/null" % vm, check=False)
    lease = lab.run(first, "printf %%s '%s' | md5sum" % disk).stdout.split()[0]
    lab.run(first, "test -f %s/%s" % (LEASE_DIR, lease))
    res = lab.run(first, "since=$(date '+%%Y-%%m-%%d %%H:%%M:%%S'); sleep 1; %s --min-age 0 --json; echo rc=$?; "
                         "for i in $(seq 50); do journalctl -t autolease-sanlock-cleanup --since \"$since\" "
                         "--no-pager | grep -q 'cleaned ' && break; sleep 0.2; done; "
                         "journalctl -t autolease-sanlock-cleanup --since \"$since\" --no-pager -o cat" % SCRIPT,
                  check=False)
    out = res.stdout
    assert "rc=0" in out, out + res.stderr
    summary = json.loads(out[out.index("{"):out.index("\nrc=")])
    assert lease in [entry if isinstance(entry, str) else entry["name"] for entry in summary["removed"]], summary
    assert "cleaned %s: removed %d" % (LEASE_DIR, summary["counts"]["removed"]) in out, out
    assert "removed unused lease %s" % lease in out, out
    assert lab.run(first, "test -e %s/%s" % (LEASE_DIR, lease), check=False).returncode == 1
