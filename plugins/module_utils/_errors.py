# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed errors of the autolease.sanlock library.

PRIVATE to the autolease.sanlock collection: no compatibility promise to other
collections. Every message names the bad value, what was expected and what to
do next; module main() functions turn these into fail_json(msg=str(err)).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class AutoleaseError(Exception):
    """Base class: anything the collection reports as a clean failure."""


class LeaseError(AutoleaseError):
    """A lease or lockspace file could not be read, created or removed."""


class CleanupLockBusy(LeaseError):
    """Another lease cleanup runs (on this host, or anywhere in the cluster)."""


class LeaseDirError(LeaseError):
    """The lease directory is missing, not a directory or not writable."""


class DaemonError(AutoleaseError):
    """The local sanlock daemon is not running or has not joined the lockspace."""


class LibvirtError(AutoleaseError):
    """libvirtd could not be asked about domains."""


class HostIdError(AutoleaseError):
    """A host_id is invalid (not an integer 1-2000) or cannot be allocated."""


class HostIdConflict(HostIdError):
    """Two hosts would share one host_id, or a slot is owned by a live foreign host."""


class MissingDependency(AutoleaseError):
    """A Python binding (sanlock, libvirt) is not installed."""


class OptionError(AutoleaseError):
    """A module option has a value outside its accepted range (checked before anything runs)."""


class StorageTimeout(AutoleaseError):
    """The lease storage did not answer a read (or a lock) within the deadline: a hung NFS mount.

    Not a LeaseError on purpose: the readers that report an unreadable file as
    "unknown" (``except LeaseError``) must never take a storage that hangs for a
    missing or broken file; a hang always reaches the module and fails it.
    """


class RegistryLockBusy(HostIdError):
    """Another run holds the host_id registry lock longer than the bounded wait."""


class LibraryError(AutoleaseError):
    """The collection's library could not be read from the module's payload or installed on the host."""


class DomainStoreError(AutoleaseError):
    """The store of domain definitions on the lease storage cannot be read or written, or a name is unusable."""
