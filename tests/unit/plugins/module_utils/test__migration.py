# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_migration on plain data: the pair checks, the drain plan and the audit's group findings.

What migration_info reads on real hosts is tested in tests/unit/plugins/modules/test_migration_info.py; here
each info is written out as that module returns it, for three hosts kvm1-kvm3 (host_ids 1-3) sharing one
lockspace, so each check can be turned on alone.
"""

import copy

from ansible_collections.autolease.sanlock.plugins.module_utils import _migration

LEASES = "/var/lib/libvirt/sanlock"
SLOTS = dict((str(i), {"owner_name": "kvm%d" % i, "generation": 1}) for i in (1, 2, 3))


def disk(path, kind="file", shared=False):
    return {"path": path, "target": "vda", "shared": shared, "kind": kind}


def info(i, domains=None, paths=None, mem=4 * 1024 * 1024):
    return {"hostname": "kvm%d.example.org" % i, "lock_manager": "sanlock", "disk_lease_dir": LEASES,
            "auto_disk_leases": True, "host_id": i, "owner_name": "kvm%d" % i,
            "join": {"host_id": i, "path": LEASES + "/__LIBVIRT__DISKS__", "verified": True, "proof": "p"},
            "joined": True, "slots": copy.deepcopy(SLOTS), "domains": domains or {}, "mem_available_kib": mem,
            "paths": paths or {}, "errors": []}


def vm(memory, *disks, active=True):
    return {"state": "running" if active else "shutoff", "active": active, "memory_kib": memory, "disks": list(disks)}


def seen(*paths, kind="file"):
    return dict((path, {"exists": True, "kind": kind}) for path in paths)


def cluster():
    """kvm1 runs web (1 GiB) and db (2 GiB) on shared files; kvm2 and kvm3 see both disks."""
    source = info(1, {"web": vm(1048576, disk("/images/web.img")), "db": vm(2097152, disk("/images/db.img")),
                      "old": vm(512, disk("/images/old.img"), active=False)})
    paths = seen("/images/web.img", "/images/db.img")
    return {"kvm1": source, "kvm2": info(2, paths=paths), "kvm3": info(3, paths=paths)}


def reasons(problems):
    return [p["reason"] for p in problems]


def test_a_clean_pair_has_no_problem_and_only_active_domains_are_checked():
    hosts = cluster()
    assert _migration.preflight(hosts["kvm1"], hosts["kvm2"]) == []
    # "old" is defined, not running: only checked when named (its disk was not checked on kvm2).
    assert reasons(_migration.preflight(hosts["kvm1"], hosts["kvm2"], ["old"])) == [
        "disk /images/old.img of old was not checked on kvm2.example.org"]
    assert reasons(_migration.preflight(hosts["kvm1"], hosts["kvm2"], ["nope"])) == [
        "nope is not a domain kvm1.example.org reported (migration_info lists the running domains, or all with "
        "all_domains=true)"]


def test_each_pair_check_alone():
    hosts = cluster()
    src = dict(hosts["kvm1"], host="kvm1")

    def only(change, **dst_changes):
        dst = dict(hosts["kvm2"], host="kvm2", **dst_changes)
        change(dst)
        problems = _migration.preflight(src, dst)
        assert all(p["domain"] is None and p["source"] == "kvm1" and p["destination"] == "kvm2" for p in problems)
        return problems

    def nothing(dst):
        return None
    got = only(nothing, lock_manager="none")
    assert reasons(got) == ["lock_manager on kvm2 is 'none', not 'sanlock': libvirt refuses a migration between "
                            "hosts whose lock managers differ, and without sanlock no disk lease protects the VM there"]
    assert got[0]["fix"].startswith('set lock_manager = "sanlock" in /etc/libvirt/qemu.conf on kvm2')
    assert reasons(only(nothing, auto_disk_leases=False)) == [
        "auto_disk_leases is off on kvm2: libvirt gives its VMs no disk lease"]
    got = only(nothing, joined=False, join=None)
    assert reasons(got) == ["kvm2's sanlock daemon is not in the lockspace at %s, verified by content (it has not "
                            "joined it): leases it acquires are not seen by the other hosts" % LEASES]
    got = only(nothing, joined=False, join=dict(hosts["kvm2"]["join"], verified=False, proof="slot 2 is free"))
    assert "(slot 2 is free)" in got[0]["reason"]
    got = only(nothing, disk_lease_dir="/srv/leases")
    assert reasons(got) == ["disk_lease_dir differs: kvm1 uses %s, kvm2 uses /srv/leases: the destination would "
                            "take the leases in another directory than the source holds them" % LEASES]
    got = only(nothing, host_id=1, join=dict(hosts["kvm2"]["join"], host_id=1))
    assert reasons(got) == ["kvm1 and kvm2 both use host_id 1: sanlock cannot tell their leases apart"]
    got = only(nothing, host_id=None, joined=False, join=None)
    assert reasons(got)[0] == "kvm2 has no host_id in /etc/libvirt/qemu-sanlock.conf"
    got = only(nothing, errors=["cannot read /etc/libvirt/qemu.conf: denied"])
    assert reasons(got) == ["kvm2: cannot read /etc/libvirt/qemu.conf: denied"]


def test_the_same_path_string_on_other_storage_is_found_by_content():
    hosts = cluster()
    other = dict(hosts["kvm2"], host="kvm2", slots={"2": {"owner_name": "kvm2", "generation": 5}})
    got = _migration.preflight(dict(hosts["kvm1"], host="kvm1"), other)
    assert reasons(got) == [
        "kvm1 and kvm2 do not share the lease storage at %s (checked by content, a path string is no proof): the "
        "lockspace kvm2 reads in %s has no record at host_id 1, not kvm1's record (sanlock name kvm1)"
        % (LEASES, LEASES)]
    # A record of another owner at the host_id (a host renamed, or a stale copy of the lockspace).
    stale = dict(hosts["kvm2"], host="kvm2", slots=dict(SLOTS, **{"1": {"owner_name": "old", "generation": 1}}))
    assert "has owner old at host_id 1, not kvm1's record" in reasons(
        _migration.preflight(dict(hosts["kvm1"], host="kvm1"), stale))[0]
    unreadable = dict(hosts["kvm2"], host="kvm2", slots=None)
    assert "kvm2 cannot read a lockspace in %s" % LEASES in reasons(
        _migration.preflight(dict(hosts["kvm1"], host="kvm1"), unreadable))[0]


def test_disk_paths_missing_or_of_another_kind_and_the_disk_limit():
    hosts = cluster()
    dst = dict(hosts["kvm2"], paths={"/images/web.img": {"exists": False, "kind": None},
                                     "/images/db.img": {"exists": True, "kind": "block"}})
    got = _migration.preflight(hosts["kvm1"], dst)
    assert [(p["domain"], p["reason"].split(":")[0]) for p in got] == [
        ("db", "disk /images/db.img of db is a file on kvm1.example.org but a block on kvm2.example.org"),
        ("web", "disk /images/web.img of web does not exist on kvm2.example.org under that path")]
    nine = dict(hosts["kvm1"], domains={"big": vm(1, *[disk("/images/%d.img" % i) for i in range(8)],
                                                  disk("/images/shared.img", shared=True))})
    paths = seen(*_migration.disk_paths([nine]))
    got = _migration.preflight(nine, dict(hosts["kvm2"], paths=paths))
    assert len(got) == 1 and got[0]["domain"] == "big" and got[0]["reason"].startswith(
        "big has 9 lockable disks (read-write, shareable ones included: each takes a sanlock lease); sanlock holds "
        "at most 8 leases per process (SANLK_MAX_RESOURCES)")
    eight = dict(hosts["kvm1"], domains={"big": vm(1, *[disk("/images/%d.img" % i) for i in range(8)])})
    assert _migration.preflight(eight, dict(hosts["kvm2"], paths=paths)) == []


def test_disk_paths_are_the_active_domains_disks_sorted_once():
    hosts = cluster()
    assert _migration.disk_paths(hosts.values()) == ["/images/db.img", "/images/web.img"]
    assert _migration.disk_paths([dict(hosts["kvm1"], domains=None)]) == []


def test_plan_spreads_largest_first_to_the_most_memory_left_and_is_deterministic():
    hosts = cluster()
    hosts["kvm2"]["mem_available_kib"] = 3 * 1048576
    hosts["kvm3"]["mem_available_kib"] = 3 * 1048576
    want = {"plan": {"db": "kvm2", "web": "kvm3"}, "problems": []}  # db first (larger), tie -> kvm2 by name
    assert _migration.plan(hosts["kvm1"], hosts) == want
    assert _migration.plan(hosts["kvm1"], dict(reversed(list(hosts.items())))) == want
    hosts["kvm3"]["mem_available_kib"] = 8 * 1048576
    assert _migration.plan(hosts["kvm1"], hosts)["plan"] == {"db": "kvm3", "web": "kvm3"}


def test_plan_honours_the_preflight_and_memory():
    hosts = cluster()
    hosts["kvm3"]["lock_manager"] = "none"
    hosts["kvm2"]["mem_available_kib"] = 1048576 + 512
    got = _migration.plan(dict(hosts["kvm1"], host="kvm1"), hosts)
    # db (2 GiB) fits nowhere: kvm3 refuses any migration, kvm2 has too little memory; web then fits on kvm2.
    assert got["plan"] == {"web": "kvm2"}
    assert [(p["domain"], p["destination"], p["reason"].split(":")[0]) for p in got["problems"]] == [
        ("db", "kvm2", "kvm2 has 1049088 KiB of memory available (MemAvailable minus the VMs planned there), db "
                       "needs 2097152 KiB"),
        ("db", "kvm3", "lock_manager on kvm3 is 'none', not 'sanlock'")]
    alone = _migration.plan(dict(hosts["kvm1"], host="kvm1"), {"kvm1": hosts["kvm1"]})
    assert alone["plan"] == {} and reasons(alone["problems"]) == [
        "there is no other host to move db to", "there is no other host to move web to"]


def test_group_findings_compare_each_host_with_the_group():
    hosts = cluster()
    assert _migration.group_findings(hosts) == []
    hosts["kvm3"]["lock_manager"] = "none"
    hosts["kvm3"]["joined"] = False  # reported by the audit's joined findings, not again here
    hosts["kvm2"]["disk_lease_dir"] = "/srv/leases"
    hosts["kvm2"]["paths"] = seen("/images/db.img")
    hosts["kvm2"]["domains"] = {"big": vm(1, *[disk("/big/%d.img" % i) for i in range(9)], active=False)}
    got = _migration.group_findings(hosts)
    assert [(f["host"], f["subject"], f["detail"].split(":")[0]) for f in got] == [
        ("kvm1", "web: /images/web.img", "cannot migrate to kvm2"),
        ("kvm2", "disk_lease_dir", "kvm2 uses disk_lease_dir /srv/leases, the other hosts %s" % LEASES),
        ("kvm2", "big", "big has 9 lockable disks (read-write, shareable ones included"),
        ("kvm3", "migration settings", "lock_manager on kvm3 is 'none', not 'sanlock'")]
    assert all("fix: " in f["detail"] for f in got)


def test_plan_without_the_sources_domains_is_a_problem_not_an_empty_plan():
    hosts = cluster()
    source = dict(hosts["kvm1"], host="kvm1", domains=None, errors=["cannot connect to libvirtd at qemu:///system"])
    got = _migration.plan(source, hosts)
    assert got["plan"] == {} and [(p["domain"], p["reason"]) for p in got["problems"]] == [
        (None, "the domains of kvm1 are unknown: cannot connect to libvirtd at qemu:///system")]
