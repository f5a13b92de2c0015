# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerate the Reliability section of docs/DEVELOPING.md (between its
markers) from the fault table below and the latest bench-results/*.json.

Usage: .venv/bin/python tests/bench/reliability_doc.py [--check]
--check: exit 1 if docs/DEVELOPING.md is not up to date (writes nothing).
Every test named in the table must exist (the script fails otherwise), so the
table cannot point at a test that was renamed or removed.
"""

import json
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "DEVELOPING.md"
# Links on the page are relative to its own directory.
LINK_PREFIX = "../"
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
    # issue 11: protection silently lost
    ("libvirtd started before the lease storage was mounted (boot order)", "the libvirt daemon cannot start while "
     "the storage is not mounted (RequiresMountsFor drop-in); the directory under the mount is root:root 0000, "
     "stays empty, and is repaired on re-runs",
     ["tests/integration/test_join_lab.py::test_libvirtd_does_not_start_without_the_lease_storage",
      "tests/integration/test_join_lab.py::test_a_host_rebooted_with_the_storage_unavailable_does_not_start_libvirtd",
      "tests/unit/plugins/module_utils/test__host_info.py::test_mounts_read_the_directory_under_the_mount_without_touching_it"]),
    ("a VM on a local lockspace hidden under the mounted storage (joined before the mount)", "the join is not "
     "verified by content (the file at the path lacks the daemon's latest renewal): site.yml fails naming the host "
     "and the fix, the audit reports it; with no VM left the next run leaves the hidden lockspace and rejoins",
     ["tests/integration/test_join_lab.py::test_a_vm_on_a_hidden_local_lockspace_fails_the_rollout_and_the_audit",
      "tests/unit/plugins/module_utils/test__join_proof.py::test_a_join_whose_file_was_replaced_under_the_daemon_is_not_verified"]),
    ("stale join of the lockspace (hidden file, old lease_dir or host_id)", "left only when no lease is held in it "
     "(check mode reports it); with leases held it fails naming the join and the fix, and leaves nothing",
     ["tests/unit/plugins/module_utils/test__join_proof.py::test_lockspace_leave_leaves_a_stale_join_check_mode_first",
      "tests/unit/plugins/module_utils/test__join_proof.py::test_lockspace_leave_refuses_while_a_lease_is_held_and_leaves_nothing"]),
    ("the storage mounted over a lockspace the daemon joined in the bare directory (switch from local mode, "
     "libvirt started first)", "the daemon leaves that lockspace before the mount; with a VM holding a lease "
     "there site.yml fails before mounting, naming the fix",
     ["tests/integration/test_join_lab.py::test_the_storage_is_not_mounted_over_a_lockspace_in_use"]),
    ("host_id_force_change on a joined host with no VM", "the host leaves the lockspace and joins with the new id "
     "(verified by content); with VMs running the change is refused before the registry is written",
     ["tests/integration/test_join_lab.py::test_a_forced_host_id_change_leaves_the_lockspace_and_joins_with_the_new_id",
      "tests/integration/test_host_id_lab.py::test_id_change_under_a_running_vm_is_refused"]),
    ("shared_storage_src changed", "the new volume is mounted (the old one unmounted after leaving its lockspace) "
     "and joined; with a VM holding a lease on the old one the run fails and nothing is unmounted",
     ["tests/integration/test_storage_source_lab.py::test_a_changed_source_is_mounted_and_checked",
      "tests/integration/test_storage_source_lab.py::test_a_source_change_under_a_running_vm_is_refused"]),
    ("a hand edit of a managed file, a stopped unit, a changed setting, a package upgrade or new collection code "
     "on a host whose role recorded a receipt", "the receipt differs: the role runs its whole change task list, "
     "printing why (\"Show why ...\"); check mode reports it without changing it; the next run skips again",
     ["tests/integration/test_drift_lab.py::test_drift_is_reported_in_check_mode_and_repaired",
      "tests/unit/plugins/modules/test_receipt.py::test_a_hand_edit_a_mode_change_and_a_removal_are_drift",
      "tests/unit/plugins/modules/test_receipt.py::test_a_join_lost_is_drift"]),
    ("the fast path and the change tasks disagree (a gap in a receipt)", "autolease_full_converge=true runs every "
     "change task on a lab in state: any change fails CI",
     ["tests/integration/test_drift_lab.py::test_full_converge_on_a_lab_in_state_runs_every_change_task_and_changes_nothing"]),
    ("a sanlock restart still pending (marker in /run)", "no receipt is recorded and the marker is watched: every run "
     "retries the restart until it is done, and reports it pending meanwhile",
     ["tests/integration/test_pending_lab.py::test_a_postponed_restart_done_by_hand_since_is_forgotten_and_one_still_due_is_reported"]),
    ("a host crashes (power cut: sanlock and qemu die)", "recover.yml refuses at once with the earliest time "
     "(8 io_timeout + watchdog_fire_timeout after the last renewal seen); peers see FAIL then DEAD within sanlock's "
     "windows (the audit's liveness table); at DEAD the VM starts on a survivor with its lease under that host's "
     "id; the same disk elsewhere is refused; the host boots again and does not start it, and loses its stale "
     "definition",
     ["tests/integration/test_recover_lab.py::test_a_crashed_host_s_vm_starts_elsewhere_when_sanlock_allows_and_never_before",
      "tests/unit/plugins/module_utils/test__recover.py::test_a_host_not_dead_for_every_survivor_is_refused_with_the_longest_wait"]),
    ("a host hangs (its sanlock stopped, its qemu still running)", "the audit shows it FAIL or DEAD (and does not "
     "hang on its daemon); recover.yml refuses while the reachable host still runs the VM's qemu, naming it",
     ["tests/integration/test_recover_lab.py::test_a_hung_host_still_running_its_vm_is_refused",
      "tests/unit/plugins/module_utils/test__recover.py::test_a_reachable_host_still_running_the_qemu_is_hung_not_dead"]),
    ("a VM is live-migrated between hosts", "the source releases the lease when its CPUs stop, the destination "
     "acquires it on resume under its own host_id (daemon and lease owner on storage checked at each step); the "
     "same disk on a third host is refused meanwhile",
     ["tests/integration/test_migration_lab.py::test_the_lease_follows_the_vm_lab1_to_lab2_and_back_and_a_third_host_is_refused"]),
    ("a migration to a host without the lock manager", "libvirt 9.0 accepts it and runs the VM without a lease "
     "(recorded); the collection's preflight refuses it and maintenance.yml changes nothing",
     ["tests/integration/test_migration_lab.py::test_libvirt_migrates_to_a_host_without_the_lock_manager_and_the_vm_runs_there_unprotected",
      "tests/integration/test_maintenance_lab.py::test_the_preflight_refuses_a_destination_without_the_lock_manager"]),
    ("a VM left paused between two hosts while a third starts its disk", "libvirt's resume acquires without the "
     "lease version it received: not detected (recorded, documented); maintenance.yml never leaves VMs paused",
     ["tests/integration/test_migration_lab.py::test_the_destination_does_not_check_the_lease_version_it_received"]),
    ("host maintenance: sanlock restart on every host, VMs running", "maintenance.yml drains each host in turn, "
     "restarts sanlock, rejoins, waits for LIVE from every peer, brings the VMs back: no cold VM start, nothing "
     "pending; a VM that cannot move (local disk) stops the run before any change",
     ["tests/integration/test_maintenance_lab.py::test_a_rolling_maintenance_restarts_sanlock_everywhere_with_no_vm_restart",
      "tests/integration/test_maintenance_lab.py::test_the_maintenance_refuses_and_changes_nothing_when_a_vm_cannot_move"]),
    ("cleanup: another host's daemon opened a lease file before the cleanup deleted it",
     "the lease is cleared on storage while held, before the delete: acquiring the deleted file fails with -223 "
     "(Lease does not exist on storage), also after the cleanup host's daemon restarts",
     ["tests/unit/plugins/module_utils/test__cleanup.py::test_a_daemon_that_opened_the_lease_before_the_unlink_cannot_acquire_the_deleted_file"]),
    ("cleanup: the lease file is replaced at its path while the cleanup holds the old one",
     "the new file is not deleted (skipped: replaced during removal) and stays a valid free lease",
     ["tests/unit/plugins/module_utils/test__cleanup.py::test_a_lease_file_replaced_while_the_cleanup_holds_the_old_one_is_not_deleted"]),
    ("cleanup: two cleanups on two hosts at once (cron plus an ad hoc run)",
     "the second fails at once naming the cluster-wide cleanup lock and the host_id holding it; no lease lost",
     ["tests/unit/plugins/module_utils/test__cleanup.py::test_a_second_cleanup_on_another_host_fails_naming_the_cluster_wide_lock",
      "tests/integration/test_chaos.py::test_cleanups_racing_vm_life_cycles_lose_no_lease"]),
    ("cleanup: the cluster-wide lock file __AUTOLEASE_CLEANUP__",
     "check mode creates nothing; never removed, never listed as a lease, orphan or invalid entry; a symlink or "
     "broken file there stops the cleanup naming it and the fix",
     ["tests/unit/plugins/module_utils/test__cleanup.py::test_the_cluster_wide_cleanup_lock_is_the_collections_own_file",
      "tests/unit/plugins/module_utils/test__cleanup.py::test_a_cluster_wide_lock_that_is_not_a_regular_file_stops_the_cleanup",
      "tests/unit/plugins/module_utils/test__cleanup.py::test_a_broken_cluster_wide_lock_file_stops_the_cleanup_with_the_fix"]),
    ("cleanup racing VM life cycles: leases on deleted files",
     "no sanlock daemon holds, or has open, a deleted lease file after any round",
     ["tests/unit/plugins/module_utils/test__cleanup.py::test_the_deleted_lease_check_finds_leases_on_deleted_files",
      "tests/integration/test_chaos.py::test_cleanups_racing_vm_life_cycles_lose_no_lease"]),
    ("cleanup_schedule under site.yml --limit on another host", "the cleanup host comes from the inventory group "
     "(first host, sorted), not from the play: exactly one host has the cron job",
     ["tests/unit/roles/cleanup_schedule/test_autolease_sanlock_cleanup.py::test_designated_host_is_the_same_under_limit",
      "tests/integration/test_roles_lab.py::test_a_limited_run_on_another_host_leaves_one_cleaner"]),
    ("cleanup_schedule_host moved, or a new host sorting first rolled out alone, while the old cleaner is outside "
     "the play (--limit)", "fails before any change, naming the old host (recorded on the lease storage in "
     "autolease.sanlock/cleanup-host and in /etc/autolease-sanlock/cleanup.json) and the fix",
     ["tests/unit/roles/cleanup_schedule/test_autolease_sanlock_cleanup.py::test_moving_the_job_away_from_a_host_outside_the_play_is_refused",
      "tests/unit/roles/cleanup_schedule/test_autolease_sanlock_cleanup.py::test_a_new_first_host_limited_alone_sees_the_designation_on_the_lease_storage"]),
    ("'%' in the lease directory or a keep path", "the cron line is the script alone; the settings reach the job "
     "whole through a root-owned 0600 JSON file: the kept lease stays, the orphan goes",
     ["tests/unit/roles/cleanup_schedule/test_autolease_sanlock_cleanup.py::test_cron_line_holds_no_user_data_and_settings_keep_percent_signs",
      "tests/unit/roles/cleanup_schedule/test_autolease_sanlock_cleanup.py::test_job_cleans_a_lease_dir_with_percent_and_keeps_a_path_with_percent"]),
    ("cron cleanup hung on the lease storage", "once the hung run is older than cleanup_schedule_stale_after, a "
     "later run exits 3 and logs an error (syslog and stderr) naming the pid and start time",
     ["tests/unit/roles/cleanup_schedule/test_autolease_sanlock_cleanup.py::test_run_hung_on_the_storage_makes_later_runs_fail_loudly"]),
    ("cleanup job settings file missing or broken", "the job exits 2 naming the file and the fix; nothing cleaned",
     ["tests/unit/roles/cleanup_schedule/test_autolease_sanlock_cleanup.py::test_broken_settings_exit_2_naming_the_file"]),
    ("keep entry empty or a relative path", "lease_cleanup fails naming keep, the value and 'lease name (32 hex "
     "digits) or absolute disk path'; nothing removed",
     [UNIT + "::test_bad_option_values_fail_cleanly_naming_option_value_and_range",
      "tests/unit/plugins/module_utils/test__options.py::test_keep_accepts_lease_names_and_absolute_paths_only"]),
    ("workers 0, negative or above 64; liveness_interval 0 or negative; io_timeout outside 0-300; relative paths",
     "the module fails up front naming the option, the value and the accepted range; no sleep, nothing written",
     [UNIT + "::test_bad_option_values_fail_cleanly_naming_option_value_and_range",
      "tests/unit/plugins/module_utils/test__options.py::test_range_refuses_outside_naming_option_value_and_range"]),
    ("sanlock acquire -244 OWNED, -245 OTHER, -247 OWNED_RETRY (and -243 IDLIVE)", "counted as held by another "
     "host: never removed, never an error",
     [UNIT + "::test_owned_elsewhere_codes_count_as_held", UNIT + "::test_held_by_a_live_host_is_reported_held_for_real"]),
    ("symlink planted at the registry lock, registry or registry directory", "host_id fails naming the path and "
     "the fix; the link's target untouched",
     [UNIT + "::test_host_id_refuses_a_planted_symlink_at_the_registry_lock",
      "tests/unit/plugins/module_utils/test__registry.py::test_planted_symlink_at_the_lock_path_is_refused_and_its_target_untouched",
      "tests/unit/plugins/module_utils/test__registry.py::test_registry_directory_replaced_by_a_symlink_is_refused"]),
    ("registry files of another owner or group/world-writable", "host_id fails naming the path, the owner or mode "
     "and the chown/chmod fix",
     [UNIT + "::test_host_id_refuses_a_registry_directory_of_another_user",
      "tests/unit/plugins/module_utils/test__registry.py::test_wrong_owner_is_refused_naming_the_path_and_the_fix"]),
    ("registry at the old location (lease_dir/autolease-host-ids.json)", "read; moved into the root-owned "
     "subdirectory by the next real run, no entry lost; then no change",
     [UNIT + "::test_host_id_migrates_a_registry_at_the_old_location_check_real_check_real"]),
    ("lockspace still being added (sanlock client gets: ADD)", "the audit reports the host as not joined ('still "
     "being added'), never as joined",
     ["tests/unit/plugins/module_utils/test__audit.py::test_lockspace_still_being_added_is_not_joined",
      "tests/unit/plugins/module_utils/test__audit.py::test_membership_of_a_real_daemon_during_and_after_the_add"]),
    ("paused VM", "the audit lists it as information 'paused: leases released'; strict audit passes",
     ["tests/unit/plugins/module_utils/test__audit.py::test_paused_vm_is_reported_paused_leases_released_not_as_a_failure"]),
    ("host_id pins \"07\" and 7 on two hosts", "site.yml's preflight fails naming both hosts",
     ["tests/unit/test_site_preflight.py::test_pins_07_and_7_are_one_id_in_the_site_preflight",
      UNIT + "::test_host_id_pins_07_and_7_are_one_id"]),
    ("a collection used but not declared in galaxy.yml", "a unit test fails naming the collection and the file",
     ["tests/unit/test_galaxy.py::test_every_collection_the_content_uses_is_declared"]),
    ("lease storage hangs (hard NFS mount whose server is gone)",
     "host_info, lease_info, lease_cleanup, lease and host_id fail within storage_timeout (default 30 s), naming the "
     "host, the path and the mount, with the fix; a hang is never reported as unknown; playbook tasks are also killed "
     "after autolease_task_timeout (default 600 s)",
     ["tests/unit/plugins/modules/test_storage_timeout.py::test_module_on_hung_lease_dir_fails_within_the_deadline_naming_host_and_mount",
      "tests/unit/plugins/module_utils/test__lockspace.py::test_read_slots_on_hung_storage_gives_up_at_the_deadline_naming_the_path",
      "tests/unit/plugins/module_utils/test__host_info.py::test_readers_of_a_hung_lease_dir_fail_at_the_deadline_instead_of_answering_unknown",
      "tests/unit/plugins/module_utils/test__join_proof.py::test_a_join_on_hung_storage_fails_instead_of_hanging"]),
    ("host_id registry lock held by another run, or on hung storage",
     "host_id waits at most lock_timeout (default 120 s), then fails naming the lock file and the holder's host and "
     "pid; on hung storage the registry read or update fails within storage_timeout",
     ["tests/unit/plugins/module_utils/test__registry.py::test_lock_held_by_another_process_is_a_bounded_wait_naming_the_lock_and_its_holder",
      "tests/unit/plugins/module_utils/test__registry.py::test_registry_on_hung_storage_fails_at_the_deadline"]),
    ("storage_timeout or lock_timeout out of range", "fails before anything runs, naming the option, the value and "
     "the range 1-3600",
     ["tests/unit/plugins/modules/test_storage_timeout.py::test_bad_storage_timeout_fails_with_the_range",
      "tests/unit/plugins/modules/test_storage_timeout.py::test_host_id_refuses_a_bad_lock_timeout"]),
    ("sanlock.conf changed while the daemon is joined (restart refused)", "the site.yml summary shows "
     "restart_pending per host with each setting's file and daemon value and the fix; audit.yml warns; "
     "autolease_strict_restart=true fails the host",
     ["tests/unit/plugins/module_utils/test__daemon_settings.py::test_watchdog_turned_on_in_the_file_is_pending_on_a_daemon_started_without_it",
      "tests/unit/plugins/module_utils/test__audit.py::test_pending_sanlock_settings_are_a_warning_naming_the_difference_and_the_fix",
      "tests/integration/test_pending_lab.py::test_a_sanlock_setting_the_daemon_does_not_use_is_reported_and_fails_under_strict"]),
    ("a postponed sanlock restart later done by hand", "the role forgets its marker (the daemon's pid changed) "
     "instead of reporting restart pending forever; a restart still due is reported",
     ["tests/integration/test_pending_lab.py::test_a_postponed_restart_done_by_hand_since_is_forgotten_and_one_still_due_is_reported"]),
    ("VMs already running at the first rollout (not registered with sanlock)", "named in the site.yml summary as "
     "unprotected_vms with the fix (restart or live-migrate); an audit.yml failure",
     ["tests/unit/plugins/module_utils/test__unprotected_vms.py::test_a_running_vm_not_registered_with_sanlock_is_unprotected",
      "tests/unit/plugins/module_utils/test__audit.py::test_a_running_vm_unknown_to_sanlock_is_a_failure_naming_it_and_the_fix",
      "tests/integration/test_pending_lab.py::test_a_running_vm_sanlock_does_not_know_is_named_in_the_summary_and_the_audit"]),
    ("virsh fails while VMs run, and a host_id change is asked", "the libvirt role refuses, counting the QEMU pid "
     "files and naming them; qemu-sanlock.conf unchanged",
     ["tests/integration/test_pending_lab.py::test_the_libvirt_guard_counts_qemu_pid_files_when_virsh_fails"]),
]

BENCH_ORDER = ["cleanup", "create", "first_vm", "rerun", "host_id", "recover", "migrate"]


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
        links = "<br>".join("[`%s`](%s%s)" % (t.split("::")[1], LINK_PREFIX, t.split("::")[0]) for t in tests)
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


def fault_section():
    """The page's fault table alone (the benchmark part needs bench-results/)."""
    _check_tests()
    return "\n".join(_fault_table())


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
    text = DOC.read_text()
    if START not in text or END not in text:
        text = text.rstrip("\n") + "\n\n## Reliability\n\n%s\n%s\n" % (START, END)
    head, rest = text.split(START, 1)
    dummy, tail = rest.split(END, 1)
    new = head + START + "\n" + render() + END + tail
    if "--check" in argv:
        if new != DOC.read_text():
            print("docs/DEVELOPING.md's Reliability section is out of date: run `make reliability-doc`")
            return 1
        return 0
    DOC.write_text(new)
    print("docs/DEVELOPING.md Reliability section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
