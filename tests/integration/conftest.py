"""The `lab` fixture: the running lab cluster (tests/lab), booted on demand.

The session boots the lab of LAB_DIR (default /var/tmp/autolease-lab) with
`tests/lab/lab.py up` (reusing running hosts) and leaves it running so the
next run is fast; `make lab-down` stops it.
"""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))
sys.path.insert(1, str(REPO / "tests"))  # helper modules: deleted_leases

import lab as labmod  # noqa: E402  pylint: disable=wrong-import-position
from lab import ansible_env  # noqa: E402  pylint: disable=wrong-import-position


class Lab:
    def __init__(self, names):
        self.hosts = list(names)
        self.inventory = str(labmod.LAB_DIR / "inventory.yml")

    def host(self, name):
        return labmod.Host(name)

    def run(self, host, cmd, check=True, timeout=600):
        """Run a shell command inside a lab host; returns CompletedProcess."""
        return labmod.Host(host).run(cmd, check=check, timeout=timeout)

    def reboot(self, host):
        """Power a lab host off and boot it again with its disk; returns systemd's state once booted."""
        state = labmod.Host(host).reboot()
        labmod.write_inventory([labmod.Host(name) for name in self.hosts])  # the inventory names init's PID
        return state

    def crash(self, host):
        """Kill a lab host at once (a power cut). The inventory keeps its old PID: the host is unreachable."""
        labmod.Host(host).crash()

    def boot(self, host):
        """Boot a crashed or powered-off lab host with its disk; returns systemd's state once booted."""
        target = labmod.Host(host)
        if target.init_pid() is None:
            target.boot(target.image_root())
        state = target.wait_running()
        labmod.write_inventory([labmod.Host(name) for name in self.hosts])
        return state

    def vm_start(self, host, name, disk=None):
        return labmod.vm_start(labmod.Host(host), name, disk)

    def vm_stop(self, host, name):
        return labmod.vm_stop(labmod.Host(host), name)

    def ansible(self, *args, check=False, timeout=1800):
        """Run `ansible-playbook` (args[0] ends with .yml) or `ansible` against the lab."""
        tool = "ansible-playbook" if args and str(args[0]).endswith((".yml", ".yaml")) else "ansible"
        cmd = [str(pathlib.Path(sys.executable).parent / tool), "-i", self.inventory, *map(str, args)]
        res = subprocess.run(cmd, cwd=str(REPO), env=ansible_env(), capture_output=True,
                             text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError("%s failed (rc=%d):\n%s\n%s"
                                 % (" ".join(cmd), res.returncode, res.stdout[-6000:], res.stderr[-3000:]))
        return res


@pytest.fixture(scope="session")
def lab():
    subprocess.run([sys.executable, str(REPO / "tests" / "lab" / "lab.py"), "up"], check=True)
    return Lab(labmod.host_names())


@pytest.fixture(scope="session")
def rolled_out_lab(lab):
    """The lab with playbooks/site.yml applied (rolled out once if any host has not joined)."""
    for host in lab.hosts:
        if "__LIBVIRT__DISKS__" not in lab.run(host, "sanlock client gets", check=False).stdout:
            lab.ansible("playbooks/site.yml", check=True)
            break
    return lab
