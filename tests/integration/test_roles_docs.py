"""Each role's public variables agree across defaults, argument_specs and README.

defaults/main.yml, meta/argument_specs.yml (entry point main) and the README
variable table must name the same variables, each commented in defaults, all
prefixed with the role name; internal variables (vars/) start with __<role>_.
"""

import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLES = ["shared_storage", "sanlock", "libvirt", "cleanup_schedule"]
# Every role's README (host_id's has a table of the facts it sets too, and no OS family vars).
README_ROLES = ROLES + ["host_id"]
# The README's sections, in this order; the role's other sections are ### under "How it works".
SECTIONS = ["Requirements", "Dependencies", "Variables", "Example", "How it works"]
# Ansible's documentation markup (C(), O(), V(), M(), ...): argument_specs use it, a README renders it.
MARKUP = re.compile(r"\b(?:[CIBMOVUELPR]|RV)\([^)]*\)")


def spec_options(role):
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_defaults_spec_and_readme_name_the_same_variables(role):
    defaults_text = (REPO / "roles" / role / "defaults" / "main.yml").read_text()
    defaults = yaml.safe_load(defaults_text)
    spec = spec_options(role)
    # The collection-wide inputs every role takes (autolease_*): declared, never defaulted by a role.
    shared = set(name for name in spec if not name.startswith(role + "_"))
    assert shared == {"autolease_full_converge", "autolease_host_info"}, shared
    readme = (REPO / "roles" / role / "README.md").read_text()
    table = set(re.findall(r"^\| `((?:%s|autolease)_\w+)` \|" % role, readme, re.M))
    assert set(defaults) == set(spec) - shared, "defaults vs argument_specs: %s" % (set(defaults) ^ (set(spec) - shared))
    assert table == set(spec), "README table vs argument_specs: %s" % (table ^ set(spec))
    for name in defaults:
        assert name.startswith(role + "_"), name
        # the line before each variable (or before its comment block) is a comment
        assert re.search(r"#[^\n]*\n%s:" % re.escape(name), defaults_text), "%s has no comment" % name
        assert spec[name].get("description"), "%s has no description in argument_specs" % name


@pytest.mark.parametrize("role", ROLES)
def test_readme_defaults_match_argument_specs(role):
    readme = (REPO / "roles" / role / "README.md").read_text()
    for name, option in spec_options(role).items():
        row = re.search(r"^\| `%s` \| ([^|]+) \| (.*?) \| " % re.escape(name), readme, re.M)
        assert row, name
        assert row.group(1).strip().startswith(option["type"]), name
        default = option.get("default")
        shown = row.group(2).strip().strip("`").replace("\\|", "|")
        if isinstance(default, str):
            assert shown == (default or '""'), "%s: README %r, spec %r" % (name, shown, default)


@pytest.mark.parametrize("role", ROLES)
def test_internal_variables_are_prefixed(role):
    for path in sorted((REPO / "roles" / role / "vars").glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        for name in data:
            assert name.startswith("__%s_" % role), "%s: %s" % (path, name)
        if path.name != "main.yml":
            assert not set(data) & set(spec_options(role)), "%s redefines a public default" % path
    for family in ("Debian.yml", "RedHat.yml", "default.yml"):
        assert (REPO / "roles" / role / "vars" / family).is_file(), family


@pytest.mark.parametrize("role", README_ROLES)
def test_readme_sections_come_in_order(role):
    readme = (REPO / "roles" / role / "README.md").read_text()
    assert readme.startswith("# autolease.sanlock.%s\n\n" % role), "the README starts with the role's name"
    purpose = readme.split("\n\n", 2)[1]
    assert purpose.strip() and not purpose.startswith(("#", "-", "|")), "a paragraph on the role's purpose comes first"
    headings = re.findall(r"^## (.*)$", readme, re.M)
    assert headings == SECTIONS, "README sections %s, expected %s" % (headings, SECTIONS)
    how = readme.split("\n## How it works\n", 1)[1]
    assert "\n### Re-runs: the receipt\n" in how, "the receipt section belongs under How it works"


@pytest.mark.parametrize("role", README_ROLES)
def test_readme_tables_show_no_ansible_markup(role):
    readme = (REPO / "roles" / role / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    assert rows, "no variable table"
    raw = [line for line in rows if MARKUP.search(re.sub(r"`[^`]*`", "", line))]
    assert not raw, "raw Ansible markup in the table (write `code` instead of C(code), O(option)):\n" + "\n".join(raw)
