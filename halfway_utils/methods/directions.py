"""Directions from an input and the distance to each model's boundary along them.

Following Tramèr et al. (arXiv 1704.03453), "The Space of Transferable Adversarial Examples":

- unit directions of three kinds: *legitimate* (toward the nearest training sample of another
  class, :func:`legitimate_directions`), *adversarial* (an attack's perturbation,
  :func:`adversarial_directions`) and *random* (seeded Gaussian, :func:`random_directions`);
- the minimum distance ``MD_d(f, x)`` to each model's boundary along them
  (:func:`min_distances`), a censored one (no boundary within the search) counted at the
  search's range (:func:`censor`), and the gap between two models' boundaries relative to their
  mean distance (:func:`id_over_md`, :func:`inter_boundary`);
- where a perturbed point lies relative to a segment (:func:`segment_projection`).

Everything is batched over inputs (rows); loops run over models only.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .boundary import boundary_distance
from .neighbors import nearest

Model = Callable[[Tensor], Tensor]

__all__ = [
    "adversarial_directions",
    "censor",
    "id_over_md",
    "inter_boundary",
    "legitimate_directions",
    "min_distances",
    "random_directions",
    "segment_projection",
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


def legitimate_directions(x: Tensor, y: Tensor, x_train: Tensor, y_train: Tensor
                          ) -> tuple[Tensor, Tensor, Tensor]:
    """Unit directions from ``x`` toward its nearest training sample of another class.

    Returns ``(directions, index into x_train, L2 distance to that sample)``.
    """
    idx, dist = nearest(x, x_train, labels=(y, y_train), relation="other")
    if (idx < 0).any():
        raise ValueError("some input has no training sample of another class")
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
                  grid: int = 17, clip: bool = True, chunk: int = 4096) -> dict[str, Tensor]:
    """``MD_d(f, x)`` for every model along the same unit ``directions``: name -> float64 (N,).

    ``inf`` where a model keeps its class up to ``max_eps`` (censored); NaN where a direction
    is NaN. With ``clip`` (the default) every searched point is clamped to [0, 1].
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


def censor(md: np.ndarray, cap: float | np.ndarray) -> np.ndarray:
    """Distances with every censored one (``inf``: no boundary within the search) set to ``cap``.

    A censored boundary lies *at least* ``cap`` away; counting it at ``cap`` keeps the input
    instead of dropping it (which would keep only the inputs near every boundary).
    """
    md = np.asarray(md, dtype=float)
    return np.where(np.isinf(md), cap, md)


def id_over_md(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b| / mean(a, b)``: the inter-boundary distance relative to the pair's mean distance, in [0, 2].

    Scale-free, so it is the same on distances and on positions ``distance / length``.
    NaN where either is NaN.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(a - b) / ((a + b) / 2)


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
        with np.errstate(invalid="ignore"):
            gap = np.where(found, np.abs(ma - mb), np.nan)
        ratio = np.where(found, id_over_md(ma, mb), np.nan)
        frames.append(pd.DataFrame({"model_a": a, "model_b": b, "input": np.arange(len(ma)),
                                    "md_a": ma, "md_b": mb, "id": gap, "ratio": ratio,
                                    "both_found": found}))
    cols = ["model_a", "model_b", "input", "md_a", "md_b", "id", "ratio", "both_found"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


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
