# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_libvirt_conf: libvirt's qemu.conf and qemu-sanlock.conf read as libvirt reads them (real files in tmp dirs)."""

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _libvirt_conf

# The stock Debian qemu.conf comments everything out; the lab image adds cgroup_controllers as a list.
STOCK_QEMU = """# Master configuration file for the QEMU driver.
#
# lock_manager = "lockd"
#
cgroup_controllers = [ ]
#cgroup_device_acl = [
#    "/dev/null", "/dev/full", "/dev/zero",
#]
"""

SANLOCK = """#
# auto_disk_leases = 1
auto_disk_leases = 1
disk_lease_dir = "/srv/leases"   # inline comments are fine for libvirt's own parser
host_id = 7
user = "sanlock"
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_commented_out_lock_manager_is_none_and_unset_sanlock_settings_take_libvirts_defaults(tmp_path):
    got = _libvirt_conf.lock_settings(write(tmp_path, "qemu.conf", STOCK_QEMU),
                                      write(tmp_path, "qemu-sanlock.conf", "# nothing set\n"))
    assert got == {"lock_manager": "none", "disk_lease_dir": "/var/lib/libvirt/sanlock", "auto_disk_leases": False,
                   "host_id": None, "errors": []}


def test_set_values_with_inline_comments_and_missing_files(tmp_path):
    qemu = write(tmp_path, "qemu.conf", STOCK_QEMU + 'lock_manager = "sanlock"\n')
    got = _libvirt_conf.lock_settings(qemu, write(tmp_path, "qemu-sanlock.conf", SANLOCK))
    assert got == {"lock_manager": "sanlock", "disk_lease_dir": "/srv/leases", "auto_disk_leases": True,
                   "host_id": 7, "errors": []}
    # Missing files: libvirt's defaults, no error (a host without the sanlock plugin).
    got = _libvirt_conf.lock_settings(str(tmp_path / "none.conf"), str(tmp_path / "none2.conf"))
    assert got["lock_manager"] == "none" and got["auto_disk_leases"] is False and got["errors"] == []


def test_first_entry_of_a_setting_wins_as_in_libvirt(tmp_path):
    settings = _libvirt_conf.parse('lock_manager = "sanlock"\nlock_manager = "lockd"\nhost_id = 3; user = "x"\n')
    assert settings == {"lock_manager": "sanlock", "host_id": 3, "user": "x"}


def test_values_strings_numbers_lists_over_lines():
    text = ("a = 'single'\nb = \"\"\"tri\nple\"\"\"\nc = -5\nd = [ \"x\",\n  # a comment in the list\n \"y\", ]\n"
            "e = []\n")
    assert _libvirt_conf.parse(text) == {"a": "single", "b": "tri\nple", "c": -5, "d": ["x", "y"], "e": []}


@pytest.mark.parametrize("text, why", [
    ('lock_manager = "sanlock\n', "line 1: unterminated string (setting lock_manager)"),
    ("host_id = one\n", "line 1: expecting a value (setting host_id)"),
    ("\n\nd = [ 1 2 ]\n", "line 3: expecting a separator in list (setting d)"),
    ('lock_manager "sanlock"\n', "line 1: expecting a name = value entry"),
    ('host_id = 1 2\n', "line 1: expecting a line end after the value of host_id"),
])
def test_what_libvirt_rejects_is_an_error_naming_the_line(text, why):
    with pytest.raises(ValueError) as err:
        _libvirt_conf.parse(text)
    assert str(err.value) == why


def test_unreadable_or_broken_files_are_errors_naming_the_file(tmp_path):
    broken = write(tmp_path, "qemu.conf", 'lock_manager = "sanlock\n')
    sanlock = write(tmp_path, "qemu-sanlock.conf", 'host_id = "7"\ndisk_lease_dir = 5\n')
    got = _libvirt_conf.lock_settings(broken, sanlock)
    assert got["lock_manager"] is None and got["host_id"] is None and got["disk_lease_dir"] is None
    assert got["errors"] == [
        "%s: line 1: unterminated string (setting lock_manager); libvirt refuses the file as well: correct it" % broken,
        "%s: disk_lease_dir = 5 is not a quoted string as libvirt expects; correct it" % sanlock,
        "%s: host_id = '7' is not a number as libvirt expects; correct it" % sanlock]
    directory = str(tmp_path)
    assert _libvirt_conf.read(directory)["error"].startswith("cannot read %s: " % directory)
