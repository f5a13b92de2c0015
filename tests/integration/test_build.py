"""The collection builds, installs, and ansible-doc renders every module and filter from the install."""

import os
import shutil
import pathlib
import subprocess
import sys
import tarfile

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def _run(args, env, **kwargs):
    env = dict(os.environ, PATH="%s:%s" % (BIN, os.environ.get("PATH", "")), **env)
    res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False, **kwargs)
    assert res.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(map(str, args)), res.stdout[-3000:], res.stderr[-3000:])
    return res.stdout


def test_build_install_and_ansible_doc(tmp_path):
    config = tmp_path / "ansible.cfg"  # not the checkout's: only the installed copy may be found
    config.write_text("[defaults]\n")
    env = {"ANSIBLE_CONFIG": str(config), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")}
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path, REPO], env, cwd=str(REPO))
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    tarball = tmp_path / ("autolease-sanlock-%s.tar.gz" % version)
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert not [n for n in names if n.split("/")[0] in (".ansible", ".venv", ".cache", "bench-results") or n.startswith("tests/output")]
    # the extra docs pages ship (Galaxy and antsibull-docs read them); the docs site's build tooling does not
    assert "docs/docsite/extra-docs.yml" in names and "docs/docsite/rst/playbooks.rst" in names
    assert not [n for n in names if n.startswith("docs/site")], [n for n in names if n.startswith("docs/")]

    installed = tmp_path / "collections"
    _run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", installed, tarball], env)
    root = installed / "ansible_collections" / "autolease" / "sanlock"
    assert (root / "roles" / "libvirt" / "meta" / "argument_specs.yml").is_file()

    modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    listed = _run([BIN / "ansible-doc", "-t", "module", "-l", "autolease.sanlock"], env)
    for module in modules:
        assert "autolease.sanlock.%s" % module in listed
        text = _run([BIN / "ansible-doc", "autolease.sanlock.%s" % module], env)
        assert "OPTIONS" in text and "EXAMPLES" in text and "RETURN VALUES" in text, module

    filters = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.yml"))
    assert filters, "no filter docs found"
    for name in filters:
        text = _run([BIN / "ansible-doc", "-t", "filter", "autolease.sanlock.%s" % name], env)
        assert name in text and "EXAMPLES" in text, name

    for playbook in ("site", "cleanup", "audit"):
        assert (root / "playbooks" / ("%s.yml" % playbook)).is_file()


def test_make_build_needs_ansible_galaxy_alone(tmp_path):
    """`make build` (the README's install step) installs nothing: no apt, no virtualenv, no lab stack (issue 16).

    A copy of the tracked files without .venv, on a PATH whose apt-get, dpkg-query, debootstrap and
    python3 stand-ins fail and record their call, and whose only Ansible tool is ansible-galaxy.
    """
    copy = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=str(REPO),
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(REPO / name), str(copy / name))
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("apt-get", "apt", "dpkg-query", "debootstrap", "python3", "pip", "virtualenv"):
        stub = tools / tool
        stub.write_text("#!/bin/sh\necho %s \"$@\" >> %s\nexit 97\n" % (tool, calls))
        stub.chmod(0o755)
    (tools / "ansible-galaxy").symlink_to(BIN / "ansible-galaxy")
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % tools, ANSIBLE_CONFIG=str(config),
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"))
    res = subprocess.run(["make", "-C", str(copy), "build"], capture_output=True, text=True, env=env, timeout=300,
                         check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert not calls.exists(), "make build ran: %s" % calls.read_text()
    assert not (copy / ".venv").exists() and not (copy / ".cache" / "apt.ok").exists()
    assert list((copy / ".cache" / "build").glob("autolease-sanlock-*.tar.gz")), res.stdout

    # Without ansible-galaxy it fails naming what to install.
    (tools / "ansible-galaxy").unlink()
    res = subprocess.run(["make", "-C", str(copy), "build"], capture_output=True, text=True, env=env, timeout=300,
                         check=False)
    assert res.returncode != 0 and "install ansible-core" in res.stderr, res.stdout + res.stderr
