"""The GitHub Actions workflow a user's CI runs: valid against the workflow schema (checked
offline with check-jsonschema's bundled schema), and its steps are the README's commands."""
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_the_workflow_passes_the_github_workflow_schema():
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is pinned in pyproject.toml's dev extras"
    assert WORKFLOWS, "no workflow under .github/workflows"
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_its_steps_are_the_readme_commands_with_caches_keyed_on_their_inputs():
    readme = (ROOT / "README.md").read_text()
    steps = yaml.safe_load(WORKFLOWS[0].read_text())["jobs"]["run"]["steps"]
    runs = [s["run"].strip() for s in steps if "run" in s]
    assert runs == ["./run_tests.sh", "./run_all.sh"] and all(cmd in readme for cmd in runs)
    cached = {s["with"]["path"]: s["with"]["key"] for s in steps if s.get("uses", "").startswith("actions/cache")}
    assert set(cached) == {".venv", "data", "cache"}
    assert all("hashFiles(" in key for key in cached.values())
