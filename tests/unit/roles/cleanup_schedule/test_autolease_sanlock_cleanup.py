"""The cleanup_schedule role's cron job: its settings file, its cron line, its designated host, its lock.

The script and its settings are rendered by Ansible itself (playbooks/render.yml
runs the role's template and variables on localhost), then run with Python
against private sanlock daemons: one joined to a lockspace in a lease
directory whose name holds '%' and a blank, one that joined nothing and is
stopped with SIGSTOP to hang a run for real. The syslog lines are read from a
datagram socket at /dev/log in a private mount namespace (unshare -m), as the
journal would receive them.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils._names import CLEANUP_LOCK_FILE, LOCKSPACE_NAME, lease_name

REPO = pathlib.Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".cache" / "collections"
PLAYBOOK = pathlib.Path(__file__).resolve().parent / "playbooks" / "render.yml"
SCRIPT = "/usr/local/sbin/autolease-sanlock-cleanup"
KEPT_DISK = "/vm/disk 50%.img"
ORPHAN_DISK = "/vm/orphan%d.img"

# Runs a command with a private /dev holding only null, zero, random and urandom and a syslog socket at
# /dev/log; prints {"rc", "stderr", "syslog"} as JSON.
_WITH_SYSLOG = textwrap.dedent("""
    import json, socket, subprocess, sys
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind("/dev/log")
    proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
    log.setblocking(False)
    lines = []
    while True:
        try:
            lines.append(log.recv(65536).decode("utf-8", "replace"))
        except BlockingIOError:
            break
    print(json.dumps({"rc": proc.returncode, "stderr": proc.stderr, "stdout": proc.stdout, "syslog": lines}))
""")
_PRIVATE_DEV = ('set -e; d=$(mktemp -d); mkdir "$d/dev"; for n in null zero random urandom; do '
                ': > "$d/dev/$n"; mount --bind "/dev/$n" "$d/dev/$n"; done; mount --bind "$d/dev" /dev; '
                'exec "$@"')


def _env(**extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    env["PATH"] = "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", ""))
    env.update(extra)
    return env


def render(out_dir, inventory, extra, limit=None):
    """Run playbooks/render.yml; returns {host: {"script", "config", "role"}} of the hosts it ran on."""
    extra = dict({"out_dir": str(out_dir), "ansible_python_interpreter": sys.executable}, **extra)
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK),
           "-e", json.dumps(extra)]
    if limit:
        cmd += ["--limit", limit]
    res = subprocess.run(cmd, cwd=str(REPO), env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    hosts = {}
    for host_dir in sorted(pathlib.Path(out_dir).iterdir()):
        hosts[host_dir.name] = {"script": str(host_dir / "autolease-sanlock-cleanup"),
                                "export": str(host_dir / "autolease-sanlock-export-domains"),
                                "config": str(host_dir / "cleanup.json"),
                                "role": json.loads((host_dir / "role.json").read_text())}
    return hosts


def _inventory(tmp_path, hosts):
    path = tmp_path / "inventory.yml"
    path.write_text("all:\n  children:\n    kvm_hosts:\n      hosts:\n%s" % "".join(
        "        %s: {ansible_connection: local}\n" % host for host in hosts))
    return path


def _start_daemon(run_dir, name):
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SANLOCK_RUN_DIR=str(run_dir), SANLOCK_PRIVILEGED="0")
    subprocess.run(["sanlock", "daemon", "-w", "0", "-U", "root", "-G", "root", "-e", name],
                   env=env, check=True, timeout=30)
    for dummy in range(200):
        if (run_dir / "sanlock.sock").exists():
            return env
        time.sleep(0.05)
    raise RuntimeError("private sanlock daemon %s did not start in %s" % (name, run_dir))


def _daemon_pid(run_dir):
    return int((run_dir / "sanlock.pid").read_text().split()[0])


def _call(env, func, *args, **kwargs):
    """Run a module_utils function in a child process talking to the daemon of env."""
    module, dummy, name = func.rpartition(".")
    code = ("import importlib, json, sys; spec = json.loads(sys.argv[1]); "
            "m = importlib.import_module('ansible_collections.autolease.sanlock.plugins.module_utils.' + spec[0]); "
            "print(json.dumps(getattr(m, spec[1])(*spec[2], **spec[3])))")
    env = dict(env, PYTHONPATH=str(COLLECTIONS))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps([module, name, list(args), kwargs])],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None


@pytest.fixture(scope="module")
def daemons(tmp_path_factory):
    """joined: a daemon joined (host_id 1, io_timeout 1) to the lockspace of a lease directory named with '%'
    and a blank; idle: a daemon that joined nothing (the tests stop it to hang a run)."""
    base = tmp_path_factory.mktemp("cron-job")
    lease_dir = base / "lease dir 100%d%%"
    lease_dir.mkdir()
    started = []
    try:
        joined = _start_daemon(base / "run-joined", "cron-joined")
        started.append(joined)
        idle = _start_daemon(base / "run-idle", "cron-idle")
        started.append(idle)
        _call(joined, "_lockspace.ensure_lockspace", str(lease_dir), owner="root", group="root", io_timeout=1)
        subprocess.run(["sanlock", "client", "add_lockspace", "-s",
                        "%s:1:%s/%s:0" % (LOCKSPACE_NAME, lease_dir, LOCKSPACE_NAME), "-o", "1"],
                       env=joined, check=True, capture_output=True, timeout=120)
        yield {"lease_dir": str(lease_dir), "joined": joined, "idle": idle, "idle_run_dir": base / "run-idle"}
    finally:
        for env in started:
            subprocess.run(["sanlock", "client", "shutdown", "-f", "1"], env=env, check=False,
                           capture_output=True, timeout=60)


@pytest.fixture
def job(tmp_path, daemons):
    """The role's script and settings for one host, rendered into tmp_path, with a private lock file."""
    def make(**role_vars):
        extra = {"cleanup_schedule_python": sys.executable, "__cleanup_schedule_lib_root": str(COLLECTIONS),
                 "__cleanup_schedule_config_file": str(tmp_path / "etc" / "cleanup.json"),
                 "__cleanup_schedule_lock_file": str(tmp_path / "cleanup.lock"),
                 "cleanup_schedule_lease_dir": daemons["lease_dir"]}
        extra.update(role_vars)
        out = tmp_path / ("out-%d" % len(list(tmp_path.glob("out-*"))))
        out.mkdir()
        return render(out, _inventory(tmp_path, ["kvm01"]), extra)["kvm01"]
    return make


def run_job(job_files, env, *args, syslog=False):
    cmd = [job_files["script"], "--config", job_files["config"], *args]
    if not syslog:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
        return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "syslog": None}
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", _PRIVATE_DEV, "sh",
                           sys.executable, "-c", _WITH_SYSLOG, *cmd], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cron_line_holds_no_user_data_and_settings_keep_percent_signs(tmp_path):
    """A '%' in the lease directory or a keep path ends a cron command: the line must carry neither.

    Failed before the fix: the job line was '... --lease-dir <dir with %> --keep ...'.
    """
    hosts = render(tmp_path / "out", _inventory(tmp_path, ["kvm01"]), {
        "cleanup_schedule_lease_dir": "/srv/lease dir 100%d%%", "cleanup_schedule_keep": [KEPT_DISK, "a%b"],
        "cleanup_schedule_min_age": 7, "cleanup_schedule_workers": 2, "cleanup_schedule_stale_after": 900})
    role = hosts["kvm01"]["role"]
    assert role["cron_line"] == "30 3 * * 0 root %s" % SCRIPT, role
    assert "%" not in role["cron_line"] and role["job"] == SCRIPT
    assert role["invalid"] == []
    config = json.loads(pathlib.Path(hosts["kvm01"]["config"]).read_text())
    assert config == {"lease_dir": "/srv/lease dir 100%d%%", "keep": [KEPT_DISK, "a%b"], "min_age": 7,
                      "workers": 2, "stale_after": 900, "designated_host": "kvm01", "host": "kvm01"}


def test_designated_host_is_the_same_under_limit(tmp_path):
    """site.yml --limit kvm02 must not make kvm02 a second cleaner: the designation comes from the inventory group.

    Failed before the fix: cleanup_schedule_host defaulted to the first host of the play, kvm02 under --limit.
    """
    inventory = _inventory(tmp_path, ["kvm02", "kvm01", "kvm03"])
    full = render(tmp_path / "full", inventory, {})
    limited = render(tmp_path / "limited", inventory, {}, limit="kvm02")
    assert {host: files["role"]["here"] for host, files in full.items()} == {
        "kvm01": True, "kvm02": False, "kvm03": False}
    assert {host: (files["role"]["host"], files["role"]["here"]) for host, files in limited.items()} == {
        "kvm02": ("kvm01", False)}
    assert limited["kvm02"]["role"]["invalid"] == []
    # With every host running the job, the offsets are the hosts' positions in the group, not in the play.
    spread = render(tmp_path / "spread", inventory, {"cleanup_schedule_all_hosts": True}, limit="kvm03")
    assert spread["kvm03"]["role"]["cron_line"].startswith("0 4 * * 0 root "), spread


def _state_recording(tmp_path, designated_host):
    """A host_info result whose settings file records the designated host of an earlier run."""
    content = json.dumps({"designated_host": designated_host, "lease_dir": "/x"}, indent=4, sort_keys=True) + "\n"
    return {"files": {str(tmp_path / "etc" / "cleanup.json"): {"exists": True, "content": content}}}


@pytest.mark.parametrize("recorded,extra,limit,left_behind", [
    ("kvm01", {"cleanup_schedule_host": "kvm02"}, "kvm02", "kvm01"),
    ("*", {}, "kvm01,kvm02", "kvm03"),
    ("kvm01", {"cleanup_schedule_host": "kvm02"}, None, None),
    ("kvm01", {}, "kvm02", None),
    ("", {"cleanup_schedule_host": "kvm02"}, "kvm02", None),
])
def test_moving_the_job_away_from_a_host_outside_the_play_is_refused(tmp_path, recorded, extra, limit,
                                                                     left_behind):
    """The settings record the designated host: a move under --limit that would leave its job behind fails."""
    config = str(tmp_path / "etc" / "cleanup.json")
    extra = dict(extra, __cleanup_schedule_config_file=config,
                 __cleanup_schedule_recorded=_state_recording(tmp_path, recorded))
    hosts = render(tmp_path / "out", _inventory(tmp_path, ["kvm01", "kvm02", "kvm03"]), extra, limit=limit)
    for host, files in hosts.items():
        moved = [msg for msg in files["role"]["invalid"] if msg.startswith("The cleanup job moves")]
        if left_behind is None:
            assert moved == [], (host, files["role"])
        else:
            assert len(moved) == 1 and "but %s (designated before, as recorded in " % left_behind in moved[0], (
                host, files["role"])
            assert "or in %s on %s)" % (config, host) in moved[0], (host, files["role"])


def test_a_new_first_host_limited_alone_sees_the_designation_on_the_lease_storage(tmp_path):
    """kvm00 joins the cluster and sorts before kvm01, the cleaner. `site.yml --limit kvm00` would make it a second
    cleaner: it has no settings of its own yet, but the lease storage records kvm01, outside the play: refused.
    Failed before the fix: with no local record the move was not seen."""
    record = "/var/lib/libvirt/sanlock/autolease.sanlock/cleanup-host"
    state = {"files": {record: {"exists": True, "content": "kvm01\n"}}}
    hosts = render(tmp_path / "out", _inventory(tmp_path, ["kvm00", "kvm01", "kvm02"]),
                   {"__cleanup_schedule_recorded": state}, limit="kvm00")
    moved = [msg for msg in hosts["kvm00"]["role"]["invalid"] if msg.startswith("The cleanup job moves")]
    assert len(moved) == 1 and "to kvm00, but kvm01 (designated before, as recorded in %s" % record in moved[0], hosts
    # The whole cluster in the play: the job moves, kvm01's is removed in the same run.
    hosts = render(tmp_path / "all", _inventory(tmp_path, ["kvm00", "kvm01", "kvm02"]), {"__cleanup_schedule_recorded": state})
    assert all(not [m for m in files["role"]["invalid"] if m.startswith("The cleanup job moves")]
               for files in hosts.values()), hosts


def test_a_host_outside_the_group_and_a_designated_host_outside_it_are_refused(tmp_path):
    inventory = _inventory(tmp_path, ["kvm01", "kvm02"])
    hosts = render(tmp_path / "out", inventory, {"cleanup_schedule_host": "kvm09"})
    assert any('cleanup_schedule_host is "kvm09"' in msg and "kvm01, kvm02" in msg
               for msg in hosts["kvm01"]["role"]["invalid"]), hosts
    hosts = render(tmp_path / "other", inventory, {"cleanup_schedule_hosts": "no_such_group"})
    assert any("kvm01 is not one of the hosts of cleanup_schedule_hosts" in msg
               for msg in hosts["kvm01"]["role"]["invalid"]), hosts
    hosts = render(tmp_path / "stale", inventory, {"cleanup_schedule_stale_after": 59})
    assert any("cleanup_schedule_stale_after 60-604800 seconds (got 59)" in msg
               for msg in hosts["kvm01"]["role"]["invalid"]), hosts


def test_job_cleans_a_lease_dir_with_percent_and_keeps_a_path_with_percent(daemons, job):
    """The whole path and keep list arrive through the settings file: the kept lease stays, the orphan goes."""
    lease_dir = daemons["lease_dir"]
    kept, orphan = lease_name(KEPT_DISK), lease_name(ORPHAN_DISK)
    _call(daemons["joined"], "_lease_set.ensure_present", lease_dir, {kept: {}, orphan: {}},
          owner="root", group="root")
    files = job(cleanup_schedule_keep=[KEPT_DISK], cleanup_schedule_min_age=0)
    res = run_job(files, daemons["joined"], "--json")
    assert res["rc"] == 0, res
    summary = json.loads(res["stdout"])
    assert summary["counts"]["removed"] == 1 and summary["counts"]["kept"] == 1, summary
    # the cleanup's cluster-wide lock (a lease of the collection's own) stays beside the lockspace
    assert sorted(os.listdir(lease_dir)) == sorted([LOCKSPACE_NAME, kept, CLEANUP_LOCK_FILE])
    os.unlink(os.path.join(lease_dir, kept))


def test_broken_settings_exit_2_naming_the_file(daemons, job, tmp_path):
    files = job()
    pathlib.Path(files["config"]).write_text('{"lease_dir": "relative", "keep": [], "min_age": 0}')
    res = run_job(files, daemons["joined"], syslog=True)
    assert res["rc"] == 2 and "lease_dir is 'relative', expected an absolute path" in res["stderr"], res
    assert files["config"] in res["stderr"]
    assert any("lease_dir is 'relative'" in line and line.startswith("<27>") for line in res["syslog"]), res
    res = run_job(dict(files, config=str(tmp_path / "missing.json")), daemons["joined"])
    assert res["rc"] == 2 and "cannot read the settings %s" % (tmp_path / "missing.json") in res["stderr"], res


def _wait_for_holder(lock_file, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        text = pathlib.Path(lock_file).read_text() if os.path.exists(lock_file) else ""
        if text.strip():
            return json.loads(text)
        time.sleep(0.05)
    raise AssertionError("the first run never recorded itself in %s" % lock_file)


def test_run_hung_on_the_storage_makes_later_runs_fail_loudly(daemons, job, tmp_path):
    """A run hung on a stopped sanlock daemon (SIGSTOP, a real hang) holds the lock.

    A later run within stale_after exits 0 with a notice; once the first run is older than stale_after, a later
    run exits 3 with an error in syslog and on stderr (cron mails it). Failed before the fix: every later run
    exited 0 with a notice, however long the first had been going.
    """
    hung = job(cleanup_schedule_min_age=0)
    late = job(cleanup_schedule_stale_after=1)  # the role refuses < 60; the script takes any value >= 1
    lock_file = str(tmp_path / "cleanup.lock")
    pid = _daemon_pid(daemons["idle_run_dir"])
    os.kill(pid, signal.SIGSTOP)
    first = None
    try:
        first = subprocess.Popen([hung["script"], "--config", hung["config"]], env=daemons["idle"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        holder = _wait_for_holder(lock_file, first)
        assert holder["pid"] == first.pid and abs(holder["started"] - time.time()) < 30, holder

        res = run_job(hung, daemons["idle"], syslog=True)
        assert res["rc"] == 0 and res["stderr"] == "", res
        assert any(line.startswith("<29>") and "an earlier cleanup (pid %d) is still running" % first.pid in line
                   for line in res["syslog"]), res

        time.sleep(max(0.0, holder["started"] + 1.5 - time.time()))
        res = run_job(late, daemons["idle"], syslog=True)
        assert res["rc"] == 3, res
        assert "an earlier cleanup (pid %d) has been running for" % first.pid in res["stderr"], res
        assert "more than stale_after (1 s)" in res["stderr"] and lock_file in res["stderr"], res
        assert any(line.startswith("<27>") and "probably hung on the lease storage" in line
                   for line in res["syslog"]), res
        assert first.poll() is None, "the hung run ended: the test did not hang it"
    finally:
        os.kill(pid, signal.SIGCONT)
        if first is not None:
            first.communicate(timeout=60)
    # The first run ends once the daemon answers (this daemon joined nothing: the cleanup fails, exit 1).
    assert first.returncode == 1, first.returncode
    res = run_job(hung, daemons["joined"])
    assert res["rc"] == 0, res


EXPORT_NODE = """<node>%s</node>"""
EXPORT_DOMAIN = ("<domain type='test'><name>%s</name><uuid>%s</uuid><memory>65536</memory><os><type>hvm</type></os>"
                 "<devices><disk type='file' device='disk'><source file='/img/%s.img'/><target dev='vda'/></disk>"
                 "</devices></domain>")


def _export_node(path, *names):
    path.write_text(EXPORT_NODE % "".join(EXPORT_DOMAIN % (name, "11111111-2222-3333-4444-%012d" % index, name)
                                          for index, name in enumerate(names)))
    return "test://%s" % path


def test_every_host_refreshes_its_domain_definitions_every_ten_minutes(tmp_path):
    """The export script runs on every host (the cleanup on the designated one only), from the private library,
    with lease_dir and host from the settings; it writes the store, removes undefined domains, changes nothing
    when nothing changed, and fails naming the bad setting."""
    lease_dir = tmp_path / "lease dir 100%"
    lease_dir.mkdir()
    hosts = render(tmp_path / "out", _inventory(tmp_path, ["kvm01", "kvm02"]), {
        "cleanup_schedule_python": sys.executable, "__cleanup_schedule_lib_root": str(COLLECTIONS),
        "__cleanup_schedule_config_file": str(tmp_path / "etc" / "cleanup.json"),
        "__cleanup_schedule_export_lock_file": str(tmp_path / "export.lock"),
        "cleanup_schedule_lease_dir": str(lease_dir)})
    for host, files in hosts.items():
        assert files["role"]["export_cron_line"] == "*/10 * * * * root /usr/local/sbin/autolease-sanlock-export-domains"
        assert files["role"]["here"] is (host == "kvm01")
        assert json.loads(pathlib.Path(files["config"]).read_text())["host"] == host

    kvm02 = hosts["kvm02"]
    uri = _export_node(tmp_path / "node.xml", "vm1", "vm2")

    def export(*args, config=kvm02["config"]):
        proc = subprocess.run([kvm02["export"], "--config", config, "--libvirt-uri", uri, "--json", *args],
                              capture_output=True, text=True, timeout=120, check=False)
        return proc.returncode, json.loads(proc.stdout) if proc.stdout else None, proc.stderr

    store = lease_dir / "autolease.sanlock" / "domains" / "kvm02"
    code, check, dummy = export("--check")
    assert code == 0 and check["changed"] is True and check["written"] == ["vm1", "vm2"] and not store.exists()
    code, real, dummy = export()
    assert code == 0 and real == check and sorted(os.listdir(str(store))) == ["vm1.xml", "vm2.xml"]
    for args in (("--check",), ()):
        code, again, dummy = export(*args)
        assert code == 0 and again["changed"] is False
    uri = _export_node(tmp_path / "node.xml", "vm1")
    code, gone, dummy = export()
    assert code == 0 and gone["removed"] == ["vm2"] and os.listdir(str(store)) == ["vm1.xml"]

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"lease_dir": str(lease_dir)}))
    code, out, err = export(config=str(broken))
    assert code == 2 and out is None and "%s: host is None, expected this host's inventory name" % broken in err
    uri = "qemu+unix:///system?socket=/nonexistent/sock"
    code, out, err = export()
    assert code == 1 and "export of the domain definitions of kvm02 to %s failed: cannot connect" % lease_dir in err
