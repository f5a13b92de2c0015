"""CHANGELOG.rst: antsibull-changelog's rendering of changelogs/ as the release of galaxy.yml's version.

usage: changelog.py write   (make changelog: writes CHANGELOG.rst at the repository root)
       changelog.py check   (exit 1 and a diff when CHANGELOG.rst is not what write would write)

changelogs/changelog.yaml holds the releases recorded so far and changelogs/fragments/ the changes
since. In a scratch copy of the tracked files, `antsibull-changelog release` records galaxy.yml's
version from the fragments (a version changelog.yaml already holds gets the fragments it lacks) and
`antsibull-changelog generate` renders the file; only CHANGELOG.rst comes back. So the checkout's
changelogs/ stays as it is (fragments are kept until a release is cut with `antsibull-changelog
release` in the checkout), and CHANGELOG.rst lists every fragment and every plugin of the tree.
The release date is not part of the rendered file, so the output does not depend on the day.
"""

import difflib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
TARGET = "CHANGELOG.rst"


class ChangelogError(Exception):
    pass


def _tool(args, cwd, repo=REPO):
    env = dict(os.environ, PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    env.pop("ANSIBLE_CONFIG", None)  # antsibull-changelog finds the plugins of the copy itself
    res = subprocess.run([str(BIN / "antsibull-changelog"), *args], cwd=str(cwd), env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    if res.returncode != 0:
        raise ChangelogError("antsibull-changelog %s failed (rc=%d) in a copy of %s:\n%s%s\nFix the fragment or "
                             "changelogs/ file it names." % (" ".join(args), res.returncode, repo, res.stdout,
                                                             res.stderr))
    return res


def _tracked_files(repo):
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=str(repo), capture_output=True,
                         check=True).stdout.decode()
    return [name for name in out.split("\0") if name and (repo / name).is_file()]


def lint(repo=REPO):
    """antsibull-changelog lint of a checkout's changelogs/ (fragments and changelog.yaml)."""
    return _tool(["lint"], repo, repo).stdout


def render(repo=REPO):
    """The text CHANGELOG.rst of a checkout (a git work tree) must hold."""
    with tempfile.TemporaryDirectory(prefix="changelog-") as tmp:
        copy = pathlib.Path(tmp) / "ansible_collections" / "autolease" / "sanlock"
        for name in _tracked_files(repo):
            if name != TARGET:
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(str(repo / name), str(copy / name))
        # --cummulative-release: with no release recorded before, every plugin whose version_added is this version
        _tool(["release", "--reload-plugins", "--cummulative-release"], copy, repo)
        _tool(["generate"], copy, repo)
        return (copy / TARGET).read_text()


def main(argv):
    if argv[1:] not in (["write"], ["check"]):
        sys.exit(__doc__)
    lint()
    text = render()
    path = REPO / TARGET
    if argv[1] == "write":
        path.write_text(text)
        print("wrote %s" % path)
        return 0
    have = path.read_text() if path.exists() else ""
    if have != text:
        sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), text.splitlines(True), str(path), "rendered"))
        print("%s is not up to date: run `make changelog` and commit it" % path)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
