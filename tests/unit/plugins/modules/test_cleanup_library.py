"""Module cleanup_library through Ansible itself: the real AnsiballZ payload, on this machine, into temp dirs.

`ansible localhost -c local -m autolease.sanlock.cleanup_library` builds the
module's zip from the collection as every run on a host does, so the files the
module installs are the ones Ansible shipped with it.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".cache" / "collections"
SOURCES = REPO / "plugins" / "module_utils"
PACKAGE_DIR = "ansible_collections/autolease/sanlock/plugins/module_utils"
INITS = ["/".join(PACKAGE_DIR.split("/")[:depth] + ["__init__.py"]) for depth in range(1, 6)]


def _env():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env["PATH"] = "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", ""))
    return env


def run_module(args, check=False):
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible"), "localhost", "-c", "local",
           "-m", "autolease.sanlock.cleanup_library", "-a", json.dumps(args), "--diff"] + (["--check"] if check else [])
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def tree(root):
    """relative path -> (kind, uid, gid, mode) of everything under root."""
    found = {}
    for base, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            kind = "d" if name in dirs else "f"
            found[os.path.relpath(path, str(root))] = (kind, st.st_uid, st.st_gid, "%o" % (st.st_mode & 0o7777))
    return found


def import_alone(root):
    """The library modules Python loads importing the cleanup and the domain store export (the two scripts of the
    cleanup_schedule role) from root alone: -I and only root (and the
    standard library) on sys.path. Raises CalledProcessError with the ImportError when a file is missing."""
    probe = textwrap.dedent("""
        import json, sys
        sys.path[:] = [sys.argv[1]] + [p for p in sys.path if 'python3' in p and 'packages' not in p]
        from ansible_collections.autolease.sanlock.plugins.module_utils._cleanup import run_cleanup
        from ansible_collections.autolease.sanlock.plugins.module_utils._errors import AutoleaseError
        from ansible_collections.autolease.sanlock.plugins.module_utils._domain_store import export, read
        import ansible_collections
        prefix = 'ansible_collections.autolease.sanlock.plugins.module_utils.'
        print(json.dumps({'modules': sorted(n[len(prefix):] for n in sys.modules if n.startswith(prefix)),
                          'package': ansible_collections.__file__}))
    """)
    proc = subprocess.run([sys.executable, "-I", "-B", "-c", probe, str(root)], capture_output=True, text=True,
                          cwd="/", check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_four_ways_and_the_library_imports_alone(tmp_path):
    root = tmp_path / "lib"
    check = run_module({"path": str(root)}, check=True)
    assert check["changed"] is True and not root.exists(), check
    assert check["added"] == check["files"] and check["updated"] == check["removed"] == []
    real = run_module({"path": str(root)})
    assert real["changed"] is True and real["added"] == check["added"], real
    # The diff: one '+' line per file, nothing before.
    assert real["diff"]["before"] == "" and len(real["diff"]["after"].splitlines()) == len(real["files"])

    loaded = import_alone(root)
    assert loaded["package"] == str(root / "ansible_collections" / "__init__.py")
    library = sorted("%s/%s.py" % (PACKAGE_DIR, name) for name in loaded["modules"])
    # Exactly what the cleanup imports, the package inits and the stamp.
    assert real["files"] == sorted(library + INITS + ["library.sha256"]), real["files"]
    assert "_cleanup" in loaded["modules"] and "_lease_file" in loaded["modules"]
    assert "_domain_store" in loaded["modules"] and "_domains" in loaded["modules"]  # the export script's
    assert "_bundled_library" not in loaded["modules"]  # the installer itself is not part of the library
    for name in loaded["modules"]:
        assert (root / PACKAGE_DIR / ("%s.py" % name)).read_bytes() == (SOURCES / ("%s.py" % name)).read_bytes()
    for init in INITS:
        assert (root / init).read_bytes() == b""

    assert (root / "library.sha256").read_text() == real["digest"] + "\n"
    listing = tree(root)
    assert sorted(rel for rel, entry in listing.items() if entry[0] == "f") == real["files"]
    assert set((kind, uid, gid, mode) for kind, uid, gid, mode in listing.values()) == {
        ("d", 0, 0, "755"), ("f", 0, 0, "644")}

    for check_mode in (True, False):
        again = run_module({"path": str(root)}, check=check_mode)
        assert again["changed"] is False and again["added"] == again["updated"] == again["removed"] == [], again
        assert again["diff"]["before"] == again["diff"]["after"]
    assert tree(root) == listing


def test_stale_changed_and_wrongly_owned_files_are_repaired(tmp_path):
    root = tmp_path / "lib"
    run_module({"path": str(root)})
    package = root / PACKAGE_DIR
    (package / "_retired_helper.py").write_text("old = 1\n")
    (package / "_retired_dir").mkdir()
    (package / ".tmp_left_by_a_crash.tmp").write_text("partial")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "_cleanup.cpython-311.pyc").write_bytes(b"python's own")
    (package / "_names.py").write_text("# edited by hand\n")
    os.chmod(str(package / "_errors.py"), 0o600)
    os.chown(str(package / "_lockspace.py"), 1, 1)
    os.chmod(str(package), 0o700)

    check = run_module({"path": str(root)}, check=True)
    stale = ["%s/%s" % (PACKAGE_DIR, name) for name in (".tmp_left_by_a_crash.tmp", "_retired_dir",
                                                        "_retired_helper.py")]
    changed = ["%s/%s" % (PACKAGE_DIR, name) for name in ("_errors.py", "_lockspace.py", "_names.py")]
    assert check["changed"] is True and check["removed"] == stale and check["added"] == [], check
    assert check["updated"] == changed, check
    assert "%s/_names.py" % PACKAGE_DIR in check["diff"]["before"]
    assert (package / "_retired_helper.py").exists() and (package / "_names.py").read_text() == "# edited by hand\n"

    real = run_module({"path": str(root)})
    assert real["removed"] == stale and real["added"] == [], real
    assert real["updated"] == changed, real
    assert not (package / "_retired_helper.py").exists() and not (package / "_retired_dir").exists()
    assert (package / "_names.py").read_bytes() == (SOURCES / "_names.py").read_bytes()
    assert (package / "__pycache__" / "_cleanup.cpython-311.pyc").read_bytes() == b"python's own"
    for path in (package, package / "_errors.py", package / "_lockspace.py"):
        st = os.stat(str(path))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o755 if path == package else 0o644), path
    assert run_module({"path": str(root)})["changed"] is False


def test_a_failed_write_leaves_no_partial_file_and_the_old_stamp(tmp_path):
    """A real fault: the library root on a tmpfs too small for the library (ENOSPC half-way)."""
    root = tmp_path / "small"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k,mode=0755", "tmpfs", str(root)], check=True)
    try:
        (root / "library.sha256").write_text("old\n")
        result = run_module({"path": str(root)})
        assert result.get("failed") is True, result
        assert "cannot install the library under %s" % root in result["msg"] and "No space left" in result["msg"]
        assert (root / "library.sha256").read_text() == "old\n"
        leftovers = [rel for rel, entry in tree(root).items() if rel.endswith(".tmp")]
        assert leftovers == [], leftovers
        for rel, entry in tree(root).items():  # every file under its final name is complete
            if entry[0] == "f" and rel.endswith(".py") and not rel.endswith("__init__.py"):
                assert (root / rel).read_bytes() == (SOURCES / os.path.basename(rel)).read_bytes(), rel
    finally:
        subprocess.run(["umount", str(root)], check=True)


@pytest.mark.parametrize("setup, expected", [
    (lambda tmp: tmp / "missing-parent" / "lib", "its parent directory"),
    (lambda tmp: (tmp / "a-file").write_text("x") and tmp / "a-file", "exists and is not a directory"),
    (lambda tmp: (tmp / "lib").mkdir() or (tmp / "lib" / "ansible_collections").symlink_to("/etc")
     or tmp / "lib", "is in the way of the library"),
])
def test_bad_paths_fail_naming_the_path_and_change_nothing(tmp_path, setup, expected):
    path = setup(tmp_path)
    before = tree(tmp_path)
    result = run_module({"path": str(path)})
    assert result.get("failed") is True and expected in result["msg"], result
    assert str(path) in result["msg"] or str(path.parent) in result["msg"]
    assert tree(tmp_path) == before


def test_relative_path_is_refused(tmp_path):
    result = run_module({"path": "lib"})
    assert result.get("failed") is True
