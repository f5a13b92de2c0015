# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters state_differences, state_unread, state_unshared and host_ids_settled (plugins/filter/state.py).

state_differences compares a host_state result with the state a role wants
(one message per difference, [] when in state); state_unread names what the
host_state run did not read; state_unshared proves (or not) that the hosts
share one lockspace file; host_ids_settled says whether the host_id
allocation can be skipped. The last test renders all four through the real
ansible-core templating, so the FilterModule registration is exercised.
"""

import copy
import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.filter.state import (
    FilterModule,
    host_ids_settled,
    lockspace_join,
    state_differences,
    state_unread,
    state_unshared,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
CONF = "/etc/sanlock/sanlock.conf"
LEASES = "/var/lib/libvirt/sanlock"
LOCKSPACE = LEASES + "/__LIBVIRT__DISKS__"
CONF_TEXT = "# sanlock\nuse_watchdog = 0\nour_host_name = kvm1\nuse_watchdog = 1\n"


def host_state():
    """A host_state result of a host in the wanted state (WANTED below)."""
    return {
        "files": {
            CONF: {"exists": True, "type": "file", "owner": "root", "group": "root", "mode": "0644",
                   "sha256": "x", "content": CONF_TEXT},
            LEASES: {"exists": True, "type": "directory", "owner": "sanlock", "group": "sanlock", "mode": "0775"},
            "/etc/obsolete.conf": {"exists": False},
        },
        "mounts": {LEASES: {"source": "nfs:/export", "fstype": "nfs4", "options": "rw"}},
        "packages": ["libvirt-daemon", "sanlock"],
        "units": {"sanlock.service": {"enabled": "enabled", "active": "active"},
                  "wdmd.service": {"enabled": "enabled", "active": "active"}},
        "users": {"sanlock": ["disk", "qemu", "sanlock"]},
        "groups": ["disk", "qemu", "sanlock"],
        "kernel_modules": ["softdog", "nfs"],
        "selinux_booleans": {"virt_use_nfs": True, "virt_use_sanlock": False},
        "lockspaces": [{"name": "__LIBVIRT__DISKS__", "host_id": 1, "path": LOCKSPACE}],
    }


WANTED = {
    "packages": ["sanlock", "libvirt-daemon"],
    "files": {
        CONF: {"owner": "root", "group": "root", "mode": "0644", "content": CONF_TEXT,
               "lines": [{"regexp": r"^\s*use_watchdog\s*=", "line": "use_watchdog = 1"},
                         {"regexp": r"^our_host_name", "line": "our_host_name = kvm1"}]},
        LEASES: {"type": "directory", "owner": "sanlock", "group": "sanlock", "mode": "0775"},
        "/etc/obsolete.conf": {"exists": False},
    },
    "mounts": {LEASES: {"fstype": "nfs4"}},
    "units": {"sanlock.service": {"enabled": "enabled", "active": "active"}, "wdmd.service": {"active": "active"}},
    "users": {"sanlock": {"groups": ["disk", "qemu"]}},
    "kernel_modules": ["softdog"],
    "selinux_booleans": {"virt_use_nfs": True, "virt_use_sanlock": False},
    "lockspaces": [{"name": "__LIBVIRT__DISKS__", "host_id": 1}],
}


def differ(state=None, **wanted):
    """state_differences for a single wanted section (or WANTED when none given)."""
    return state_differences(host_state() if state is None else state, wanted or WANTED)


# state_differences: in state


def test_every_section_in_state_is_an_empty_list():
    assert differ() == []


def test_an_empty_wanted_state_has_no_difference_even_for_an_unknown_host():
    assert state_differences(host_state(), {}) == []
    assert state_differences(None, {}) == []


@pytest.mark.parametrize("want_mode,have_mode", [("644", "0644"), ("0644", "644"), (0o644, "0644"), ("00644", "0644")])
def test_mode_is_compared_numerically(want_mode, have_mode):
    state = host_state()
    state["files"][CONF]["mode"] = have_mode
    assert differ(state, files={CONF: {"mode": want_mode}}) == []


def test_an_integer_mode_is_the_mode_itself_as_for_ansible_builtin_file():
    # An unquoted YAML 0644 arrives as 420 (0o644); an unquoted 644 is decimal 644, another mode.
    state = host_state()
    state["files"][CONF]["mode"] = "0644"
    assert differ(state, files={CONF: {"mode": 420}}) == []
    assert differ(state, files={CONF: {"mode": 644}}) == ["%s: mode is 0644, wanted 644" % CONF]


# state_differences: one message per difference


def test_missing_packages_are_named_in_one_message():
    state = host_state()
    state["packages"] = ["sanlock"]
    assert differ(state, packages=["sanlock", "libvirt-daemon", "wdmd"]) == [
        "packages not installed: libvirt-daemon, wdmd"]


def test_packages_none_means_every_package_is_missing():
    state = host_state()
    state["packages"] = None
    assert differ(state, packages=["sanlock", "libvirt-daemon"]) == ["packages not installed: sanlock, libvirt-daemon"]


@pytest.mark.parametrize("attr,wanted,message", [
    ("owner", "sanlock", CONF + ": owner is root, wanted sanlock"),
    ("group", "qemu", CONF + ": group is root, wanted qemu"),
    ("mode", "0600", CONF + ": mode is 0644, wanted 0600"),
    ("content", "other\n", CONF + ": content differs"),
])
def test_one_file_attribute_differs(attr, wanted, message):
    assert differ(files={CONF: {attr: wanted}}) == [message]


def test_several_file_attributes_give_one_message_each():
    found = differ(files={CONF: {"owner": "sanlock", "group": "sanlock", "mode": "0640"}})
    assert found == [CONF + ": owner is root, wanted sanlock", CONF + ": group is root, wanted sanlock",
                     CONF + ": mode is 0644, wanted 0640"]


def test_missing_file_and_wrong_type():
    state = host_state()
    state["files"][CONF] = {"exists": False}
    assert differ(state, files={CONF: {"mode": "0644"}}) == [CONF + " is missing"]
    # A path the state did not read at all is missing too.
    assert differ(files={"/etc/unread": {}}) == ["/etc/unread is missing"]
    assert differ(files={LEASES: {"mode": "0775"}}) == [LEASES + " is a directory, wanted a file"]
    assert differ(files={CONF: {"type": "directory"}}) == [CONF + " is a file, wanted a directory"]


def test_exists_false():
    assert differ(files={CONF: {"exists": False}}) == [CONF + " exists, wanted absent"]
    assert differ(files={"/etc/obsolete.conf": {"exists": False}, "/etc/unread": {"exists": False}}) == []


def test_lines_the_last_matching_line_must_be_the_wanted_line():
    # CONF_TEXT has "use_watchdog = 0" and then "use_watchdog = 1": lineinfile edits the last match.
    good = {"regexp": r"^\s*use_watchdog\s*=", "line": "use_watchdog = 1"}
    assert differ(files={CONF: {"lines": [good]}}) == []
    state = host_state()
    state["files"][CONF]["content"] = "use_watchdog = 1\nuse_watchdog = 0\n"
    assert differ(state, files={CONF: {"lines": [good]}}) == [
        CONF + ": use_watchdog = 1 wanted, found use_watchdog = 0"]


def test_lines_without_a_match_are_a_difference():
    line = {"regexp": r"^max_worker_threads\s*=", "line": "max_worker_threads = 8"}
    assert differ(files={CONF: {"lines": [line]}}) == [CONF + ": max_worker_threads = 8 wanted, found none"]
    # A file whose content was not returned (too large) has no matching line either.
    state = host_state()
    del state["files"][CONF]["content"]
    assert differ(state, files={CONF: {"lines": [line]}}) == [CONF + ": max_worker_threads = 8 wanted, found none"]


def test_lines_regexp_is_a_search_not_a_full_match():
    line = {"regexp": "host_name", "line": "our_host_name = kvm1"}
    assert differ(files={CONF: {"lines": [line]}}) == []


def test_mount_point_missing_or_of_another_type():
    state = host_state()
    state["mounts"] = {LEASES: {"source": "/dev/sdb", "fstype": "ext4", "options": "rw"}}
    assert differ(state, mounts={LEASES: {"fstype": "nfs4"}}) == [LEASES + " is mounted as ext4, wanted nfs4"]
    assert differ(state, mounts={LEASES: {}}) == []
    assert differ(state, mounts={"/srv": {}}) == ["/srv is not a mount point"]
    state["mounts"] = None
    assert differ(state, mounts={LEASES: {}}) == [LEASES + " is not a mount point"]


def test_units_name_the_unit_and_the_wanted_state():
    state = host_state()
    state["units"]["sanlock.service"] = {"enabled": "disabled", "active": "inactive"}
    assert differ(state, units={"sanlock.service": {"enabled": "enabled", "active": "active"}}) == [
        "sanlock.service is disabled, wanted enabled", "sanlock.service is inactive, wanted active"]


def test_unknown_units_are_a_difference():
    state = host_state()
    state["units"]["wdmd.service"] = None  # systemctl show did not know it
    assert differ(state, units={"wdmd.service": {"active": "active"}}) == ["wdmd.service is unknown, wanted active"]
    state["units"] = None  # no systemd
    assert differ(state, units={"sanlock.service": {"enabled": "enabled"}}) == [
        "sanlock.service is unknown, wanted enabled"]


def test_users_missing_or_lacking_groups():
    state = host_state()
    state["users"]["qemu"] = None
    assert differ(state, users={"qemu": {"groups": ["sanlock"]}}) == ["user qemu is missing"]
    assert differ(state, users={"nobody-here": {}}) == ["user nobody-here is missing"]
    assert differ(state, users={"sanlock": {"groups": ["disk", "kvm", "libvirt"]}}) == [
        "user sanlock is not in the groups kvm, libvirt"]


def test_kernel_modules_not_loaded():
    assert differ(kernel_modules=["softdog", "iTCO_wdt"]) == ["kernel module iTCO_wdt is not loaded"]
    state = host_state()
    state["kernel_modules"] = None
    assert differ(state, kernel_modules=["softdog"]) == ["kernel module softdog is not loaded"]


def test_selinux_booleans():
    assert differ(selinux_booleans={"virt_use_nfs": False, "virt_use_sanlock": True}) == [
        "SELinux boolean virt_use_nfs is not off", "SELinux boolean virt_use_sanlock is not on"]
    state = host_state()
    state["selinux_booleans"] = None  # no SELinux tools: unknown is not in state
    assert differ(state, selinux_booleans={"virt_use_nfs": True}) == ["SELinux boolean virt_use_nfs is not on"]


def test_lockspaces_must_match_every_given_key():
    assert differ(lockspaces=[{"name": "__LIBVIRT__DISKS__", "host_id": 1, "path": LOCKSPACE}]) == []
    assert differ(lockspaces=[{"name": "__LIBVIRT__DISKS__", "host_id": 2}]) == [
        "sanlock has not joined host_id=2, name=__LIBVIRT__DISKS__"]
    state = host_state()
    state["lockspaces"] = None  # daemon did not answer
    assert differ(state, lockspaces=[{"name": "__LIBVIRT__DISKS__"}]) == [
        "sanlock has not joined name=__LIBVIRT__DISKS__"]


def test_differences_of_all_sections_at_once_and_input_untouched():
    state = host_state()
    state["packages"].remove("sanlock")
    state["files"][CONF]["mode"] = "0600"
    state["units"]["sanlock.service"]["active"] = "failed"
    before, wanted = copy.deepcopy(state), copy.deepcopy(WANTED)
    assert state_differences(state, WANTED) == [
        "packages not installed: sanlock", CONF + ": mode is 0600, wanted 0644",
        "sanlock.service is failed, wanted active"]
    assert state == before and WANTED == wanted


# state_differences: bad input


@pytest.mark.parametrize("wanted,named", [
    ({"pakages": ["sanlock"]}, "pakages"),
    ({"files": {}, "service": {}}, "service"),
    (["packages"], "packages"),
    ("packages", "packages"),
    (None, "None"),
])
def test_bad_wanted_is_a_filter_error_naming_it(wanted, named):
    with pytest.raises(AnsibleFilterError, match="state_differences") as err:
        state_differences(host_state(), wanted)
    assert named in str(err.value)


@pytest.mark.parametrize("mode", ["rw-r--r--", "0999", "u=rw", ""])
def test_bad_mode_is_a_filter_error(mode):
    with pytest.raises(AnsibleFilterError, match="state_differences: mode") as err:
        differ(files={CONF: {"mode": mode}})
    assert repr(mode) in str(err.value)


# state_unread


def test_unread_lists_paths_units_and_users_not_read():
    state = host_state()
    read = {"paths": [CONF, "/etc/libvirt/qemu.conf"], "units": ["sanlock.service", "libvirtd.service"],
            "users": ["sanlock", "qemu"]}
    assert state_unread(state, read) == ["/etc/libvirt/qemu.conf", "libvirtd.service", "qemu"]


def test_unread_is_empty_when_everything_was_read():
    assert state_unread(host_state(), {"paths": [CONF, LEASES], "units": ["wdmd.service"], "users": ["sanlock"]}) == []
    assert state_unread(host_state(), {}) == []
    assert state_unread(host_state(), None) == []


def test_unread_is_everything_without_a_state_or_a_section():
    read = {"paths": [CONF], "units": ["sanlock.service"], "users": ["sanlock"]}
    assert state_unread({}, read) == [CONF, "sanlock.service", "sanlock"]
    assert state_unread(None, read) == [CONF, "sanlock.service", "sanlock"]
    state = host_state()
    state["units"] = None
    assert state_unread(state, read) == ["sanlock.service"]


# state_unshared


def slots(*host_ids):
    return dict((str(i), {"owner_name": "kvm%d" % i, "generation": 10 + i}) for i in host_ids)


def shared_states():
    """Three hosts that joined the same lockspace with ids 1-3 and read the same slots."""
    return dict(("kvm%d" % i, {"lease_dir": LEASES, "slots": slots(1, 2, 3),
                               "lockspaces": [{"name": "__LIBVIRT__DISKS__", "host_id": i, "path": LOCKSPACE,
                                               "verified": True}]})
                for i in (1, 2, 3))


def test_unshared_is_empty_for_hosts_that_share_the_lockspace():
    assert state_unshared(shared_states(), LOCKSPACE) == []


def test_unshared_ignores_slots_of_hosts_outside_the_play():
    states = shared_states()
    for state in states.values():
        state["slots"]["7"] = {"owner_name": "kvm7", "generation": 3}
    states["kvm1"]["slots"]["7"]["generation"] = 4  # differs, but host_id 7 is none of these hosts
    assert state_unshared(states, LOCKSPACE) == []


def test_unshared_names_a_host_that_has_not_joined():
    states = shared_states()
    states["kvm2"]["lockspaces"] = []
    assert state_unshared(states, LOCKSPACE) == ["kvm2 has not joined " + LOCKSPACE]
    states["kvm2"]["lockspaces"] = None  # daemon did not answer
    assert state_unshared(states, LOCKSPACE) == ["kvm2 has not joined " + LOCKSPACE]
    # Joined another lockspace file only.
    states["kvm2"]["lockspaces"] = [{"name": "__LIBVIRT__DISKS__", "host_id": 2, "path": "/srv/__LIBVIRT__DISKS__"}]
    assert state_unshared(states, LOCKSPACE) == ["kvm2 has not joined " + LOCKSPACE]


def test_unshared_names_a_host_whose_join_is_not_verified_by_content():
    # kvm2 joined before the storage was mounted: its daemon renews a hidden local file, and the slot it
    # reads at the path is a stale one of its own, so the slot views agree; only the content proof tells.
    states = shared_states()
    states["kvm2"]["lockspaces"][0].update(verified=False, proof="slot 2 ... renews another file")
    assert state_unshared(states, LOCKSPACE) == [
        "kvm2: sanlock's join of %s is not verified: slot 2 ... renews another file" % LOCKSPACE]


def test_unshared_names_a_host_with_a_private_copy():
    # kvm3's lease directory is local: its daemon writes only its own slot there.
    states = shared_states()
    states["kvm3"]["slots"] = slots(3)
    for state in ("kvm1", "kvm2"):
        del states[state]["slots"]["3"]
    found = state_unshared(states, LOCKSPACE)
    assert found == ["kvm1 and kvm3 read different slots in " + LOCKSPACE]


def test_unshared_names_a_host_reading_a_stale_copy():
    states = shared_states()
    states["kvm2"]["slots"]["1"]["generation"] = 5  # an old copy of kvm1's slot
    assert state_unshared(states, LOCKSPACE) == ["kvm1 and kvm2 read different slots in " + LOCKSPACE]


def test_unshared_names_a_host_not_seeing_its_own_slot():
    states = shared_states()
    del states["kvm1"]["slots"]["1"]
    assert state_unshared(states, LOCKSPACE) == ["kvm1 does not see its own slot 1 in " + LOCKSPACE]
    states["kvm1"]["slots"] = None
    assert state_unshared(states, LOCKSPACE) == ["kvm1 does not see its own slot 1 in " + LOCKSPACE]


def test_unshared_two_hosts_with_one_host_id():
    states = shared_states()
    states["kvm3"]["lockspaces"][0]["host_id"] = 2
    found = state_unshared(states, LOCKSPACE)
    assert len(found) == 1 and "one host_id" in found[0] and LOCKSPACE in found[0]
    assert "('kvm2', '2')" in found[0] and "('kvm3', '2')" in found[0]


def test_unshared_names_a_host_whose_lease_dir_differs():
    states = shared_states()
    states["kvm2"]["lease_dir"] = "/srv/leases"
    assert state_unshared(states, LOCKSPACE) == ["kvm2: the slots read are not those of " + LOCKSPACE]
    states["kvm2"]["lease_dir"] = None  # host_state run without lease_dir
    assert state_unshared(states, LOCKSPACE) == ["kvm2: the slots read are not those of " + LOCKSPACE]
    states["kvm2"] = None
    assert state_unshared(states, LOCKSPACE) == ["kvm2: the slots read are not those of " + LOCKSPACE]


# host_ids_settled


def facts(**ids):
    return dict((host, {"explicit": None, "existing": host_id, "joined": True}) for host, host_id in ids.items())


def test_settled_when_every_host_runs_with_its_registered_id():
    registry = {"kvm1": 1, "kvm2": 2, "retired": 5}
    assert host_ids_settled(facts(kvm1=1, kvm2=2), registry) == {"kvm1": 1, "kvm2": 2}
    # Values as strings (local facts, extra vars) and a matching pin.
    pinned = {"kvm1": {"explicit": "1", "existing": "1", "joined": True}}
    assert host_ids_settled(pinned, registry) == {"kvm1": 1}


def test_not_settled_when_a_host_has_not_joined():
    found = facts(kvm1=1, kvm2=2)
    found["kvm2"]["joined"] = False
    assert host_ids_settled(found, {"kvm1": 1, "kvm2": 2}) is None
    found["kvm2"] = {"explicit": None, "existing": None, "joined": False}  # a new host
    assert host_ids_settled(found, {"kvm1": 1}) is None


def test_not_settled_when_the_registry_disagrees():
    assert host_ids_settled(facts(kvm1=1, kvm2=2), {"kvm1": 1, "kvm2": 3}) is None
    assert host_ids_settled(facts(kvm1=1, kvm2=2), {"kvm1": 1}) is None


def test_not_settled_when_a_pin_differs():
    found = facts(kvm1=1, kvm2=2)
    found["kvm2"]["explicit"] = 4
    assert host_ids_settled(found, {"kvm1": 1, "kvm2": 2}) is None


def test_not_settled_without_a_registry_or_facts():
    assert host_ids_settled(facts(kvm1=1), None) is None
    assert host_ids_settled({}, {"kvm1": 1}) is None
    assert host_ids_settled(None, {"kvm1": 1}) is None


def test_not_settled_with_duplicate_ids():
    assert host_ids_settled(facts(kvm1=1), {"kvm1": 1, "old": 1}) is None
    assert host_ids_settled(facts(kvm1=1, kvm2=1), {"kvm1": 1, "kvm2": 1}) is None


# Registration and real templating


def test_registered_under_their_names():
    assert FilterModule().filters() == {"state_differences": state_differences, "state_unread": state_unread,
                                        "state_unshared": state_unshared, "host_ids_settled": host_ids_settled,
                                        "lockspace_join": lockspace_join}


def ansible_debug(tmp_path, expr, extra_vars):
    """Render expr with `ansible localhost -m debug` (json callback); return (msg, the task's host result)."""
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                           "-e", "@" + str(vars_file), "-m", "ansible.builtin.debug", "-a", "msg=" + expr],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    try:
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("ansible printed no result: %s %s" % (proc.stdout, proc.stderr))
    return result.get("msg"), result


def test_through_ansible_templating(tmp_path):
    state = host_state()
    state["units"]["sanlock.service"]["active"] = "inactive"
    expr = ("{{ {'differences': state | autolease.sanlock.state_differences(wanted),"
            " 'unread': state | autolease.sanlock.state_unread({'paths': ['/etc/x', '" + CONF + "']}),"
            " 'unshared': states | autolease.sanlock.state_unshared('" + LOCKSPACE + "'),"
            " 'settled': facts | autolease.sanlock.host_ids_settled({'kvm1': 1, 'kvm2': 2})} }}")
    msg, result = ansible_debug(tmp_path, expr, {"state": state, "wanted": WANTED, "states": shared_states(),
                                                 "facts": facts(kvm1=1, kvm2=2)})
    assert msg == {"differences": ["sanlock.service is inactive, wanted active"], "unread": ["/etc/x"],
                   "unshared": [], "settled": {"kvm1": 1, "kvm2": 2}}, result


def test_filter_error_through_ansible_templating(tmp_path):
    msg, result = ansible_debug(tmp_path, "{{ {} | autolease.sanlock.state_differences({'pakages': []}) }}", {})
    assert result.get("failed") is True and "pakages" in result["msg"], result


def test_fields_lines_compare_field_by_field_like_ansible_posix_mount():
    state = host_state()
    state["files"]["/etc/fstab"] = {"exists": True, "type": "file", "content": "srv:/x\t/var/lib/libvirt/sanlock  nfs rw 0 0\n"}
    line = {"regexp": r"^\s*[^#\s]\S*\s+/var/lib/libvirt/sanlock\s", "line": "srv:/x /var/lib/libvirt/sanlock nfs rw 0 0"}
    assert differ(state, files={"/etc/fstab": {"lines": [dict(line, fields=True)]}}) == []
    assert differ(state, files={"/etc/fstab": {"lines": [line]}}) != []
    other = dict(line, fields=True, line="srv:/x /var/lib/libvirt/sanlock nfs ro 0 0")
    assert differ(state, files={"/etc/fstab": {"lines": [other]}}) != []


@pytest.mark.parametrize("have,ok", [("enabled", True), ("static", True), ("enabled-runtime", True), ("alias", True),
                                     ("disabled", False), ("masked", False), ("", False)])
def test_enabled_is_met_by_the_states_systemctl_is_enabled_accepts(have, ok):
    state = {"units": {"wdmd.service": {"enabled": have, "active": "active"}}}
    found = state_differences(state, {"units": {"wdmd.service": {"enabled": "enabled", "active": "active"}}})
    assert (found == []) is ok, found


# lockspace_join


def test_lockspace_join_picks_the_verified_join_at_the_lease_directory():
    stale = {"name": "__LIBVIRT__DISKS__", "host_id": 2, "path": LOCKSPACE, "verified": False, "proof": "p"}
    good = dict(stale, verified=True)
    assert lockspace_join({"lockspaces": [stale, good]}, LEASES + "/") == good
    assert lockspace_join({"lockspaces": [stale]}, LEASES) == stale
    assert lockspace_join({"lockspaces": [dict(good, path="/other/__LIBVIRT__DISKS__")]}, LEASES) == {}
    assert lockspace_join({"lockspaces": None}, LEASES) == {}


def test_the_directory_under_a_mount_must_be_as_wanted():
    state = {"mounts": {LEASES: {"source": "nfs:/x", "fstype": "nfs4", "underneath": "0:0:0"}}}
    assert state_differences(state, {"mounts": {LEASES: {"underneath": "0:0:0"}}}) == []
    state["mounts"][LEASES]["underneath"] = "101:102:775"
    assert state_differences(state, {"mounts": {LEASES: {"underneath": "0:0:0"}}}) == [
        "the directory under the mount on %s is 101:102:775 (uid:gid:mode), wanted 0:0:0" % LEASES]
