"""H2's reported-only runs (not the rule's controls, see :mod:`.control_systems`): random labels and a width sweep.

Both train their own models (not the zoo's): :func:`random_label_runs` true- and random-label
models of a smaller subset, one labeling per seed; :func:`width_runs` MLPs of several widths,
each trained to the zoo's target training accuracy. Each model gets its fit, its 1-NN agreement
and notebook 01's flip summary on train-train pairs of different training labels
(:func:`h1_statistic`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor, nn

from ... import zoo
from ...methods import segments
from ...train import load_split, train
from .agreement import DataSet, fit_columns, model_agreement

H1_SEED = 1  # the pair seed of notebook 02's H1 statistic (notebook 01 draws its own pairs)
CHANCE = 0.1  # test accuracy of a random-label model: both data sets have 10 balanced classes


def h1_statistic(model: nn.Module, x: Tensor, labels: Tensor | np.ndarray, *, n_pairs: int, grid: int,
                 seed: int = H1_SEED) -> dict[str, Any]:
    """Notebook 01's H1 summary (no per-path arrays) on train-train pairs whose training labels differ."""
    ia, ib = segments.sample_pairs(np.asarray(labels), n=n_pairs, kind="different", seed=seed)
    summary = segments.pair_flips(model, x, x, ia, ib, grid=grid)
    return {k: v for k, v in summary.items() if k != "per_path"}


def random_label_runs(datasets: list[str], archs: list[str], seeds: list[int], data: dict[str, DataSet], *,
                      n_train: int | None, n_test: int | None, epochs: int, n_pairs: int, grid: int,
                      device: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """True- and random-label models of each (dataset, arch, seed) on a small subset, each trained
    to the zoo's target training accuracy (``epochs`` caps the random-label ones; every seed is its
    own labeling): fit, accuracies, 1-NN agreement and H1 statistic per model, and the
    random-label models' learning curves."""
    rows, curves = [], []
    for name in datasets:
        xtr = load_split(zoo.config(name, "mlp", n_train=n_train, n_test=n_test), "train")[0]
        for arch in archs:
            for seed in seeds:
                for labels in ("true", "random"):
                    cfg = zoo.config(name, arch, seed, n_train=n_train, n_test=n_test, labels=labels,
                                     epochs=epochs if labels == "random" else None)
                    result = train(cfg, device=device)
                    h1 = h1_statistic(result.model, xtr, result.train_labels.numpy(), n_pairs=n_pairs, grid=grid)
                    ag = model_agreement(result, data[name], xtr)
                    rows.append({"dataset": name, "arch": arch, "seed": seed, "labels": labels,
                                 "epochs": cfg.epochs, **fit_columns(result),
                                 "agree_feature": float(ag["agree_feature"].mean()),
                                 "agree_pixel": float(ag["agree_pixel"].mean()), **h1})
                    if labels == "random":
                        curves += [{"dataset": name, "arch": arch, "seed": seed, "epoch": e, "split": s,
                                    "accuracy": a}
                                   for s in ("train", "test")
                                   for e, a in zip(result.history["epoch"], result.history[f"{s}_acc"])]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def width_runs(widths: list[int], seeds: list[int], data: dict[str, DataSet], *, dataset: str,
               n_train: int | None, n_test: int | None, n_pairs: int, grid: int, epochs: int | None = None,
               device: str | None = None) -> pd.DataFrame:
    """MLPs of each width and seed, each trained to the zoo's target training accuracy with
    ``epochs`` as the cap (the zoo's when None): fit, accuracies, 1-NN agreement and H1 statistic."""
    rows = []
    same = n_train == data[dataset].n_train
    xtr = data[dataset].x_train if same else load_split(zoo.config(dataset, "mlp", n_train=n_train), "train")[0]
    for width in widths:
        for seed in seeds:
            result = train(zoo.config(dataset, "mlp", seed, n_train=n_train, n_test=n_test, epochs=epochs,
                                      width=width), device=device)
            ag = model_agreement(result, data[dataset], xtr)
            rows.append({"width": width, "seed": seed, **fit_columns(result),
                         "agree_feature": float(ag["agree_feature"].mean()),
                         "agree_pixel": float(ag["agree_pixel"].mean()),
                         **h1_statistic(result.model, xtr, result.train_labels.numpy(), n_pairs=n_pairs,
                                        grid=grid)})
    return pd.DataFrame(rows)
