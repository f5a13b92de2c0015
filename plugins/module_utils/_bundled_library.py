# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Install a part of the collection's library for a script that runs without Ansible.

PRIVATE to the autolease.sanlock collection: no compatibility promise.

The sources come from the modules as Python loaded them, through their own
loader: inside a module's AnsiballZ payload that is the zip Ansible built from
the collection on the controller (it ships every module_utils file the module
imports, transitively), in a checkout or an installed collection it is the
file system. Which files belong to the library is found the way AnsiballZ
finds them: from the import statements of the entry points, transitively.

The library is laid out under a root directory as the package
ansible_collections.autolease.sanlock.plugins.module_utils, with empty
__init__.py files so that the root, put first on sys.path, wins over any other
ansible_collections on the host. Each file is written under a temporary name
in its directory and renamed into place (root:root 0644, directories 0755);
files of the package directory that are not part of the library are removed.
Python's own __pycache__ directories are left alone (Python checks them
against the sources). A stamp file in the root holds a digest of the library,
so that a reader can tell which library is installed from one small file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import hashlib
import importlib
import os
import shutil
import stat

from ansible_collections.autolease.sanlock.plugins.module_utils._atomic_file import write_bytes
from ansible_collections.autolease.sanlock.plugins.module_utils._errors import LibraryError

PACKAGE = "ansible_collections.autolease.sanlock.plugins.module_utils"
PACKAGE_DIR = PACKAGE.replace(".", "/")
# What the scripts of the cleanup_schedule role import: the cleanup and the export of the domain definitions.
CLEANUP_ENTRY_POINTS = ("_cleanup", "_domain_store", "_errors")
STAMP = "library.sha256"
FILE_MODE = 0o644
DIR_MODE = 0o755
KEEP_IN_PACKAGE = ("__pycache__",)


def _imported_siblings(source, name):
    """Names of the modules of PACKAGE that the source of PACKAGE.<name> imports (anywhere in the file)."""
    try:
        tree = ast.parse(source, filename="%s/%s.py" % (PACKAGE_DIR, name))
    except SyntaxError as exc:
        raise LibraryError("%s.%s cannot be parsed (%s, line %s): the module's payload is damaged; run the task "
                           "again, and reinstall the collection if it persists" % (PACKAGE, name, exc.msg, exc.lineno))
    found = set()
    prefix = PACKAGE + "."
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name[len(prefix):].split(".")[0] for alias in node.names
                         if alias.name.startswith(prefix))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1:  # from . import _x / from ._x import y
                module = PACKAGE + ("." + module if module else "")
            elif node.level:
                continue
            if module == PACKAGE:
                found.update(alias.name for alias in node.names)
            elif module.startswith(prefix):
                found.add(module[len(prefix):].split(".")[0])
    return found


def _source(name):
    """The bytes of PACKAGE.<name> as its loader has them (the AnsiballZ zip, or the file)."""
    fullname = "%s.%s" % (PACKAGE, name)
    try:
        module = importlib.import_module(fullname)
        loader = module.__spec__.loader
        return loader.get_data(module.__file__)
    except ImportError as exc:
        raise LibraryError("%s is not in this module's payload (%s): only the module_utils a module imports are "
                           "shipped with it; import it in the module that installs the library" % (fullname, exc))
    except (AttributeError, OSError, TypeError) as exc:
        raise LibraryError("cannot read the source of %s through its loader: %s; the library can only be "
                           "installed from a module or a collection whose sources are readable" % (fullname, exc))


def library_files(entry_points=CLEANUP_ENTRY_POINTS):
    """{path relative to the root: bytes}: the entry points, every module they import transitively, __init__.py's."""
    pending, sources = list(entry_points), {}
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        sources[name] = _source(name)
        pending.extend(sorted(_imported_siblings(sources[name], name) - set(sources)))
    files = dict(("%s/%s.py" % (PACKAGE_DIR, name), data) for name, data in sources.items())
    parts = PACKAGE_DIR.split("/")
    for depth in range(1, len(parts) + 1):
        files["/".join(parts[:depth] + ["__init__.py"])] = b""
    return files


def digest(files):
    """sha256 over the relative paths and contents of the library files."""
    hasher = hashlib.sha256()
    for relpath in sorted(files):
        hasher.update(relpath.encode("utf-8") + b"\0" + str(len(files[relpath])).encode("ascii") + b"\0")
        hasher.update(files[relpath])
    return hasher.hexdigest()


def wanted_files(files):
    """The files written under the root: the library and the stamp holding its digest."""
    wanted = dict(files)
    wanted[STAMP] = (digest(files) + "\n").encode("ascii")
    return wanted


class Plan(object):
    """What install() changes under root: directories to create or fix, files to write, entries to remove."""

    def __init__(self, root, files):
        self.root = root
        self.files = files  # relative path -> bytes: everything wanted, the stamp included
        self.directories = []  # relative paths to create or to give root:root 0755, parents first
        self.added = []
        self.changed = []
        self.removed = []
        self.before = {}  # relative path -> sha256 of what is there now (managed and removed files)

    @property
    def changes(self):
        return bool(self.directories or self.added or self.changed or self.removed)

    def as_dict(self):
        return {"path": self.root, "files": sorted(self.files), "added": sorted(self.added),
                "updated": sorted(self.changed), "removed": sorted(self.removed)}

    def diff(self):
        """before/after as one line per file, '<relative path> <sha256>', for Ansible's --diff."""
        after = dict((relpath, hashlib.sha256(data).hexdigest()) for relpath, data in self.files.items())
        return {"before": _listing(self.before), "after": _listing(after),
                "before_header": "%s (before)" % self.root, "after_header": "%s (after)" % self.root}


def _listing(digests):
    return "".join("%s %s\n" % item for item in sorted(digests.items()))


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError:
        return None


def _owned_as_wanted(st, mode):
    return st.st_uid == 0 and st.st_gid == 0 and stat.S_IMODE(st.st_mode) == mode


def _directories(files):
    dirs = set()
    for relpath in files:
        parts = relpath.split("/")[:-1]
        dirs.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return sorted(dirs, key=lambda rel: (rel.count("/"), rel))


def plan(root, files):
    """Compare what is under root with files (relative path -> bytes); nothing is changed."""
    root = os.path.normpath(root)
    if not os.path.isabs(root):
        raise LibraryError("path %r is relative; give an absolute directory such as /usr/local/lib/autolease-sanlock"
                           % (root,))
    result = Plan(root, files)
    try:
        st = os.stat(root)
    except OSError:
        parent = os.path.dirname(root)
        if not os.path.isdir(parent):
            raise LibraryError("path %s: its parent directory %s does not exist; create it or choose a path in an "
                               "existing directory" % (root, parent))
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise LibraryError("path %s exists and is not a directory; remove it or choose another path" % root)
    if st is None or not _owned_as_wanted(st, DIR_MODE):
        result.directories.append("")
    for rel in _directories(files):
        st = _lstat(os.path.join(root, rel))
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise LibraryError("%s is in the way of the library: it is not a directory (a symlink or a file); "
                               "remove it and run again" % os.path.join(root, rel))
        if st is None or not _owned_as_wanted(st, DIR_MODE):
            result.directories.append(rel)
    for relpath, data in sorted(files.items()):
        path = os.path.join(root, relpath)
        st = _lstat(path)
        if st is None:
            result.added.append(relpath)
            continue
        if stat.S_ISDIR(st.st_mode):
            raise LibraryError("%s is a directory where the library has a file; remove it and run again" % path)
        current = _read(path) if stat.S_ISREG(st.st_mode) else None
        if current is not None:
            result.before[relpath] = hashlib.sha256(current).hexdigest()
        if current != data or not _owned_as_wanted(st, FILE_MODE):
            result.changed.append(relpath)
    package = os.path.join(root, PACKAGE_DIR)
    for entry in sorted(os.listdir(package)) if os.path.isdir(package) else []:
        relpath = "%s/%s" % (PACKAGE_DIR, entry)
        if relpath in files or entry in KEEP_IN_PACKAGE:
            continue
        result.removed.append(relpath)
        path = os.path.join(package, entry)
        if os.path.isfile(path) and not os.path.islink(path):
            result.before[relpath] = hashlib.sha256(_read(path) or b"").hexdigest()
        else:
            result.before[relpath] = "(not a regular file)"
    return result


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path, data):
    """Write data to path atomically, root:root FILE_MODE."""
    write_bytes(path, data, FILE_MODE)


def install(result):
    """Carry out a plan: directories, the changed files, the removals, and the stamp last.

    A run that fails half-way leaves the old stamp (or none), so a reader of
    the stamp sees that the library is not the wanted one.
    """
    root = result.root
    try:
        for rel in result.directories:
            path = os.path.join(root, rel) if rel else root
            if _lstat(path) is None:
                os.mkdir(path, DIR_MODE)
            os.chown(path, 0, 0)
            os.chmod(path, DIR_MODE)
        writes = sorted(set(result.added) | set(result.changed))
        for relpath in writes:
            if relpath != STAMP:
                _write(os.path.join(root, relpath), result.files[relpath])
        for relpath in result.removed:
            path = os.path.join(root, relpath)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        if STAMP in writes:
            _write(os.path.join(root, STAMP), result.files[STAMP])
        for rel in _directories(result.files) + [""]:
            _fsync_dir(os.path.join(root, rel) if rel else root)
    except OSError as exc:
        raise LibraryError("cannot install the library under %s: %s (%s); make the path writable for the module's "
                           "user (root) and run again" % (root, exc.strerror or exc, exc.filename or root))
    return result
