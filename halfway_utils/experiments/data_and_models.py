"""Notebook 00: the data sets and the model zoo every later notebook stands on.

It tests no claim. The notebook trains (or loads) one model per (data set, architecture, seed)
to the zoo's target training accuracy with :func:`halfway_utils.zoo.load`; this module tabulates
each model's size and train/test accuracy (:func:`zoo_tables`) and names every model that missed
its target: the later claims are about models that fit their data, and they exclude a misfit by name.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..infra.store import save_results
from ..models import count_parameters
from ..train import TrainResult
from .common import in_grid_order, rules

__all__ = ["CHANCE", "LEARNED_FACTOR", "NOTEBOOK", "PARAMETERS", "all_learned", "curve_rows", "in_grid_order",
           "ledger_models", "misfits", "model_row", "write_results", "zoo_tables"]

NOTEBOOK = "00_data_and_models"
PARAMETERS = rules("datasets", "archs", "seeds", "n_train", "n_test")
CHANCE = 0.1  # ten classes in every data set of the zoo
LEARNED_FACTOR = 3  # a model "learned" when its test accuracy is above 3x chance


def model_row(result: TrainResult) -> dict[str, Any]:
    """One model's row: its config, size, epochs, final accuracies, cache status and time."""
    config = result.config
    return {"dataset": config.dataset, "arch": config.arch, "seed": config.seed, "labels": config.labels,
            "n_train": config.n_train, "parameters": count_parameters(result.model),
            "epochs": result.history["epoch"][-1], "epoch_cap": config.epochs,
            "train_acc": result.final["train_acc"], "test_acc": result.final["test_acc"],
            "target_acc": config.target_acc, "fitted": result.fitted,
            "cache": "hit" if result.cache_hit else "trained", "seconds": round(result.seconds, 2)}


def curve_rows(result: TrainResult) -> list[dict[str, Any]]:
    """Train and test accuracy per epoch of one model, one row per (epoch, split)."""
    config = result.config
    return [{"dataset": config.dataset, "arch": config.arch, "seed": config.seed,
             "epoch": epoch, "split": split, "accuracy": acc}
            for split in ("train", "test")
            for epoch, acc in zip(result.history["epoch"], result.history[f"{split}_acc"])]


def zoo_tables(results: Sequence[TrainResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model table (one :func:`model_row` per model, in the order given) and the learning curves."""
    return (pd.DataFrame([model_row(r) for r in results]),
            pd.DataFrame([row for r in results for row in curve_rows(r)]))


def all_learned(table: pd.DataFrame, chance: float = CHANCE, factor: float = LEARNED_FACTOR) -> bool:
    """True when every model's test accuracy exceeds ``factor`` times chance."""
    return bool((table["test_acc"] > factor * chance).all())


def misfits(table: pd.DataFrame) -> list[str]:
    """Names (arch/dataset/seedN) of the models that missed their target training accuracy."""
    rows = table[~table["fitted"].astype(bool)]
    return [f"{r.arch}/{r.dataset}/seed{r.seed}" for r in rows.itertuples()]


def ledger_models(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The models as recorded in results/00_data_and_models.json (one dict each)."""
    keys = ["dataset", "arch", "seed", "labels", "n_train", "train_acc", "test_acc", "fitted", "epochs"]
    return table[keys].to_dict("records")


def write_results(table: pd.DataFrame, parameters: Mapping[str, Any]) -> Path:
    """Write ``results/00_data_and_models.json``: every model, whether all learned, and the misfits."""
    return save_results(NOTEBOOK, {"models": ledger_models(table), "all_models_learned": all_learned(table),
                                   "not_fitted": misfits(table)}, dict(parameters))
