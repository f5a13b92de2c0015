# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which disks of a libvirt domain get an automatic sanlock lease.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

As libvirt's sanlock plugin: only the top-level <source> of a disk (not the
backing chain), only file, block and dir disks with a path (network and
volume disks and disks without a path get none), no lease for <readonly/>
disks, a shared-mode lease for <shareable/> disks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET  # nosec - XML from the local libvirtd
from typing import NamedTuple, Optional

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LibvirtError, MissingDependency


class Disk(NamedTuple):
    """One disk of a domain: its source path as written in the XML, its target device, <shareable/>."""

    path: str
    target: Optional[str]
    shared: bool


SOURCE_ATTRIBUTE = {"file": "file", "block": "dev", "dir": "dir"}
DEFAULT_URI = "qemu:///system"
LIBVIRT_HINT = ("install python3-libvirt (Debian/Ubuntu: apt-get install python3-libvirt; RHEL/Fedora: "
                "dnf install python3-libvirt) for the Python interpreter that runs this code")


def leased_disks(xml):
    """Disks of a domain XML string that libvirt gives an automatic lease, in document order."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise LibvirtError("cannot parse domain XML: %s" % exc)
    disks = []
    devices = root.find("devices")
    if devices is None:
        return disks
    for disk in devices.findall("disk"):
        attribute = SOURCE_ATTRIBUTE.get(disk.get("type", "file"))
        if attribute is None or disk.find("readonly") is not None:
            continue
        source = disk.find("source")
        path = source.get(attribute) if source is not None else None
        if not path:
            continue
        target = disk.find("target")
        disks.append(Disk(path=path, target=target.get("dev") if target is not None else None,
                          shared=disk.find("shareable") is not None))
    return disks


def _libvirt():
    try:
        import libvirt  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise MissingDependency("python3-libvirt is not importable (%s): %s" % (exc, LIBVIRT_HINT))
    libvirt.registerErrorHandler(_quiet, None)  # errors come back as exceptions; do not print them too
    return libvirt


def _quiet(_context, _error):
    return None


def disks_of(libvirt, domain):
    """[Disk] of a libvirt domain object: its persistent definition's, and a running domain's live ones too.

    Raises libvirt.libvirtError when the domain goes away meanwhile.
    """
    disks = leased_disks(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    if domain.isActive():  # a running domain holds the leases of its live definition
        known = set(disk.path for disk in disks)
        disks += [disk for disk in leased_disks(domain.XMLDesc(0)) if disk.path not in known]
    return disks


def open_libvirt(uri=DEFAULT_URI):
    """(libvirt module, connection) to uri; LibvirtError (what to do) when libvirtd does not answer."""
    libvirt = _libvirt()
    try:
        return libvirt, libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LibvirtError("cannot connect to libvirtd at %s: %s; start libvirtd or set the libvirt URI"
                           % (uri, exc))


def domain_disks(names="all", uri=DEFAULT_URI):
    """{domain name: [Disk]} for the named domains, or every defined domain when names is 'all'."""
    libvirt, conn = open_libvirt(uri)
    try:
        if names == "all" or names == ["all"]:
            domains = conn.listAllDomains(0)
        else:
            domains = []
            for name in names:
                try:
                    domains.append(conn.lookupByName(name))
                except libvirt.libvirtError:
                    raise LibvirtError("domain %r is not defined on this host (%s); check the name with "
                                       "`virsh list --all`" % (name, uri))
        result = {}
        for domain in domains:
            try:
                result[domain.name()] = disks_of(libvirt, domain)
            except libvirt.libvirtError as exc:
                if names == "all" or names == ["all"]:
                    continue  # undefined while we listed
                raise LibvirtError("cannot read the XML of domain %s: %s" % (domain.name(), exc))
        return result
    finally:
        conn.close()
