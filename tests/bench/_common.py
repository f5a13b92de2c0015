# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the benchmarks: the environment record, a private
two-host sanlock cluster (the one tests/unit/plugins/conftest.py builds) and
the lab commands.

Not a test module: nothing here asserts timings.
"""

import contextlib
import datetime
import importlib.util
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".cache" / "collections"
RESULTS = REPO / "bench-results"
LS = "__LIBVIRT__DISKS__"


def importable():
    link = COLLECTIONS / "ansible_collections" / "autolease" / "sanlock"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))


importable()


def _conftest():
    """tests/unit/plugins/conftest.py as a module: its Host and _start build the private cluster."""
    spec = importlib.util.spec_from_file_location("_bench_unit_conftest", str(REPO / "tests/unit/plugins/conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def _deb(package):
    return _version(["dpkg-query", "-W", "-f=${Version}", package])


def environment():
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "sanlock": _deb("sanlock"),
        "libvirt": _deb("libvirt-daemon"),
        "qemu": _deb("qemu-system-x86"),
        "loadavg_1m_at_start": os.getloadavg()[0],
        "ansible_core": _version([str(pathlib.Path(sys.executable).parent / "ansible"), "--version"]),
    }


class Timer:
    def __init__(self):
        self.seconds = None

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start


@contextlib.contextmanager
def private_cluster(base=None, io_timeout=10):
    """Two private daemons (host-a id 1, host-b id 2) joined to base/leases/__LIBVIRT__DISKS__.

    io_timeout: sanlock's default 10 s (a join takes about 20 s). With the 1 s of the unit tests, a loaded
    machine makes lease I/O time out (-202) and both tools skip leases: a benchmark artefact.

    Yields (lease_dir, a, b) with the Host objects of tests/unit/plugins/conftest.py.
    """
    conftest = _conftest()
    base = pathlib.Path(base or tempfile.mkdtemp(prefix="autolease-bench-", dir="/var/tmp"))
    lease_dir = base / "leases"
    lease_dir.mkdir(parents=True)
    hosts = []
    try:
        for name in ("bench-a", "bench-b"):
            hosts.append(conftest._start(base / ("run-" + name), name))  # pylint: disable=protected-access
        a, b = hosts
        created = a.call("_lockspace.ensure_lockspace", str(lease_dir), owner="root", group="root", io_timeout=io_timeout)
        assert created == {"ok": True}, created
        joins = []
        for host_id, host in ((1, a), (2, b)):
            host.host_id = host_id
            joins.append(subprocess.Popen(
                ["sanlock", "client", "add_lockspace", "-s", "%s:%d:%s/%s:0" % (LS, host_id, lease_dir, LS),
                 "-o", str(io_timeout)],
                env=host.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for proc in joins:
            out, dummy = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
        yield str(lease_dir), a, b
    finally:
        for host in hosts:
            host.client("shutdown", "-f", "1", check=False)
        shutil.rmtree(str(base), ignore_errors=True)


def lab_env():
    env = dict(os.environ)
    env.setdefault("LAB_DIR", "/var/tmp/autolease-bench")
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS)
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PATH"] = "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", ""))
    return env


def lab_py(*args, check=True, timeout=1800):
    res = subprocess.run([sys.executable, str(REPO / "tests" / "lab" / "lab.py"), *args], env=lab_env(),
                         capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode:
        raise RuntimeError("lab.py %s failed (%d): %s %s" % (" ".join(args), res.returncode, res.stdout, res.stderr))
    return res


def playbook(*args, extra_env=None, timeout=1800):
    env = lab_env()
    env.update(extra_env or {})
    inventory = os.path.join(env["LAB_DIR"], "inventory.yml")
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, *map(str, args)]
    with Timer() as timer:
        res = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout,
                             check=False)
    if res.returncode:
        raise RuntimeError("%s failed (%d):\n%s\n%s"
                           % (" ".join(cmd), res.returncode, res.stdout[-5000:], res.stderr[-2000:]))
    return timer.seconds, res.stdout
