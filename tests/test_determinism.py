"""Two runs of a notebook with the same parameters record identical claim values.

Each run trains its models from scratch in its own empty cache, so what is compared is
training and measurement, not one run loading the other's models.
"""
import json
from pathlib import Path

import papermill as pm
import pytest

from halfway_utils.infra import outputs

ROOT = Path(__file__).resolve().parent.parent

# Small but complete parameter sets: every claim of the notebook is still recorded.
CHEAP = {
    "05_convex_hull": {"datasets": ["mnist"], "archs": ["mlp"], "seeds": [0, 1], "n_train": 500,
                       "n_test": 500, "n_queries": 40, "train_sizes": [250, 500], "widths": [4, 64],
                       "sweep_seeds": [0, 1, 2], "sweep_n_train": 800, "sweep_n_test": 300,
                       "sweep_epochs_true": 10, "sweep_epochs_random": 30, "n_boot": 200},
}


def _run(notebook: str, params: dict, out: Path, monkeypatch) -> dict:
    monkeypatch.setenv("HALFWAY_OUTPUT", str(out))
    monkeypatch.setenv("HALFWAY_CACHE", str(out / "cache"))
    out.mkdir(parents=True)
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    pm.execute_notebook(str(path), str(out / "executed.ipynb"), parameters=params,
                        cwd=str(path.parent), kernel_name="python3", progress_bar=False)
    claims = {}
    # cheaper parameters than the profile's: the run writes its own folder, runs/quick+<hash>/
    root = outputs.run_root("quick", outputs.differences(notebook, {"profile": "quick", **params}), out)
    assert root != out and not (out / "results").exists()
    for entry in sorted((root / "results" / "claims").glob("*.json")):
        data = json.loads(entry.read_text())
        claims[data["id"]] = {"measurements": data["measurements"], "verdict": data["verdict"]}
    assert list((out / "cache" / "models").glob("*.pt")), "the run trained into its own cache"
    return claims


@pytest.mark.parametrize("notebook", list(CHEAP))
def test_same_parameters_give_identical_claim_values(notebook, tmp_path, monkeypatch):
    first = _run(notebook, CHEAP[notebook], tmp_path / "a", monkeypatch)
    second = _run(notebook, CHEAP[notebook], tmp_path / "b", monkeypatch)
    assert first, "the notebook recorded no claim"
    assert first == second
