"""_domain_store: each host's domain definitions on the lease storage, with libvirt's test driver.

A test:///<file> URI gives a fresh libvirt test driver with the domains of that
file at every connection, so rewriting the file is defining and undefining
domains. test:///default is one driver shared within this process: transient
domains are created there. The failed write runs on a real 64 KiB tmpfs that
fills up; the hung storage is the FUSE stand-in of conftest.
"""

import contextlib
import ctypes
import os
import stat
import time
import uuid

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _domain_store as store
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import (
    DomainStoreError,
    HostIdError,
    LeaseDirError,
    LibvirtError,
    StorageTimeout,
)
from ansible_collections.autolease.sanlock.plugins.module_utils._names import lease_name

DOMAIN = """  <domain type='test'>
    <name>{name}</name><uuid>{uuid}</uuid><memory>65536</memory><os><type>hvm</type></os>{extra}
    <devices>
      <disk type='file' device='disk'><source file='/img/{name}.img'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><source file='/iso/ro.iso'/><readonly/><target dev='hdc'/></disk>
      <graphics type='vnc' port='-1' passwd='vnc-secret-{name}'/>
    </devices>
  </domain>
"""


def domain(name, extra=""):
    """A domain's XML with a fixed UUID (without one, each connection would give it a new one)."""
    return DOMAIN.format(name=name, extra=extra, uuid=uuid.uuid5(uuid.NAMESPACE_URL, name))


def node(path, *names, extra=""):
    """Write a test driver node file defining the named domains; returns its URI."""
    path.write_text("<node>\n%s</node>\n" % "".join(domain(name, extra) for name in names))
    return "test://" + str(path)


@pytest.fixture
def lease_dir(tmp_path):
    path = tmp_path / "leases"
    path.mkdir()
    return str(path)


def mode(path):
    info = os.lstat(path)
    return (info.st_uid, info.st_gid, "%o" % stat.S_IMODE(info.st_mode))


def listing(root):
    found = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            with open(path, "rb") if name in files else contextlib.nullcontext() as handle:
                found[os.path.relpath(path, root)] = (mode(path), handle.read() if handle else None)
    return found


def test_four_ways_files_modes_and_return(lease_dir, tmp_path):
    uri = node(tmp_path / "node.xml", "vm1", "vm2")
    check = store.plan(lease_dir, "kvm1", uri)
    assert check == {"changed": True, "written": ["vm1", "vm2"], "removed": [], "domains": {
        name: {"path": "%s/autolease.sanlock/domains/kvm1/%s.xml" % (lease_dir, name),
               "disks": ["/img/%s.img" % name], "leases": [lease_name("/img/%s.img" % name)]}
        for name in ("vm1", "vm2")}}
    assert os.listdir(lease_dir) == []  # check mode: not even the directory

    real = store.export(lease_dir, "kvm1", uri)
    assert real == check
    host_dir = os.path.join(lease_dir, "autolease.sanlock", "domains", "kvm1")
    assert mode(os.path.join(lease_dir, "autolease.sanlock")) == (0, 0, "755")
    assert mode(os.path.dirname(host_dir)) == mode(host_dir) == (0, 0, "700")
    assert sorted(os.listdir(host_dir)) == ["vm1.xml", "vm2.xml"]
    for name in ("vm1", "vm2"):
        path = os.path.join(host_dir, name + ".xml")
        assert mode(path) == (0, 0, "600")
        text = open(path).read()
        # dumpxml --inactive --security-info: the password is there, the running domain's id is not.
        assert "<name>%s</name>" % name in text and "passwd='vnc-secret-%s'" % name in text
        assert " id=" not in text.split("\n")[0], text.split("\n")[0]
    before = listing(lease_dir)

    for again in (store.plan, store.export):
        result = again(lease_dir, "kvm1", uri)
        assert result == dict(check, changed=False, written=[]), result
    assert listing(lease_dir) == before


def test_undefined_domains_go_changed_ones_are_rewritten_other_hosts_untouched(lease_dir, tmp_path):
    store.export(lease_dir, "kvm2", node(tmp_path / "other.xml", "vm9"))
    other = listing(os.path.join(lease_dir, "autolease.sanlock", "domains", "kvm2"))
    uri = node(tmp_path / "node.xml", "vm1", "vm2", "vm3")
    store.export(lease_dir, "kvm1", uri)
    # vm2 undefined, vm3 changed (a description added), vm1 as it was.
    uri = node(tmp_path / "node.xml", "vm1", "vm3", extra="<description>moved</description>")
    expected = {"written": ["vm1", "vm3"], "removed": ["vm2"]}
    for run in (store.plan, store.export):
        result = run(lease_dir, "kvm1", uri)
        assert result["changed"] is True and {key: result[key] for key in expected} == expected
        assert sorted(result["domains"]) == ["vm1", "vm3"]
    assert store.export(lease_dir, "kvm1", uri)["changed"] is False
    host_dir = os.path.join(lease_dir, "autolease.sanlock", "domains", "kvm1")
    assert sorted(os.listdir(host_dir)) == ["vm1.xml", "vm3.xml"]
    assert "moved" in open(os.path.join(host_dir, "vm3.xml")).read()
    assert listing(os.path.join(lease_dir, "autolease.sanlock", "domains", "kvm2")) == other
    # Nothing defined any more: every file goes, the host's directory stays (it exported, with no domain).
    empty = node(tmp_path / "node.xml")
    assert store.export(lease_dir, "kvm1", empty)["removed"] == ["vm1", "vm3"]
    assert os.listdir(host_dir) == [] and store.read(lease_dir, "kvm1") == {"kvm1": {}}


def test_wrong_file_modes_and_directory_modes_are_repaired(lease_dir, tmp_path):
    uri = node(tmp_path / "node.xml", "vm1")
    store.export(lease_dir, "kvm1", uri)
    host_dir = os.path.join(lease_dir, "autolease.sanlock", "domains", "kvm1")
    os.chmod(os.path.join(host_dir, "vm1.xml"), 0o644)
    os.chmod(host_dir, 0o755)
    assert store.plan(lease_dir, "kvm1", uri)["written"] == ["vm1"]
    assert mode(host_dir)[2] == "755"  # check mode changed nothing
    assert store.export(lease_dir, "kvm1", uri)["written"] == ["vm1"]
    assert mode(host_dir) == (0, 0, "700") and mode(os.path.join(host_dir, "vm1.xml")) == (0, 0, "600")
    os.chmod(os.path.dirname(host_dir), 0o750)  # only a directory mode
    assert store.export(lease_dir, "kvm1", uri) == dict(store.plan(lease_dir, "kvm1", uri), changed=True)
    assert mode(os.path.dirname(host_dir))[2] == "700"
    assert store.export(lease_dir, "kvm1", uri)["changed"] is False


def test_a_transient_domain_is_stored_with_its_live_definition_and_goes_when_it_stops(lease_dir):
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")  # shared within this process: the module's connection sees it
    try:
        dom = conn.createXML(domain("transient1"), 0)
        try:
            result = store.export(lease_dir, "kvm1", "test:///default")
            assert result["written"] == ["test", "transient1"]  # "test": the driver's own persistent domain
            text = open(result["domains"]["transient1"]["path"]).read()
            assert " id='" in text.split("\n")[0] and "vnc-secret-transient1" in text  # live, with security info
        finally:
            dom.destroy()
        result = store.export(lease_dir, "kvm1", "test:///default")
        assert result["removed"] == ["transient1"] and result["written"] == []
    finally:
        conn.close()


def test_read_every_host_one_host_and_unknown_hosts(lease_dir, tmp_path):
    assert store.read(lease_dir) == {}  # no store at all
    started = time.time()
    store.export(lease_dir, "kvm1", node(tmp_path / "a.xml", "vm1", "vm2"))
    store.export(lease_dir, "kvm2", node(tmp_path / "b.xml", "vm3"))
    everything = store.read(lease_dir)
    assert sorted(everything) == ["kvm1", "kvm2"] and sorted(everything["kvm1"]) == ["vm1", "vm2"]
    vm3 = everything["kvm2"]["vm3"]
    assert sorted(vm3) == ["disks", "leases", "mtime", "xml"]
    assert vm3["disks"] == ["/img/vm3.img"] and vm3["leases"] == [lease_name("/img/vm3.img")]
    assert "<name>vm3</name>" in vm3["xml"] and started - 1 <= vm3["mtime"] <= time.time() + 1
    assert store.read(lease_dir, "kvm2") == {"kvm2": everything["kvm2"]}
    assert store.read(lease_dir, "kvm7") == {}  # never exported
    # A file that is not XML is reported with the error, the others are read.
    host_dir = os.path.join(lease_dir, "autolease.sanlock", "domains", "kvm2")
    with open(os.path.join(host_dir, "broken.xml"), "w") as handle:
        handle.write("<domain")
    broken = store.read(lease_dir, "kvm2")["kvm2"]["broken"]
    assert broken["disks"] == [] and "broken.xml: cannot parse domain XML" in broken["error"]
    assert store.read(lease_dir, "kvm2")["kvm2"]["vm3"] == vm3
    # The next export of that host removes it: the domain is not defined there.
    assert store.export(lease_dir, "kvm2", node(tmp_path / "b.xml", "vm3"))["removed"] == ["broken"]


@pytest.mark.parametrize("host", ["", "a/b", "..", ".", ".hidden", "x\0y", "h" * 252, None, 7])
def test_bad_host_names_are_refused_naming_them(lease_dir, tmp_path, host):
    uri = node(tmp_path / "node.xml", "vm1")
    for call in (lambda: store.export(lease_dir, host, uri), lambda: store.read(lease_dir, host or "")):
        if host is None:
            continue
        with pytest.raises(DomainStoreError, match="host=%s" % re_quote(repr(host))):
            call()
    assert os.listdir(lease_dir) == []


def re_quote(text):
    import re  # pylint: disable=import-outside-toplevel
    return re.escape(text)


def test_missing_lease_dir_unreachable_libvirt_and_a_link_in_the_store_fail_clearly(lease_dir, tmp_path):
    uri = node(tmp_path / "node.xml", "vm1")
    with pytest.raises(LeaseDirError, match="lease_dir %s/nope does not exist" % tmp_path):
        store.export(str(tmp_path / "nope"), "kvm1", uri)
    with pytest.raises(LibvirtError, match="cannot connect to libvirtd at qemu\\+unix:///system\\?socket=/nonexistent"):
        store.export(lease_dir, "kvm1", "qemu+unix:///system?socket=/nonexistent/sock")
    # Someone put a link where a host's directory belongs: never followed, named with the fix.
    store.export(lease_dir, "kvm1", uri)
    domains = os.path.join(lease_dir, "autolease.sanlock", "domains")
    os.symlink(str(tmp_path), os.path.join(domains, "kvm2"))
    for call in (lambda: store.export(lease_dir, "kvm2", uri), lambda: store.read(lease_dir, "kvm2")):
        with pytest.raises(DomainStoreError, match="%s/kvm2 is not a directory .*never follows links" % domains):
            call()
    assert sorted(store.read(lease_dir)) == ["kvm1"]  # reading every host skips it
    os.unlink(os.path.join(domains, "kvm2"))
    # A directory of the store owned by another user is refused, the lease directory's group cannot forge one.
    os.chown(os.path.join(domains, "kvm1"), 4242, 0)
    with pytest.raises(DomainStoreError, match="kvm1 is owned by uid 4242, not 0"):
        store.export(lease_dir, "kvm1", uri)
    # The collection's directory itself is checked as for the host_id registry.
    os.chmod(os.path.join(lease_dir, "autolease.sanlock"), 0o777)
    with pytest.raises(HostIdError, match="autolease.sanlock has mode 0777"):
        store.read(lease_dir)


@contextlib.contextmanager
def small_tmpfs(path, size):
    path.mkdir()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", 0, ("size=%d" % size).encode()) != 0:
        raise OSError(ctypes.get_errno(), "cannot mount a tmpfs on %s" % path)
    try:
        yield str(path)
    finally:
        libc.umount2(str(path).encode(), 2)


def test_a_write_that_fails_leaves_the_old_file_and_no_partial_one(tmp_path):
    """The storage fills up while a big definition is written: the old file stays whole, nothing half-written
    appears under a final name and no temporary file is left behind."""
    with small_tmpfs(tmp_path / "full", 64 * 1024) as lease_dir:
        uri = node(tmp_path / "node.xml", "vm1")
        store.export(lease_dir, "kvm1", uri)
        host_dir = os.path.join(lease_dir, "autolease.sanlock", "domains", "kvm1")
        old = open(os.path.join(host_dir, "vm1.xml")).read()
        big = node(tmp_path / "big.xml", "vm1", "vm2", extra="<description>%s</description>" % ("x" * 200000))
        with pytest.raises(DomainStoreError, match="cannot write the domain store %s: No space left" % host_dir):
            store.export(lease_dir, "kvm1", big)
        assert os.listdir(host_dir) == ["vm1.xml"] and open(os.path.join(host_dir, "vm1.xml")).read() == old
        assert store.export(lease_dir, "kvm1", uri)["changed"] is False


def test_hung_storage_fails_at_the_deadline(hung_storage, storage_deadline, tmp_path):
    uri = node(tmp_path / "node.xml", "vm1")
    for action in (lambda: store.export(hung_storage.path, "kvm1", uri), lambda: store.read(hung_storage.path),
                   lambda: store.plan(hung_storage.path, "kvm1", uri)):
        started = time.monotonic()
        with pytest.raises(StorageTimeout, match="the lease storage mounted at %s" % hung_storage.path):
            action()
        assert time.monotonic() - started < storage_deadline + 1.5
