"""Every notebook has a parameters cell with a validation cell after it, and every paper
profile names only real parameters with values that pass that validation."""
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path: Path) -> tuple[str, str]:
    code = [c for c in nbformat.read(path, 4).cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged parameters"
    assert "validate(" in code[1].source, "the cell after the parameters must validate them"
    return code[0].source, code[1].source


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_quick_defaults_pass_validation(notebook):
    params, check = _cells(notebook)
    namespace: dict = {}
    exec(params, namespace)
    assert namespace["profile"] == "quick"
    exec(check, namespace)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_paper_profile_names_real_parameters_with_valid_values(notebook):
    path = ROOT / "notebooks" / "params" / "paper" / f"{notebook.stem}.yaml"
    if notebook.stem in ("00_data_and_models", "99_report") and not path.exists():
        pytest.skip("no paper overrides")
    overrides = yaml.safe_load(path.read_text()) or {}
    params, check = _cells(notebook)
    namespace: dict = {}
    exec(params, namespace)
    unknown = set(overrides) - set(namespace)
    assert not unknown, f"{path.name} sets parameters the notebook does not have: {sorted(unknown)}"
    namespace.update(overrides, profile="paper")
    exec(check, namespace)
