"""The autolease lab: a local cluster of real Debian hosts (12 and 13).

Each host is a systemd-nspawn container booting real systemd from its own
overlay over a cached base image (tests/lab/image.sh), one image per Debian
release and libvirt daemon layout (monolithic libvirtd or modular virtqemud). All hosts bind-mount
one directory of the build machine, <LAB_DIR>/shared, at /srv/lab-shared: the
stand-in for the NFS export that the shared_storage role mounts on the lease
directory.

VM disks are NOT shared by default: every host has its own file at the same
path. A lease is the md5 of the disk path, so to sanlock it is one disk, and
the refusal comes from sanlock alone. (A shared image file would be refused
earlier by qemu's own image locking, since all lab hosts share one kernel.)
For live migration, <LAB_DIR>/images is bind-mounted at /srv/lab-images on
every host: the stand-in for shared VM storage (see docs/MIGRATION.md).

Network: every host has its own network namespace, made by the lab, with one
interface (eth0, 10.213.0.N/24 for labN) on a bridge in one more namespace the
lab makes. Nothing is routed: traffic stays between the lab's own hosts. Every
host's /etc/hosts names all hosts, so libvirt can migrate by host name.

usage: lab.py up | down | status | inventory | pid HOST | run HOST CMD...
             vm-start HOST NAME [DISK] | vm-stop HOST NAME

Environment: LAB_DIR (default /var/tmp/autolease-lab), LAB_HOSTS (default 3),
LAB_IMAGE_DIR (image cache, default LAB_DIR/image; several labs can share one).

LAB_HOSTS is a number of Debian 12 hosts (lab1..labN) or a list of host specs
NAME:RELEASE[-modular], e.g. "lab1:bookworm lab2:trixie lab3:trixie-modular":
RELEASE is bookworm (Debian 12) or trixie (Debian 13); -modular boots the
modular libvirt daemons (virtqemud and friends) in place of libvirtd.
"""

import fcntl
import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
LAB_DIR = pathlib.Path(os.environ.get("LAB_DIR", "/var/tmp/autolease-lab"))
RECIPE = HERE / "image.sh"
BOOT_TIMEOUT = 180
STOP_TIMEOUT = 60


def ansible_env():
    """Environment for ansible/ansible-playbook/molecule runs from this checkout against the lab."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".cache" / "collections")
    env["PATH"] = "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", ""))
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"  # parsed by tests
    return env


class LabError(Exception):
    pass


def log(msg):
    print("lab: " + msg, file=sys.stderr, flush=True)


RELEASES = ("bookworm", "trixie")  # what tests/lab/image.sh builds
VARIANTS = ("monolithic", "modular")
DEFAULT_IMAGE = ("bookworm", "monolithic")
_SPEC = re.compile(r"^(?P<name>[a-z][a-z0-9-]{0,30}):(?P<release>[a-z]+)(?P<modular>-modular)?$")


def host_specs(value=None):
    """LAB_HOSTS as [(name, release, variant)]: a number (that many Debian 12 hosts
    lab1..labN with libvirtd) or a blank-separated list of NAME:RELEASE[-modular]."""
    value = (os.environ.get("LAB_HOSTS", "3") if value is None else str(value)).strip()
    if value.isdigit():
        count = int(value)
        if not 1 <= count <= 50:
            raise LabError("LAB_HOSTS=%r: expected a number of hosts from 1 to 50" % value)
        return [("lab%d" % i,) + DEFAULT_IMAGE for i in range(1, count + 1)]
    specs = []
    for word in value.split():
        match = _SPEC.match(word)
        if not match or match.group("release") not in RELEASES:
            raise LabError("LAB_HOSTS=%r: %r is not NAME:RELEASE[-modular] with RELEASE one of %s "
                           "(e.g. \"lab1:bookworm lab2:trixie lab3:trixie-modular\"), nor a number of hosts"
                           % (value, word, ", ".join(RELEASES)))
        specs.append((match.group("name"), match.group("release"),
                      "modular" if match.group("modular") else "monolithic"))
    names = [spec[0] for spec in specs]
    if not 1 <= len(specs) <= 50 or len(set(names)) != len(names):
        raise LabError("LAB_HOSTS=%r: expected 1 to 50 hosts with distinct names" % value)
    return specs


def host_names(count=None):
    return [spec[0] for spec in host_specs(count)]


def image_key(release=DEFAULT_IMAGE[0], variant=DEFAULT_IMAGE[1]):
    """The cache key of an image: the recipe's sha256, the release and the variant."""
    return "%s-%s-%s" % (hashlib.sha256(RECIPE.read_bytes()).hexdigest()[:16], release, variant)


IMAGE_DIR = pathlib.Path(os.environ.get("LAB_IMAGE_DIR", str(LAB_DIR / "image")))
SUBNET = "10.213.0"


# -- network ---------------------------------------------------------------
# Names of network namespaces and interfaces are global on the build machine:
# they carry a short digest of LAB_DIR so that several labs can run at once.
def _net_prefix():
    return "al" + hashlib.sha256(str(LAB_DIR).encode()).hexdigest()[:6]


def bridge_netns():
    return _net_prefix() + "-br"


def address(name):
    """The lab address of host labN: SUBNET.N."""
    number = name[3:]
    if not (name.startswith("lab") and number.isdigit() and 1 <= int(number) <= 250):
        raise LabError("host name %r: expected lab1 .. lab250" % name)
    return "%s.%d" % (SUBNET, int(number))


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


def _netns_exists(name):
    return os.path.exists("/run/netns/" + name)


def ensure_bridge():
    """The namespace holding the lab's bridge (no address, no route out): made once per lab."""
    ns = bridge_netns()
    if not _netns_exists(ns):
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", ns, "link", "set", "br0", "up")
    return ns


def host_netns(name):
    """A fresh network namespace for host name: lo up, eth0 with its lab address, plugged into the bridge."""
    ns = "%s-%s" % (_net_prefix(), name)
    if _netns_exists(ns):
        _ip("netns", "del", ns)
    _ip("netns", "add", ns)
    _ip("-n", ns, "link", "set", "lo", "up")
    port = "%s%s" % (_net_prefix(), name[3:])  # at most 15 characters: al + 6 + up to 3 digits
    _ip("-n", bridge_netns(), "link", "del", port, check=False)
    _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", bridge_netns())
    _ip("-n", bridge_netns(), "link", "set", port, "master", "br0", "up")
    _ip("-n", ns, "addr", "add", address(name) + "/24", "dev", "eth0")
    _ip("-n", ns, "link", "set", "eth0", "up")
    return "/run/netns/" + ns


def remove_network():
    """Delete every network namespace of this lab (their veth pairs go with them)."""
    for entry in sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []:
        if entry.startswith(_net_prefix() + "-"):
            _ip("netns", "del", entry, check=False)


def hosts_file(names):
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += ["%s\t%s" % (address(name), name) for name in names]
    return "\n".join(lines) + "\n"


def image_root(key=None):
    return IMAGE_DIR / (key or image_key()) / "rootfs"


def ensure_image(release=DEFAULT_IMAGE[0], variant=DEFAULT_IMAGE[1]):
    """Build the image of this release and variant unless the cached one matches the recipe.

    Several labs (make lab, molecule scenarios, tests) share the cache: an
    exclusive lock makes a second caller wait for the first build.
    """
    IMAGE_DIR.mkdir(parents=True, exist_ok=True)
    with open(IMAGE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_image(release, variant)


def _build_image(release, variant):
    key = image_key(release, variant)
    root = image_root(key)
    if root.is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    build_log = root.parent / "build.log"
    log("building base image %s (debootstrap, 2-4 minutes; log: %s)" % (key, build_log))
    with open(build_log, "wb") as out:
        res = subprocess.run(["bash", str(RECIPE), str(root), release, variant],
                             stdout=out, stderr=subprocess.STDOUT, check=False)
    if res.returncode != 0:
        tail = build_log.read_text(errors="replace").splitlines()[-30:]
        raise LabError("building the image failed (exit %d); last lines of %s:\n%s"
                       % (res.returncode, build_log, "\n".join(tail)))
    for old in IMAGE_DIR.iterdir():
        if (old.is_dir() and old != root.parent and replaced_by(old.name, release, variant)
                and not _image_in_use(old)):
            log("removing outdated image %s" % old.name)
            shutil.rmtree(old, ignore_errors=True)
    return root


def replaced_by(name, release, variant):
    """Whether the cached image `name` is an older build of this release and variant (a bare recipe hash is a
    Debian 12 image of the recipe before releases). Images of other releases and variants stay: other labs use them."""
    match = re.match(r"^[0-9a-f]{16}(?:-([a-z]+)-([a-z]+))?$", name)
    return bool(match) and (match.group(1, 2) if match.group(1) else DEFAULT_IMAGE) == (release, variant)


def _image_in_use(image_dir):
    mounts = pathlib.Path("/proc/mounts").read_text()
    return str(image_dir) in mounts


class Host:
    def __init__(self, name):
        self.name = name
        self.proc = None  # the systemd-nspawn process, when this object booted it
        self.dir = LAB_DIR / "hosts" / name
        self.merged = self.dir / "merged"

    # -- state ---------------------------------------------------------
    def nspawn_pid(self):
        try:
            pid = int((self.dir / "nspawn.pid").read_text())
        except (OSError, ValueError):
            return None
        try:
            cmdline = pathlib.Path("/proc/%d/cmdline" % pid).read_bytes()
        except OSError:
            return None
        return pid if b"systemd-nspawn" in cmdline and str(self.merged).encode() in cmdline else None

    def init_pid(self):
        """PID (in our namespace) of the container's systemd."""
        pid = self.nspawn_pid()
        if pid is None:
            return None
        children = pathlib.Path("/proc/%d/task/%d/children" % (pid, pid))
        try:
            kids = children.read_text().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def mounted(self):
        return (" %s " % self.merged) in pathlib.Path("/proc/mounts").read_text()

    def image(self):
        """The key of the image this host was booted from (tests/lab/image.sh's cache key)."""
        try:
            return (self.dir / "image").read_text().strip()
        except OSError:
            return None

    def image_root(self):
        """The image this host boots from again after a power-off or a crash."""
        return image_root(self.image())

    # -- lifecycle -----------------------------------------------------
    def boot(self, root, names=None):
        """Boot from root; names: every host of the lab (for /etc/hosts), default the hosts now in LAB_DIR."""
        names = sorted(set(names or [h.name for h in all_hosts()]) | {self.name}, key=lambda n: int(n[3:]))
        for sub in ("upper", "work", "merged"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "image").write_text(pathlib.Path(root).parent.name + "\n")
        if not self.mounted():
            subprocess.run(
                ["mount", "-t", "overlay", "overlay", "-o",
                 "lowerdir=%s,upperdir=%s,workdir=%s" % (root, self.dir / "upper", self.dir / "work"),
                 str(self.merged)], check=True)
        (self.merged / "etc" / "hostname").write_text(self.name + "\n")
        (self.merged / "etc" / "hosts").write_text(hosts_file(names))
        ensure_bridge()
        netns = host_netns(self.name)
        console = open(self.dir / "console.log", "ab")
        proc = subprocess.Popen(
            ["systemd-nspawn", "--register=no", "--keep-unit", "--quiet",
             "-D", str(self.merged), "-b", "--machine=" + self.name, "--hostname=" + self.name,
             "--network-namespace-path=" + netns,
             "--bind=%s:/srv/lab-shared" % (LAB_DIR / "shared"),
             "--bind=%s:/srv/lab-images" % (LAB_DIR / "images")],
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
            start_new_session=True)
        (self.dir / "nspawn.pid").write_text("%d\n" % proc.pid)
        self.proc = proc

    def wait_running(self):
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            pid = self.init_pid()
            # poll(), not /proc: right after the fork the child's cmdline is not nspawn's yet.
            if pid is None and self.proc.poll() is not None:
                raise LabError("%s: systemd-nspawn exited during boot; see %s"
                               % (self.name, self.dir / "console.log"))
            if pid is not None:
                res = subprocess.run(["nsenter", "-t", str(pid), "-a", "systemctl", "is-system-running"],
                                     capture_output=True, text=True, check=False)
                state = res.stdout.strip()
                if state in ("running", "degraded"):
                    return state
            time.sleep(0.5)
        raise LabError("%s: systemd did not reach multi-user within %d s; see %s"
                       % (self.name, BOOT_TIMEOUT, self.dir / "console.log"))

    def run(self, cmd, check=True, timeout=600):
        pid = self.init_pid()
        if pid is None:
            raise LabError("%s is not running: run `make lab-up`" % self.name)
        return subprocess.run(["nsenter", "-t", str(pid), "-a", "sh", "-c", cmd],
                              capture_output=True, text=True, check=check, timeout=timeout)

    def reboot(self):
        """Power the host off and boot it again, keeping its disk (the overlay's upper directory)."""
        self.power_off()
        self.boot(self.image_root())
        return self.wait_running()

    def stop(self):
        """Stop the host: leave sanlock lockspaces (else poweroff hangs), power off, unmount, forget it."""
        self.power_off()
        if self.mounted():
            subprocess.run(["umount", str(self.merged)], check=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        _ip("netns", "del", "%s-%s" % (_net_prefix(), self.name), check=False)

    def crash(self):
        """Kill the host at once, as a power cut: every process of it dies (sanlock, qemu), nothing is left
        cleanly; the disk stays. Boot it again with boot(self.image_root()) and wait_running()."""
        init, nspawn = self.init_pid(), self.nspawn_pid()
        if init is not None:
            os.kill(init, signal.SIGKILL)  # the PID namespace dies with its init
        deadline = time.monotonic() + STOP_TIMEOUT
        while nspawn is not None and self.nspawn_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.nspawn_pid() is not None:
            os.kill(self.nspawn_pid(), signal.SIGKILL)

    def power_off(self):
        """Leave sanlock lockspaces (else poweroff hangs) and power off; the disk stays."""
        pid = self.init_pid()
        nspawn = self.nspawn_pid()
        if pid is not None:
            # sanlock refuses to stop while joined (SendSIGKILL=no): force it first.
            self.run("virsh list --name 2>/dev/null | xargs -r -n1 virsh destroy >/dev/null 2>&1;"
                     " sanlock client shutdown -f 1 >/dev/null 2>&1; true", check=False, timeout=60)
            os.kill(pid, signal.SIGRTMIN + 4)  # systemd: orderly poweroff
        if nspawn is not None:
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.nspawn_pid() is not None and time.monotonic() < deadline:
                time.sleep(0.25)
            if self.nspawn_pid() is not None:
                log("%s did not power off within %d s: killing it" % (self.name, STOP_TIMEOUT))
                init = self.init_pid()
                if init is not None:
                    os.kill(init, signal.SIGKILL)  # kills the whole PID namespace
                os.kill(nspawn, signal.SIGKILL)
                time.sleep(1)


TINY_VM = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def vm_start(host, name, disk=None):
    """Define (if needed) and start a tiny VM: no OS, TCG, 32 MiB, one raw 8 MiB disk.

    The disk is created on this host at the same path on every host, so to
    sanlock (md5 of the path) it is one disk across the lab. Returns the
    CompletedProcess of `virsh start` (check=False: refusals are results).
    """
    disk = disk or "/var/lib/libvirt/images/%s.img" % name
    xml = TINY_VM.format(name=name, disk=disk)
    host.run("test -e '{d}' || qemu-img create -q -f raw '{d}' 8M; "
             "virsh dominfo '{n}' >/dev/null 2>&1 || virsh define /dev/stdin >/dev/null <<'XML'\n{x}XML"
             .format(d=disk, n=name, x=xml))
    return host.run("virsh start '%s'" % name, check=False)


def vm_stop(host, name):
    return host.run("virsh destroy '%s'" % name, check=False)


def all_hosts():
    hosts_dir = LAB_DIR / "hosts"
    if not hosts_dir.is_dir():
        return []
    return sorted((Host(p.name) for p in hosts_dir.iterdir() if p.is_dir()),
                  key=lambda h: int(h.name[3:]) if h.name[3:].isdigit() else 0)


def write_inventory(hosts):
    """Write LAB_DIR/inventory.yml; its settings live in tests/lab/group_vars."""
    for host in hosts:
        (host.dir / "init.pid").write_text("%d\n" % host.init_pid())
    group_vars = LAB_DIR / "group_vars"
    # Always re-pointed: the lab directory outlives the checkout that made it.
    if group_vars.is_symlink() and pathlib.Path(os.readlink(group_vars)) != HERE / "group_vars":
        group_vars.unlink()
    if not group_vars.is_symlink():
        group_vars.symlink_to(HERE / "group_vars", target_is_directory=True)
    path = LAB_DIR / "inventory.yml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "# Written by tests/lab/lab.py at every `make lab-up`; settings: tests/lab/group_vars.\n"
        "all:\n  children:\n    kvm_hosts:\n      hosts:\n"
        + "".join("        %s: {ansible_nsenter_pid: %d}\n" % (h.name, h.init_pid()) for h in hosts))
    tmp.rename(path)
    return path


def cmd_up():
    specs = host_specs()
    roots = {image: ensure_image(*image) for image in sorted({spec[1:] for spec in specs})}
    wanted = [Host(spec[0]) for spec in specs]
    root_of = {spec[0]: roots[spec[1:]] for spec in specs}
    if not any(h.init_pid() for h in all_hosts()):
        # A cold start is a new cluster: leases of an earlier lab
        # whose hosts were killed (not brought down) must not leak into it.
        for host in all_hosts():
            host.stop()
        for sub in ("shared", "images"):
            shutil.rmtree(LAB_DIR / sub, ignore_errors=True)
    for sub in ("shared", "images"):
        (LAB_DIR / sub).mkdir(parents=True, exist_ok=True)
    for extra in all_hosts():
        if extra.name not in {h.name for h in wanted}:
            log("stopping %s (not in LAB_HOSTS=%s)" % (extra.name, os.environ.get("LAB_HOSTS", "3")))
            extra.stop()
    started = []
    for host in wanted:
        root = root_of[host.name]
        if host.init_pid() is not None and host.image() == root.parent.name:
            continue
        if host.nspawn_pid() is not None or host.dir.exists():
            log("%s is stale (stopped or built from an older image): recreating it" % host.name)
            host.stop()
        log("booting %s" % host.name)
        host.boot(root, [h.name for h in wanted])
        started.append(host)
    for host in started:
        host.wait_running()
    for host in wanted:  # a lab grown or shrunk: every host names every other
        (host.merged / "etc" / "hosts").write_text(hosts_file([h.name for h in wanted]))
    for host in wanted:
        # libvirtd, or on a modular host virtqemud's socket (virtqemud itself starts on the first connection)
        daemon = "virtqemud.socket" if host.image().endswith("-modular") else "libvirtd"
        res = host.run("systemctl is-active sanlock %s" % daemon, check=False)
        if res.returncode != 0:
            raise LabError("%s: sanlock/%s not active: %s" % (host.name, daemon, res.stdout.split()))
    path = write_inventory(wanted)
    log("%d hosts up (%s); inventory: %s" % (len(wanted), ", ".join(h.name for h in wanted), path))


def cmd_down():
    for host in all_hosts():
        log("stopping %s" % host.name)
        host.stop()
    remove_network()
    for sub in ("shared", "images", "hosts"):
        shutil.rmtree(LAB_DIR / sub, ignore_errors=True)
    (LAB_DIR / "inventory.yml").unlink(missing_ok=True)
    (LAB_DIR / "group_vars").unlink(missing_ok=True)
    leftovers = [line.split()[1] for line in pathlib.Path("/proc/mounts").read_text().splitlines()
                 if line.split()[1].startswith(str(LAB_DIR) + "/")]
    if leftovers:
        raise LabError("mounts left behind: %s" % leftovers)
    log("lab is down; the cached image stays in %s" % IMAGE_DIR)


def cmd_status():
    hosts = all_hosts()
    if not hosts:
        print("lab is down")
        return 1
    for host in hosts:
        pid = host.init_pid()
        print("%-6s %s" % (host.name, "running (pid %d)" % pid if pid else "stopped"))
    return 0 if all(h.init_pid() for h in hosts) else 1


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "up":
            cmd_up()
        elif cmd == "down":
            cmd_down()
        elif cmd == "status":
            return cmd_status()
        elif cmd == "inventory":
            print(LAB_DIR / "inventory.yml")
        elif cmd == "pid":
            print(Host(args[0]).init_pid() or "")
        elif cmd == "crash":
            Host(args[0]).crash()
        elif cmd == "boot":
            host = Host(args[0])
            if host.init_pid() is None:
                host.boot(host.image_root())
            host.wait_running()
            write_inventory(all_hosts())
        elif cmd == "vm-start":
            res = vm_start(Host(args[0]), args[1], args[2] if len(args) > 2 else None)
            sys.stdout.write(res.stdout)
            sys.stderr.write(res.stderr)
            return res.returncode
        elif cmd == "vm-stop":
            res = vm_stop(Host(args[0]), args[1])
            sys.stdout.write(res.stdout)
            sys.stderr.write(res.stderr)
            return res.returncode
        elif cmd == "run":
            res = Host(args[0]).run(" ".join(args[1:]), check=False)
            sys.stdout.write(res.stdout)
            sys.stderr.write(res.stderr)
            return res.returncode
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (LabError, subprocess.CalledProcessError) as err:
        log("error: %s" % err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
