# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Can a VM live-migrate between two hosts and keep its disk leases? Read a host, judge a pair, plan a drain.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

With the sanlock lock manager libvirt hands the disk leases over during a
live migration: the source releases them when its CPUs stop, the destination
acquires them when it resumes, under its own host_id, in its own
disk_lease_dir, for the disk paths of the domain XML. That is only safe when:

- both hosts run lock_manager "sanlock" with auto_disk_leases (libvirt refuses
  a migration between different lock managers; without auto leases nothing
  is protected),
- both use the same disk_lease_dir on the same storage: proven by content,
  each host's lockspace record is in the lockspace file the other host reads
  (a path string is no proof: an unmounted share is a local directory),
- both have joined that lockspace (verified by content) with distinct host_ids,
- every disk path of the domain exists on the destination under the same
  string, as the same kind (file, block device, directory): the lease is the
  md5 of the path string, a disk reached by another path gets another lease,
- the domain has at most 8 lockable disks: sanlock holds at most 8 resources
  per process (SANLK_MAX_RESOURCES); libvirt cannot start such a VM with auto
  leases, so it is reported for every VM, migrating or not.

host_info() reads one host (the migration_info module); preflight() judges a
pair; plan() picks a destination per domain (most free memory left, names
breaking ties); group_findings() is the audit's cheap form over all hosts.
Everything but host_info() works on plain data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import stat
from collections import Counter

from ansible_collections.autolease.sanlock.plugins.module_utils import (
    _domains,
    _host_info,
    _join_proof,
    _libvirt_conf,
    _storage_io,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LibvirtError, MissingDependency
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME

MAX_RESOURCES = 8  # sanlock's SANLK_MAX_RESOURCES: leases one process (one QEMU) can hold
MEMINFO = "/proc/meminfo"
RESTART_LIBVIRT = "restart the libvirt daemon there with no VM running (it reads these files only when it starts)"


# Reading one host -------------------------------------------------------------------------------------------------

def path_kind(path):
    """"file", "block", "directory" or "other" for what path leads to (links followed); None when it does not exist.

    Bounded by the storage deadline (StorageTimeout): disk images live on shared storage too.
    """
    def kind():
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return None
        return "file" if stat.S_ISREG(mode) else "block" if stat.S_ISBLK(mode) else \
            "directory" if stat.S_ISDIR(mode) else "other"
    return _storage_io.bounded("checking the disk path", path, kind)


def mem_available_kib(meminfo=MEMINFO):
    """MemAvailable of /proc/meminfo in KiB, or None."""
    try:
        with open(meminfo) as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


_STATES = {1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff", 6: "crashed", 7: "pmsuspended"}


def domains(uri, all_domains=False):
    """name -> {state, active, memory_kib, disks: [{path, target, shared, kind}]} of the active (or all) domains.

    memory_kib is the domain's current memory. LibvirtError when libvirtd does not answer.
    """
    libvirt, conn = _domains.open_libvirt(uri)
    try:
        flags = 0 if all_domains else libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE
        found = {}
        for domain in conn.listAllDomains(flags):
            try:
                state, dummy, memory = domain.info()[:3]
                disks = _domains.disks_of(libvirt, domain)
                found[domain.name()] = {"state": _STATES.get(state, "unknown"), "active": bool(domain.isActive()),
                                        "memory_kib": int(memory), "disks": [
                                            {"path": disk.path, "target": disk.target, "shared": disk.shared,
                                             "kind": path_kind(disk.path)} for disk in disks]}
            except libvirt.libvirtError:
                continue  # undefined or stopped while we listed
        return found
    finally:
        conn.close()


def _own_join(joins, lease_dir):
    """This host's join of the libvirt lockspace in lease_dir: {host_id, path, verified, proof}, or None."""
    wanted = os.path.normpath(os.path.join(lease_dir, LOCKSPACE_NAME))
    for join in joins or []:
        if join["name"] == LOCKSPACE_NAME and join["state"] == "joined" and os.path.normpath(join["path"]) == wanted:
            return dict((key, join[key]) for key in ("host_id", "path", "verified", "proof"))
    return None


def host_info(paths=(), libvirt_uri=_domains.DEFAULT_URI, all_domains=False, qemu_conf=_libvirt_conf.QEMU_CONF,
              qemu_sanlock_conf=_libvirt_conf.QEMU_SANLOCK_CONF, meminfo=MEMINFO, status=_join_proof.daemon_status):
    """What a migration check needs of this host (see the migration_info module's RETURN).

    StorageTimeout when the lease directory or a disk path does not answer within the storage deadline.
    """
    settings = _libvirt_conf.lock_settings(qemu_conf, qemu_sanlock_conf)
    errors = list(settings.pop("errors"))
    lease_dir = settings["disk_lease_dir"]
    if lease_dir:
        _storage_io.probe(lease_dir)
    answers = []

    def asked():
        answers.append(status())
        return answers[-1]
    joins = _join_proof.proven_joins(status=asked)
    daemon = answers[0] if answers else None
    if joins is None:
        errors.append("the local sanlock daemon does not answer (sanlock client status -D): start it "
                      "(systemctl start sanlock)")
    join = _own_join(joins, lease_dir) if lease_dir else None
    info = dict(settings)
    info.update({
        "hostname": socket.gethostname(),
        "owner_name": (daemon or {}).get("our_host_name"),
        "join": join,
        "joined": bool(join and join["verified"]),
        "slots": _host_info.lockspace_slots(lease_dir) if lease_dir else None,
        "domains": None,
        "mem_available_kib": mem_available_kib(meminfo),
        "paths": dict((path, {"exists": kind is not None, "kind": kind})
                      for path, kind in ((path, path_kind(path)) for path in paths)),
        "errors": errors,
    })
    if libvirt_uri:
        try:
            info["domains"] = domains(libvirt_uri, all_domains)
        except (LibvirtError, MissingDependency) as exc:
            errors.append(str(exc))
    return info


# Judging a pair ---------------------------------------------------------------------------------------------------

def name_of(info):
    """The host's name in problems: the 'host' key a caller may add (the inventory name), else its hostname."""
    return info.get("host") or info.get("hostname") or "?"


def _problem(domain, source, destination, reason, fix):
    return {"domain": domain, "source": source, "destination": destination, "reason": reason, "fix": fix}


def effective_host_id(info):
    """The host_id the host's leases carry: its verified join's, else the one in its qemu-sanlock.conf."""
    join = info.get("join") or {}
    return join.get("host_id") if info.get("joined") and join.get("host_id") else info.get("host_id")


def host_problems(info, name, settings_only=False):
    """What keeps any VM from migrating from or to this one host, alone: [(reason, fix)].

    settings_only: only libvirt's settings (the audit reports host_ids and joins as findings of their own).
    """
    found = [("%s: %s" % (name, error), "correct it on %s, then run again" % name) for error in info.get("errors") or []]
    manager = info.get("lock_manager")
    if manager is not None and manager != "sanlock":
        found.append(("lock_manager on %s is %r, not 'sanlock': libvirt refuses a migration between hosts whose lock "
                      "managers differ, and without sanlock no disk lease protects the VM there" % (name, manager),
                      "set lock_manager = \"sanlock\" in /etc/libvirt/qemu.conf on %s, then %s" % (name, RESTART_LIBVIRT)))
    if info.get("auto_disk_leases") is False:
        found.append(("auto_disk_leases is off on %s: libvirt gives its VMs no disk lease" % name,
                      "set auto_disk_leases = 1 in /etc/libvirt/qemu-sanlock.conf on %s, then %s" % (name, RESTART_LIBVIRT)))
    if settings_only:
        return found
    if not effective_host_id(info):
        found.append(("%s has no host_id in /etc/libvirt/qemu-sanlock.conf" % name,
                      "give %s its own host_id (the host_id module allocates one), then %s"
                      % (name, RESTART_LIBVIRT)))
    if not info.get("joined") and info.get("disk_lease_dir"):
        join = info.get("join")
        why = join["proof"] if join else "it has not joined it"
        found.append(("%s's sanlock daemon is not in the lockspace at %s, verified by content (%s): leases it "
                      "acquires are not seen by the other hosts" % (name, info["disk_lease_dir"], why),
                      "mount the shared lease storage at %s on %s; with no VM running there, leave a join that is not "
                      "verified (the lockspace_leave module) and restart its libvirt daemon: it joins when its "
                      "sanlock driver loads" % (info["disk_lease_dir"], name)))
    return found


def _sees(reader, reader_name, owner, owner_name):
    """Why reader's lockspace file does not hold owner's record ("" = it does), i.e. they do not share storage."""
    host_id, sanlock_name = effective_host_id(owner), owner.get("owner_name")
    if not host_id or not sanlock_name:
        return ""  # unknown: reported as a host problem already
    slots = reader.get("slots")
    if slots is None:
        return "%s cannot read a lockspace in %s" % (reader_name, reader.get("disk_lease_dir"))
    slot = slots.get(str(host_id))
    if slot and slot.get("owner_name") == sanlock_name:
        return ""
    return ("the lockspace %s reads in %s has %s at host_id %s, not %s's record (sanlock name %s)"
            % (reader_name, reader.get("disk_lease_dir"),
               "no record" if not slot else "owner %s" % slot.get("owner_name"), host_id, owner_name, sanlock_name))


def pair_problems(source, destination):
    """Problems of a host pair that keep every VM from migrating (domain None)."""
    src, dst = name_of(source), name_of(destination)
    found = [_problem(None, src, dst, reason, fix) for info, name in ((source, src), (destination, dst))
             for reason, fix in host_problems(info, name)]
    src_dir, dst_dir = source.get("disk_lease_dir"), destination.get("disk_lease_dir")
    if src_dir and dst_dir and src_dir != dst_dir:
        found.append(_problem(None, src, dst, "disk_lease_dir differs: %s uses %s, %s uses %s: the destination "
                              "would take the leases in another directory than the source holds them"
                              % (src, src_dir, dst, dst_dir),
                              "set the same disk_lease_dir (the shared lease storage) in /etc/libvirt/"
                              "qemu-sanlock.conf on both hosts, then %s" % RESTART_LIBVIRT))
    src_id, dst_id = effective_host_id(source), effective_host_id(destination)
    if src_id and src_id == dst_id:
        found.append(_problem(None, src, dst, "%s and %s both use host_id %s: sanlock cannot tell their leases apart"
                              % (src, dst, src_id), "give each host its own host_id (the host_id module), then %s" % RESTART_LIBVIRT))
    elif src_dir and src_dir == dst_dir:
        why = [text for text in (_sees(source, src, destination, dst), _sees(destination, dst, source, src)) if text]
        if why:
            found.append(_problem(None, src, dst, "%s and %s do not share the lease storage at %s (checked by content, "
                                  "a path string is no proof): %s" % (src, dst, src_dir, "; ".join(why)),
                                  "mount the same shared lease storage at %s on both hosts, then %s"
                                  % (src_dir, RESTART_LIBVIRT)))
    return found


def disk_limit_problem(domain, disks, source, destination=None):
    """The problem of a domain with more lockable disks than sanlock allows one process, or None."""
    if len(disks) <= MAX_RESOURCES:
        return None
    return _problem(domain, source, destination,
                    "%s has %d lockable disks (read-write, shareable ones included: each takes a sanlock lease); "
                    "sanlock holds at most %d leases per process (SANLK_MAX_RESOURCES), so libvirt cannot start it "
                    "with automatic disk leases, here or on any other host" % (domain, len(disks), MAX_RESOURCES),
                    "give %s at most %d lockable disks: mark installation media and other disks it only reads "
                    "<readonly/>, or merge disks" % (domain, MAX_RESOURCES))


def domain_problems(domain, source, destination):
    """Problems of one domain of source moving to destination (its disks there, its disk count)."""
    src, dst = name_of(source), name_of(destination)
    entry = (source.get("domains") or {}).get(domain)
    if entry is None:
        return [_problem(domain, src, dst, "%s is not a domain %s reported (migration_info lists the running "
                         "domains, or all with all_domains=true)" % (domain, src),
                         "check the name with virsh list --all on %s" % src)]
    found = []
    limit = disk_limit_problem(domain, entry["disks"], src, dst)
    if limit:
        found.append(limit)
    checked = destination.get("paths") or {}
    for disk in entry["disks"]:
        there = checked.get(disk["path"])
        if there is None:
            found.append(_problem(domain, src, dst, "disk %s of %s was not checked on %s" % (disk["path"], domain, dst),
                                  "run the migration_info module on %s with %s in paths" % (dst, disk["path"])))
        elif not there.get("exists"):
            found.append(_problem(domain, src, dst, "disk %s of %s does not exist on %s under that path: the VM cannot "
                                  "run there, and a disk reached by another path gets another lease (the lease is "
                                  "the md5 of the path string)" % (disk["path"], domain, dst),
                                  "make the disk reachable on %s at exactly %s (the same shared storage, the same "
                                  "mount point or /dev/disk/by-id name)" % (dst, disk["path"])))
        elif disk.get("kind") and there.get("kind") != disk["kind"]:
            found.append(_problem(domain, src, dst, "disk %s of %s is a %s on %s but a %s on %s: not the same disk"
                                  % (disk["path"], domain, disk["kind"], src, there.get("kind"), dst),
                                  "make %s on %s the same disk as on %s" % (disk["path"], dst, src)))
    return found


def active_domains(info):
    """Sorted names of the domains the host reported as active (running or paused)."""
    return sorted(name for name, entry in (info.get("domains") or {}).items() if entry.get("active"))


def preflight(source, destination, domains=None):
    """Every problem of migrating domains (default: source's active domains) from source to destination; [] = safe.

    Problems of the host pair have domain None: they keep every domain from migrating.
    """
    names = active_domains(source) if domains is None else list(domains)
    found = pair_problems(source, destination)
    if source.get("domains") is None and names:
        return found  # libvirt did not answer on the source: its error is a pair problem already
    for domain in names:
        found.extend(domain_problems(domain, source, destination))
    return found


def disk_paths(infos):
    """Sorted disk paths of the active domains of all infos (what the other hosts check with paths)."""
    return sorted(set(disk["path"] for info in infos for name, entry in (info.get("domains") or {}).items()
                      if entry.get("active") for disk in entry["disks"]))


# Planning a drain -------------------------------------------------------------------------------------------------

def plan(source, candidates, domains=None):
    """A destination for each domain (default: source's active ones) among candidates (name -> info).

    Largest domains first; each goes to the candidate without problems for it that keeps the most memory
    available after it (MemAvailable minus the domains planned there), the first name on a tie.
    Returns {plan: {domain: destination}, problems: [...]}: the problems of the domains with no destination
    (every candidate's problems for them, and memory too short).
    """
    src = name_of(source)
    if source.get("domains") is None:  # never an empty plan that looks like "nothing to move"
        return {"plan": {}, "problems": [_problem(None, src, None, "the domains of %s are unknown: %s" % (
            src, "; ".join(source.get("errors") or ["migration_info ran with an empty libvirt_uri"])),
            "make libvirt answer on %s (systemctl status libvirtd), then run migration_info again" % src)]}
    names = active_domains(source) if domains is None else sorted(domains)
    hosts = dict((name, dict(info, host=name)) for name, info in (candidates or {}).items() if name != src)
    pair = dict((name, pair_problems(source, info)) for name, info in hosts.items())
    free = dict((name, info.get("mem_available_kib") or 0) for name, info in hosts.items())
    entries = source.get("domains") or {}

    def size(name):
        return (entries.get(name) or {}).get("memory_kib") or 0
    chosen, problems = {}, []
    for domain in sorted(names, key=lambda name: (-size(name), name)):
        found, fitting = [], []
        for host in sorted(hosts):
            mine = [dict(p, domain=domain) for p in pair[host]] + domain_problems(domain, source, hosts[host])
            if mine:
                found.extend(mine)
            elif free[host] < size(domain):
                found.append(_problem(domain, src, host, "%s has %d KiB of memory available (MemAvailable minus the "
                                      "VMs planned there), %s needs %d KiB" % (host, free[host], domain, size(domain)),
                                      "free memory on %s, or add a host" % host))
            else:
                fitting.append(host)
        if not hosts:
            found.append(_problem(domain, src, None, "there is no other host to move %s to" % domain,
                                  "add a host to the candidates"))
        if fitting:
            best = sorted(fitting, key=lambda host: (-(free[host] - size(domain)), host))[0]
            free[best] -= size(domain)
            chosen[domain] = best
        else:
            seen = set()
            for item in found:
                key = (item["domain"], item["destination"], item["reason"])
                if key not in seen:
                    seen.add(key)
                    problems.append(item)
    return {"plan": chosen, "problems": problems}


def _same_disk(disk, there):
    return bool(there and there.get("exists") and (not disk.get("kind") or there.get("kind") == disk["kind"]))


# The audit's form -------------------------------------------------------------------------------------------------

def group_findings(infos):
    """Migration findings over all hosts (name -> info with paths checked), each {host, subject, detail}, and
    warning=True for a disk path missing on other hosts (the VM cannot migrate there; it is still protected).

    Each host is compared with the group, not with every other host: its own settings, its disk_lease_dir
    against the one most hosts use, its domains' disk count; only disk paths are checked per domain per other
    host. Sharing the lease storage, joins and host_ids are the audit's storage, joined and host_id findings.
    """
    found = []
    dirs = Counter(info.get("disk_lease_dir") for info in infos.values() if info.get("disk_lease_dir"))
    common = sorted(dirs.items(), key=lambda item: (-item[1], item[0]))[0][0] if dirs else None
    for name, info in sorted(infos.items()):
        for reason, fix in host_problems(info, name, settings_only=True):
            found.append({"host": name, "subject": "migration settings", "detail": "%s; fix: %s" % (reason, fix)})
        if common and info.get("disk_lease_dir") and info["disk_lease_dir"] != common and len(infos) > 1:
            found.append({"host": name, "subject": "disk_lease_dir", "detail": (
                "%s uses disk_lease_dir %s, the other hosts %s: libvirt takes a migrated VM's leases in another "
                "directory; fix: set disk_lease_dir = \"%s\" in /etc/libvirt/qemu-sanlock.conf, then %s"
                % (name, info["disk_lease_dir"], common, common, RESTART_LIBVIRT))})
        for domain, entry in sorted((info.get("domains") or {}).items()):
            limit = disk_limit_problem(domain, entry["disks"], name)
            if limit:
                found.append({"host": name, "subject": domain,
                              "detail": "%s; fix: %s" % (limit["reason"], limit["fix"])})
            if not entry.get("active"):
                continue
            for disk in entry["disks"]:
                missing = sorted(other for other, there in infos.items() if other != name
                                 and not _same_disk(disk, (there.get("paths") or {}).get(disk["path"])))
                if missing:
                    found.append({"host": name, "subject": "%s: %s" % (domain, disk["path"]), "warning": True, "detail": (
                        "cannot migrate to %s: the disk path does not exist there as the same kind of disk (%s), or "
                        "was not checked; a disk reached by another path gets another lease; fix: make the disk "
                        "reachable at exactly this path on every host it may run on"
                        % (", ".join(missing), disk.get("kind")))})
    return found
