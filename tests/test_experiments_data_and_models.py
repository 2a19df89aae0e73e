"""Notebook 00's table of the zoo: every model, whether it fitted, and the misfits named."""
import json
from types import SimpleNamespace

import pandas as pd
import torch

from halfway_utils import zoo
from halfway_utils.experiments import data_and_models as dm


def _result(seed: int, train_acc: float, epochs: int = 3) -> SimpleNamespace:
    config = zoo.config("mnist", "mlp", seed, target_acc=0.99)
    history = {"epoch": list(range(epochs + 1)), "train_acc": [0.1] * epochs + [train_acc],
               "test_acc": [0.1] * epochs + [0.8]}
    return SimpleNamespace(config=config, model=torch.nn.Linear(2, 3), history=history,
                           final={"train_acc": train_acc, "test_acc": 0.8}, fitted=train_acc >= 0.99,
                           cache_hit=True, seconds=0.5)


def test_model_rows_record_what_the_ledger_needs():
    row = dm.model_row(_result(3, 0.995, epochs=7))
    assert row["seed"] == 3 and row["labels"] == "true" and row["n_train"] == zoo.N_TRAIN
    assert row["epochs"] == 7 and row["epoch_cap"] == zoo.EPOCHS["mlp"] and row["parameters"] == 9
    assert row["fitted"] and row["target_acc"] == 0.99


def test_misfits_are_named_and_the_ledger_lists_every_model():
    table = pd.DataFrame([dm.model_row(_result(0, 0.995)), dm.model_row(_result(1, 0.9))])
    assert dm.misfits(table) == ["mlp/mnist/seed1"]
    models = dm.ledger_models(table)
    assert [m["fitted"] for m in models] == [True, False]
    assert set(models[0]) == {"dataset", "arch", "seed", "labels", "n_train", "train_acc", "test_acc",
                              "fitted", "epochs"}


def test_curves_have_one_row_per_epoch_and_split():
    rows = dm.curve_rows(_result(0, 0.995, epochs=2))
    assert len(rows) == 6 and {r["split"] for r in rows} == {"train", "test"}
    assert [r["accuracy"] for r in rows if r["split"] == "train"] == [0.1, 0.1, 0.995]


def test_all_learned_is_three_times_chance_on_test():
    assert dm.all_learned(pd.DataFrame({"test_acc": [0.31, 0.9]}))
    assert not dm.all_learned(pd.DataFrame({"test_acc": [0.29, 0.9]}))


def test_zoo_tables_list_fitted_and_misfits_in_the_grid_order():
    results = [_result(seed, 0.9 if seed == 1 else 0.995) for seed in range(3)]
    fitted, misfits = zoo.fitted(results)  # as zoo.load returns them: the misfit last
    models = dm.in_grid_order(fitted + misfits, ["mnist"], ["mlp"], [0, 1, 2])
    table, curves = dm.zoo_tables(models)
    assert table["seed"].tolist() == [0, 1, 2] and table["fitted"].tolist() == [True, False, True]
    assert len(curves) == 3 * 2 * 4 and curves["seed"].unique().tolist() == [0, 1, 2]


def test_write_results_records_every_model_and_the_misfits(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    table = pd.DataFrame([dm.model_row(_result(0, 0.995)), dm.model_row(_result(1, 0.9))])
    path = dm.write_results(table, {"profile": "quick"})
    stored = json.loads(path.read_text())
    assert path.name == f"{dm.NOTEBOOK}.json" and stored["parameters"] == {"profile": "quick"}
    assert set(stored["results"]) == {"models", "all_models_learned", "not_fitted"}
    assert stored["results"]["not_fitted"] == ["mlp/mnist/seed1"] and stored["results"]["all_models_learned"]
