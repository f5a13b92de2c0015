# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the host_id allocator: 2,000 hosts on one storage.

Prints the allocator time (best and median of several rounds) for
- a first run: 2,000 new hosts, empty registry, no lockspace;
- a steady run: 2,000 hosts that all have their id (existing + registry +
  a live lockspace slot each);
- a mixed run: 1,000 recorded hosts outside the run (--limit), 500 live
  slots of foreign names and 500 new hosts that must skip all of them;
and writes the figures to bench-results/host_id.json. The issue asks for
under 1 s of allocator time for 2,000 hosts. Not a unit test: timings on a
shared CI machine are not asserted.

Usage: .venv/bin/python tests/bench/bench_host_id.py [--rounds N]
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".cache" / "collections"


def _importable():
    link = COLLECTIONS / "ansible_collections" / "autolease" / "sanlock"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(COLLECTIONS))


_importable()

from ansible_collections.autolease.sanlock.plugins.module_utils._host_id import (  # noqa: E402
    SlotOwner,
    allocate,
)

N = 2000


def scenario_first():
    return dict(hosts=dict(("kvm%04d" % i, {}) for i in range(N)), registry={}, slots={})


def scenario_steady():
    hosts = dict(("kvm%04d" % i, {"existing": i + 1, "joined": True, "running_vms": i % 7}) for i in range(N))
    registry = dict(("kvm%04d" % i, i + 1) for i in range(N))
    slots = dict((i + 1, SlotOwner("kvm%04d" % i, True)) for i in range(N))
    return dict(hosts=hosts, registry=registry, slots=slots)


def scenario_mixed():
    registry = dict(("old%04d" % i, 2 * i + 1) for i in range(N // 2))          # odd ids: outside the run
    slots = dict((4 * i + 2, SlotOwner("foreign%04d" % i, True)) for i in range(N // 4))  # every 4th even id
    hosts = dict(("new%04d" % i, {}) for i in range(N // 4))                    # the 500 ids left
    return dict(hosts=hosts, registry=registry, slots=slots)


def measure(make, rounds):
    times = []
    result = None
    for _round in range(rounds):
        inputs = make()
        start = time.perf_counter()
        result = allocate(inputs["hosts"], registry=inputs["registry"], slots=inputs["slots"])
        times.append(time.perf_counter() - start)
    ids = [r.host_id for r in result.host_ids.values()]
    assert len(ids) == len(set(ids)), "duplicate ids"
    return {"hosts": len(result.host_ids), "best_s": min(times), "median_s": statistics.median(times),
            "rounds": rounds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(REPO / "bench-results" / "host_id.json"))
    args = parser.parse_args()
    results = {
        "first_run_2000_new": measure(scenario_first, args.rounds),
        "steady_2000_existing": measure(scenario_steady, args.rounds),
        "mixed_1000_recorded_500_foreign_slots_500_new": measure(scenario_mixed, args.rounds),
    }
    for name, figures in results.items():
        print("%-48s %5d hosts  best %7.1f ms  median %7.1f ms"
              % (name, figures["hosts"], figures["best_s"] * 1000, figures["median_s"] * 1000))
    report = {"benchmark": "host_id allocator", "limit_s": 1.0, "python": platform.python_version(),
              "machine": platform.machine(), "cpus": os.cpu_count(), "results": results}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("written to %s" % out)
    worst = max(figures["median_s"] for figures in results.values())
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
