"""The data, the pixel-space 1-NN labels and each model's agreement with them, per test sample.

Every model of a data set shares its training and test subsets (:func:`load_data`), so the
pixel-space 1-NN labels are computed once per data set. :func:`agreement` gives a model's
per-test-sample labels (true, predicted, pixel and feature 1-NN) and 0/1 agreements;
:func:`agreement_runs` tabulates them for every model of the zoo.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor, nn

from ... import zoo
from ...methods import neighbors
from ...models import embed, predict
from ...train import TrainResult, load_split

AGREEMENT_KEYS = ("correct", "agree_pixel", "agree_feature", "feature_nn_correct")
LABEL_KEYS = ("label", "pred", "pixel_nn", "feature_nn")


@dataclass
class DataSet:
    """The training and test subsets every model of one data set shares, and their pixel 1-NN labels."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    pixel_nn: Tensor  # label of each test sample's nearest training sample in pixel space
    n_train: int | None


def nn_labels(train_x: Tensor, train_y: Tensor, query_x: Tensor) -> Tensor:
    """The 1-NN rule on the CPU in float64: label of each query's nearest training row."""
    return neighbors.nearest_labels(train_x.cpu(), train_y.cpu(), query_x.cpu(), device="cpu")


def load_data(names: list[str], *, arch: str, n_train: int | None, n_test: int | None
              ) -> dict[str, DataSet]:
    """Each data set's zoo subsets (in sorted order of names) with their pixel-space 1-NN labels."""
    out = {}
    for name in sorted(set(names)):
        cfg = zoo.config(name, arch, n_train=n_train, n_test=n_test)
        (xtr, ytr), (xte, yte) = load_split(cfg, "train"), load_split(cfg, "test")
        out[name] = DataSet(xtr, ytr, xte, yte, nn_labels(xtr, ytr, xte), n_train)
    return out


def pixel_accuracy(data: dict[str, DataSet]) -> dict[str, float]:
    """Test accuracy of the pixel-space 1-NN rule of each data set."""
    return {name: float((d.pixel_nn == d.y_test).float().mean()) for name, d in data.items()}


def agreement(model: nn.Module, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor,
              pixel: Tensor | None = None) -> dict[str, np.ndarray]:
    """Per test sample: the labels (:data:`LABEL_KEYS`: true label, prediction, pixel and feature
    1-NN labels, ints) and the 0/1 floats of :data:`AGREEMENT_KEYS` (prediction correct, equals
    the pixel 1-NN label, equals the feature 1-NN label, the feature 1-NN label is correct).

    ``y_train`` are the labels the model was trained on; ``pixel`` reuses precomputed pixel
    1-NN labels (of the same training set and labels).
    """
    pred = predict(model, x_test.cpu())
    pix = nn_labels(x_train, y_train, x_test) if pixel is None else pixel.cpu()
    feat = nn_labels(embed(model, x_train.cpu()), y_train, embed(model, x_test.cpu()))
    y_test = y_test.cpu()
    labels = {"label": y_test, "pred": pred, "pixel_nn": pix, "feature_nn": feat}
    return {**{k: v.numpy().astype(np.int64) for k, v in labels.items()},
            "correct": (pred == y_test).numpy().astype(float),
            "agree_pixel": (pred == pix).numpy().astype(float),
            "agree_feature": (pred == feat).numpy().astype(float),
            "feature_nn_correct": (feat == y_test).numpy().astype(float)}


def model_agreement(result: TrainResult, data: DataSet, x_train: Tensor | None = None) -> dict[str, np.ndarray]:
    """:func:`agreement` of a trained model on its own training set and labels, on ``data``'s test set.

    ``x_train`` is the model's training subset when the caller has it (else it is loaded).
    """
    x_train = load_split(result.config, "train")[0] if x_train is None else x_train
    # The data set's pixel 1-NN labels hold only for a model trained on the same true-label subset.
    same = result.config.labels == "true" and result.config.n_train == data.n_train
    return agreement(result.model, x_train, result.train_labels, data.x_test, data.y_test,
                     pixel=data.pixel_nn if same else None)


def fit_columns(result: TrainResult) -> dict[str, Any]:
    """Whether a model fitted, its epochs and its final train and test accuracy."""
    return {"fitted": bool(result.fitted), "epochs_trained": int(result.history["epoch"][-1]),
            "train_acc": result.final["train_acc"], "test_acc": result.final["test_acc"]}


def agreement_runs(results: Sequence[TrainResult], data: dict[str, DataSet]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The true-label zoo, models in the order given: per model (dataset, arch, seed, fit, mean agreements)
    and per test sample (labels and agreements, with the model's ``fitted`` flag)."""
    rows, per_sample = [], []
    for result in results:
        config, d = result.config, data[result.config.dataset]
        ag = model_agreement(result, d, d.x_train if config.n_train == d.n_train and config.data_seed == 0 else None)
        key = {"dataset": config.dataset, "arch": config.arch, "seed": config.seed}
        rows.append({**key, **fit_columns(result), **{k: float(ag[k].mean()) for k in AGREEMENT_KEYS}})
        per_sample.append(pd.DataFrame(ag).assign(**key, fitted=bool(result.fitted)))
    return pd.DataFrame(rows), pd.concat(per_sample, ignore_index=True)
