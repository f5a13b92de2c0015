# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Race-free creation of sanlock files (lockspace, leases).

PRIVATE to the autolease.sanlock collection: no compatibility promise.

A file is built under a temporary name in the same directory (zero-filled,
owner/group/mode set, initialised by a callback), then put in place with
os.link (never replaces an existing file) or os.rename (repair: replaces on
purpose). No host ever sees a zero-filled or half-written file under the
final name. Temporary names start with '.' and end in '.tmp' so that they are
never mistaken for leases.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import grp
import os
import pwd
import tempfile

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LeaseError, LeaseDirError
from ansible_collections.autolease.sanlock.plugins.module_utils._leader_record import ALIGN

_ZEROS = b"\0" * 65536


def resolve_ids(owner, group):
    """(uid, gid) for user and group names (or numbers); -1 keeps the current one."""
    uid = gid = -1
    if owner is not None and owner != "":
        try:
            uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise LeaseError("owner %r: no such user on this host; create it (the sanlock package adds user "
                             "'sanlock') or set owner to an existing user" % (owner,))
    if group is not None and group != "":
        try:
            gid = int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise LeaseError("group %r: no such group on this host; create it or set group to an existing "
                             "group" % (group,))
    return uid, gid


def check_lease_dir(lease_dir):
    """Raise LeaseDirError unless lease_dir is an existing directory."""
    if not os.path.exists(lease_dir):
        raise LeaseDirError("lease_dir %s does not exist; create it on the shared lease storage (libvirt never "
                            "creates it) or set lease_dir to the directory in qemu-sanlock.conf disk_lease_dir"
                            % lease_dir)
    if not os.path.isdir(lease_dir):
        raise LeaseDirError("lease_dir %s is not a directory; point lease_dir at the lease directory "
                            "(qemu-sanlock.conf disk_lease_dir)" % lease_dir)


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def build(final_path, initialise, uid, gid, mode, size=ALIGN):
    """Write a temporary file next to final_path and initialise it; return the temporary path.

    initialise(tmp_path) writes the sanlock structures (through the daemon).
    The caller puts it in place with install() or replace().
    """
    directory, base = os.path.split(final_path)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise LeaseDirError("cannot create a file in %s: %s; make the directory writable for this user"
                            % (directory, exc.strerror))
    try:
        try:
            left = size
            while left:
                left -= os.write(fd, _ZEROS[:min(left, len(_ZEROS))])
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        initialise(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def install(tmp, final_path):
    """Link tmp to final_path unless that exists (never replaced); True if installed."""
    try:
        os.link(tmp, final_path)
        installed = True
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            _unlink_quietly(tmp)
            raise LeaseError("cannot create %s: %s" % (final_path, exc.strerror))
        installed = False
    _unlink_quietly(tmp)
    _fsync_dir(os.path.dirname(final_path))
    return installed


def replace(tmp, final_path):
    """Rename tmp over final_path (repair of a broken file)."""
    try:
        os.rename(tmp, final_path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise LeaseError("cannot replace %s: %s" % (final_path, exc.strerror))
    _fsync_dir(os.path.dirname(final_path))


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def write_bytes(path, data, mode, uid=0, gid=0):
    """Replace path by data atomically: a temporary file in the same directory (owner uid:gid, mode, synced),
    renamed over path. Nothing partial is ever left under either name."""
    directory, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
