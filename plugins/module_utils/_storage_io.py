# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reads of the lease storage with a deadline.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

A read on a hard NFS mount whose server does not answer blocks in the kernel
until the server comes back: the thread cannot be cancelled and the process
cannot end before. So a read of the lease storage runs in a daemon thread and
the caller waits for it at most the deadline; then StorageTimeout names the
host, the path, the mount and the fix, and the thread is left behind (a module
fails right after, and daemon threads do not keep the interpreter from
exiting).

The deadline is one setting per process, as socket.setdefaulttimeout is: a
module sets it once from its storage_timeout option (set_timeout) and every
reader of the library uses it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import threading

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import OptionError, StorageTimeout
from ansible_collections.autolease.sanlock.plugins.module_utils._mountinfo import MOUNTINFO, read_mounts
from ansible_collections.autolease.sanlock.plugins.module_utils._names import LOCKSPACE_NAME

DEFAULT_TIMEOUT = 30
TIMEOUT_RANGE = (1, 3600)

_settings = {"timeout": DEFAULT_TIMEOUT}


def set_timeout(seconds):
    """Set the deadline (seconds) of every later read of the lease storage in this process."""
    low, high = TIMEOUT_RANGE
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
        raise OptionError("storage_timeout=%r is out of range: expected seconds %d-%d; set storage_timeout to a "
                          "value in that range" % (seconds, low, high))
    _settings["timeout"] = seconds


def get_timeout():
    return _settings["timeout"]


def mount_of(path, mountinfo=MOUNTINFO):
    """(mount point, source, fstype) of the mount holding path, from the mount table only (never touches path)."""
    path = os.path.abspath(path)
    best = None
    for mount in read_mounts(mountinfo) or []:
        inside = path == mount.point or path.startswith(mount.point.rstrip("/") + "/")
        if inside and (best is None or len(mount.point) >= len(best[0])):
            best = (mount.point, mount.source, mount.fstype)
    return best


def timeout_error(what, path, seconds):
    """StorageTimeout naming the host, what was read, the mount it lives on and what to do."""
    mount = mount_of(path)
    where = "the lease storage"
    if mount:
        where = "the lease storage mounted at %s (%s from %s)" % (mount[0], mount[2], mount[1])
    return StorageTimeout(
        "host %s: %s does not answer: %s %s got no reply within %d s (storage_timeout). Check the storage server "
        "and the mount on this host (findmnt --target %s; for NFS the server, the network and nfsstat -m). While "
        "the storage does not answer, this host's sanlock cannot renew %s and kills the processes holding leases "
        "(its VMs) after 8*io_timeout (80 s with the default io_timeout)"
        % (socket.gethostname(), where, what, path, seconds, path, LOCKSPACE_NAME))


def bounded(what, path, func, *args, **kwargs):
    """func(*args, **kwargs) in a daemon thread; its result, or StorageTimeout after the deadline.

    what and path say what is read ("reading the lockspace file", its path) for the message.
    Exceptions of func are raised here as they are.
    """
    seconds = get_timeout()
    box = {}
    done = threading.Event()

    def run():
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as exc:  # pylint: disable=broad-except  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=run, name="lease-storage-read", daemon=True)
    thread.start()
    if not done.wait(seconds):
        raise timeout_error(what, path, seconds)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _probe(lease_dir):
    os.stat(lease_dir)
    try:
        # open() revalidates with the server on NFS (close-to-open), so a hung server cannot hide behind caches.
        with open(os.path.join(lease_dir, LOCKSPACE_NAME), "rb") as handle:
            handle.read(512)
    except (FileNotFoundError, NotADirectoryError):
        os.listdir(lease_dir)
    except OSError:
        pass  # not readable: the readers after the probe say why


def probe(lease_dir):
    """Fail fast (StorageTimeout) when the lease storage at lease_dir does not answer; other errors are left to
    the readers that follow, which say what is wrong."""
    try:
        bounded("checking", lease_dir, _probe, lease_dir)
    except OSError:
        pass
