"""The paper profile's path, executed: every notebook through ``./run_all.sh --profile paper --yes``
with the paper's parameters and only the sizes scaled down (the same code on tiny data), so that
a GPU user's first paper run is not also its first test."""
import json

import pytest
import yaml

from halfway_utils import data
from halfway_utils.evidence.claims import CLAIMS
from halfway_utils.infra import paths, runner

# Sizes only: every other parameter (architectures, data sets, attacks, eps lists, rules) is the
# paper profile's own. Each name goes to every notebook that has it.
TINY = {
    "seeds": [0, 1, 2], "n_train": 300, "n_test": 200, "n_boot": 200, "grid": 9,
    "n_pairs": 20, "n_control_pairs": 10, "n_control_paths": 20, "n_control_queries": 30, "history_epochs": [0, 1, 2],
    "random_seeds": [0, 1, 2], "random_n_train": 100, "random_epochs": 30,
    "widths": [8, 32], "width_n_train": 200, "width_seeds": [0, 1], "width_epochs": 50,
    "n_inputs": 30, "pgd_steps": 2, "n_boundary": 10, "n_paths": 20, "n_cross": 1,
    "n_samples": 200, "n_attack": 30, "som_rows": 4, "som_cols": 4, "alt_rows": 3, "alt_cols": 3,
    "som_epochs": 2, "n_shuffles": 5,
    "n_queries": 30, "train_sizes": [100, 300], "sweep_seeds": [0, 1, 2], "sweep_n_train": 200,
    "sweep_n_test": 100, "sweep_epochs_true": 40, "sweep_epochs_random": 60,
    "resolution": 40, "n_segments": 10, "n_fresh": 100,
    "oracle_seeds": [0, 1, 2], "control_seeds": [0, 1, 2], "control_n_train": 200,
}


def test_tiny_covers_every_size_parameter_of_the_paper_profile():
    sized = ("n_", "seeds", "epochs", "widths", "train_sizes", "som_", "alt_", "grid", "pgd_steps", "n_boot",
             "resolution")
    for path in sorted((paths.REPO_ROOT / "notebooks" / "params" / "paper").glob("*.yaml")):
        names = {k for k in (yaml.safe_load(path.read_text()) or {}) if any(s in k for s in sized)}
        assert names <= set(TINY) | {"n_shuffles"}, f"{path.name}: scale these down too: {names - set(TINY)}"


@pytest.mark.skipif(not (data.available("mnist") and data.available("fashion_mnist")),
                    reason="needs MNIST and Fashion-MNIST: python -m halfway_utils.data fetch mnist fashion_mnist")
def test_every_notebook_runs_through_the_paper_profile_at_tiny_sizes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("HALFWAY_CACHE", str(tmp_path / "cache"))
    overrides = [arg for name, value in TINY.items() for arg in ("-p", f"{name}={json.dumps(value)}")]
    status = runner.main(["--profile", "paper", "--yes", "-p", "torch_threads=1", *overrides])
    out = capsys.readouterr().out
    # tiny sizes are not the paper profile's parameters: the run has a folder of its own, runs/paper+<hash>/
    (run,) = (tmp_path / "out" / "runs").glob("paper+*")
    assert not (tmp_path / "out" / "runs" / "paper").exists()
    summary = json.loads((run / "results" / "run_summary.json").read_text())
    failed = {r["notebook"]: r["error"] for r in summary["notebooks"] if r["status"] != "ok"}
    assert status == 0 and not failed, f"{failed}\n{out[-3000:]}"
    assert "plan on" in out and "zoo models" in out  # the plan came first
    ledger = {p.stem: json.loads(p.read_text()) for p in (run / "results" / "claims").glob("*.json")}
    assert set(ledger) == set(CLAIMS) and {c["profile"] for c in ledger.values()} == {"paper"}
    assert all(c["variant"]["differs"]["n_train"]["run"] == 300
               for c in ledger.values() if "n_train" in c["parameters"])
    assert (run / "figures" / "claims.md").exists() and not (tmp_path / "out" / "results").exists()
