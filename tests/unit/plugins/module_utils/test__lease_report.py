"""_lease_report: what lease_info reports, read from storage (real leases made by a real daemon)."""

import os

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
