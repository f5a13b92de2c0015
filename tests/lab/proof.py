"""What `make lab` shows after the rollout: the proof a newcomer wants to see.

1. host -> host_id, read from each host's qemu-sanlock.conf;
2. a tiny VM started on the first host holds its disk lease;
3. the same definition (same disk) on the second host is refused by libvirt
   with the lease error;
4. the VM is stopped again (its definition stays, so you can try it yourself).
Exits non-zero if the protection does not hold.
"""

import re
import sys

import lab

VM = "autolease-demo"


def host_id_of(host):
    conf = host.run("cat /etc/libvirt/qemu-sanlock.conf", check=False).stdout
    match = re.search(r"^\s*host_id\s*=\s*(\d+)", conf, re.MULTILINE)
    return int(match.group(1)) if match else None


def main():
    hosts = [lab.Host(n) for n in lab.host_names()]
    print("\nhost      host_id  lockspace joined")
    for host in hosts:
        joined = "__LIBVIRT__DISKS__" in host.run("sanlock client gets", check=False).stdout
        print("%-9s %-8s %s" % (host.name, host_id_of(host), "yes" if joined else "NO"))
    if len(hosts) < 2:
        print("\n(one host only: no cross-host proof; run with LAB_HOSTS>=2)")
        return 0
    first, second = hosts[0], hosts[1]
    for host in (first, second):
        lab.vm_stop(host, VM)
    started = lab.vm_start(first, VM)
    print("\n%s: virsh start %s -> %s" % (first.name, VM, (started.stdout + started.stderr).strip()))
    refused = lab.vm_start(second, VM)
    print("%s: virsh start %s -> %s" % (second.name, VM, (refused.stdout + refused.stderr).strip()))
    lab.vm_stop(first, VM)
    if started.returncode != 0:
        print("\nFAIL: the VM did not start on %s" % first.name)
        return 1
    if refused.returncode == 0 or "Lease is held by another host" not in refused.stderr:
        lab.vm_stop(second, VM)
        print("\nFAIL: %s started a VM whose disk is in use on %s: disks are NOT protected" % (second.name, first.name))
        return 1
    print("\nOK: the disk lease taken on %s keeps %s from starting the same disk." % (first.name, second.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
