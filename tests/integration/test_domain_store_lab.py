"""The domain definitions of every host on the shared lease storage, on the lab (issue 13).

The rollout (site.yml, cleanup_schedule role) writes each host's definitions
and installs the export cron job on every host; a VM defined on one host
afterwards reaches the store through the export script (what cron runs) and is
read on the other host from the shared storage.
"""

import json
import re

import pytest

pytestmark = pytest.mark.lab

LEASE_DIR = "/var/lib/libvirt/sanlock"
STORE = LEASE_DIR + "/autolease.sanlock/domains"
EXPORT = "/usr/local/sbin/autolease-sanlock-export-domains"
EXPORT_CRON = "/etc/cron.d/autolease-sanlock-export-domains"
CLEANUP_CRON = "/etc/cron.d/autolease-sanlock-cleanup"
VM = "store-probe"
VM_XML = """<domain type='qemu'>
  <name>%s</name><memory unit='MiB'>32</memory><os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/%s.img'/><target dev='vda' bus='virtio'/></disk>
    <graphics type='vnc' port='-1' passwd='probe-pw'/>
  </devices>
</domain>
""" % (VM, VM)


def test_a_vm_defined_on_one_host_is_read_from_the_store_on_the_other(rolled_out_lab):
    lab = rolled_out_lab
    first, other = sorted(lab.hosts)[0], sorted(lab.hosts)[-1]
    assert first != other, "needs a lab of two hosts or more"
    # Every host refreshes its own definitions every 10 minutes; the cleanup stays on the first host only.
    for host in lab.hosts:
        cron = lab.run(host, "cat %s" % EXPORT_CRON).stdout
        assert re.search(r"(?m)^\*/10 \* \* \* \* root %s$" % EXPORT, cron), (host, cron)
        has_cleanup = lab.run(host, "test -e %s" % CLEANUP_CRON, check=False).returncode == 0
        assert has_cleanup is (host == first), host
        assert json.loads(lab.run(host, "cat /etc/autolease-sanlock/cleanup.json").stdout)["host"] == host
        # The rollout exported every host (a directory even without domains), root 0700.
        assert lab.run(host, "stat -c '%%U %%a' %s/%s" % (STORE, host)).stdout.split() == ["root", "700"]

    lab.run(other, "virsh undefine %s >/dev/null 2>&1; virsh define /dev/stdin <<'XML'\n%sXML" % (VM, VM_XML))
    try:
        res = lab.run(other, "%s --json" % EXPORT)
        exported = json.loads(res.stdout)
        assert exported["changed"] is True and VM in exported["written"], exported
        path = "%s/%s/%s.xml" % (STORE, other, VM)
        assert exported["domains"][VM]["path"] == path
        # Read on the other host, from the shared storage.
        seen = lab.run(first, "stat -c '%%U %%a' %s && cat %s" % (path, path)).stdout
        assert seen.startswith("root 600\n") and "<name>%s</name>" % VM in seen and "probe-pw" in seen, seen
        info = lab.ansible(first, "-m", "autolease.sanlock.domain_store_info", "-a", "host=%s" % other)
        assert info.returncode == 0 and VM in info.stdout and "/var/lib/libvirt/images/%s.img" % VM in info.stdout, \
            info.stdout[-3000:]
        assert json.loads(lab.run(other, "%s --json" % EXPORT).stdout)["changed"] is False
    finally:
        lab.run(other, "virsh undefine %s" % VM, check=False)
    gone = json.loads(lab.run(other, "%s --json" % EXPORT).stdout)
    assert gone["removed"] == [VM], gone
    assert lab.run(first, "test -e %s/%s/%s.xml" % (STORE, other, VM), check=False).returncode == 1
