"""_domains: which disks get a lease, as libvirt's sanlock plugin decides."""

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _domains
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LibvirtError

XML = """
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/with space é//x.img'/>
      <driver name='qemu' type='qcow2'/><backingStore type='file'><format type='raw'/><source file='/var/lib/libvirt/images/base.img'/></backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <source dev='/dev/vg/shared'/><shareable/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='dir' device='disk'><source dir='/srv/dir/'/><target dev='hda' bus='ide'/></disk>
    <disk type='file' device='cdrom'><source file='/iso/boot.iso'/><readonly/><target dev='hdc' bus='ide'/></disk>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/img'><host name='mon'/></source><target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='hdd' bus='ide'/></disk>
    <disk type='volume' device='disk'><source pool='p' volume='v'/><target dev='vdd' bus='virtio'/></disk>
  </devices>
</domain>
"""

EXPECTED = [
    _domains.Disk("/var/lib/libvirt/images/with space é//x.img", "vda", False),
    _domains.Disk("/dev/vg/shared", "vdb", True),
    _domains.Disk("/srv/dir/", "hda", False),
]


def test_leased_disks_top_level_read_write_local_only():
    assert _domains.leased_disks(XML.format(name="d")) == EXPECTED


def test_broken_xml_is_a_libvirt_error():
    with pytest.raises(LibvirtError, match="cannot parse"):
        _domains.leased_disks("<domain>")


@pytest.fixture
def test_driver():
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")  # libvirt's in-process test driver: shared within this process
    dom = conn.defineXML(XML.format(name="autolease-unit"))
    yield conn
    dom.undefine()
    conn.close()


def test_domain_disks_from_a_real_libvirt_connection(test_driver):
    assert _domains.domain_disks(["autolease-unit"], uri="test:///default") == {"autolease-unit": EXPECTED}
    everything = _domains.domain_disks("all", uri="test:///default")
    assert everything["autolease-unit"] == EXPECTED and "test" in everything  # the driver's own domain


def test_unknown_domain_is_named(test_driver):
    with pytest.raises(LibvirtError, match="'nope' is not defined"):
        _domains.domain_disks(["nope"], uri="test:///default")


def test_unreachable_libvirtd_is_a_libvirt_error():
    with pytest.raises(LibvirtError, match="cannot connect"):
        _domains.domain_disks("all", uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock")
