# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: run the benchmarks, print one table, write bench-results/<name>.json.

Usage: .venv/bin/python tests/bench/run.py [NAME ...]   (or BENCH="cleanup create" in the environment)
Names: host_id, cleanup, create, first_vm, rerun, recover, migrate, scale (default: all). The lab
benchmarks use LAB_DIR (default /var/tmp/autolease-bench) and boot it if needed.
Each JSON file holds the environment (CPUs, kernel, load, sanlock/libvirt/
python versions, date) and the rows: ours_s, stock_s and the ratio
stock/ours (> 1: ours is faster; for rerun: site.yml/facts-only;
for scale: 8 hosts/3 hosts).
Timings are reported, never asserted; the correctness checks inside each
benchmark (no held lease deleted, re-run changed=0, ...) do fail the run.
"""

import json
import os
import pathlib
import subprocess
import sys
import traceback

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402  pylint: disable=wrong-import-position
import bench_lab  # noqa: E402  pylint: disable=wrong-import-position
import bench_leases  # noqa: E402  pylint: disable=wrong-import-position


def _host_id():
    out = _common.RESULTS / "host_id.raw.json"
    subprocess.run([sys.executable, str(_common.REPO / "tests" / "bench" / "bench_host_id.py"), "--out", str(out)],
                   check=True)
    data = json.loads(out.read_text())
    out.unlink()
    return [{"case": "host_id allocation, %s" % name.replace("_", " "), "ours_s": figures["median_s"],
             "stock": "limit 1 s", "stock_s": data["limit_s"], "checks": figures}
            for name, figures in data["results"].items()]


BENCHMARKS = {
    "host_id": _host_id,
    "cleanup": bench_leases.cleanup,
    "create": bench_leases.create,
    "first_vm": bench_lab.first_vm,
    "rerun": bench_lab.rerun,
    "recover": bench_lab.recover,
    "migrate": bench_lab.migrate,
    "scale": bench_lab.scale,
}


def _ratio(row):
    if "growth" in row.get("checks", {}):  # scale: the larger lab's time over the smaller one's
        return row["checks"]["growth"]
    if row["case"].startswith("site.yml"):
        return row["ours_s"] / row["stock_s"]
    return row["stock_s"] / row["ours_s"] if row["ours_s"] else None


def main(argv):
    names = argv or os.environ.get("BENCH", "").split() or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit("unknown benchmark(s) %s; choose from %s" % (", ".join(unknown), ", ".join(BENCHMARKS)))
    _common.RESULTS.mkdir(exist_ok=True)
    env = _common.environment()
    table, failed = [], []
    for name in names:
        print("== %s" % name, flush=True)
        try:
            with _common.Timer() as timer:
                rows = BENCHMARKS[name]()
        except Exception:  # pylint: disable=broad-except
            traceback.print_exc()
            failed.append(name)
            continue
        for row in rows:
            row["ratio"] = _ratio(row)
        report = {"benchmark": name, "environment": env, "wall_s": timer.seconds, "rows": rows}
        (_common.RESULTS / ("%s.json" % name)).write_text(json.dumps(report, indent=2) + "\n")
        table.extend(rows)
    print("\n%-52s %10s %10s %8s  %s" % ("case", "ours s", "other s", "ratio", "other"))
    for row in table:
        print("%-52s %10.3f %10.3f %8s  %s" % (row["case"], row["ours_s"], row["stock_s"],
                                               "%.2f" % row["ratio"] if row["ratio"] else "-", row["stock"]))
    print("ratio: other/ours (speed-up); for the site.yml re-run: site.yml/facts-only")
    print("environment: %s" % json.dumps(env))
    if failed:
        print("FAILED: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
