"""Transfer of adversarial examples between models, and how far apart their boundaries are.

Building blocks for notebook 03 (hypotheses H3 and H4 of ``../shared/PAPERS.md``),
following Tramèr et al. (arXiv 1704.03453), "The Space of Transferable Adversarial
Examples":

- directions at an input ``x``, each of unit L2 norm over all input dims:
  *legitimate* (toward the nearest training sample of another class,
  :func:`legitimate_directions`), *adversarial* (``x_adv - x``,
  :func:`adversarial_directions`) and *random* (seeded Gaussian,
  :func:`random_directions`);
- the minimum distance ``MD_d(f, x)`` along a direction for several models at once
  (:func:`min_distances`, a loop over models around :func:`boundary.boundary_distance`);
- the inter-boundary distance ``ID = |MD_d(f1, x) - MD_d(f2, x)|`` of every model pair and
  its ratio to the pair's mean distance to the boundary (:func:`inter_boundary`);
- transfer outcomes of adversarial sets crafted on each source, on each target
  (:func:`transfer_outcomes`, :func:`transfer_matrix`);
- agreement of first flip points on common training-pair segments
  (:func:`flip_points`, :func:`flip_disagreement`);
- where an adversarial point lies relative to the segment from its clean input to the
  nearest training sample of the adversarial class (:func:`segment_projection`).

Everything is batched over inputs; loops run over models only.
"""
from __future__ import annotations

from itertools import combinations
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .attacks import predict
from .boundary import boundary_distance, scan_paths

Model = Callable[[Tensor], Tensor]

__all__ = [
    "adversarial_directions",
    "flip_disagreement",
    "flip_points",
    "inter_boundary",
    "legitimate_directions",
    "min_distances",
    "nearest_index",
    "random_directions",
    "random_pairs",
    "segment_projection",
    "transfer_matrix",
    "transfer_outcomes",
    "unit",
]


def _rows(t: Tensor) -> Tensor:
    """``t`` flattened to (N, D)."""
    return t.reshape(len(t), -1)


def _view(v: Tensor, like: Tensor) -> Tensor:
    """A per-row vector shaped to broadcast against ``like`` (N, ...)."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def unit(d: Tensor) -> Tensor:
    """Rows of ``d`` scaled to unit L2 norm (over all non-batch dims); zero rows raise."""
    norms = _rows(d).norm(dim=1)
    if (norms == 0).any():
        raise ValueError(f"{int((norms == 0).sum())} all-zero direction(s) cannot be normalised")
    return d / _view(norms, d)


def nearest_index(x: Tensor, ref: Tensor, allowed: Tensor | None = None, *, chunk: int = 512
                  ) -> tuple[Tensor, Tensor]:
    """Index into ``ref`` of each row's nearest (L2) allowed reference row, and the distance.

    ``allowed`` is a bool (N, M) mask of admissible references per row (None: all).
    A row with no admissible reference raises.
    """
    xs, rs = _rows(x).double(), _rows(ref).double()
    if allowed is not None and allowed.shape != (len(xs), len(rs)):
        raise ValueError(f"allowed must have shape {(len(xs), len(rs))}, got {tuple(allowed.shape)}")
    if allowed is not None and not allowed.any(1).all():
        raise ValueError("some row has no admissible reference")
    idx, dist = [], []
    for lo in range(0, len(xs), chunk):
        d = torch.cdist(xs[lo:lo + chunk], rs)
        if allowed is not None:
            d = d.masked_fill(~allowed[lo:lo + chunk], float("inf"))
        v, i = d.min(1)
        idx.append(i)
        dist.append(v)
    if not idx:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.float64)
    return torch.cat(idx), torch.cat(dist)


def legitimate_directions(x: Tensor, y: Tensor, x_train: Tensor, y_train: Tensor
                          ) -> tuple[Tensor, Tensor, Tensor]:
    """Unit directions from ``x`` toward its nearest training sample of another class.

    Returns ``(directions, index into x_train, L2 distance to that sample)``.
    """
    allowed = y.view(-1, 1) != y_train.view(1, -1)
    idx, dist = nearest_index(x, x_train, allowed)
    return unit(x_train[idx] - x), idx, dist


def adversarial_directions(x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor]:
    """Unit directions ``(x_adv - x) / ||x_adv - x||`` and a bool mask of usable rows.

    Rows where the attack did not move the input get a NaN direction and ``False``.
    """
    delta = x_adv - x
    ok = _rows(delta).norm(dim=1) > 0
    out = torch.full_like(delta, float("nan"))
    if ok.any():
        out[ok] = unit(delta[ok])
    return out, ok


def random_directions(like: Tensor, seed: int = 0) -> Tensor:
    """Seeded Gaussian directions of unit L2 norm, one per row of ``like`` (same shape and dtype)."""
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.randn(like.shape, generator=gen, dtype=torch.float64).to(like.dtype)
    return unit(g).to(like.device)


def min_distances(models: Mapping[str, Model], x: Tensor, directions: Tensor, *, max_eps: float,
                  grid: int = 17, clip: bool = False, chunk: int = 4096) -> dict[str, Tensor]:
    """``MD_d(f, x)`` for every model along the same unit ``directions``: name -> float64 (N,).

    ``inf`` where a model keeps its class up to ``max_eps``; NaN where a direction is NaN.
    """
    ok = torch.isfinite(_rows(directions)).all(1)
    out = {}
    for name, model in models.items():
        md = torch.full((len(x),), float("nan"), dtype=torch.float64)
        if ok.any():
            md[ok] = boundary_distance(model, x[ok], directions[ok], max_eps=max_eps, grid=grid,
                                       clip=clip, chunk=chunk).distance
        out[name] = md
    return out


def inter_boundary(md: Mapping[str, Tensor], pairs: list[tuple[str, str]] | None = None
                   ) -> pd.DataFrame:
    """Long table of ``ID = |MD_a - MD_b|`` per (pair, input) with ``ratio = ID / mean(MD_a, MD_b)``.

    ``pairs`` defaults to every unordered pair of ``md``'s keys. Rows where either
    distance is not finite (no boundary within the search range, or no direction) are
    kept with NaN ``id`` and ``ratio``; ``both_found`` says which rows are measured.
    """
    pairs = list(combinations(md, 2)) if pairs is None else pairs
    frames = []
    for a, b in pairs:
        ma, mb = md[a].double().numpy(), md[b].double().numpy()
        found = np.isfinite(ma) & np.isfinite(mb)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.where(found, np.abs(ma - mb), np.nan)
            mean = np.where(found, (ma + mb) / 2, np.nan)
            ratio = gap / mean
        frames.append(pd.DataFrame({"model_a": a, "model_b": b, "input": np.arange(len(ma)),
                                    "md_a": ma, "md_b": mb, "id": gap, "ratio": ratio,
                                    "both_found": found}))
    cols = ["model_a", "model_b", "input", "md_a", "md_b", "id", "ratio", "both_found"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def transfer_outcomes(models: Mapping[str, Model], x: Tensor, y: Tensor,
                      x_adv: Mapping[str, Tensor]) -> np.ndarray:
    """Array (S, T, N): 1 where target T misclassifies source S's adversarial input, else 0.

    NaN where source or target misclassifies the clean input (only inputs both classify
    correctly count). Sources follow ``x_adv``'s order, targets ``models``' order.
    """
    clean_ok = {name: (predict(m, x) == y).numpy() for name, m in models.items()}
    out = np.full((len(x_adv), len(models), len(x)), np.nan)
    for i, (src, xa) in enumerate(x_adv.items()):
        for j, (tgt, model) in enumerate(models.items()):
            fooled = (predict(model, xa) != y).numpy().astype(float)
            keep = clean_ok[src] & clean_ok[tgt]
            out[i, j] = np.where(keep, fooled, np.nan)
    return out


def transfer_matrix(outcomes: np.ndarray, sources: list[str], targets: list[str]) -> pd.DataFrame:
    """Success rates (sources x targets) from :func:`transfer_outcomes`, NaN where nothing counts."""
    with np.errstate(invalid="ignore"):
        n = np.isfinite(outcomes).sum(2)
        rates = np.where(n > 0, np.nansum(outcomes, 2) / np.maximum(n, 1), np.nan)
    return pd.DataFrame(rates, index=pd.Index(sources, name="source"),
                        columns=pd.Index(targets, name="target"))


def random_pairs(y: Tensor, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` seeded index pairs ``(i, j)`` into ``y`` with ``y[i] != y[j]``."""
    gen = torch.Generator().manual_seed(int(seed))
    i_all, j_all = [], []
    while sum(len(v) for v in i_all) < n:
        i = torch.randint(0, len(y), (2 * n,), generator=gen)
        j = torch.randint(0, len(y), (2 * n,), generator=gen)
        keep = y[i] != y[j]
        i_all.append(i[keep])
        j_all.append(j[keep])
    return torch.cat(i_all)[:n], torch.cat(j_all)[:n]


def flip_points(models: Mapping[str, Model], a: Tensor, b: Tensor, *, grid: int = 17
                ) -> dict[str, Tensor]:
    """First flip point t in [0, 1] of every model on the segments a -> b: name -> float64 (N,)."""
    return {name: scan_paths(m, a, b, grid=grid).first_flip for name, m in models.items()}


def flip_disagreement(flips: Mapping[str, Tensor], pairs: list[tuple[str, str]] | None = None
                      ) -> pd.DataFrame:
    """Per model pair, the mean and median |t_a - t_b| of first flip points over common segments."""
    pairs = list(combinations(flips, 2)) if pairs is None else pairs
    rows = []
    for a, b in pairs:
        gap = (flips[a] - flips[b]).abs().numpy()
        gap = gap[np.isfinite(gap)]
        rows.append({"model_a": a, "model_b": b, "n": len(gap),
                     "mean_flip_gap": float(gap.mean()) if len(gap) else np.nan,
                     "median_flip_gap": float(np.median(gap)) if len(gap) else np.nan})
    return pd.DataFrame(rows)


def segment_projection(x: Tensor, x_adv: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Where ``x_adv`` lies relative to the segment ``x -> target``.

    Returns ``t = <x_adv - x, target - x> / ||target - x||^2`` (0 at ``x``, 1 at the
    target) and ``perp = ||residual|| / ||x_adv - x||``, the fraction of the
    perturbation's norm orthogonal to the segment (1: wholly perpendicular). ``perp``
    is NaN where the perturbation is zero.
    """
    delta, seg = _rows(x_adv - x).double(), _rows(target - x).double()
    seg_sq = (seg * seg).sum(1)
    if (seg_sq == 0).any():
        raise ValueError("a target coincides with its input: the segment has no direction")
    t = (delta * seg).sum(1) / seg_sq
    resid = delta - t[:, None] * seg
    norm = delta.norm(dim=1)
    perp = torch.where(norm > 0, resid.norm(dim=1) / norm.clamp_min(1e-300),
                       torch.full_like(norm, float("nan")))
    return t, perp
