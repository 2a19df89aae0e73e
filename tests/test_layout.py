"""The architecture holds: a room per claim, small modules, no experiment importing another, and a
repository that stands alone (nothing points outside it)."""
import ast
import importlib
import re
import subprocess

import pytest

from halfway_utils.evidence import claims
from halfway_utils.infra.paths import REPO_ROOT

EXPERIMENTS = REPO_ROOT / "halfway_utils" / "experiments"
ROOMS = {"boundaries": ["h1"], "generalization": ["h2"], "transfer": ["h3", "h4"], "som_codes": ["s1", "s2"],
         "convex_hull": ["c1", "c2"]}
MAX_LINES = 450


def test_every_claim_has_its_own_module_in_its_notebook_s_room():
    assert sorted(c for cs in ROOMS.values() for c in cs) == sorted(c.lower() for c in claims.CLAIMS)
    for room, claim_modules in ROOMS.items():
        package = importlib.import_module(f"halfway_utils.experiments.{room}")
        assert package.NOTEBOOK and package.PARAMETERS and hasattr(package, "write_results"), room
        for name in claim_modules:
            module = importlib.import_module(f"halfway_utils.experiments.{room}.{name}")
            for attr in ("STATEMENT", "PRIMARY", "RULE", "record"):
                assert hasattr(module, attr), f"{room}.{name} has no {attr}"
            assert module.RULE.primary == module.PRIMARY
            assert claims.CLAIMS[name.upper()]["notebook"] == package.NOTEBOOK


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.rglob("*.py")), ids=lambda p: p.relative_to(EXPERIMENTS).as_posix())
def test_no_experiment_module_is_a_warehouse(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES, f"split {path.name}: over {MAX_LINES} lines"


def test_an_experiment_room_imports_no_other_room():
    for room in ROOMS:
        for path in (EXPERIMENTS / room).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level >= 2:
                    target = (node.module or "").split(".")[0]
                    names = [a.name for a in node.names]
                    other = [t for t in [target, *names] if t in ROOMS and t != room]
                    assert not other, f"{room}/{path.name} imports the room {other}"


def test_nothing_points_outside_the_repository():
    out = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files"], capture_output=True, text=True)
    if out.returncode:
        pytest.skip("not a git checkout")
    kinds = (".py", ".ipynb", ".md", ".yaml", ".yml", ".cff", ".sh", ".toml")
    texts = [p for p in out.stdout.split() if p.endswith(kinds)]
    outside = [p for p in texts if re.search(r"\.\./shared|shared/PAPERS", (REPO_ROOT / p).read_text())
               and p != "tests/test_layout.py"]
    assert not outside, f"these files point outside the repository: {outside}"
    papers = (REPO_ROOT / "docs" / "papers.md").read_text()
    assert all(claim_id in papers for claim_id in claims.CLAIMS)
    for required in ("LICENSE", "CITATION.cff", "docs/papers.md"):
        assert required in out.stdout.split(), f"{required} is not committed"


def test_the_citation_names_the_three_papers_it_tests():
    import yaml

    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    ids = " ".join(str(i.get("value")) for r in cff["references"] for i in r.get("identifiers", []))
    for arxiv in ("2206.04463", "2205.10952", "2203.10366"):
        assert arxiv in ids
    assert cff["license"] == "MIT" and "MIT License" in (REPO_ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("number,room", [("01", "boundaries"), ("02", "generalization"), ("03", "transfer"),
                                         ("04", "som_codes"), ("05", "convex_hull")])
def test_a_room_s_api_is_exactly_what_its_notebook_calls(number, room):
    script = next((REPO_ROOT / "notebooks").glob(f"{number}_*.py")).read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    found = re.search(rf"from halfway_utils\.experiments import {room}(?: as (\w+))?", code)
    assert found, f"notebook {number} does not import its room {room}"
    used = set(re.findall(rf"\b{found.group(1) or room}\.(\w+)", code))
    exported = set(importlib.import_module(f"halfway_utils.experiments.{room}").__all__)
    assert used <= exported, f"{room}: the notebook reaches past the API: {sorted(used - exported)}"
    assert exported - used <= {"NOTEBOOK", "PARAMETERS"}, f"{room} exports what no cell calls: {exported - used}"
