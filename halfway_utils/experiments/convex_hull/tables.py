"""The per-query hull tables of notebook 05 and the splits they are measured on.

A table holds, per query, the exact distance to the convex hull of a training set
(:func:`halfway_utils.methods.hull.distance`, certified duality gap), the nearest-neighbour
distances and their ratios; it is measured in pixel space (:func:`pixel_tables`, one space per
data set) and in the penultimate features of the zoo's fitted models (:func:`feature_tables`, one
space per model), for the test queries and as many held-out training samples.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ... import data, zoo
from ...infra.params import ParameterError
from ...infra.progress import stage
from ...methods import hull
from ...methods.neighbors import nearest
from ...models import embed, predict
from ...train import TrainResult

Table = dict[str, np.ndarray]
Tables = dict[tuple[str, str], Table]  # (dataset, space) -> per-query table; space "pixel" or "arch/seedN"


def flatten(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, ...) images or features as a float32 (N, d) numpy array."""
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.ascontiguousarray(array.reshape(len(array), -1), dtype=np.float32)


def class_distances(points: np.ndarray, labels: np.ndarray, queries: np.ndarray,
                    query_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each query to the nearest training point of its own class and of another class.

    A query whose class has no training point gets ``inf`` as same-class distance (and
    likewise for another class).
    """
    pair = (torch.as_tensor(np.asarray(query_labels)), torch.as_tensor(np.asarray(labels)))
    _, same = nearest(queries, points, labels=pair, relation="same")
    _, other = nearest(queries, points, labels=pair, relation="other")
    return same.numpy(), other.numpy()


def hull_table(points: np.ndarray, labels: np.ndarray, queries: np.ndarray,
               query_labels: np.ndarray, **hull_kw: Any) -> Table:
    """Per query: hull distance (and its certified lower bound), inside flag, NN distance,
    NN index and label, same- and other-class NN distances, the ratios to the NN distance, and
    the closest point of the hull (``closest``, one row per query).

    ``hull_kw`` goes to :func:`halfway_utils.methods.hull.distance`.
    """
    points, queries = flatten(points), flatten(queries)
    labels, query_labels = np.asarray(labels), np.asarray(query_labels)
    h = hull.distance(points, queries, **hull_kw)
    nn_idx, nn_dist = nearest(queries, points, dtype=torch.float32, device=hull_kw.get("device"))
    nn_idx, nn_dist = nn_idx.numpy(), nn_dist.numpy()
    same, other = class_distances(points, labels, queries, query_labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_nn = np.where(nn_dist > 0, h.distance / nn_dist, np.nan)
        ratio_other = np.where(other > 0, h.distance / other, np.nan)
    return {"hull": h.distance, "hull_lower": h.lower_bound, "inside": h.inside,
            "converged": h.converged, "nn": nn_dist, "nn_index": nn_idx, "nn_label": labels[nn_idx],
            "same_class": same, "other_class": other, "ratio_nn": ratio_nn,
            "ratio_other": ratio_other, "closest": h.closest}


def paired_tables(points: np.ndarray, labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                  held: np.ndarray, held_labels: np.ndarray, **hull_kw: Any) -> tuple[Table, Table]:
    """:func:`hull_table` of the test queries and of the held-out training queries, solved in one call."""
    test, held = flatten(test), flatten(held)
    table = hull_table(points, labels, np.concatenate([test, held]),
                       np.concatenate([np.asarray(test_labels), np.asarray(held_labels)]), **hull_kw)
    n = len(test)
    return {k: v[:n] for k, v in table.items()}, {k: v[n:] for k, v in table.items()}


@dataclass(frozen=True)
class Split:
    """A training set, a test set whose first ``n_queries`` samples are the queries, and (for C1)
    held-out training samples: training-split samples outside the training subset."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_queries: int
    x_held: Tensor | None = None
    y_held: Tensor | None = None

    @property
    def x_query(self) -> Tensor:
        """The query images: the first ``n_queries`` test samples."""
        return self.x_test[:self.n_queries]

    @property
    def y_query(self) -> Tensor:
        """The queries' true labels."""
        return self.y_test[:self.n_queries]


def held_out_indices(labels: Tensor, n_train: int, n_held: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(train, held)`` indices into a split: the zoo's class-balanced subset of ``n_train`` and the
    ``n_held`` samples that the balanced subset of ``n_train + n_held`` adds to it (same draw, so
    held-out samples are as class-balanced as the training subset and disjoint from it)."""
    base = data.balanced_subset(labels, n_train, seed)
    grown = data.balanced_subset(labels, n_train + n_held, seed)
    held = grown[~torch.isin(grown, base)]
    if len(held) != n_held:  # the balanced subsets are nested by construction; guard the assumption
        raise RuntimeError(f"expected {n_held} held-out samples, got {len(held)}")
    return base, held


def load_split(name: str, n_train: int | None, n_test: int | None, n_queries: int, *,
               held_out: bool = True) -> Split:
    """The zoo's class-balanced train and test subsets of ``name`` (seed 0) with ``n_queries``
    queries and, with ``held_out``, ``n_queries`` held-out training samples (:func:`held_out_indices`)."""
    x_te, y_te = data.load(name, "test", n=n_test, seed=0)
    if not held_out:
        x_tr, y_tr = data.load(name, "train", n=n_train, seed=0)
        return Split(x_tr, y_tr, x_te, y_te, n_queries)
    if n_train is None:
        raise ParameterError("held-out training samples need n_train (the full split leaves none)")
    x_all, y_all = data.load(name, "train")
    base, held = held_out_indices(y_all, n_train, n_queries)
    return Split(x_all[base], y_all[base], x_te, y_te, n_queries, x_all[held], y_all[held])


def split_table(split: Split, *, tol: float, device: str | None = None) -> Table:
    """The pixel-space hull table of a split's queries against its training set."""
    return hull_table(split.x_train, split.y_train.numpy(), split.x_query, split.y_query.numpy(),
                      tol=tol, device=device)


def pixel_tables(splits: Mapping[str, Split], *, tol: float, device: str | None = None
                 ) -> tuple[Tables, Tables]:
    """Pixel-space tables of the test queries and of the held-out training queries, keyed
    ``(dataset, "pixel")`` (no held-out table for a split without held-out samples)."""
    tests, helds = {}, {}
    for name, split in splits.items():
        stage(f"{name}: pixel-space hull distances of {split.n_queries} queries to {len(split.x_train)} samples")
        if split.x_held is None:
            tests[(name, "pixel")] = split_table(split, tol=tol, device=device)
            continue
        tests[(name, "pixel")], helds[(name, "pixel")] = paired_tables(
            split.x_train, split.y_train.numpy(), split.x_query, split.y_query.numpy(), split.x_held,
            split.y_held.numpy(), tol=tol, device=device)
    return tests, helds


@torch.no_grad()
def projection_change(model: torch.nn.Module, x: Tensor, closest: np.ndarray, *, features: bool) -> np.ndarray:
    """Per query: does the model's label at the query's closest hull point differ from its label at
    the query? ``closest`` are points of the pixel hull (``features=False``: fed to the model as
    images shaped like ``x``) or of its penultimate-feature hull (``features=True``: fed to its
    logits stage)."""
    pred = predict(model, x).cpu().numpy()
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    param = next(model.parameters())
    points = torch.as_tensor(np.asarray(closest), dtype=param.dtype, device=param.device)
    if features:
        was = model.training
        model.eval()
        proj = model.stages[model.layer_names[-1]](points).argmax(1).cpu().numpy()
        model.train(was)
    else:
        proj = predict(model, points.reshape(len(x), *x.shape[1:])).cpu().numpy()
    return proj != pred


def feature_tables(splits: Mapping[str, Split], archs: Sequence[str], seeds: Sequence[int], *,
                   n_train: int | None, n_test: int | None, tol: float, device: str | None = None,
                   pixel: tuple[Tables, Tables] | None = None
                   ) -> tuple[Tables, Tables, list[dict[str, Any]], list[TrainResult]]:
    """Tabulate the test and held-out queries of each zoo model (:func:`halfway_utils.zoo.load`) in
    its penultimate feature space, with the label change at the feature-hull projection (``label_change``).

    A model that misses its target training accuracy is excluded (returned among the misfits, its
    row marked ``fitted=False``). With ``pixel`` (the test and held-out pixel tables), each fitted
    model also labels the pixel-hull projections: its rows' ``pixel_change_test``/``_held``.
    Returns the test tables and held-out tables keyed ``(dataset, "arch/seedN")``, one row per
    model (in the zoo's grid order) and the misfits.
    """
    fitted, misfits = zoo.load(list(splits), archs, seeds, n_train=n_train, n_test=n_test, device=device)
    grid = [c.label for c in zoo.grid(list(splits), archs, seeds, n_train=n_train, n_test=n_test)]
    models = sorted([*fitted, *misfits], key=lambda r: grid.index(r.config.label))  # rows in grid order
    tests: Tables = {}
    helds: Tables = {}
    rows = []
    for result in models:
        config, split = result.config, splits[result.config.dataset]
        row = {"dataset": config.dataset, "arch": config.arch, "seed": config.seed, "fitted": result.fitted,
               "train_acc": result.final["train_acc"], "test_acc": result.final["test_acc"],
               "cache": "hit" if result.cache_hit else "trained"}
        rows.append(row)
        if not result.fitted:
            continue
        space = (config.dataset, f"{config.arch}/seed{config.seed}")
        stage(f"feature-space hull distances for {config.label}")
        feats = [flatten(embed(result.model, x)) for x in (split.x_train, split.x_query, split.x_held)]
        row["feature_dim"] = feats[0].shape[1]
        tests[space], helds[space] = paired_tables(
            feats[0], split.y_train.numpy(), feats[1], split.y_query.numpy(), feats[2], split.y_held.numpy(),
            tol=tol, device=device)
        for table, x in ((tests[space], split.x_query), (helds[space], split.x_held)):
            table["label_change"] = projection_change(result.model, x, table["closest"], features=True)
        if pixel is not None:
            for which, tables, x in (("test", pixel[0], split.x_query), ("held", pixel[1], split.x_held)):
                changes = projection_change(result.model, x, tables[(config.dataset, "pixel")]["closest"],
                                            features=False)
                row[f"pixel_change_{which}"] = float(changes.mean())
    return tests, helds, rows, misfits


def space_summary(dataset: str, space: str, t: Table) -> dict[str, Any]:
    """One row: share outside, median distances and ratios, share of converged hull solves."""
    return {"dataset": dataset, "space": space, "outside": 1 - t["inside"].mean(),
            "median_hull": np.median(t["hull"]), "median_nn": np.median(t["nn"]),
            "median_other_class": np.median(t["other_class"]),
            "median_hull/nn": np.median(t["ratio_nn"]),
            "median_hull/other": np.median(t["ratio_other"]), "converged": t["converged"].mean()}


def summarize(tables: Tables, held: Tables | None = None) -> pd.DataFrame:
    """:func:`space_summary` of every table, in the tables' order; with ``held``, the held-out
    training queries' rows too (column ``queries``: "test" or "held-out")."""
    frames = [pd.DataFrame([space_summary(*key, t) for key, t in tables.items()])]
    if held:
        frames[0].insert(2, "queries", "test")
        frames.append(pd.DataFrame([space_summary(*key, t) for key, t in held.items()]))
        frames[1].insert(2, "queries", "held-out")
    return pd.concat(frames, ignore_index=True)


def ratio_frame(tables: Tables, held: Tables | None = None) -> pd.DataFrame:
    """Long table of both ratios per query, with the space shortened to its prefix (for box plots);
    column ``queries`` says "test" or "held-out" (from ``held``)."""
    parts = [(tables, "test")] + ([(held, "held-out")] if held else [])
    return pd.concat([pd.DataFrame({"dataset": k[0], "space": k[1].split("/")[0], "queries": which,
                                    "hull / NN": t["ratio_nn"], "hull / other-class NN": t["ratio_other"]})
                      for group, which in parts for k, t in group.items()], ignore_index=True)

