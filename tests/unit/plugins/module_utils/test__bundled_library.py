"""_bundled_library: which files are the library, and the digest the role's fast path compares."""

import pathlib
import re

import pytest

from ansible_collections.autolease.sanlock.plugins.module_utils import _bundled_library as lib
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LibraryError

SOURCES = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "module_utils"
P = lib.PACKAGE


def test_every_import_form_is_followed():
    source = "\n".join([
        "from %s import _a, _b" % P,
        "from %s._c import thing" % P,
        "import %s._d" % P,
        "from . import _e",
        "from ._f import other",
        "def later():",
        "    from %s._g import lazily" % P,
        "try:",
        "    import %s._h as h" % P,
        "except ImportError:",
        "    pass",
        "from ansible.module_utils.basic import AnsibleModule",
        "from ..modules import not_ours",
        "import os",
    ])
    assert lib._imported_siblings(source, "_x") == {"_a", "_b", "_c", "_d", "_e", "_f", "_g", "_h"}


def test_a_damaged_source_names_the_module():
    with pytest.raises(LibraryError, match=r"module_utils\._x cannot be parsed"):
        lib._imported_siblings("def (:\n", "_x")


def test_the_library_is_the_closure_of_the_scripts_imports_read_from_the_files():
    files = lib.library_files()
    names = sorted(pathlib.PurePosixPath(rel).stem for rel in files if not rel.endswith("__init__.py"))
    # An independent reading: the names each file mentions after the package prefix, from the cleanup on.
    reached, pending = set(), ["_cleanup", "_domain_store", "_errors"]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        text = (SOURCES / ("%s.py" % name)).read_text()
        pending.extend(re.findall(r"plugins\.module_utils\.(_\w+)", text))
        for listed in (re.findall(r"plugins\.module_utils import \(([^)]*)\)", text)
                       + re.findall(r"(?m)plugins\.module_utils import (_[\w ,]+)$", text)):
            pending.extend(word.strip() for word in listed.split(",") if word.strip())
    assert names == sorted(reached)
    assert "_bundled_library" not in names and "_audit" not in names
    assert "_domain_store" in names and "_registry" in names and "_domains" in names  # the export script's
    for rel, data in files.items():
        if not rel.endswith("__init__.py"):
            assert data == (SOURCES / pathlib.PurePosixPath(rel).name).read_bytes(), rel


def test_a_module_that_is_not_there_fails_naming_it():
    with pytest.raises(LibraryError, match=r"module_utils\._no_such_module is not in this module's payload"):
        lib.library_files(("_no_such_module",))


def test_digest_depends_on_names_and_contents_not_on_order():
    a = {"x/a.py": b"1", "x/b.py": b"2"}
    assert lib.digest(a) == lib.digest(dict(reversed(list(a.items()))))
    assert lib.digest(a) != lib.digest({"x/a.py": b"12", "x/b.py": b""})
    assert lib.digest(a) != lib.digest({"x/c.py": b"1", "x/b.py": b"2"})
    stamp = lib.wanted_files(a)[lib.STAMP]
    assert stamp == (lib.digest(a) + "\n").encode() and set(lib.wanted_files(a)) == set(a) | {lib.STAMP}


def test_a_symlinked_root_is_followed_and_planned_like_a_directory(tmp_path):
    (tmp_path / "real").mkdir(mode=0o755)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = lib.plan(str(tmp_path / "link"), lib.wanted_files({"%s/_a.py" % lib.PACKAGE_DIR: b"a = 1\n"}))
    assert sorted(result.added) == sorted(["library.sha256", "%s/_a.py" % lib.PACKAGE_DIR])
    lib.install(result)
    assert (tmp_path / "real" / lib.PACKAGE_DIR / "_a.py").read_text() == "a = 1\n"
    assert not lib.plan(str(tmp_path / "link"), result.files).changes
