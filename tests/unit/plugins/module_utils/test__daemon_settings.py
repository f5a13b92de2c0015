# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sanlock.conf against the settings a real running daemon uses: what waits for a restart.

The private daemons of ``lease_cluster`` run with ``-w 0`` (no watchdog) and
``-e <host name>``; host-c has joined nothing, host-a has joined a lockspace.
"""

from ansible_collections.autolease.sanlock.plugins.module_utils._daemon_settings import differences, parse_conf

DAEMON = {"our_host_name": "kvm1", "use_watchdog": 1, "max_worker_threads": 8, "uid": 0, "gid": 0,
          "debug_cmds": "0xfffffffffe06ffff"}


def test_parse_conf_keeps_the_last_line_of_a_setting_and_skips_comments():
    text = "# use_watchdog = 0\nuse_watchdog = 0\n\n  max_worker_threads=4  \nuse_watchdog = 1\nbroken line\n"
    assert parse_conf(text) == {"use_watchdog": "1", "max_worker_threads": "4"}


def test_differences_compare_numbers_as_numbers_and_names_as_ids():
    assert differences({"use_watchdog": "1", "max_worker_threads": "08", "our_host_name": "kvm1",
                        "uname": "root", "gname": "root"}, DAEMON) == []
    assert differences({"use_watchdog": "0", "our_host_name": "kvm2", "max_worker_threads": "many"}, DAEMON) == [
        {"setting": "max_worker_threads", "file": "many", "daemon": 8},
        {"setting": "our_host_name", "file": "kvm2", "daemon": "kvm1"},
        {"setting": "use_watchdog", "file": "0", "daemon": 1}]


def test_settings_the_daemon_does_not_print_are_not_compared():
    assert differences({"io_timeout": "5", "watchdog_fire_timeout": "30", "max_sectors_kb": "ignore"}, DAEMON) == []


def test_a_missing_user_never_matches_the_daemons_uid():
    assert differences({"uname": "no-such-user-here"}, DAEMON) == [
        {"setting": "uname", "file": "no-such-user-here", "daemon": 0}]


def test_watchdog_turned_on_in_the_file_is_pending_on_a_daemon_started_without_it(lease_cluster, tmp_path):
    """A real daemon started with -w 0: the file asks for the watchdog, the daemon runs without it."""
    conf = tmp_path / "sanlock.conf"
    conf.write_text("our_host_name = host-c\nuse_watchdog = 1\nmax_worker_threads = 8\n")
    assert lease_cluster.c.call("_daemon_settings.pending_settings", str(conf)) == {
        "ok": [{"setting": "use_watchdog", "file": "1", "daemon": 0}]}


def test_a_joined_daemon_shows_a_changed_host_name_as_pending(lease_cluster, tmp_path):
    conf = tmp_path / "sanlock.conf"
    conf.write_text("our_host_name = kvm-renamed\nuse_watchdog = 0\n")
    assert lease_cluster.a.call("_daemon_settings.pending_settings", str(conf)) == {
        "ok": [{"setting": "our_host_name", "file": "kvm-renamed", "daemon": "host-a"}]}


def test_a_file_that_matches_the_daemon_or_is_missing_has_nothing_pending(lease_cluster, tmp_path):
    conf = tmp_path / "sanlock.conf"
    conf.write_text("our_host_name = host-c\nuse_watchdog = 0\nmax_worker_threads = 8\n")
    assert lease_cluster.c.call("_daemon_settings.pending_settings", str(conf)) == {"ok": []}
    assert lease_cluster.c.call("_daemon_settings.pending_settings", str(tmp_path / "missing.conf")) == {"ok": []}


def test_without_a_daemon_or_a_readable_file_nothing_is_known(lease_cluster, tmp_path):
    conf = tmp_path / "sanlock.conf"
    conf.write_text("use_watchdog = 1\n")
    assert lease_cluster.no_daemon.call("_daemon_settings.pending_settings", str(conf)) == {"ok": None}
    assert lease_cluster.c.call("_daemon_settings.pending_settings", str(tmp_path)) == {"ok": None}
