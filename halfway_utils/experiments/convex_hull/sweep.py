"""C2's measurements: the ``mlp`` width sweep with true and random labels, and its outside-hull agreement
with the nearest training sample's trained-on label."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ... import zoo
from ...models import count_parameters, predict
from ...train import TrainResult, train
from .tables import Split, Table, Tables, hull_table, load_split, split_table


def width_sweep(dataset: str, widths: Sequence[int], seeds: Sequence[int], *, epochs_true: int,
                epochs_random: int, n_train: int, n_test: int, device: str | None = None
                ) -> tuple[dict[tuple[str, int, int], TrainResult], list[dict[str, Any]]]:
    """Train (or load) the ``mlp`` of every width with true and random labels, each to the zoo's
    target training accuracy (the epochs are caps); each seed draws its own random labeling.

    Returns the results keyed ``(labels, seed, width)`` and one row per model (``fitted``: it
    reached the target; ``epochs``: how many it trained).
    """
    results, rows = {}, []
    for labels, epochs in [("true", epochs_true), ("random", epochs_random)]:
        for seed in seeds:
            for w in widths:
                config = zoo.config(dataset, "mlp", seed, width=w, labels=labels, epochs=epochs,
                                    n_train=n_train, n_test=n_test)
                result = train(config, device=device)
                results[(labels, seed, w)] = result
                rows.append({"labels": labels, "seed": seed, "width": w,
                             "parameters": count_parameters(result.model), "fitted": bool(result.fitted),
                             "epochs": int(result.history["epoch"][-1]),
                             "train_acc": result.final["train_acc"], "test_acc": result.final["test_acc"],
                             "cache": "hit" if result.cache_hit else "trained"})
    return results, rows


def model_outcomes(model: torch.nn.Module, trained_labels: np.ndarray, split: Split, table: Table
                   ) -> dict[str, np.ndarray]:
    """Per sample: train/test correctness, and for queries outside the hull whether the prediction
    equals the trained-on label of the nearest training sample (``agree``) and the true label."""
    outside = ~table["inside"]
    pred_q = predict(model, split.x_query).numpy()
    agree = pred_q == trained_labels[table["nn_index"]]
    return {"train_correct": predict(model, split.x_train).numpy() == trained_labels,
            "test_correct": predict(model, split.x_test).numpy() == split.y_test.numpy(),
            "agree": agree[outside], "correct_outside": (pred_q == split.y_query.numpy())[outside]}


def sweep_agreement(results: Mapping[tuple[str, int, int], TrainResult], split: Split, table: Table
                    ) -> tuple[list[dict[str, Any]], dict[tuple[str, int, int], dict[str, np.ndarray]]]:
    """:func:`model_outcomes` of every sweep model: one summary row each, and the per-sample outcomes."""
    rows, per_sample = [], {}
    for (labels, seed, w), result in results.items():
        outcome = model_outcomes(result.model, result.train_labels.numpy(), split, table)
        per_sample[(labels, seed, w)] = outcome
        rows.append({"labels": labels, "seed": seed, "width": w,
                     "agree_with_1nn_outside": outcome["agree"].mean(),
                     "correct_outside": outcome["correct_outside"].mean()})
    return rows, per_sample


def sweep_hull(splits: Mapping[str, Split], tables: Tables, parameters: Mapping[str, Any], *,
               device: str | None = None) -> tuple[Split, Table]:
    """The sweep's split and its pixel-space query table; C1's own when the sweep uses the same
    data set and subsets (then nothing is recomputed)."""
    name, n_train, n_test = parameters["sweep_dataset"], parameters["sweep_n_train"], parameters["sweep_n_test"]
    if name in splits and (n_train, n_test) == (parameters["n_train"], parameters["n_test"]):
        return splits[name], tables[(name, "pixel")]
    split = load_split(name, n_train, n_test, parameters["n_queries"], held_out=False)
    return split, split_table(split, tol=parameters["hull_tol"], device=device)



def sweep_queries(split: Split, *, tol: float, device: str | None = None) -> Table:
    """C2's queries: the pixel-space hull table of the sweep's whole test subset against its training set."""
    return hull_table(split.x_train, split.y_train.numpy(), split.x_test, split.y_test.numpy(), tol=tol, device=device)
