#!/usr/bin/env bash
# Build a lab base image: one Debian tree that lab hosts boot from through their
# own overlays. The cache key is the sha256 of this file plus the release and
# the variant, so editing the recipe rebuilds the images on the next `make lab`.
#
# usage: image.sh ROOTFS_DIR [RELEASE [VARIANT]]
#   RELEASE  bookworm (Debian 12, the default) or trixie (Debian 13)
#   VARIANT  monolithic (libvirtd, the default) or modular (socket-activated
#            virtqemud units, libvirtd masked: the layout RHEL 9 and Fedora
#            ship; see the LAB-ONLY note at the modular block below)
#
# Everything marked LAB-ONLY below exists because the build machines are not
# real KVM hosts (no CAP_SYS_RESOURCE, no watchdog device, read-only cgroup v1
# controllers inside nspawn, no network but the lab's own bridge). Roles and modules
# never set these; real hosts keep the defaults.
set -euo pipefail

root=${1:?usage: image.sh ROOTFS_DIR [bookworm|trixie [monolithic|modular]]}
release=${2:-bookworm}
variant=${3:-monolithic}
mirror=${LAB_MIRROR:-http://deb.debian.org/debian}
# The stack the roles install (roles/*/vars/Debian*.yml) and every other package
# they install (cron; python3-apt for Ansible's apt module), preinstalled: the lab
# hosts have no route to a mirror (their network is the lab's own bridge), so the
# roles' package tasks find them in place.
case $release in
    bookworm) stack="sanlock python3-sanlock libvirt-daemon-system libvirt-sanlock libvirt-clients
                     python3-libvirt qemu-system-x86 qemu-utils augeas-tools cron python3-apt" ;;
    trixie)   stack="sanlock python3-sanlock libvirt-daemon-system libvirt-daemon-plugin-sanlock
                     libvirt-clients python3-libvirt qemu-system-x86 qemu-utils augeas-tools cron python3-apt" ;;
    *) echo "image.sh: release '$release' is not supported: use bookworm or trixie" >&2; exit 2 ;;
esac
case $variant in
    monolithic|modular) ;;
    *) echo "image.sh: variant '$variant' is not supported: use monolithic or modular" >&2; exit 2 ;;
esac

tmp="$root.partial"
cleanup_mounts() {  # debootstrap leaves /proc and /sys mounted when it fails
    awk -v t="$tmp" '$2 ~ "^"t {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
}
trap cleanup_mounts EXIT
cleanup_mounts
rm -rf "$tmp"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,iproute2 \
    "$release" "$tmp" "$mirror"

# One sanlock uid and gid on every image, as on any cluster sharing lease
# storage: sanlock opens the lockspace and the lease files by uid and gid, and
# Debian's package allocates them at install (101:102 on bookworm, 100:101 on
# trixie). The package keeps a user that exists. (The shared_storage role
# refuses a host whose ids differ from the lockspace's owner.)
chroot "$tmp" groupadd --system --gid 179 sanlock
chroot "$tmp" useradd --system --uid 179 --gid sanlock --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment sanlock sanlock

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
# The TCP socket is bound to libvirtd.socket: tests that stop the daemon with
# its sockets (a fault, a fresh host) would leave it stopped. Every start of
# the daemon starts it first, so the daemon gets its descriptor.
mkdir -p "$tmp/etc/systemd/system/libvirtd.service.d"
cat > "$tmp/etc/systemd/system/libvirtd.service.d/lab-tcp.conf" <<'CONF'
# LAB-ONLY (autolease lab image): see tests/lab/image.sh
[Unit]
Wants=libvirtd-tcp.socket
After=libvirtd-tcp.socket
CONF

# LAB-ONLY: timers and services that only slow a container's boot.
for unit in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_reap.service fstrim.timer; do
    ln -sf /dev/null "$tmp/etc/systemd/system/$unit"
done

# The modular layout, as RHEL 9 and Fedora enable it: the QEMU driver's own
# socket-activated daemon virtqemud (units virtqemud.service and its sockets,
# config read from /etc/libvirt/qemu.conf and qemu-sanlock.conf), libvirtd masked.
# LAB-ONLY: Debian builds no modular daemon binaries (checked: no virtqemud in
# trixie's libvirt 11.3.0 nor in sid's 12.8.0), so the virtqemud units here run
# Debian's libvirtd, which takes the sockets systemd hands it by their names.
# What this exercises for real: the unit names, socket activation, drop-ins
# and restarts the libvirt role manages (libvirt_daemon: auto); not a
# virtqemud binary.
if [ "$variant" = modular ]; then
    systemctl --root="$tmp" disable libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket
    systemctl --root="$tmp" mask libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket
    units=$tmp/etc/systemd/system
    cat > "$units/virtqemud.service" <<'UNIT'
# LAB-ONLY (autolease lab image): Debian's libvirtd in virtqemud's place; see tests/lab/image.sh
[Unit]
Description=libvirt QEMU daemon (lab stand-in: Debian's libvirtd under the modular unit names)
Wants=virtqemud.socket virtqemud-ro.socket virtqemud-admin.socket virtqemud-tcp.socket
After=virtqemud.socket virtqemud-ro.socket virtqemud-admin.socket virtqemud-tcp.socket
Requires=virtlogd.socket
After=virtlogd.socket network.target dbus.service remote-fs.target

[Service]
Type=notify-reload
Environment=VIRTQEMUD_ARGS="--timeout 120"
ExecStart=/usr/sbin/libvirtd $VIRTQEMUD_ARGS
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
LimitNOFILE=1024:524288
TasksMax=32768
LimitMEMLOCK=64M

[Install]
WantedBy=multi-user.target
Also=virtqemud.socket virtqemud-ro.socket virtqemud-admin.socket
UNIT
    for sock in "" -ro -admin; do
        path=/run/libvirt/libvirt-sock$sock mode=0666
        [ "$sock" = -admin ] && path=/run/libvirt/libvirt-admin-sock mode=0600
        bind=""
        [ -n "$sock" ] && bind=$'BindsTo=virtqemud.socket\nAfter=virtqemud.socket'
        cat > "$units/virtqemud$sock.socket" <<UNIT
# LAB-ONLY (autolease lab image): see virtqemud.service
[Unit]
Description=libvirt QEMU daemon socket$sock (lab stand-in)
$bind

[Socket]
ListenStream=$path
FileDescriptorName=libvirtd$sock.socket
Service=virtqemud.service
SocketMode=$mode
RemoveOnStop=yes

[Install]
WantedBy=sockets.target
UNIT
    done
    # Migration over the lab bridge (see auth_tcp above) through the stand-in too.
    systemctl --root="$tmp" disable libvirtd-tcp.socket
    systemctl --root="$tmp" mask libvirtd-tcp.socket
    cat > "$units/virtqemud-tcp.socket" <<'UNIT'
# LAB-ONLY (autolease lab image): see virtqemud.service
[Unit]
Description=libvirt QEMU daemon TCP socket (lab stand-in)
BindsTo=virtqemud.socket
After=virtqemud.socket

[Socket]
ListenStream=16509
FileDescriptorName=libvirtd-tcp.socket
Service=virtqemud.service

[Install]
WantedBy=sockets.target
UNIT
    systemctl --root="$tmp" enable virtqemud.service virtqemud.socket virtqemud-ro.socket virtqemud-admin.socket \
        virtqemud-tcp.socket
fi

# Let the controller's Ansible find a python and a machine id per host (the
# machine id is written per host at boot: an empty file makes systemd create one).
: > "$tmp/etc/machine-id"

mkdir -p "$tmp/srv/lab-shared" "$tmp/srv/lab-images"
rm -rf "$root"
mv "$tmp" "$root"
