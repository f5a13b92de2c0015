# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CHANGELOG.rst is antsibull-changelog's rendering of changelogs/ (tests/changelog.py, make changelog)."""

import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import changelog  # noqa: E402  pylint: disable=wrong-import-position


def test_fragments_and_changelog_yaml_pass_antsibull_changelog_lint():
    changelog.lint()


def test_changelog_rst_is_up_to_date():
    rendered = changelog.render()
    assert rendered.startswith("=" * 31 + "\nautolease.sanlock Release Notes\n"), rendered[:200]
    have = (REPO / "CHANGELOG.rst").read_text()
    assert have == rendered, "CHANGELOG.rst is not what antsibull-changelog renders from changelogs/: run `make changelog`"


@pytest.fixture(name="scratch")
def _scratch(tmp_path):
    """A git work tree holding the checkout's tracked files."""
    copy = tmp_path / "checkout"
    for name in changelog._tracked_files(REPO):  # pylint: disable=protected-access
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(REPO / name), str(copy / name))
    subprocess.run(["git", "init", "-q", str(copy)], check=True)
    return copy


def test_a_new_fragment_makes_the_committed_file_stale(scratch):
    (scratch / "changelogs" / "fragments" / "zz-scratch.yml").write_text(
        "---\nbugfixes:\n  - scratch - a change the committed CHANGELOG.rst does not list yet.\n")
    rendered = changelog.render(scratch)
    assert "- scratch - a change the committed CHANGELOG.rst does not list yet." in rendered
    assert rendered != (REPO / "CHANGELOG.rst").read_text()


def test_a_bad_fragment_fails_lint_naming_it(scratch):
    (scratch / "changelogs" / "fragments" / "zz-bad.yml").write_text("---\nnot_a_section:\n  - text\n")
    with pytest.raises(changelog.ChangelogError, match="zz-bad.yml"):
        changelog.lint(scratch)
