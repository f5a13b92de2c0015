# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings of sanlock.conf that the running sanlock daemon does not use yet (a restart is pending).

PRIVATE to the autolease.sanlock collection: no compatibility promise.

The sanlock daemon reads sanlock.conf only when it starts, and it refuses to
stop while it has joined a lockspace: a changed file (the watchdog turned on,
another our_host_name...) waits for a restart that only a host without VMs can
take. The running daemon prints its settings under ``daemon`` in
``sanlock client status -D``; a setting counts as pending when the file sets
it and the daemon runs with another value. Settings the daemon does not print
(io_timeout, watchdog_fire_timeout, max_sectors_kb...) cannot be compared and
are left out. A daemon option on its command line (e.g. ``-w 0``) wins over
the file: such a difference stays until the option goes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import pwd

from ansible_collections.autolease.sanlock.plugins.module_utils import _join_proof

SANLOCK_CONF = "/etc/sanlock/sanlock.conf"

# sanlock.conf names a user and a group; the daemon prints their ids.
_BY_ID = {"uname": ("uid", lambda name: pwd.getpwnam(name).pw_uid),
          "gname": ("gid", lambda name: grp.getgrnam(name).gr_gid)}


def parse_conf(text):
    """setting -> value (text) of sanlock.conf: `name = value` lines, '#' comments; a later line wins."""
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip():
            settings[key.strip()] = value.strip()
    return settings


def read_conf(path=SANLOCK_CONF):
    """The settings of the file at path ({} when it does not exist), or None when it cannot be read."""
    try:
        with open(path) as handle:
            return parse_conf(handle.read())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError):
        return None


def _as_daemon_prints(key, value, running):
    """(daemon field, file value as the daemon would print it); field None when the daemon does not print it."""
    if key in _BY_ID:
        field, lookup = _BY_ID[key]
        try:
            return field, lookup(value)
        except KeyError:
            return field, value  # no such user or group: never equal to a numeric id
    if key not in running:
        return None, value
    if isinstance(running[key], int):
        try:
            return key, int(value)
        except ValueError:
            return key, value
    return key, value


def differences(conf, daemon):
    """[{setting, file, daemon}] for each setting of conf (parse_conf) that daemon (its status fields) runs
    with another value, sorted by setting."""
    pending = []
    for key, value in sorted(conf.items()):
        field, wanted = _as_daemon_prints(key, value, daemon)
        if field is None or field not in daemon:
            continue
        if wanted != daemon[field]:
            pending.append({"setting": key, "file": value, "daemon": daemon[field]})
    return pending


def pending_settings(conf_path=SANLOCK_CONF, status=_join_proof.daemon_status):
    """differences() between the file at conf_path and the running daemon; None when either cannot be read."""
    conf = read_conf(conf_path)
    running = status()
    if conf is None or running is None or not running.get("daemon"):
        return None
    return differences(conf, running["daemon"])
