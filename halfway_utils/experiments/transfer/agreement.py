"""Per model pair: boundary agreement (H3's legitimate-direction effect, flip-point gaps) beside transfer.

H4 reports, not judges, how PGD transfer at eps_ref and the sign-noise control go with how
close a pair's boundaries are (:func:`pair_table`).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ...evidence.stats import pair_effects
from ...methods.boundary import scan_paths
from ...methods.segments import sample_pairs
from .adversarial import transfer_matrix
from .bundles import Bundle, pair_kind

Model = Callable[[Tensor], Tensor]


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


def flip_gaps(b: Bundle, *, n_paths: int, grid: int, seed: int) -> pd.DataFrame:
    """Per model pair, the gap between first flip points on ``n_paths`` different-class train-train segments."""
    i, j = sample_pairs(b.y_train, n=n_paths, kind="different", seed=seed)
    i, j = torch.as_tensor(i), torch.as_tensor(j)
    return flip_disagreement(flip_points(b.models, b.x_train[i], b.x_train[j], grid=grid))


def pair_table(bundles: Mapping[str, Bundle], rows: pd.DataFrame, pairs: Mapping[str, Sequence[tuple[str, str]]],
               outcomes: Mapping[tuple, np.ndarray], noise: Mapping[tuple, np.ndarray], *, eps_ref: float,
               n_paths: int, grid: int, seed: int) -> pd.DataFrame:
    """Per measured model pair: boundary agreement, PGD transfer at eps_ref and the sign-noise control.

    ``legit_effect``: the pair's H3 effect along legitimate directions (observed / null
    median ID/MD; lower is closer); ``flip_gap``: mean gap between first flip points on
    common train-train segments; ``transfer``: the mean over the pair's two directions;
    ``noise``: the mean of the two models' rates of being fooled by sign noise of the same size.
    """
    out = []
    legit = rows[rows["direction"] == "legitimate"]
    for name, bundle in bundles.items():
        names = list(bundle.models)
        gaps = flip_gaps(bundle, n_paths=n_paths, grid=grid, seed=seed).set_index(["model_a", "model_b"])
        m = transfer_matrix(outcomes[name, "pgd", eps_ref], names, names)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fooled = dict(zip(names, np.nanmean(noise[name, eps_ref], axis=1)))
        sub = legit[legit["dataset"] == name]
        for a, b in pairs[name]:
            g = sub[(sub["model_a"] == a) & (sub["model_b"] == b)]
            gap = gaps.loc[(a, b)] if (a, b) in gaps.index else gaps.loc[(b, a)]
            out.append({"dataset": name, "model_a": a, "model_b": b, "pair": f"{a} | {b}", "kind": pair_kind(a, b),
                        "legit_effect": float(pair_effects(g["obs"].to_numpy(), g["null"].to_numpy())),
                        "flip_gap": gap["mean_flip_gap"], "transfer": (m.loc[a, b] + m.loc[b, a]) / 2,
                        "noise": (fooled[a] + fooled[b]) / 2})
    return pd.DataFrame(out)
