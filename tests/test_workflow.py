"""The GitHub Actions workflow a user's CI runs: valid against the workflow schema (checked
offline with check-jsonschema's bundled schema), its steps are the README's commands, and the
static site is uploaded on every push and published to GitHub Pages from main."""
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


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOWS[0].read_text())


def test_the_site_is_uploaded_on_every_push_and_handed_to_pages_from_main_only():
    steps = _workflow()["jobs"]["run"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    main_only = "github.ref == 'refs/heads/main'"
    site = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact") and
                s["with"]["path"].strip() == "site/")
    assert site["if"] == "always()" and site["with"]["name"] == "site"
    pages = steps[uses.index("actions/upload-pages-artifact")]
    assert pages["with"]["path"] == "site/" and pages["if"] == main_only
    assert uses.index("actions/upload-pages-artifact") > [s.get("run") for s in steps].index("./run_all.sh")


def test_pages_deploys_in_its_own_job_with_only_the_permissions_it_needs():
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}  # the build job can write nothing
    deploy = workflow["jobs"]["pages"]
    assert deploy["needs"] == "run" and deploy["if"] == "github.ref == 'refs/heads/main'"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write", "actions": "read"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    (step,) = deploy["steps"]
    assert step["uses"].startswith("actions/deploy-pages@") and step["id"] == "deployment"
