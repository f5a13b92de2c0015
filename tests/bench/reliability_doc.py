# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerate README.md's Reliability section (between its markers) from the
fault table below and the latest bench-results/*.json.

Usage: .venv/bin/python tests/bench/reliability_doc.py [--check]
--check: exit 1 if README.md is not up to date (writes nothing).
Every test named in the table must exist (the script fails otherwise), so the
table cannot point at a test that was renamed or removed.
"""

import json
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RESULTS = REPO / "bench-results"
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"
UNIT = "tests/unit/plugins/test_faults.py"
LAB = "tests/integration/test_faults.py"

# (row, expected behaviour, tests as path::function)
TABLE = [
    ("host_id 0, 2001, not an integer", "fails before anything is written, naming the host, the value and the "
     "range 1-2000; registry unchanged", [UNIT + "::test_host_id_out_of_range_or_not_integer"]),
    ("host_id duplicated", "fails naming the id and both hosts; registry unchanged; no host touched",
     [UNIT + "::test_host_id_duplicated",
      "tests/integration/test_host_id_lab.py::test_duplicate_explicit_id_fails_before_any_host_is_touched"]),
    ("lease_dir missing", "every module fails: `lease_dir ... does not exist`, with the fix; nothing created",
     [UNIT + "::test_lease_dir_missing"]),
    ("lease_dir not a directory", "fails: `... is not a directory`; the file is untouched",
     [UNIT + "::test_lease_dir_not_a_directory"]),
    ("lease_dir not writable (read-only mount)", "lease creation fails naming the directory; cleanup removes "
     "nothing; every file unchanged",
     [UNIT + "::test_lease_dir_not_writable_create", UNIT + "::test_lease_dir_not_writable_cleanup"]),
    ("lease_dir not mounted", "cleanup refuses (`not mounted`, names the mount fix); the audit reports "
     "`not a mount point`", [LAB + "::test_lease_dir_not_mounted_is_reported_by_the_audit",
                             LAB + "::test_storage_unmounted_between_two_runs"]),
    ("non-lease files, truncated and zero-filled leases, symlinks pointing outside, a lease of another lockspace",
     "skipped, each with its reason; nothing deleted or rewritten; symlink targets untouched",
     [UNIT + "::test_odd_entries_are_skipped_with_reasons_and_kept",
      "tests/unit/plugins/module_utils/test__lease_file.py::test_inspect_names_what_is_wrong"]),
    ("sanlock daemon stopped", "fails: names `systemctl start sanlock`; nothing changed",
     [UNIT + "::test_sanlock_daemon_stopped", LAB + "::test_sanlock_daemon_stopped_on_a_host"]),
    ("lockspace not joined", "fails: names the `sanlock client add_lockspace` command and the libvirtd restart",
     [UNIT + "::test_lockspace_not_joined"]),
    ("libvirtd stopped", "`lease domains=all` fails: `cannot connect to libvirtd ... start libvirtd`; cleanup "
     "still works and keeps the leases held elsewhere", [LAB + "::test_libvirtd_stopped"]),
    ("storage unmounted between two runs", "first run normal; second run (check and real) refused: "
     "`holds no lockspace file ... not mounted`; no lease lost", [LAB + "::test_storage_unmounted_between_two_runs"]),
    ("two cleanups at once on one host", "the second fails at once naming the first one's pid; the first "
     "completes; held leases kept", [UNIT + "::test_two_cleanups_at_once_on_one_host"]),
    ("cleanups on every host while VMs start, stop, pause, resume and hosts race for one disk",
     "no running VM's lease removed or unheld; no disk in two running VMs; at most one racer wins; every "
     "refusal is the lease error", ["tests/integration/test_chaos.py::test_cleanups_racing_vm_life_cycles_lose_no_lease"]),
]

BENCH_ORDER = ["cleanup", "create", "first_vm", "rerun", "host_id"]


def _check_tests():
    missing = []
    for dummy_row, dummy_expected, tests in TABLE:
        for test in tests:
            path, func = test.split("::")
            source = (REPO / path).read_text() if (REPO / path).exists() else ""
            if not re.search(r"^def %s\(" % re.escape(func), source, re.M):
                missing.append(test)
    if missing:
        sys.exit("reliability table names tests that do not exist: %s" % ", ".join(missing))


def _fault_table():
    lines = ["| row | expected behaviour | test |", "| --- | --- | --- |"]
    for row, expected, tests in TABLE:
        links = "<br>".join("[`%s`](%s)" % tuple(reversed(t.split("::"))) for t in tests)
        lines.append("| %s | %s | %s |" % (row, expected, links))
    return lines


def _results():
    reports = {}
    for path in sorted(RESULTS.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        if "rows" in data:
            reports[data["benchmark"]] = data
    if not reports:
        return ["No results yet: run `make bench`."]
    lines = ["| case | ours (s) | compared with | its time (s) | ratio |", "| --- | ---: | --- | ---: | ---: |"]
    envs = []
    for name in sorted(reports, key=lambda n: BENCH_ORDER.index(n) if n in BENCH_ORDER else 99):
        data = reports[name]
        for row in data["rows"]:
            ratio = "%.2fx" % row["ratio"] if row.get("ratio") else "-"
            lines.append("| %s | %.2f | %s | %.2f | %s |" % (row["case"], row["ours_s"], row["stock"],
                                                             row["stock_s"], ratio))
        env = data["environment"]
        envs.append("%s %s" % (name, env["date"]))
    env = next(iter(reports.values()))["environment"]
    lines += ["", "Ratio: the other time divided by ours (how many times faster ours is); for the site.yml re-run, "
              "site.yml divided by the facts-only playbook.",
              "Measured on %d CPUs, kernel %s, sanlock %s, libvirt %s, Python %s, 1-minute load %.1f at start "
              "(a shared build machine: timings vary with the load; correctness checks are asserted, timings "
              "never). Dates: %s." % (env["cpus"], env["kernel"], env["sanlock"], env["libvirt"], env["python"],
                                      env.get("loadavg_1m_at_start", 0.0), "; ".join(envs))]
    targets = []
    if "first_vm" in reports:
        secs = reports["first_vm"]["rows"][0]["ours_s"]
        targets.append("first VM start within 2 s of the rollout: %.2f s, %s" % (secs, "met" if secs <= 2 else "NOT met"))
    rerun = reports.get("rerun")
    if rerun:
        ratio = rerun["rows"][0]["ratio"]
        targets.append("idempotent re-run at most 2x a facts-only run: %.1fx, %s" % (ratio, "met" if ratio <= 2 else "NOT met"))
    if targets:
        lines += ["", "Targets (issue 7): " + "; ".join(targets) + "."]
    if rerun:
        slow = rerun["rows"][0]["checks"].get("slowest_tasks", [])[:5]
        if slow:
            lines += ["", "Slowest tasks of the site.yml re-run (ansible.posix.profile_tasks): "
                      + "; ".join("%s %.1f s" % (t["task"], t["seconds"]) for t in slow) + "."]
    return lines


def render():
    _check_tests()
    body = ["", "Every row of the table is a test that fails if the behaviour changes: a clear error naming the "
            "bad value and the fix, or a safe, reported skip, and in every row nothing is lost (lease files "
            "and held leases still there).", ""] + _fault_table() + [
        "", "### Benchmarks", "", "`make bench` (select with `make bench BENCH=\"cleanup create\"`; results in "
        "`bench-results/*.json` with the environment); `make reliability-doc` rewrites this section.", ""] \
        + _results() + [""]
    return "\n".join(body)


def main(argv):
    text = README.read_text()
    if START not in text or END not in text:
        text = text.rstrip("\n") + "\n\n## Reliability\n\n%s\n%s\n" % (START, END)
    head, rest = text.split(START, 1)
    dummy, tail = rest.split(END, 1)
    new = head + START + "\n" + render() + END + tail
    if "--check" in argv:
        if new != README.read_text():
            print("README.md's Reliability section is out of date: run `make reliability-doc`")
            return 1
        return 0
    README.write_text(new)
    print("README.md Reliability section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
