"""Every notebook has a parameters cell with a validation cell after it, and every full and
paper profile names only real parameters with values that pass that validation."""
from pathlib import Path

import nbformat
import pytest
import yaml

from halfway_utils import zoo

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


@pytest.mark.parametrize("profile", ["full", "paper"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_profile_names_real_parameters_with_valid_values(notebook, profile):
    path = ROOT / "notebooks" / "params" / profile / f"{notebook.stem}.yaml"
    if notebook.stem == "99_report" and not path.exists():
        pytest.skip(f"no {profile} overrides")
    assert path.exists(), f"notebooks/params/{profile}/{notebook.stem}.yaml is missing"
    overrides = yaml.safe_load(path.read_text()) or {}
    params, check = _cells(notebook)
    namespace: dict = {}
    exec(params, namespace)
    unknown = set(overrides) - set(namespace)
    assert not unknown, f"{path.name} sets parameters the notebook does not have: {sorted(unknown)}"
    namespace.update(overrides, profile=profile)
    exec(check, namespace)


def test_full_profile_uses_the_full_training_sets():
    # One zoo for every notebook: 50,000 of the 60,000 training samples (C1 holds the other 10,000 out), the
    # whole test sets, three models of every arch.
    for name in ("00_data_and_models", "01_halfway_boundaries", "02_generalization", "03_transfer", "04_som_codes"):
        values = yaml.safe_load((ROOT / "notebooks" / "params" / "full" / f"{name}.yaml").read_text())
        assert values["n_train"] == 50000 and values["n_test"] is None, name
        assert len(values["seeds"]) >= 3 and zoo.arch_seeds("resnet", values["seeds"], 50000) == values["seeds"], name
    hull = yaml.safe_load((ROOT / "notebooks" / "params" / "full" / "05_convex_hull.yaml").read_text())
    assert hull["n_train"] == 50000 and hull["n_queries"] >= 1000
