"""environment.yml and pyproject.toml pin the same packages at the same versions."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines):
    out = {}
    for line in lines:
        name, _, version = line.partition("==")
        if version:
            out[_norm(name.strip())] = version.strip()
    return out


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert all("==" in d for d in declared), "every dependency is pinned with =="
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert any(p.startswith("python=3.11") for p in env["dependencies"] if isinstance(p, str))
    assert _pins(pip_section) == _pins(declared)


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "./run_tests.sh" in ci and "./run_tests.sh" in readme and "./run_all.sh" in readme
