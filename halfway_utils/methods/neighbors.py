"""Nearest-neighbour search: the one L2 search every experiment uses.

:func:`nearest` finds, for each query row, the nearest admissible reference row (rows are
flattened). Admissible references are all of them, those a bool mask allows, or those
of the same (or another) class. The search runs in blocks of queries on a device; the
distances it returns are recomputed exactly in float64 from the rows it chose, so a
float32 search (fast, for large reference sets) changes no reported distance, only, on
exact near-ties, which of two equally near rows is picked.

:func:`nearest_labels` is the 1-NN classifier built on it; :class:`NearestNeighbor` is the same
rule as a model (logits), so that a scan along a segment finds its flips as it finds a network's.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..infra.device import pick_device

__all__ = ["nearest", "nearest_labels", "NearestNeighbor", "RELATIONS"]

RELATIONS = ("same", "other")
_BLOCK_ELEMENTS = 1 << 25  # queries * references of one distance block (256 MiB in float64)


def _rows(x: Any) -> Tensor:
    """``x`` (tensor or array) as a 2-D CPU tensor (N, D)."""
    t = torch.as_tensor(x) if not isinstance(x, Tensor) else x.detach()
    return t.cpu().reshape(len(t), int(np.prod(t.shape[1:])))


def _mask(start: int, stop: int, allowed: Tensor | None, labels: tuple[Tensor, Tensor] | None,
          relation: str, device: torch.device) -> Tensor | None:
    """The admissible-reference mask of queries ``start:stop`` (None: all admissible)."""
    if allowed is not None:
        return allowed[start:stop].to(device)
    if labels is None:
        return None
    yq, yr = labels
    match = yq[start:stop, None].to(device) == yr[None, :].to(device)
    return match if relation == "same" else ~match


def nearest(queries: Any, ref: Any, *, allowed: Tensor | None = None,
            labels: tuple[Any, Any] | None = None, relation: str = "same",
            dtype: torch.dtype = torch.float64, chunk: int = 1024,
            device: str | torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Index into ``ref`` of each query's nearest admissible row and its exact L2 distance.

    ``allowed``: bool (N, M) mask of admissible references per query. ``labels``:
    ``(query_labels, ref_labels)``, admitting references of the ``relation`` ("same" or
    "other") class. A query with no admissible reference gets index -1 and distance inf.
    ``dtype`` is the search precision (float32 is faster; distances are float64 anyway).
    Returns CPU tensors: int64 indices (N,) and float64 distances (N,).
    """
    q, r = _rows(queries), _rows(ref)
    if q.shape[1] != r.shape[1] and len(q) and len(r):
        raise ValueError(f"queries have {q.shape[1]} features per row, references {r.shape[1]}")
    if len(r) == 0:
        raise ValueError("the reference set is empty")
    if allowed is not None and tuple(allowed.shape) != (len(q), len(r)):
        raise ValueError(f"allowed must have shape {(len(q), len(r))}, got {tuple(allowed.shape)}")
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    if labels is not None:
        labels = (_rows(labels[0]).flatten(), _rows(labels[1]).flatten())
        if len(labels[0]) != len(q) or len(labels[1]) != len(r):
            raise ValueError("labels need one entry per query and one per reference row")
    dev = pick_device(device)
    center = r.double().mean(0)  # the search is translation invariant; centring helps float32
    r_dev = (r.double() - center).to(dev, dtype)
    index = torch.full((len(q),), -1, dtype=torch.long)
    step = max(1, min(chunk, _BLOCK_ELEMENTS // len(r)))
    for start in range(0, len(q), step):
        stop = min(start + step, len(q))
        d = torch.cdist((q[start:stop].double() - center).to(dev, dtype), r_dev)
        mask = _mask(start, stop, allowed, labels, relation, dev)
        if mask is not None:
            d = d.masked_fill(~mask, float("inf"))
        value, idx = d.min(1)
        index[start:stop] = torch.where(torch.isinf(value), -1, idx).cpu()
    found = index >= 0
    distance = torch.full((len(q),), float("inf"), dtype=torch.float64)
    if found.any():
        distance[found] = (q[found].double() - r[index[found]].double()).norm(dim=1)
    return index, distance


def nearest_labels(train_x: Any, train_y: Any, query_x: Any, **kw: Any) -> Tensor:
    """The 1-NN rule: label of each query's nearest training row (L2), as a CPU tensor."""
    index, _ = nearest(query_x, train_x, **kw)
    return torch.as_tensor(np.asarray(train_y) if not isinstance(train_y, Tensor) else train_y
                           ).cpu()[index]


class NearestNeighbor(nn.Module):
    """The 1-NN rule of ``(x, y)`` as a model: logit of class c = -(squared distance to the nearest sample of c).

    Its argmax is the label of the nearest sample, so its boundary along a segment is made of
    Voronoi bisectors; between the logits of two classes the squared distances' common
    ``t^2`` term cancels, the margin is piecewise linear in ``t`` and the secant refinement of
    :func:`halfway_utils.methods.boundary.scan_paths` finds its flips exactly.
    """

    BLOCK = 1 << 24  # at most this many query-sample distances at once (64 MiB of float32)

    def __init__(self, x: Tensor, y: Tensor, n_classes: int | None = None) -> None:
        super().__init__()
        flat = x.flatten(1).float()
        # A parameter (frozen), so that scans find the rule's device as they find a network's.
        self.points = nn.Parameter(flat, requires_grad=False)
        self.register_buffer("sq_norms", (flat ** 2).sum(1))
        self.register_buffer("labels", torch.as_tensor(y).long().to(flat.device))
        self.n_classes = int(n_classes if n_classes is not None else int(self.labels.max()) + 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_classes): minus the squared distance to the nearest sample of each class (-inf: none)."""
        q = x.flatten(1).to(self.points.dtype)
        out = torch.full((len(q), self.n_classes), float("-inf"), dtype=q.dtype, device=q.device)
        step = max(1, self.BLOCK // max(1, len(self.points)))
        masks = [(c, self.labels == c) for c in range(self.n_classes)]
        for lo in range(0, len(q), step):
            block = q[lo:lo + step]
            dist = (block ** 2).sum(1, keepdim=True) - 2 * block @ self.points.T + self.sq_norms
            for c, mask in masks:
                if mask.any():
                    out[lo:lo + step, c] = -dist[:, mask].amin(1)
        return out
