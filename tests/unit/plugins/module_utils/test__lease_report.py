"""_lease_report: what lease_info reports, read from storage (real leases made by a real daemon)."""

import os
import time

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils._errors import StorageTimeout
from ansible_collections.autolease.sanlock.plugins.module_utils._lease_report import lease_report
from ansible_collections.autolease.sanlock.plugins.module_utils._names import OWN_FILES, lease_name


def test_registry_files_are_neither_leases_nor_invalid(lease_cluster, lease_dir):
    name = lease_name("/img/report.img")
    made = lease_cluster.a.call("_lease_set.ensure_present", lease_dir, {name: {}}, owner="root", group="root")
    assert "ok" in made, made
    for own in OWN_FILES:
        with open(os.path.join(lease_dir, own), "w") as handle:
            handle.write('{"hosts": {}}\n' if own.endswith(".json") else "")
    with open(os.path.join(lease_dir, "stray.txt"), "w") as handle:
        handle.write("not a lease\n")

    report = lease_report(lease_dir, libvirt_uri=None)

    assert [lease["name"] for lease in report["leases"]] == [name]
    assert [entry["name"] for entry in report["invalid"]] == ["stray.txt"]
    assert report["lockspace"]["name"] == "__LIBVIRT__DISKS__"
    assert "map" not in report  # no libvirt asked: no domain map


@pytest.mark.timeout(90, method="thread")
def test_hung_lease_dir_fails_at_the_deadline(hung_storage, storage_deadline):
    """hung_storage: a FUSE mount that never answers, the stand-in for a hung hard NFS mount."""
    started = time.monotonic()
    with pytest.raises(StorageTimeout, match="the lease storage mounted at %s .* does not answer" % hung_storage.path):
        lease_report(hung_storage.path, libvirt_uri="")
    assert time.monotonic() - started < storage_deadline + 1.5
