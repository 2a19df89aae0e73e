"""Notebook 00: the data sets and the model zoo every later notebook stands on.

It tests no claim. It trains (or loads) one model per (data set, architecture, seed) to
the zoo's target training accuracy, tabulates each model's size and train/test accuracy,
and names every model that missed its target: the later claims are about models that fit
their data, and they exclude a misfit by name.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .. import zoo
from ..models import count_parameters
from ..train import TrainResult, train
from .common import rules

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


def train_zoo(datasets: list[str], archs: list[str], seeds: list[int], *, n_train: int | None,
              n_test: int | None, device: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or load) every (data set, arch, seed) model: the model table and the learning curves."""
    results = [train(config, device=device)
               for config in zoo.grid(datasets, archs, seeds, n_train=n_train, n_test=n_test)]
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
