"""Run every molecule scenario (extensions/molecule) on its own lab hosts."""

import pathlib
import subprocess
import sys

import pytest

from lab import ansible_env  # tests/lab/lab.py, on sys.path through conftest

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (REPO / "extensions" / "molecule").glob("*/molecule.yml"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario):
    molecule = pathlib.Path(sys.executable).parent / "molecule"
    res = subprocess.run([str(molecule), "test", "-s", scenario], cwd=str(REPO), env=ansible_env(),
                         capture_output=True, text=True, timeout=2400, check=False)
    assert res.returncode == 0, "molecule test -s %s failed:\n%s\n%s" % (
        scenario, res.stdout[-12000:], res.stderr[-4000:])
