# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The domain definitions of every host, kept on the shared lease storage.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

When a host is gone, the hosts that share its lease storage still need its
domain definitions to start its VMs elsewhere. Each host therefore exports
every domain defined on it to
``<lease_dir>/autolease.sanlock/domains/<host>/<domain name>.xml``:
persistent domains as ``virsh dumpxml --inactive --security-info`` prints
them, transient (running, never defined) ones with their live definition.
Files of domains no longer defined on the host are removed.

Where it lives: in the collection's root-owned directory beside the leases
(``autolease.sanlock``, mode 0755, created as the host_id registry's
(_registry) with O_NOFOLLOW), so that the sanlock user and group, who may
write the lease directory, cannot replace anything in it, and the lease
cleanup and lease_info skip it as the collection's own entry. ``domains`` and
each host's directory are root 0700, the files root 0600: with
``--security-info`` a definition may hold passwords (VNC, SPICE, iSCSI).

Plan, then write: the plan compares what libvirt defines with what the store
holds (content, owner and mode); the write puts each file in place
atomically (temporary file in the same directory, fsync, rename, fsync of the
directory), so a reader never sees a partial file under a final name. Every
access of the storage has the deadline of _storage_io (StorageTimeout when
it hangs); libvirt is asked outside of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import hashlib
import os
import stat
from typing import Any, Dict, List, Optional

from ansible_collections.autolease.sanlock.plugins.module_utils import _registry, _storage_io
from ansible_collections.autolease.sanlock.plugins.module_utils._atomic_file import check_lease_dir
from ansible_collections.autolease.sanlock.plugins.module_utils._domains import (
    DEFAULT_URI,
    _libvirt,
    leased_disks,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import DomainStoreError, LibvirtError
from ansible_collections.autolease.sanlock.plugins.module_utils._names import REGISTRY_DIR, lease_name

STORE_DIR = REGISTRY_DIR + "/domains"
SUFFIX = ".xml"
DIR_MODE = 0o700
FILE_MODE = 0o600
RUN_DOMAIN_STORE = "run autolease.sanlock.domain_store on that host"

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def store_dir(lease_dir: str) -> str:
    return os.path.join(lease_dir, STORE_DIR)


def host_dir(lease_dir: str, host: str) -> str:
    return os.path.join(store_dir(lease_dir), host)


def _check_name(kind, option, value):
    """A host or domain name that is usable as one file name; DomainStoreError naming it otherwise."""
    if not isinstance(value, str) or not value:
        raise DomainStoreError("%s=%r is not a %s name: give a non-empty string" % (option, value, kind))
    if "/" in value or "\0" in value or value in (".", ".."):
        raise DomainStoreError("%s=%r cannot be a file name in the domain store (it holds '/', a NUL byte or is "
                               "'.' or '..'); give the %s name without them" % (option, value, kind))
    if len((value + SUFFIX).encode("utf-8", "surrogateescape")) > 255:
        raise DomainStoreError("%s=%r is longer than a file name may be (255 bytes with %s); give a shorter %s "
                               "name" % (option, value, SUFFIX, kind))


def check_host(host: str) -> None:
    """Raise DomainStoreError unless host is usable as the name of a host's directory in the store."""
    _check_name("host", "host", host)
    if host.startswith("."):
        raise DomainStoreError("host=%r starts with '.': the store keeps its temporary files under such names; "
                               "give the host's inventory name" % (host,))


def summary(xml: str) -> Dict[str, List[str]]:
    """disks (source paths that get an automatic lease) and leases (their lease file names) of a domain XML."""
    disks = [disk.path for disk in leased_disks(xml)]
    return {"disks": disks, "leases": [lease_name(path) for path in disks]}


# What libvirt defines ---------------------------------------------------------------------------------------------
def defined_domains(uri: str = DEFAULT_URI) -> Dict[str, str]:
    """{domain name: XML} of every domain defined on this host (libvirt at uri).

    Persistent domains: the inactive definition with security information (as
    ``virsh dumpxml --inactive --security-info``); transient ones: the live
    definition with security information.
    """
    libvirt = _libvirt()
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LibvirtError("cannot connect to libvirtd at %s: %s; start libvirtd or set the libvirt URI"
                           % (uri, exc))
    try:
        result = {}
        for domain in conn.listAllDomains(0):
            try:
                flags = libvirt.VIR_DOMAIN_XML_SECURE
                if domain.isPersistent():
                    flags |= libvirt.VIR_DOMAIN_XML_INACTIVE
                result[domain.name()] = domain.XMLDesc(flags)
            except libvirt.libvirtError:
                continue  # undefined (or a transient one stopped) while we listed
        return result
    finally:
        conn.close()


# Opening the store's directories safely ---------------------------------------------------------------------------
def _open_subdir(parent_fd, name, path, create):
    """fd of the directory name in parent_fd (no symlink, ours); None when missing and not created.

    Returns (fd, fix_mode): fix_mode is True when its mode is not DIR_MODE (the write fixes it).
    """
    if create:
        try:
            os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
        except FileExistsError:
            pass
        except OSError as err:
            raise DomainStoreError("cannot create %s: %s; the lease storage must be writable by root"
                                   % (path, err.strerror))
    try:
        fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=parent_fd)
    except FileNotFoundError:
        return None, False
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise DomainStoreError("%s is not a directory (a symbolic link or a file): the domain store never "
                                   "follows links; move it away and %s" % (path, RUN_DOMAIN_STORE))
        raise DomainStoreError("cannot open %s: %s; the domain store is root's: run as root" % (path, err.strerror))
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise DomainStoreError("%s is owned by uid %d, not %d (root): another user may have put it there. "
                                   "Check its content, then chown -R %d %s, or move it away and %s"
                                   % (path, info.st_uid, os.geteuid(), os.geteuid(), path, RUN_DOMAIN_STORE))
    except BaseException:
        os.close(fd)
        raise
    return fd, stat.S_IMODE(info.st_mode) != DIR_MODE


@contextlib.contextmanager
def _host_dir_fd(lease_dir, host, create):
    """(fd of <lease_dir>/autolease.sanlock/domains/<host> or None when missing, [(fd, path)] of its directories
    whose mode is not DIR_MODE)."""
    fds, wrong_mode = [], []
    try:
        top = _registry._open_dir(lease_dir, create=create)  # pylint: disable=protected-access
        if top is None:
            yield None, []
            return
        fds.append(top)
        parent = top
        for name, path in (("domains", store_dir(lease_dir)), (host, host_dir(lease_dir, host))):
            fd, wrong = _open_subdir(parent, name, path, create)
            if fd is None:
                yield None, []
                return
            fds.append(fd)
            if wrong:
                wrong_mode.append((fd, path))
            parent = fd
        yield parent, wrong_mode
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _stored_files(dir_fd, path):
    """{domain name: (bytes or None when not a regular file, as wanted: owner and mode)} of a host's directory."""
    files = {}
    for entry in sorted(os.listdir(dir_fd)):
        if not entry.endswith(SUFFIX) or entry == SUFFIX:  # temporary files end in .tmp
            continue
        name = entry[:-len(SUFFIX)]
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                files[name] = (None, False)
                continue
            if err.errno == errno.ENOENT:
                continue
            raise DomainStoreError("cannot read %s/%s: %s" % (path, entry, err.strerror))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                files[name] = (None, False)
                continue
            as_wanted = (info.st_uid == os.geteuid() and info.st_gid == os.getegid()
                         and stat.S_IMODE(info.st_mode) == FILE_MODE)
            files[name] = (handle.read(), as_wanted)
    return files


# Plan and write -----------------------------------------------------------------------------------------------------
class Plan(object):
    """What export() changes in one host's directory of the store."""

    def __init__(self, lease_dir, host, wanted, stored, fix_dirs):
        self.lease_dir = lease_dir
        self.host = host
        self.wanted = wanted  # domain name -> XML text
        self.stored = stored  # domain name -> (bytes or None, owner/mode as wanted)
        self.fix_dirs = fix_dirs
        self.written = sorted(name for name, xml in wanted.items()
                              if stored.get(name, (None, False)) != (xml.encode("utf-8"), True))
        self.removed = sorted(set(stored) - set(wanted))

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed or self.fix_dirs)

    def path(self, name):
        return os.path.join(host_dir(self.lease_dir, self.host), name + SUFFIX)

    def as_dict(self) -> Dict[str, Any]:
        domains = {}
        for name, xml in sorted(self.wanted.items()):
            domains[name] = dict(path=self.path(name), **summary(xml))
        return {"changed": self.changed, "written": self.written, "removed": self.removed, "domains": domains}

    def diff(self) -> Dict[str, str]:
        """One line per file, '<domain name>.xml <sha256>', before and after (for --diff)."""
        before = dict((name, hashlib.sha256(data).hexdigest() if data is not None else "(not a regular file)")
                      for name, (data, dummy) in self.stored.items())
        after = dict((name, hashlib.sha256(xml.encode("utf-8")).hexdigest()) for name, xml in self.wanted.items())
        directory = host_dir(self.lease_dir, self.host)
        return {"before": _listing(before), "after": _listing(after),
                "before_header": "%s (before)" % directory, "after_header": "%s (after)" % directory}


def _listing(digests):
    return "".join("%s%s %s\n" % (name, SUFFIX, digest) for name, digest in sorted(digests.items()))


def _read_plan(lease_dir, host, wanted):
    with _host_dir_fd(lease_dir, host, create=False) as (dir_fd, wrong_mode):
        if dir_fd is None:  # never exported: the directory is created, even for a host without domains
            return Plan(lease_dir, host, wanted, {}, fix_dirs=True)
        return Plan(lease_dir, host, wanted, _stored_files(dir_fd, host_dir(lease_dir, host)),
                    fix_dirs=bool(wrong_mode))


def export_plan(lease_dir: str, host: str, uri: str = DEFAULT_URI, check_mode: bool = False) -> Plan:
    """Plan the export (what libvirt defines against what the store holds), then write it unless check_mode."""
    check_host(host)
    wanted = defined_domains(uri)
    for name in wanted:
        _check_name("domain", "domain name", name)
    _storage_io.probe(lease_dir)
    _storage_io.bounded("checking the lease directory", lease_dir, check_lease_dir, lease_dir)
    result = _storage_io.bounded("reading the domain store", host_dir(lease_dir, host), _read_plan,
                                 lease_dir, host, wanted)
    if result.changed and not check_mode:
        _storage_io.bounded("writing the domain store", host_dir(lease_dir, host), _write, result)
    return result


def export(lease_dir: str, host: str, uri: str = DEFAULT_URI) -> Dict[str, Any]:
    """Write every domain defined on this host (libvirt at uri) to the store, under host; remove the undefined.

    Returns {"changed", "written": [names], "removed": [names], "domains": {name: {"path", "disks", "leases"}}}.
    Raises DomainStoreError, LibvirtError, MissingDependency, LeaseDirError, HostIdError (the collection's
    directory is not trustworthy), StorageTimeout.
    """
    return export_plan(lease_dir, host, uri).as_dict()


def plan(lease_dir: str, host: str, uri: str = DEFAULT_URI) -> Dict[str, Any]:
    """What export() would return; writes nothing (check mode)."""
    return export_plan(lease_dir, host, uri, check_mode=True).as_dict()


def _write_file(dir_fd, name, data):
    """Put data in place as <name>.xml: a temporary file in the same directory, fsync, rename."""
    tmp_name = ".autolease-domain.%d.tmp" % os.getpid()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_name, dir_fd=dir_fd)  # a leftover of a crashed run of this process id
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchown(handle.fileno(), os.geteuid(), os.getegid())
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.rename(tmp_name, name + SUFFIX, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name, dir_fd=dir_fd)
        raise


def _write(result):
    path = host_dir(result.lease_dir, result.host)
    try:
        with _host_dir_fd(result.lease_dir, result.host, create=True) as (dir_fd, wrong_mode):
            for fd, dummy in wrong_mode:
                os.fchmod(fd, DIR_MODE)
            for name in result.written:
                if name in result.stored and result.stored[name][0] is None:
                    _unlink_in_the_way(dir_fd, path, name)
                _write_file(dir_fd, name, result.wanted[name].encode("utf-8"))
            for name in result.removed:
                _unlink_in_the_way(dir_fd, path, name)
            os.fsync(dir_fd)
    except OSError as err:
        where = " (%s)" % err.filename if err.filename else ""
        raise DomainStoreError("cannot write the domain store %s: %s%s; the lease storage must be writable by root "
                               "and have room for the definitions" % (path, err.strerror or err, where))


def _unlink_in_the_way(dir_fd, path, name):
    """Remove <name>.xml (a file or a link: never followed); a directory there is refused."""
    try:
        os.unlink(name + SUFFIX, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise DomainStoreError("%s/%s%s is a directory, not a domain definition; move it away and %s"
                               % (path, name, SUFFIX, RUN_DOMAIN_STORE))


# Reading the store --------------------------------------------------------------------------------------------------
def _read_host(dir_fd, path):
    domains = {}
    for entry in sorted(os.listdir(dir_fd)):
        if not entry.endswith(SUFFIX) or entry == SUFFIX:  # temporary files end in .tmp
            continue
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
        except OSError as err:
            if err.errno == errno.ENOENT:
                continue  # removed by an export while we listed
            if err.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                continue  # not a definition the store wrote
            raise DomainStoreError("cannot read %s/%s: %s; run as root" % (path, entry, err.strerror))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                continue
            text = handle.read().decode("utf-8", "replace")
        record = {"xml": text, "disks": [], "leases": [], "mtime": info.st_mtime}
        try:
            record.update(summary(text))
        except LibvirtError as err:
            record["error"] = ("%s/%s: %s; %s" % (path, entry, err, RUN_DOMAIN_STORE))
        domains[entry[:-len(SUFFIX)]] = record
    return domains


def _host_names(domains_fd):
    """The host directories of the store (entries that are directories, not links, not hidden)."""
    names = []
    for entry in sorted(os.listdir(domains_fd)):
        with contextlib.suppress(FileNotFoundError):
            if not entry.startswith(".") and stat.S_ISDIR(os.lstat(entry, dir_fd=domains_fd).st_mode):
                names.append(entry)
    return names


def _read(lease_dir, host):
    top = _registry._open_dir(lease_dir, create=False)  # pylint: disable=protected-access
    if top is None:
        return {}
    try:
        domains_fd, dummy = _open_subdir(top, "domains", store_dir(lease_dir), create=False)
        if domains_fd is None:
            return {}
        try:
            result = {}
            for name in [host] if host is not None else _host_names(domains_fd):
                fd, dummy = _open_subdir(domains_fd, name, host_dir(lease_dir, name), create=False)
                if fd is None:
                    continue
                try:
                    result[name] = _read_host(fd, host_dir(lease_dir, name))
                finally:
                    os.close(fd)
            return result
        finally:
            os.close(domains_fd)
    finally:
        os.close(top)


def read(lease_dir: str, host: Optional[str] = None) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """{host: {domain: {"xml", "disks", "leases", "mtime"}}} of the store, of every host or of host only.

    A host that never exported is absent from the result; one that exported
    with no domain defined maps to {}. A file whose XML cannot be parsed has
    empty disks and leases and an "error" naming it. Raises DomainStoreError,
    HostIdError (the collection's directory is not trustworthy), StorageTimeout.
    """
    if host is not None:
        check_host(host)
    _storage_io.probe(lease_dir)
    _storage_io.bounded("checking the lease directory", lease_dir, check_lease_dir, lease_dir)
    return _storage_io.bounded("reading the domain store", store_dir(lease_dir), _read, lease_dir, host)
