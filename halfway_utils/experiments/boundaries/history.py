"""The boundary's history: one model retrained with checkpoints, the same pairs scanned at each."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from ... import zoo
from ...evidence import stats
from ...methods import segments
from ...train import TrainConfig, TrainResult, train
from .pairs import flip_mid, flip_zone
from .scan import SCAN_CHUNK, scan_threads


@dataclass
class History:
    """The flips of one model at each checkpoint: one row per epoch and the flips' midpoint of each path."""

    label: str
    rows: list[dict[str, Any]]
    table: pd.DataFrame
    mids: pd.DataFrame
    n_pairs: int


def history_config(dataset: str, arch: str, epochs: Sequence[int], *, n_train: int | None,
                   n_test: int | None) -> TrainConfig:
    """Seed-0 zoo config trained to the last checkpoint, without the early stop (``target_acc=None``).

    The zoo stops at the first epoch that reaches its target accuracy, so a history model must
    not: it trains exactly ``max(epochs)`` epochs and keeps every checkpoint asked for.
    """
    return zoo.config(dataset, arch, 0, n_train=n_train, n_test=n_test, epochs=max(epochs), target_acc=None)


def train_history(dataset: str, arch: str, epochs: Sequence[int], *, n_train: int | None,
                  n_test: int | None, device: str | None = None) -> TrainResult:
    """Train (or load) the history model with a checkpoint at each of ``epochs``."""
    config = history_config(dataset, arch, epochs, n_train=n_train, n_test=n_test)
    return train(config, checkpoints=list(epochs), device=device)


def checkpoint_row(summary: Mapping[str, Any], *, epoch: int, train_acc: float, n_boot: int) -> dict[str, Any]:
    """One checkpoint's row: train accuracy, mean flip zone with a bootstrap interval over paths, shares.

    One model: its paths are the only replication, so a bootstrap over them is the interval.
    """
    per_path = summary["per_path"]
    zone = flip_zone(per_path["first_flip"], per_path["last_flip"])
    est = stats.bootstrap(zone, n_boot=n_boot, seed=0)
    first = np.asarray(per_path["abs_first"], dtype=float)
    return {"epoch": epoch, "train_acc": train_acc, "zone": est.value, "low": est.low, "high": est.high,
            "median_abs_first": float(np.nanmedian(first)) if np.isfinite(first).any() else float("nan"),
            "share_first_mid": summary["share_first_mid"], "share_flip": summary["share_flip"],
            "share_third_class": summary["share_third_class"]}


def boundary_history(result: TrainResult, x: Tensor, idx_a: np.ndarray, idx_b: np.ndarray,
                     epochs: Sequence[int], *, grid: int, n_boot: int) -> History:
    """Scan the same pairs ``x[idx_a] -> x[idx_b]`` with the model at each checkpoint epoch."""
    rows, frames = [], []
    for epoch in epochs:
        with scan_threads():
            summary = segments.pair_flips(result.model_at(epoch), x, x, idx_a, idx_b, grid=grid, chunk=SCAN_CHUNK)
        acc = result.history["train_acc"][result.history["epoch"].index(epoch)]
        rows.append(checkpoint_row(summary, epoch=epoch, train_acc=acc, n_boot=n_boot))
        per_path = summary["per_path"]
        frames.append(pd.DataFrame({"epoch": epoch, "mid": flip_mid(per_path["first_flip"], per_path["last_flip"])}))
    return History(result.config.label, rows, pd.DataFrame(rows), pd.concat(frames).dropna(), len(idx_a))
