"""The collection builds, installs, and ansible-doc renders every module and filter from the install."""

import os
import pathlib
import subprocess
import sys
import tarfile

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
    tarball = tmp_path / "autolease-sanlock-0.1.0.tar.gz"
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
