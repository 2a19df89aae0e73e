"""A bigger training set, a bigger hull: the pixel-space tables against growing training subsets (reported)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ... import data
from .tables import Split, Table, Tables, flatten, hull_table


def size_row(dataset: str, n_train: int, t: Table) -> dict[str, Any]:
    """One row of the training-size sweep."""
    return {"dataset": dataset, "n_train": n_train, "outside": 1 - t["inside"].mean(),
            "median_hull": np.median(t["hull"]), "median_nn": np.median(t["nn"]),
            "median_hull/nn": np.median(t["ratio_nn"])}


def train_size_sweep(splits: Mapping[str, Split], tables: Tables, train_sizes: Sequence[int], *,
                     tol: float, device: str | None = None) -> list[dict[str, Any]]:
    """Pixel-space hull of class-balanced training subsets of each size against the same queries."""
    rows = []
    for name, split in splits.items():
        for n in train_sizes:
            if n == len(split.x_train):  # the training set already measured
                t = tables[(name, "pixel")]
            else:
                x_s, y_s = data.load(name, "train", n=n, seed=0)
                t = hull_table(x_s, y_s.numpy(), split.x_query, split.y_query.numpy(), tol=tol, device=device)
            rows.append(size_row(name, n, t))
    return rows



def dimension_sweep(splits: Mapping[str, Split], dims: Sequence[int], *, tol: float, device: str | None = None
                    ) -> list[dict[str, Any]]:
    """The test queries and the training set projected on the training set's top ``k`` principal components,
    for each ``k`` in ``dims``: the share of queries outside the hull and their median hull/NN ratio (C1's
    primary), showing where the primary leaves 0 (in few dimensions a new sample lies inside the hull)."""
    rows = []
    for name, split in splits.items():
        x, q = flatten(split.x_train).astype(np.float64), flatten(split.x_query).astype(np.float64)
        center = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - center, full_matrices=False)
        for k in dims:
            basis = vt[:min(k, len(vt))].T
            t = hull_table((x - center) @ basis, split.y_train.numpy(), (q - center) @ basis,
                           split.y_query.numpy(), tol=tol, device=device)
            rows.append({"dataset": name, "dims": int(basis.shape[1]), "outside": 1 - t["inside"].mean(),
                         "median_hull/nn": float(np.nanmedian(t["ratio_nn"]))})
    return rows
