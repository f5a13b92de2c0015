#!/usr/bin/env bash
# Build the lab's base image: one Debian 12 tree that every lab host boots from
# through its own overlay. The cache key is the sha256 of this file, so editing
# the recipe rebuilds the image on the next `make lab`.
#
# usage: image.sh ROOTFS_DIR
#
# Everything marked LAB-ONLY below exists because the build machines are not
# real KVM hosts (no CAP_SYS_RESOURCE, no watchdog device, read-only cgroup v1
# controllers inside nspawn, no network but the lab's own bridge). Roles and modules
# never set these; real hosts keep the defaults.
set -euo pipefail

root=${1:?usage: image.sh ROOTFS_DIR}
mirror=${LAB_MIRROR:-http://deb.debian.org/debian}
# The stack, and every package the roles install (cron; python3-apt for Ansible's
# apt module): the lab hosts have no route to a mirror (their network is the
# lab's own bridge), so the roles find them installed.
stack="sanlock python3-sanlock libvirt-daemon-system libvirt-sanlock libvirt-clients
       python3-libvirt qemu-system-x86 qemu-utils augeas-tools cron python3-apt"

tmp="$root.partial"
cleanup_mounts() {  # debootstrap leaves /proc and /sys mounted when it fails
    awk -v t="$tmp" '$2 ~ "^"t {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
}
trap cleanup_mounts EXIT
cleanup_mounts
rm -rf "$tmp"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,iproute2 \
    bookworm "$tmp" "$mirror"

# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive chroot "$tmp" apt-get install -y -q --no-install-recommends $stack
chroot "$tmp" apt-get clean

# LAB-ONLY: root inside the container lacks CAP_SYS_RESOURCE, so sanlock must
# skip mlock/setrlimit/realtime priority; there is no watchdog device (-w 0).
cat > "$tmp/etc/default/sanlock" <<'CONF'
# LAB-ONLY (autolease lab image): no CAP_SYS_RESOURCE and no watchdog device here.
SANLOCK_PRIVILEGED=0
sanlock_opts="-w 0"
CONF
# LAB-ONLY: systemd inside nspawn on this build machine cannot signal a unit's
# control group ("Failed to kill control group ... Input/output error") and
# cannot tell sanlock's main PID, so `systemctl restart sanlock` would leave the
# old daemon running and the new one would die on its pid lock. Stop it the way
# sanlock itself offers (refused while lockspaces are joined, as on real hosts)
# and wait until the process is gone before the new one starts.
mkdir -p "$tmp/etc/systemd/system/sanlock.service.d"
cat > "$tmp/etc/systemd/system/sanlock.service.d/lab-stop.conf" <<'CONF'
# LAB-ONLY (autolease lab image): see tests/lab/image.sh
[Service]
KillMode=process
ExecStop=/usr/sbin/sanlock client shutdown -w 1
ExecStopPost=/bin/sh -c 'for i in $(seq 100); do pidof sanlock >/dev/null || exit 0; sleep 0.1; done'
CONF

# LAB-ONLY: wdmd cannot open a watchdog device in a container.
ln -sf /dev/null "$tmp/etc/systemd/system/wdmd.service"

# LAB-ONLY: cgroup v1 controllers are read-only inside nspawn; qemu would fail
# with "Failed to create v1 controller cpu for group".
printf '\n# LAB-ONLY (autolease lab image): cgroup controllers are read-only in nspawn.\ncgroup_controllers = [ ]\n' \
    >> "$tmp/etc/libvirt/qemu.conf"

# LAB-ONLY: the default libvirt NAT network would need forwarding out of the
# lab's namespaces (and the test VMs have no network anyway).
rm -f "$tmp/etc/libvirt/qemu/networks/autostart/default.xml"

# LAB-ONLY: live migration between lab hosts over plain TCP without
# authentication (the lab's network namespaces reach nothing but each other).
# Real hosts migrate over qemu+ssh or qemu+tls.
printf '\n# LAB-ONLY (autolease lab image): migration over the lab bridge.\nauth_tcp = "none"\n' \
    >> "$tmp/etc/libvirt/libvirtd.conf"
chroot "$tmp" systemctl enable libvirtd-tcp.socket

# LAB-ONLY: timers and services that only slow a container's boot.
for unit in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_reap.service fstrim.timer; do
    ln -sf /dev/null "$tmp/etc/systemd/system/$unit"
done

# Let the controller's Ansible find a python and a machine id per host (the
# machine id is written per host at boot: an empty file makes systemd create one).
: > "$tmp/etc/machine-id"

mkdir -p "$tmp/srv/lab-shared" "$tmp/srv/lab-images"
rm -rf "$root"
mv "$tmp" "$root"
