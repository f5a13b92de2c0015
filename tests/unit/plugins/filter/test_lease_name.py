"""Filter lease_name: libvirt's naming, through the real Jinja2 templating of ansible-core."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.autolease.sanlock.plugins.filter.lease_name import FilterModule, lease_name

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


@pytest.mark.parametrize("path", [
    "/var/lib/libvirt/images/demo.img", "/img/with space.img", "/img/é ü 日本.img", "//img//double.img",
    "/img/dir/", "/dev/vg0/lv",
])
def test_md5_of_the_utf8_path_as_written(path):
    assert lease_name(path) == hashlib.md5(path.encode("utf-8")).hexdigest()


def test_known_value_and_no_canonicalisation():
    assert lease_name("/var/lib/libvirt/images/demo.img") == "bfa0240911bc17753e0b473688822159"
    assert len({lease_name(p) for p in ("/a.img", "//a.img", "/a.img/", "/./a.img")}) == 4


@pytest.mark.parametrize("bad", [None, 3, ["/a"], ""])
def test_bad_input_is_a_filter_error(bad):
    with pytest.raises(AnsibleFilterError, match="lease_name"):
        lease_name(bad)


def test_registered_under_its_name():
    assert FilterModule().filters() == {"lease_name": lease_name}


def test_through_ansible_templating():
    collections = os.path.join(REPO, ".cache", "collections")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json")
    expr = "{{ ['/var/lib/libvirt/images/demo.img', '/img/é x//'] | map('autolease.sanlock.lease_name') | list }}"
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                           "-m", "ansible.builtin.debug", "-a", "msg=" + expr], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    out = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    assert out == ["bfa0240911bc17753e0b473688822159", hashlib.md5("/img/é x//".encode()).hexdigest()]
