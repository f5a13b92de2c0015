"""The AWX/AAP execution environment: `ansible-builder create` writes its build context (issue 16).

No container engine is needed: `create` only writes the context. The collection tarball is built with
ansible-galaxy alone into <copy>/.cache/build, where execution-environment.yml takes it from. The
context's own introspection script (what the image build runs to collect every collection's Python and
system requirements) then runs over the tarball installed into an empty collections directory.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def _run(args, env=None, cwd=None):
    env = dict(os.environ, PATH="%s:%s" % (BIN, os.environ.get("PATH", "")), **(env or {}))
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
                         check=False)
    assert res.returncode == 0, "%s failed (rc=%d):\n%s\n%s" % (" ".join(map(str, args)), res.returncode,
                                                                res.stdout[-3000:], res.stderr[-3000:])
    return res.stdout


def _pins():
    """{package: version} pinned in tests/requirements.txt."""
    pins = {}
    for line in (REPO / "tests" / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_ansible_builder_create_writes_the_context(tmp_path):
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    tarball_name = "%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    config = tmp_path / "ansible.cfg"  # not the checkout's, which finds the checkout's collection
    config.write_text("[defaults]\n")
    env = {"ANSIBLE_CONFIG": str(config), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")}

    # The EE definition beside the tarball, as `make ee` has them.
    copy = tmp_path / "checkout"
    (copy / ".cache" / "build").mkdir(parents=True)
    shutil.copy2(str(REPO / "execution-environment.yml"), str(copy / "execution-environment.yml"))
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", copy / ".cache" / "build", REPO], env)
    tarball = copy / ".cache" / "build" / tarball_name
    assert tarball.is_file(), "galaxy.yml's version %s: no %s" % (galaxy["version"], tarball)

    context = tmp_path / "context"
    _run([BIN / "ansible-builder", "create", "--output-filename", "Containerfile", "-f",
          copy / "execution-environment.yml", "-c", context], env, cwd=str(tmp_path))

    containerfile = (context / "Containerfile").read_text()
    pins = _pins()
    installs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M)
    assert installs, containerfile[:2000]
    assert sorted(installs.group(1).split()) == ["ansible-core==%s" % pins["ansible-core"],
                                                 "ansible-runner==%s" % pins["ansible-runner"]], (
        "execution-environment.yml installs %s; tests/requirements.txt pins ansible-core %s and ansible-runner %s"
        % (installs.group(1), pins["ansible-core"], pins["ansible-runner"]))
    for step in ("ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml",
                 "introspect.py introspect", "install-from-bindep", "check_ansible"):
        assert step in containerfile, step

    # _build/: the galaxy requirements name the tarball, which is in the context byte for byte.
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements == {"collections": [{"name": "collections/" + tarball_name, "type": "file"}]}, (
        "execution-environment.yml must name %s (galaxy.yml's version) in dependencies.galaxy and "
        "additional_build_files: %s" % (tarball_name, requirements))
    copied = context / "_build" / "collections" / tarball_name
    assert copied.is_file() and copied.read_bytes() == tarball.read_bytes(), copied
    for script in ("assemble", "introspect.py", "install-from-bindep", "check_galaxy", "check_ansible"):
        assert (context / "_build" / "scripts" / script).is_file(), script

    # The tarball carries the collection's EE requirements (and not the EE definition, a build recipe).
    with tarfile.open(str(tarball)) as tar:
        names = tar.getnames()
    assert {"meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt"} <= set(names)
    assert "execution-environment.yml" not in names

    # The image build's introspection finds them in the installed collection.
    collections = tmp_path / "collections"
    _run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", collections, copied], env)
    out = _run([sys.executable, context / "_build" / "scripts" / "introspect.py", "introspect", collections,
                "--write-bindep", tmp_path / "bindep.txt", "--write-pip", tmp_path / "requirements.txt"], env)
    found = yaml.safe_load(out)
    assert found["python"] == [], found
    assert sorted(found["system"]) == ["openssh-client [platform:dpkg]  # from collection autolease.sanlock",
                                       "openssh-clients [platform:rpm]  # from collection autolease.sanlock"], found
    assert "openssh-clients [platform:rpm]" in (tmp_path / "bindep.txt").read_text()


def test_the_collection_ee_files_are_what_introspection_reads():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}, meta
    python = [line for line in (REPO / "meta" / "ee-requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    # The controller side imports nothing beyond ansible-core and the standard library (which the EE has):
    # ansible-core itself is never listed, a pin would clash with the EE's own.
    assert not [line for line in python if re.match(r"^(ansible|ansible-core)\b", line)], python
