"""The notebooks as reviewed scripts: every .ipynb has its py:percent pair, in sync; notebooks
stay thin (logic lives in the package); outputs are never committed; lint covers everything."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPERIMENTS = [p for p in NOTEBOOKS if "01" <= p.stem[:2] <= "05"]
MAX_CODE_LINES, MAX_DEFS = 150, 1


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def _code(path: Path) -> list[str]:
    return [c.source for c in jupytext.read(path.with_suffix(".py")).cells if c.cell_type == "code"]


def test_there_are_notebooks_and_every_one_has_a_paired_script():
    assert len(NOTEBOOKS) >= 7
    scripts = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert [p.stem for p in scripts] == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_and_script_hold_the_same_cells(notebook):
    script = jupytext.read(notebook.with_suffix(".py"))
    assert _cells(nbformat.read(notebook, 4)) == _cells(script), (
        f"{notebook.name} and its script differ: run `jupytext --sync notebooks/{notebook.stem}.py`")
    formats = script.metadata.get("jupytext", {}).get("formats", "")
    assert formats == "ipynb,py:percent", "the pair is declared in the notebook's metadata"


@pytest.mark.parametrize("notebook", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_an_experiment_notebook_is_thin(notebook):
    code = _code(notebook)
    lines = sum(1 for s in code for line in s.splitlines() if line.strip() and not line.strip().startswith("#"))
    defs = sum(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               for s in code for node in ast.walk(ast.parse(_without_magics(s))))
    assert lines <= MAX_CODE_LINES, f"{lines} code lines: move logic into halfway_utils/experiments/"
    assert defs <= MAX_DEFS, f"{defs} function or class definitions (at most one plotting helper)"


def _without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_code_cell_follows_a_markdown_line_saying_what_and_why(notebook):
    cells = jupytext.read(notebook.with_suffix(".py")).cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            before = cells[i - 1]
            assert before.cell_type == "markdown" or "validate(" in cell.source, (
                f"{notebook.stem}: code cell {i} has no markdown cell before it:\n{cell.source[:200]}")


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"


def test_the_pre_commit_config_strips_outputs_syncs_pairs_and_lints():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    for hook in ("nbstripout", "jupytext", "ruff"):
        assert hook in config, f"pre-commit runs no {hook}"


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed: it is pinned in pyproject.toml's dev extras"
    proc = subprocess.run([ruff, "check", "--no-cache", *LINTED], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


LINTED = ["halfway_utils", "tests", "benchmarks", "notebooks", "conftest.py"]
