# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lease benchmarks on a private two-host sanlock cluster (no lab needed).

cleanup: N unused leases plus HELD leases held by the other host (host-b).
  stock: /usr/sbin/virt-sanlock-cleanup run through host-a's daemon
  (SANLOCK_RUN_DIR) with a private qemu-sanlock.conf naming the directory,
  bind-mounted over /etc/libvirt inside a private mount namespace
  (`unshare -m`), so the build machine's config is never touched.
  ours: run_cleanup (in a fresh Python process, as the cron job runs it)
  through the same daemon on the same directory, refilled with the very same
  files (sparse copies of one template set).
  Correctness check (not a timing assert): neither deletes a held lease. How
  many unused leases each left behind (and why, for ours) is recorded.

create: N new leases. ours: the `lease` module (as Ansible runs it, one
  process); stock: a shell loop of `truncate -s 1M` + `sanlock direct init -r`
  per lease, the way libvirt makes one lease at a time. Every file of both is
  checked to be an initialised lease of __LIBVIRT__DISKS__.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.autolease.sanlock.plugins.module_utils import _lease_file  # noqa: E402
from ansible_collections.autolease.sanlock.plugins.module_utils._names import OWN_FILES, lease_name  # noqa: E402

CHUNK = 1500  # names per child-process call (one argv string stays below 128 KiB)


def _create(host, lease_dir, names):
    for start in range(0, len(names), CHUNK):
        out = host.call("_lease_set.ensure_present", lease_dir, {n: {} for n in names[start:start + CHUNK]},
                        owner="root", group="root")
        assert "ok" in out and not out["ok"]["invalid"], out


def _leases(lease_dir):
    return set(os.listdir(lease_dir)) - {_common.LS} - OWN_FILES


def _refill(template, lease_dir):
    """Copy every template lease missing from lease_dir back (sparse); held leases are never overwritten."""
    missing = sorted(set(os.listdir(template)) - _leases(lease_dir))
    for start in range(0, len(missing), 500):
        subprocess.run(["cp", "--sparse=always", "-p", *[os.path.join(template, n) for n in missing[start:start + 500]],
                        lease_dir], check=True)


def _stock_cleanup(host, lease_dir, conf_dir):
    script = 'mount --bind "$1" /etc/libvirt && exec /usr/sbin/virt-sanlock-cleanup'
    with _common.Timer() as timer:
        res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", conf_dir],
                             env=host.env(), capture_output=True, text=True, timeout=3600, check=False)
    if res.returncode:
        raise RuntimeError("virt-sanlock-cleanup failed (%d): %s %s"
                           % (res.returncode, res.stdout[-2000:], res.stderr[-2000:]))
    return timer.seconds, len(re.findall(r"PASS$", res.stdout, re.M)), len(re.findall(r"FAIL$", res.stdout, re.M))


def _wait_released(host, timeout=120):
    """Let the stock run finish: its last releases reach the daemon after its processes exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "r %s:" % _common.LS not in host.client("status").stdout:
            return
        time.sleep(0.1)
    raise RuntimeError("daemon %s still holds leases %d s after virt-sanlock-cleanup" % (host.name, timeout))


def cleanup(sizes=(1000, 5000), held=20):
    rows = []
    for size in sizes:
        with _common.private_cluster() as (lease_dir, a, b):
            base = pathlib.Path(lease_dir).parent
            names = [lease_name("/var/lib/libvirt/images/bench-%05d.img" % i) for i in range(size + held)]
            held_names = names[:held]
            _create(a, lease_dir, names)
            template = base / "template"
            template.mkdir()
            subprocess.run(["cp", "--sparse=always", "-p", "-r", lease_dir + "/.", str(template)], check=True)
            os.unlink(str(template / _common.LS))
            conf_dir = base / "etc-libvirt"
            conf_dir.mkdir()
            (conf_dir / "qemu-sanlock.conf").write_text(
                'auto_disk_leases = 1\ndisk_lease_dir = "%s"\nhost_id = 1\n' % lease_dir)
            with b.hold(lease_dir, held_names):
                stock_s, passed, failed = _stock_cleanup(a, lease_dir, str(conf_dir))
                stock_left = _leases(lease_dir)
                _wait_released(a)
                _refill(str(template), lease_dir)
                assert _leases(lease_dir) == set(names)
                with _common.Timer() as timer:
                    out = a.call("_cleanup.run_cleanup", lease_dir)
                assert "ok" in out, out
                ours_left = _leases(lease_dir)
            counts = out["ok"]["counts"]
            checks = {
                "stock_held_deleted": len(set(held_names) - stock_left),
                "ours_held_deleted": len(set(held_names) - ours_left),
                "stock_unused_left": len(stock_left - set(held_names)),
                "ours_unused_left": len(ours_left - set(held_names)),
                "stock_pass_fail": [passed, failed],
                "ours_counts": counts,
                "ours_skipped": [s for s in out["ok"]["skipped"] if s["name"] != _common.LS
                                 and s["name"] not in OWN_FILES],
            }
            assert checks["stock_held_deleted"] == 0 and checks["ours_held_deleted"] == 0, checks
            assert counts["held"] == held, checks
            rows.append({"case": "cleanup %d unused + %d held" % (size, held), "ours_s": timer.seconds,
                         "stock": "virt-sanlock-cleanup", "stock_s": stock_s, "checks": checks})
    return rows


def create(size=1000):
    with _common.private_cluster() as (lease_dir, a, dummy_b):
        disks = ["/var/lib/libvirt/images/new-%05d.img" % i for i in range(size)]
        with _common.Timer() as ours:
            out = a.module("lease", {"lease_dir": lease_dir, "disks": disks, "owner": "root", "group": "root"})
        assert out.get("changed") is True and not out.get("failed"), {k: out.get(k) for k in ("msg", "failed")}
        ours_names = {lease_name(d) for d in disks}
        stock_names = [lease_name("/var/lib/libvirt/images/direct-%05d.img" % i) for i in range(size)]
        with tempfile.NamedTemporaryFile("w", suffix=".names", delete=False) as handle:
            handle.write("\n".join(stock_names) + "\n")
        loop = ('while read n; do f="$1/$n"; truncate -s 1M "$f" && '
                'sanlock direct init -r "__LIBVIRT__DISKS__:$n:$f:0" >/dev/null || exit 1; done < "$2"')
        try:
            with _common.Timer() as stock:
                subprocess.run(["sh", "-c", loop, "sh", lease_dir, handle.name], env=a.env(), check=True,
                               timeout=3600)
        finally:
            os.unlink(handle.name)
        bad = [n for n in ours_names | set(stock_names)
               if _lease_file.inspect(os.path.join(lease_dir, n)).kind != "lease"]
        assert not bad and _leases(lease_dir) == ours_names | set(stock_names), bad[:5]
        return [{"case": "create %d leases" % size, "ours_s": ours.seconds, "stock": "sanlock direct init -r loop",
                 "stock_s": stock.seconds, "checks": {"not_initialised": len(bad)}}]


if __name__ == "__main__":
    if not shutil.which("sanlock"):
        sys.exit("sanlock is not installed: run `make deps`")
    print(cleanup(sizes=(int(sys.argv[1]) if len(sys.argv) > 1 else 200,), held=5))
    print(create(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
