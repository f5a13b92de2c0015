# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from ansible_collections.autolease.sanlock.plugins.module_utils._mountinfo import Mount, read_mounts


def test_read_mounts_unescapes_fields_and_keeps_the_table_order(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("\n".join([
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
        "45 27 254:0 /srv/lab\\040shared /var/lib/libvirt/sanlock rw - ext4 /dev/vda rw",
        "46 45 0:47 / /var/lib/libvirt/sanlock rw shared:3 - nfs4 nfs\\134x:/export rw",
        "not mountinfo",
    ]) + "\n")
    assert read_mounts(str(info)) == [
        Mount("/", "/", "rw,relatime", "ext4", "/dev/vda"),
        Mount("/var/lib/libvirt/sanlock", "/srv/lab shared", "rw", "ext4", "/dev/vda"),
        Mount("/var/lib/libvirt/sanlock", "/", "rw", "nfs4", "nfs\\x:/export"),  # on top of the one before
    ]


def test_read_mounts_of_this_machine_and_of_nothing(tmp_path):
    assert any(mount.point == "/" for mount in read_mounts())
    assert read_mounts(str(tmp_path / "missing")) is None
