"""The collection as users get it: built into a tarball, installed, run on the lab (issues 12 and 16).

A clean copy of the tree (the files git tracks or would track, plus decoys
where build_ignore must hold: .cache, .venv, bench-results, tests/output, lab
files) is built with `ansible-galaxy collection build` alone and installed
with `ansible-galaxy collection install --no-deps` into an empty directory;
ansible.posix and community.general come from the venv's `ansible` package,
after it on the collections path. From that installed copy (ansible-doc
proves which one is found) the cleanup_schedule role runs on the lab, over a
library directory emptied and given a stale file; the installed cron script
then runs the cleanup on the designated host and removes an unused lease.

From the same installed copy (issue 16): ansible-doc renders every plugin
(modules and filters, listed from the installed tree); the playbooks run as
autolease.sanlock.site, .cleanup and .audit on the lab; and ansible-runner
runs the rollout from a private data dir laid out as AWX lays it out
(project/, inventory/, env/envvars), the test reading the runner's job events.
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


# Plugin directories ansible-doc documents, by the plugin type it calls them; the rest hold no plugins.
DOCUMENTED = {"modules": "module", "filter": "filter"}
NOT_PLUGINS = {"module_utils", "doc_fragments"}
SUMMARY_TASK = "Summarise the rollout on this host; fail where it is not protected"


def _installed_plugins(root, env):
    """{ansible-doc type: plugin names} of the installed copy, read from its tree (filters: as FilterModule names them)."""
    kinds = {path.name for path in (root / "plugins").iterdir() if path.is_dir() and path.name != "__pycache__"}
    unknown = sorted(kinds - NOT_PLUGINS - set(DOCUMENTED))
    assert not unknown, "plugin directories this test does not check with ansible-doc yet: %s" % unknown
    modules = sorted(path.stem for path in (root / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
    probe = textwrap.dedent("""
        import importlib, json, pathlib, sys
        root = pathlib.Path(sys.argv[1])
        sys.path.insert(0, str(root.parents[2]))
        names = {}
        for path in sorted((root / "plugins" / "filter").glob("*.py")):
            if path.stem != "__init__":
                plugin = importlib.import_module("ansible_collections.autolease.sanlock.plugins.filter." + path.stem)
                assert pathlib.Path(plugin.__file__).resolve() == path.resolve(), (plugin.__file__, path)
                names.update(dict.fromkeys(plugin.FilterModule().filters(), path.name))
        print(json.dumps(sorted(names)))
    """)
    filters = json.loads(_run([sys.executable, "-c", probe, root], env).stdout)
    assert modules and filters, (modules, filters)
    return {"module": modules, "filter": filters}


def test_ansible_doc_renders_every_plugin_of_the_installed_copy(installed):
    env, root, _names = installed
    for kind, names in _installed_plugins(root, env).items():
        fqcns = ["autolease.sanlock.%s" % name for name in names]
        listed = json.loads(_run([BIN / "ansible-doc", "-t", kind, "-l", "autolease.sanlock", "--json"], env).stdout)
        assert sorted(listed) == fqcns, "%s plugins without docs, or docs without a plugin: %s" % (
            kind, sorted(set(listed) ^ set(fqcns)))
        docs = json.loads(_run([BIN / "ansible-doc", "-t", kind, "--json", *fqcns], env).stdout)
        for fqcn in fqcns:
            filename = pathlib.Path(docs[fqcn]["doc"]["filename"])
            assert root in filename.parents, "%s documented from %s, not the installed copy" % (fqcn, filename)
            assert docs[fqcn]["doc"].get("description") and docs[fqcn].get("examples"), fqcn
        text = _run([BIN / "ansible-doc", "-t", kind, *fqcns], env).stdout
        for fqcn in fqcns:
            assert "%s (%s" % (fqcn, root) in text, "ansible-doc did not render %s:\n%s" % (fqcn, text[:2000])
        assert "EXAMPLES" in text and (kind != "module" or "RETURN VALUES" in text)


def _summaries(output):
    """{host: the rollout summary's lockspace_joined} from ansible-playbook's default output (json results)."""
    found = {}
    for block in output.split("TASK [")[1:]:
        if block.startswith(SUMMARY_TASK):
            for host, joined in re.findall(r'^ok: \[(\S+)\] =>.*?"lockspace_joined": "([^"]*)"', block, re.M | re.S):
                found[host] = joined.strip()
    return found


def test_playbooks_of_the_installed_copy_run_on_the_lab(installed, rolled_out_lab, tmp_path):
    lab = rolled_out_lab
    env, root, _names = installed
    env = dict(env, ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    # Only the installed copy provides autolease.sanlock on the collections path.
    providers = [entry for entry in env["ANSIBLE_COLLECTIONS_PATH"].split(":")
                 if pathlib.Path(entry, "ansible_collections", "autolease", "sanlock").exists()]
    assert providers == [str(root.parents[2])], providers
    for playbook in ("site", "cleanup", "audit"):
        # A playbook by its FQCN, from a directory that holds nothing of the checkout.
        res = _run([BIN / "ansible-playbook", "-i", lab.inventory, "autolease.sanlock.%s" % playbook], env,
                   timeout=1800, cwd=str(tmp_path))
        recap = _recap(res.stdout)
        assert sorted(recap) == sorted(lab.hosts), recap
        for host, (_changed, unreachable, failed) in recap.items():
            assert (unreachable, failed) == (0, 0), "%s on %s:\n%s" % (playbook, host, res.stdout[-5000:])
        if playbook == "site":
            summaries = _summaries(res.stdout)
            assert summaries == dict.fromkeys(lab.hosts, "verified by content"), res.stdout[-5000:]


def _job_events(artifacts):
    events = [json.loads(path.read_text()) for path in (artifacts / "job_events").glob("*.json")]
    assert events, "no job events in %s" % artifacts
    return sorted(events, key=lambda event: event["counter"])


def test_ansible_runner_runs_the_rollout_from_a_private_data_dir(installed, rolled_out_lab, tmp_path):
    """As AWX runs a job template: project/, inventory/, env/envvars; success read from the job events."""
    lab = rolled_out_lab
    env, root, _names = installed
    data = tmp_path / "private_data_dir"
    (data / "project").mkdir(parents=True)
    (data / "project" / "rollout.yml").write_text(textwrap.dedent("""\
        ---
        - name: Roll out sanlock automatic disk leases from the installed collection
          ansible.builtin.import_playbook: autolease.sanlock.site
        """))
    (data / "project" / "ansible.cfg").write_text("[defaults]\nforks = 10\nretry_files_enabled = false\n")
    # The inventory as AWX writes it: the lab's hosts and their group variables beside them.
    lab_dir = pathlib.Path(lab.inventory).parent
    (data / "inventory").mkdir()
    shutil.copy(lab.inventory, str(data / "inventory" / "hosts.yml"))
    shutil.copytree(str(lab_dir / "group_vars"), str(data / "inventory" / "group_vars"))
    (data / "env").mkdir()
    envvars = {"ANSIBLE_COLLECTIONS_PATH": env["ANSIBLE_COLLECTIONS_PATH"], "LAB_DIR": str(lab_dir),
               "ANSIBLE_NOCOLOR": "1"}
    (data / "env" / "envvars").write_text(json.dumps(envvars))
    # Only env/envvars tells the run where the collections are; project/ansible.cfg is the configuration.
    runner_env = dict((key, value) for key, value in env.items()
                      if key not in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_CONFIG", "LAB_DIR"))

    res = _run([BIN / "ansible-runner", "run", data, "-p", "rollout.yml", "--ident", "rollout"], runner_env,
               timeout=1800, check=False)
    artifacts = data / "artifacts" / "rollout"
    assert (artifacts / "status").read_text() == "successful", res.stdout[-5000:] + res.stderr[-2000:]
    assert (artifacts / "rc").read_text() == "0" and res.returncode == 0

    events = _job_events(artifacts)
    stats = [event for event in events if event["event"] == "playbook_on_stats"]
    assert len(stats) == 1, [event["event"] for event in events]
    data_stats = stats[0]["event_data"]
    assert sorted(data_stats["ok"]) == sorted(lab.hosts), data_stats
    assert not data_stats["failures"] and not data_stats["dark"], data_stats
    summaries = {}
    for event in events:
        event_data = event.get("event_data", {})
        # the task's result per host (runner_on_start only announces it)
        if event["event"].startswith("runner_on_") and event["event"] != "runner_on_start" \
                and event_data.get("task") == SUMMARY_TASK:
            assert event["event"] == "runner_on_ok", event
            # The task comes from the installed collection's playbook.
            assert event_data["task_path"].startswith(str(root / "playbooks" / "site.yml")), event_data["task_path"]
            summaries[event_data["host"]] = event_data["res"]["msg"]
    assert sorted(summaries) == sorted(lab.hosts), summaries
    for host, summary in summaries.items():
        assert summary["lockspace_joined"].strip() == "verified by content", (host, summary)
        assert summary["storage"].strip() not in ("", "NOT MOUNTED"), (host, summary)


def _installed_library(lab, host):
    """Paths of the files under LIB_ROOT (without Python's __pycache__) and the modules the library imports."""
    listed = lab.run(host, "cd %s && find . -path '*/__pycache__' -prune -o -type f -print | sort" % LIB_ROOT).stdout
    files = sorted(line[2:] for line in listed.split())
    # Python alone (-I: no site-packages, no environment), with only the library on the path.
    probe = textwrap.dedent("""
        import json, sys
        sys.path[:] = ['%s'] + [p for p in sys.path if p.startswith('/usr/lib/python3')]
        from ansible_collections.autolease.sanlock.plugins.module_utils import _cleanup, _domain_store, _errors
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
        # Exactly what the cleanup and the domain export import, the package inits and the stamp: nothing stale.
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
