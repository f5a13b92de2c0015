"""Fixtures for the lease library and module tests: a two-host sanlock cluster.

libsanlock reads SANLOCK_RUN_DIR once per process (at its first daemon call),
so one process can talk to one daemon only. Everything that talks to a daemon
therefore runs in a child process with that host's SANLOCK_RUN_DIR
(``host.call``, ``host.hold``, ``host.module``); the pytest process itself
only reads files.

``lease_cluster`` (session scope): private daemons host-a (host_id 1) and
host-b (host_id 2) joined with io_timeout 1 to one lockspace, plus host-c, a
running daemon that has joined nothing. ``lease_dir``: that directory,
emptied of everything but the lockspace before each test.

``hung_storage``: a directory on which every access blocks (a FUSE mount whose
server never answers, the stand-in for a hung hard NFS mount), released after
the test or by a watchdog. ``storage_deadline``: the storage deadline of the
pytest process (_storage_io) set to 2 s for one test.
"""

import contextlib
import ctypes
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = REPO / ".cache" / "collections"
LS = "__LIBVIRT__DISKS__"
MU = "ansible_collections.autolease.sanlock.plugins.module_utils."

_CALL = textwrap.dedent("""
    import importlib, json, sys
    spec = json.loads(sys.argv[1])
    module = importlib.import_module(spec["module"])
    def plain(value):
        if hasattr(value, "as_dict"):
            return value.as_dict()
        if hasattr(value, "_asdict"):
            return {k: plain(v) for k, v in value._asdict().items()}
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    try:
        out = {"ok": plain(getattr(module, spec["func"])(*spec["args"], **spec["kwargs"]))}
    except Exception as exc:
        out = {"error": type(exc).__name__, "msg": str(exc)}
    print(json.dumps(out))
""")

_HOLD = textwrap.dedent("""
    import sanlock, sys
    lease_dir, shared, names = sys.argv[1], sys.argv[2] == "shared", sys.argv[3:]
    fd = sanlock.register()
    for name in names:
        sanlock.acquire(b"__LIBVIRT__DISKS__", name.encode(), [(lease_dir + "/" + name, 0)], slkfd=fd, shared=shared)
    print("held", flush=True)
    sys.stdin.readline()
    for name in names:  # release explicitly: the daemon's release at process exit is asynchronous
        sanlock.release(b"__LIBVIRT__DISKS__", name.encode(), [(lease_dir + "/" + name, 0)], slkfd=fd)
    print("released", flush=True)
""")


class Host:
    def __init__(self, name, run_dir, host_id=None):
        self.name = name
        self.run_dir = str(run_dir)
        self.host_id = host_id

    def env(self):
        env = dict(os.environ, SANLOCK_RUN_DIR=self.run_dir)
        env["PYTHONPATH"] = os.pathsep.join([str(COLLECTIONS)] + [p for p in [env.get("PYTHONPATH")] if p])
        return env

    def call(self, func, *args, **kwargs):
        """Run module_utils function '<_file>.<func>' in a child process talking to this host's daemon."""
        module, dummy, name = func.rpartition(".")
        spec = json.dumps({"module": MU + module, "func": name, "args": list(args), "kwargs": kwargs})
        proc = subprocess.run([sys.executable, "-c", _CALL, spec], env=self.env(), capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    @contextlib.contextmanager
    def hold(self, lease_dir, names, shared=False):
        """Hold leases through this host's daemon (a separate registered process) for the block."""
        proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(lease_dir), "shared" if shared else "ex", *names],
                                env=self.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.strip() == "held", proc.stderr.read()
            yield proc
        finally:
            proc.stdin.close()
            released = proc.stdout.readline().strip()
            proc.wait(timeout=60)
            assert released == "released", proc.stderr.read()

    def module(self, name, args, check=False, diff=False):
        """Run plugins/modules/<name>.py as Ansible runs it (args file), return its JSON result."""
        params = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        args_file = pathlib.Path(self.run_dir) / ("args-%s.json" % name)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
        proc = subprocess.run([sys.executable, "-m", "ansible_collections.autolease.sanlock.plugins.modules." + name,
                               str(args_file)], env=self.env(), capture_output=True, text=True, timeout=300, check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("module %s printed no JSON: %s %s" % (name, proc.stdout, proc.stderr))

    def client(self, *args, check=True):
        return subprocess.run(["sanlock", "client", *args], env=self.env(), check=check, capture_output=True,
                              text=True, timeout=60)


def _start(run_dir, name):
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SANLOCK_RUN_DIR=str(run_dir), SANLOCK_PRIVILEGED="0")
    subprocess.run(["sanlock", "daemon", "-w", "0", "-U", "root", "-G", "root", "-e", name],
                   env=env, check=True, timeout=30)
    for dummy in range(200):
        if (run_dir / "sanlock.sock").exists():
            return Host(name, run_dir)
        time.sleep(0.05)
    raise RuntimeError("private sanlock daemon %s did not start in %s" % (name, run_dir))


class Cluster:
    def __init__(self, lease_dir, a, b, c, no_daemon):
        self.lease_dir = lease_dir
        self.a, self.b, self.c = a, b, c
        self.no_daemon = no_daemon  # a Host whose run dir has no daemon
        self.lockspace = str(pathlib.Path(lease_dir) / LS)


@pytest.fixture(scope="session")
def lease_cluster(tmp_path_factory):
    if shutil.which("sanlock") is None:
        pytest.fail("sanlock is not installed: run `make deps` (Debian package sanlock)")
    base = tmp_path_factory.mktemp("lease-cluster")
    lease_dir = base / "leases"
    lease_dir.mkdir()
    hosts = []
    try:
        for name in ("host-a", "host-b", "host-c"):
            hosts.append(_start(base / ("run-" + name), name))
        a, b, c = hosts
        created = a.call("_lockspace.ensure_lockspace", str(lease_dir), owner="root", group="root", io_timeout=1)
        assert created == {"ok": True}, created
        joins = []
        for host_id, host in ((1, a), (2, b)):
            host.host_id = host_id
            joins.append(subprocess.Popen(
                ["sanlock", "client", "add_lockspace", "-s", "%s:%d:%s/%s:0" % (LS, host_id, lease_dir, LS), "-o", "1"],
                env=host.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for proc in joins:
            out, dummy = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
        no_daemon_dir = base / "run-none"
        no_daemon_dir.mkdir()
        yield Cluster(str(lease_dir), a, b, c, Host("no-daemon", no_daemon_dir))
    finally:
        for host in hosts:
            host.client("shutdown", "-f", "1", check=False)


@pytest.fixture
def lease_dir(lease_cluster):
    """The cluster's lease directory with nothing but the lockspace file in it."""
    for entry in os.listdir(lease_cluster.lease_dir):
        path = os.path.join(lease_cluster.lease_dir, entry)
        if entry == LS:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return lease_cluster.lease_dir


# Hung lease storage ------------------------------------------------------------------------------------------------
_LIBC = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2
HUNG_WATCHDOG = 60  # seconds after which a hung mount is released whatever the test does


class HungStorage:
    """A directory on which every access blocks until released: a FUSE mount whose server never answers.

    A stand-in for a hard NFS mount whose server is gone, made with the
    kernel's FUSE alone (no libfuse): /dev/fuse is opened and mounted, and
    nothing ever reads the requests. stat, open, listdir on the directory
    and anything under it then block in the kernel as on a hung NFS mount
    (killable only, no signal interrupts them). release() closes the FUSE
    device, which aborts the connection: every blocked call fails with
    ENOTCONN, and the mount is detached. A watchdog releases it after
    HUNG_WATCHDOG seconds even if the test never returns.
    """

    def __init__(self, path):
        self.path = str(path)
        self._lock = threading.Lock()
        self._fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        options = "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other" % self._fd
        if _LIBC.mount(b"autolease-hung", self.path.encode(), b"fuse.autolease-hung", 0, options.encode()) != 0:
            code = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(code, "cannot mount a FUSE stand-in on %s: %s" % (self.path, os.strerror(code)))
        self._watchdog = threading.Timer(HUNG_WATCHDOG, self.release)
        self._watchdog.daemon = True
        self._watchdog.start()

    def release(self):
        with self._lock:
            if self._fd is None:
                return
            os.close(self._fd)
            self._fd = None
            _LIBC.umount2(self.path.encode(), _MNT_DETACH)
        self._watchdog.cancel()


@pytest.fixture
def hung_storage(tmp_path):
    """A lease directory path whose storage hangs (HungStorage), released after the test, pass or fail."""
    if not os.path.exists("/dev/fuse"):
        pytest.fail("/dev/fuse is missing: the hung-storage tests need the kernel's FUSE (modprobe fuse)")
    path = tmp_path / "hung-leases"
    path.mkdir()
    hung = HungStorage(path)
    try:
        yield hung
    finally:
        hung.release()


@pytest.fixture
def storage_deadline():
    """The storage deadline of this process (_storage_io) set to 2 s for the test, then back to the default."""
    from ansible_collections.autolease.sanlock.plugins.module_utils import _storage_io
    _storage_io.set_timeout(2)
    try:
        yield 2
    finally:
        _storage_io.set_timeout(_storage_io.DEFAULT_TIMEOUT)
