# -*- coding: utf-8 -*-
# Copyright: autolease.sanlock contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation: README.md (for admins) and docs/*.md (docs/DEVELOPING.md
for developers).

- the picture of the cluster (docs/cluster.svg) is well-formed SVG and the
  README shows it;
- every relative link and image of README.md and docs/*.md points at a file
  of the repository, and an anchor (`#...`) at a heading of its page;
- README.md opens with `make lab` and `make test`;
- the Reliability table of docs/DEVELOPING.md is the one
  tests/bench/reliability_doc.py renders (`make reliability-doc`).
"""

import pathlib
import re
import sys
import xml.etree.ElementTree as ET

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEVELOPING = REPO / "docs" / "DEVELOPING.md"
PICTURE = REPO / "docs" / "cluster.svg"
SVG_NS = "{http://www.w3.org/2000/svg}"

# [text](target "title") and ![alt](target); <img src="..."> and <a href="...">
MD_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.I)
FENCE = re.compile(r"^(```|~~~)")


def _pages():
    return [README] + sorted((REPO / "docs").glob("*.md"))


def _prose(text, keep_code=False):
    """The lines of a Markdown text outside fenced code blocks, with inline code removed (or kept)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line if keep_code else re.sub(r"`[^`]*`", "``", line))
    return lines


def _anchor(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, blanks to '-'."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path):
    """The anchors of a page's headings (not of `#` lines in its code blocks)."""
    headings = [re.match(r"^#{1,6}\s+(.+?)\s*#*$", line) for line in _prose(path.read_text(), keep_code=True)]
    return {_anchor(m.group(1)) for m in headings if m}


def broken_links(page, repo=REPO):
    """Relative links and images of one Markdown page that point at nothing: (target, reason)."""
    broken = []
    for line in _prose(page.read_text()):
        for target in MD_LINK.findall(line) + HTML_LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # https:, mailto: ...: not a file of the repository
            path_part, dummy, fragment = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            if repo.resolve() not in dest.parents and dest != repo.resolve():
                broken.append((target, "points outside the repository"))
            elif not dest.exists():
                broken.append((target, "no such file: %s" % dest.relative_to(repo.resolve())))
            elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
                broken.append((target, "no heading with the anchor #%s in %s" % (fragment, dest.name)))
    return broken


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_image_points_at_a_file(page):
    broken = broken_links(page)
    assert not broken, "%s: broken links (fix the target or add the file): %s" % (
        page.relative_to(REPO), "; ".join("%s (%s)" % item for item in broken))


def test_the_link_check_finds_a_missing_file_a_missing_anchor_and_an_escape(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "there.md").write_text("# A heading: `with` code\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text("[ok](../there.md#a-heading-with-code) ![gone](missing.svg)\n"
                    "[bad anchor](../there.md#nope) [out](../../elsewhere.md) [web](https://example.org/x)\n"
                    "```\n[in code](not-checked.md)\n```\n"
                    "<img src=\"gone.png\">\n")
    found = broken_links(page, repo=tmp_path)
    assert [target for target, dummy in found] == ["missing.svg", "../there.md#nope", "../../elsewhere.md",
                                                   "gone.png"], found


def test_the_cluster_picture_is_svg_and_the_readme_shows_it():
    root = ET.parse(PICTURE).getroot()
    assert root.tag == SVG_NS + "svg", "docs/cluster.svg: root element %r, expected svg" % root.tag
    title = root.find(SVG_NS + "title")
    assert title is not None and title.text.strip(), "docs/cluster.svg needs a <title> (alt text for readers)"
    text = " ".join(t.text or "" for t in root.iter(SVG_NS + "text"))
    for needed in ("__LIBVIRT__DISKS__", "slot 1", "slot 2", "slot 3", "host_id 1", "sanlock", "libvirtd"):
        assert needed in text, "docs/cluster.svg does not show %r" % needed
    assert re.search(r"!\[[^\]]+\]\(docs/cluster\.svg\)", README.read_text()), \
        "README.md does not show docs/cluster.svg as an image: add ![...](docs/cluster.svg)"


def test_the_readme_opens_with_make_lab_and_make_test():
    text = README.read_text()
    first_block = re.search(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)
    assert first_block and text.index(first_block.group(0)) < text.index("\n## "), \
        "README.md must open with a code block of `make lab` and `make test` before its first section"
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make lab", "make test"], commands


def test_the_developing_page_holds_the_rendered_reliability_table_and_the_readme_links_it():
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    try:
        import reliability_doc
    finally:
        sys.path.pop(0)
    page = DEVELOPING.read_text()
    assert reliability_doc.DOC == DEVELOPING
    assert reliability_doc.fault_section() in page, \
        "docs/DEVELOPING.md's Reliability table is out of date: run `make reliability-doc`"
    assert "<!-- reliability:start -->" not in README.read_text(), \
        "README.md still has a Reliability section: it lives in docs/DEVELOPING.md"
    assert "](docs/DEVELOPING.md" in README.read_text(), "README.md does not link docs/DEVELOPING.md"
