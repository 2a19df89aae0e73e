"""Where test samples lie relative to the training set: the convex hull, nearest neighbours.

Helpers for notebook 05 (paper 3, claims C1/C2): batched features and predictions of a
model, and one table per (training set, queries) with the hull distance from
:func:`halfway_utils.hull.distance`, the nearest-neighbour distance, and the distance to the
nearest training sample of the same and of another class.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import hull
from .models import embed, predict as _predict

__all__ = ["flatten", "features", "predict", "class_distances", "hull_table"]

_CHUNK_ELEMENTS = 1 << 24  # max queries * points of one distance block


def flatten(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, ...) images or features as a float32 (N, d) numpy array."""
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.ascontiguousarray(array.reshape(len(array), -1), dtype=np.float32)


def features(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Penultimate features ``model.features`` of ``x``, batched, eval mode, as (N, d) float32."""
    if len(x) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return flatten(embed(model, x.cpu(), batch_size))


def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Predicted class of each input, batched, eval mode."""
    return _predict(model, x.cpu(), batch_size).numpy()


def class_distances(points: np.ndarray, labels: np.ndarray, queries: np.ndarray,
                    query_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each query to the nearest training point of its own class and of another class.

    A query whose class has no training point gets ``inf`` as same-class distance (and
    likewise for another class). Computed in float64 blocks.
    """
    D = np.asarray(points, dtype=np.float64)
    Q = np.asarray(queries, dtype=np.float64)
    labels, query_labels = np.asarray(labels), np.asarray(query_labels)
    if D.ndim != 2 or Q.ndim != 2 or D.shape[1] != Q.shape[1]:
        raise ValueError(f"points (n, d) and queries (m, d) must agree, got {D.shape} and {Q.shape}")
    if len(labels) != len(D) or len(query_labels) != len(Q):
        raise ValueError("one label per point and per query is needed")
    Dt, lt = torch.from_numpy(D), torch.from_numpy(labels)
    same = np.full(len(Q), np.inf)
    other = np.full(len(Q), np.inf)
    step = max(1, _CHUNK_ELEMENTS // max(1, len(D)))
    for start in range(0, len(Q), step):
        q = torch.from_numpy(Q[start:start + step])
        dist = torch.cdist(q, Dt)
        match = lt[None, :] == torch.from_numpy(query_labels[start:start + step])[:, None]
        inf = torch.tensor(float("inf"), dtype=dist.dtype)
        same[start:start + step] = torch.where(match, dist, inf).min(dim=1).values.numpy()
        other[start:start + step] = torch.where(match, inf, dist).min(dim=1).values.numpy()
    return same, other


def hull_table(points: np.ndarray, labels: np.ndarray, queries: np.ndarray,
               query_labels: np.ndarray, **hull_kw: Any) -> dict[str, np.ndarray]:
    """Per query: hull distance (and its certified lower bound), inside flag, NN distance,
    NN index and label, same- and other-class NN distances, and the ratios to the NN distance.

    ``hull_kw`` goes to :func:`halfway_utils.hull.distance`.
    """
    points, queries = flatten(points), flatten(queries)
    labels, query_labels = np.asarray(labels), np.asarray(query_labels)
    h = hull.distance(points, queries, **hull_kw)
    nn_dist, nn_idx = hull.nearest_neighbor_distance(points, queries, device=hull_kw.get("device"))
    same, other = class_distances(points, labels, queries, query_labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_nn = np.where(nn_dist > 0, h.distance / nn_dist, np.nan)
        ratio_other = np.where(other > 0, h.distance / other, np.nan)
    return {"hull": h.distance, "hull_lower": h.lower_bound, "inside": h.inside,
            "converged": h.converged, "nn": nn_dist, "nn_index": nn_idx, "nn_label": labels[nn_idx],
            "same_class": same, "other_class": other, "ratio_nn": ratio_nn,
            "ratio_other": ratio_other}
