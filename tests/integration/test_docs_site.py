"""The collection's HTML docs site, opened in a real headless browser.

The site is built the way `make docs` builds it (docs/site/build.sh:
antsibull-docs lint, render, Sphinx with warnings as errors) into a temporary
directory and served on 127.0.0.1. Debian's chromium, driven by selenium
through chromium-driver (both installed by the Makefile), then opens:

- the page of every module, filter and role of the tree, and the playbooks
  page: the title names the plugin, the options table is there and has a row
  for every option `ansible-doc` reports (for a role: of each entry point);
- every page the site links to, starting at its index: every internal link,
  stylesheet, script and image points at a file of the site, and a link with a
  #fragment at an element of that page with that id; the browser logs no
  failed load or script error.
"""

import functools
import http.server
import json
import os
import pathlib
import posixpath
import re
import subprocess
import sys
import threading
import urllib.parse

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
COLLECTION = "autolease.sanlock"
PAGES = "collections/autolease/sanlock"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PLAYBOOKS = ("site.yml", "cleanup.yml", "audit.yml")

# One call per page: what the test needs to know about it, as the browser rendered it.
PAGE_SCRIPT = r"""
const table = document.querySelector('table.ansible-option-table');
return JSON.stringify({
  title: document.title,
  h1: (document.querySelector('h1') || {textContent: ''}).textContent,
  ids: Array.from(document.querySelectorAll('[id]'), e => e.id),
  links: Array.from(document.querySelectorAll('a[href]'), e => e.href),
  resources: Array.from(document.querySelectorAll('link[rel=stylesheet][href], script[src], img[src]'),
                        e => e.href || e.src),
  stylesheets: document.styleSheets.length,
  table_shown: !!table && table.getBoundingClientRect().height > 0,
  option_rows: Object.fromEntries(Array.from(
    document.querySelectorAll('table.ansible-option-table div.ansibleOptionAnchor[id^="parameter-"]'),
    e => [e.id, e.nextElementSibling ? e.nextElementSibling.innerText.trim() : ''])),
  text: document.body.innerText,
});
"""


def _env():
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".cache" / "collections")
    env["PATH"] = "%s:%s" % (pathlib.Path(sys.executable).parent, env.get("PATH", ""))
    return env


def _tree_plugins():
    """Module, filter and role names of the tree, from the files (not from the built site)."""
    modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    filters = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.yml"))
    roles = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))
    return {"module": modules, "filter": filters, "role": roles}


def _documented_options(kind, names):
    """name -> the option names ansible-doc reports (roles: entry point -> option names)."""
    res = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-doc"), "--json", "-t", kind]
                         + ["%s.%s" % (COLLECTION, name) for name in names],
                         capture_output=True, text=True, env=_env(), timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    docs = json.loads(res.stdout)
    assert set(docs) == set("%s.%s" % (COLLECTION, name) for name in names), sorted(docs)
    found = {}
    for fqcn, doc in docs.items():
        name = fqcn.rsplit(".", 1)[1]
        if kind == "role":
            found[name] = dict((entry, sorted(spec.get("options") or {}))
                               for entry, spec in doc["entry_points"].items())
        else:
            found[name] = sorted(doc["doc"].get("options") or {})
    return found


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The built site's html directory, served on 127.0.0.1: (root path, base URL)."""
    for tool in (CHROMIUM, CHROMEDRIVER):
        assert os.access(tool, os.X_OK), "%s is missing: run `make deps` (Debian packages chromium, chromium-driver)" % tool
    dest = tmp_path_factory.mktemp("docs")
    res = subprocess.run([str(REPO / "docs" / "site" / "build.sh"), str(dest)], capture_output=True, text=True,
                         env=_env(), cwd=str(REPO), timeout=900, check=False)
    assert res.returncode == 0, "docs/site/build.sh failed:\n%s\n%s" % (res.stdout[-5000:], res.stderr[-5000:])
    root = dest / "build" / "html"
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, "http://127.0.0.1:%d/" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.chrome.service import Service  # pylint: disable=import-outside-toplevel

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1024"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser, url):
    """Load url; returns what PAGE_SCRIPT reads and the browser's log entries of that load."""
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    page = json.loads(browser.execute_script(PAGE_SCRIPT))
    page["log"] = [entry for entry in browser.get_log("browser") if entry.get("level") == "SEVERE"]
    return page


@pytest.fixture(scope="session")
def crawl(site, browser):
    """Every internal page reachable from index.html: path relative to the root -> page."""
    root, base = site
    pages, queue = {}, ["index.html"]
    while queue:
        path = queue.pop(0)
        if path in pages:
            continue
        page = pages[path] = _open(browser, base + path)
        for url in page["links"]:
            target = _internal_path(url, base)
            if target is not None and target[0].endswith(".html") and (root / target[0]).is_file():
                queue.append(target[0])
        assert len(pages) < 500, "the crawl does not end: %s" % sorted(pages)[:20]
    return pages


def _internal_path(url, base):
    """(path relative to the site root, fragment) of an internal URL; None for another site."""
    if not url.startswith(base):
        return None
    parts = urllib.parse.urlsplit(url)
    path = posixpath.normpath(urllib.parse.unquote(parts.path)).lstrip("/")
    if path in ("", "."):
        path = "index.html"
    elif url[len(base):].split("#")[0].split("?")[0].endswith("/"):
        path += "/index.html"
    return path, urllib.parse.unquote(parts.fragment)


def _plugin_cases():
    plugins = _tree_plugins()
    return [(kind, name) for kind in ("module", "filter", "role") for name in plugins[kind]]


@pytest.mark.parametrize("kind,name", _plugin_cases(), ids=["%s-%s" % case for case in _plugin_cases()])
def test_plugin_page_renders_with_its_options(site, browser, kind, name):
    root, base = site
    path = "%s/%s_%s.html" % (PAGES, name, kind)
    assert (root / path).is_file(), "no page for the %s %s: %s" % (kind, name, path)
    page = _open(browser, base + path)
    heading = "%s.%s %s" % (COLLECTION, name, kind)
    assert page["title"].startswith(heading), "title %r does not start with %r" % (page["title"], heading)
    assert page["h1"].startswith(heading), "heading %r does not start with %r" % (page["h1"], heading)
    assert page["stylesheets"] > 0, "%s: no stylesheet loaded" % path
    assert not page["log"], "%s: the browser logged errors: %s" % (path, page["log"])
    documented = _documented_options(kind, [name])[name]
    if kind == "role":
        expected = dict(("parameter-%s--%s" % (entry, option), option)
                        for entry, options in documented.items() for option in options)
    else:
        expected = dict(("parameter-%s" % option, option) for option in documented)
    assert expected, "%s %s documents no option" % (kind, name)
    assert page["table_shown"], "%s: the options table is missing or not displayed" % path
    missing = sorted(set(expected) - set(page["option_rows"]))
    assert not missing, "%s: options table has no row for %s (rows: %s)" % (path, missing, sorted(page["option_rows"]))
    for anchor, option in sorted(expected.items()):
        shown = "Input" if option == "_input" else option  # a filter's input is titled Input
        assert page["option_rows"][anchor] == shown, "%s: row %s shows %r" % (path, anchor, page["option_rows"][anchor])


def test_playbooks_page_describes_each_playbook_and_its_variables(site, browser):
    root, base = site
    path = "%s/docsite/playbooks.html" % PAGES
    assert (root / path).is_file(), "no playbooks page: docs/docsite/extra-docs.yml lists docs/docsite/rst/playbooks.rst"
    page = _open(browser, base + path)
    assert page["title"].startswith("Playbooks"), page["title"]
    assert not page["log"], page["log"]
    for playbook in PLAYBOOKS:
        assert "%s.%s" % (COLLECTION, playbook[:-4]) in page["text"], "the page does not show how to run %s" % playbook
        text = (REPO / "playbooks" / playbook).read_text()
        # every collection-wide variable the playbook reads from the inventory or -e (or a role's fact)
        used = set(re.findall(r"\b(autolease_[a-z_]+)\s*\|\s*default\(", text))
        assert used, "%s: no autolease_* variable found, the pattern is out of date" % playbook
        undocumented = sorted(var for var in used if var not in page["text"])
        assert not undocumented, "%s reads %s, which the playbooks page does not describe" % (playbook, undocumented)


def test_site_links_resolve(site, crawl):
    root, base = site
    broken = []
    for path, page in sorted(crawl.items()):
        if page["log"]:
            broken.append("%s: the browser logged %s" % (path, page["log"]))
        for url in page["links"] + page["resources"]:
            target = _internal_path(url, base)
            if target is None:
                continue
            target_path, fragment = target
            if not (root / target_path).is_file():
                broken.append("%s -> %s: no such file" % (path, target_path))
            elif fragment and target_path.endswith(".html"):
                target_page = crawl.get(target_path)
                if target_page is None:
                    broken.append("%s -> %s: page not reached by the crawl" % (path, target_path))
                elif fragment not in target_page["ids"]:
                    broken.append("%s -> %s#%s: no element with that id" % (path, target_path, fragment))
    assert not broken, "broken internal links:\n" + "\n".join(broken[:50])
    plugins = _tree_plugins()
    expected = set("%s/%s_%s.html" % (PAGES, name, kind) for kind in plugins for name in plugins[kind])
    expected.add("%s/docsite/playbooks.html" % PAGES)
    unreached = sorted(expected - set(crawl))
    assert not unreached, "pages the site does not link to from its index: %s" % unreached
