"""Uncertainty: seeded bootstrap intervals and intervals across seeds."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided interval."""

    value: float
    low: float
    high: float
    n: int
    method: str

    def as_dict(self) -> dict[str, float | int | str]:
        """JSON-ready form."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n,
                "method": self.method}

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def bootstrap(values: Sequence[float] | np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean,
              *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Percentile bootstrap interval of ``statistic`` over finite ``values`` (vectorised, seeded)."""
    array = _clean(values)
    if len(array) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "bootstrap")
    rng = np.random.default_rng(seed)
    samples = array[rng.integers(0, len(array), size=(n_boot, len(array)))]
    boots = np.apply_along_axis(statistic, 1, samples) if statistic not in (np.mean, np.median) \
        else statistic(samples, axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha])
    return Estimate(float(statistic(array)), float(low), float(high), len(array), "bootstrap")


def across_seeds(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Estimate:
    """Mean and Student-t interval of one number measured once per seed."""
    array = _clean(values)
    if len(array) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "t across seeds")
    mean = float(array.mean())
    if len(array) == 1:
        return Estimate(mean, float("nan"), float("nan"), 1, "single seed")
    half = float(sps.t.ppf(0.5 + level / 2, len(array) - 1) * array.std(ddof=1) / np.sqrt(len(array)))
    return Estimate(mean, mean - half, mean + half, len(array), "t across seeds")


def spearman(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Spearman rank correlation with a paired bootstrap interval."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3:
        return Estimate(float("nan"), float("nan"), float("nan"), len(a), "spearman")
    rho = float(sps.spearmanr(a, b).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        if np.ptp(a[idx]) > 0 and np.ptp(b[idx]) > 0:
            boots.append(sps.spearmanr(a[idx], b[idx]).statistic)
    low, high = np.quantile(boots, [0.025, 0.975]) if boots else (float("nan"),) * 2
    return Estimate(rho, float(low), float(high), len(a), "spearman, paired bootstrap")


def _rank_columns(values: np.ndarray) -> np.ndarray:
    """Average ranks of each column of a 2-D array."""
    return np.column_stack([sps.rankdata(col) for col in values.T])


def _partial_rank_corr(a: np.ndarray, b: np.ndarray, control: np.ndarray) -> float:
    """Pearson correlation of the ranks of ``a`` and ``b`` after regressing both on the ranks of
    every column of ``control`` (plus an intercept) by least squares; NaN if a residual is constant."""
    design = np.column_stack([np.ones(len(a)), *(_rank_columns(control).T if control.shape[1] else [])])
    ranks = np.column_stack([sps.rankdata(a), sps.rankdata(b)])
    coef, *_ = np.linalg.lstsq(design, ranks, rcond=None)
    resid = ranks - design @ coef
    scale = np.sqrt((resid ** 2).sum(0))
    if np.any(scale < 1e-9 * len(a)):
        return float("nan")
    return float((resid[:, 0] @ resid[:, 1]) / (scale[0] * scale[1]))


def partial_spearman(x: Sequence[float], y: Sequence[float], control: Sequence | np.ndarray | None, *,
                     groups: Sequence | None = None, n_boot: int = 2000, level: float = 0.95,
                     seed: int = 0) -> Estimate:
    """Partial Spearman correlation of ``x`` and ``y`` given ``control``, with a cluster bootstrap.

    The ranks of ``x`` and ``y`` are residualized on the ranks of ``control`` (one covariate, or one
    column per covariate; 0/1 indicator columns act as strata; ``None``: the plain Spearman
    correlation) and the residuals correlated. The
    interval is a percentile bootstrap that resamples whole ``groups`` (e.g. the models the points
    come from) with replacement, so points of one group move together; ``groups=None`` resamples
    points. Ranks are recomputed on every resample.
    """
    a, b = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    c = np.zeros((len(a), 0)) if control is None else np.asarray(control, dtype=float).reshape(len(a), -1)
    g = np.arange(len(a)) if groups is None else np.asarray(groups)
    if len(g) != len(a) or len(c) != len(a) or len(b) != len(a):
        raise ValueError("x, y, control and groups must have one entry per point")
    keep = np.isfinite(a) & np.isfinite(b) & np.all(np.isfinite(c), axis=1)
    a, b, c, g = a[keep], b[keep], c[keep], g[keep]
    method = ("partial spearman, " if c.shape[1] else "spearman, ") + \
        ("point bootstrap" if groups is None else "cluster bootstrap")
    labels, members = np.unique(g, return_inverse=True)
    if len(a) < c.shape[1] + 3 or len(labels) < 2:
        return Estimate(float("nan"), float("nan"), float("nan"), len(labels), method)
    rho = _partial_rank_corr(a, b, c)
    index = [np.flatnonzero(members == k) for k in range(len(labels))]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = np.concatenate([index[k] for k in rng.integers(0, len(labels), len(labels))])
        r = _partial_rank_corr(a[idx], b[idx], c[idx])
        if np.isfinite(r):
            boots.append(r)
    alpha = (1 - level) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha]) if boots else (float("nan"),) * 2
    return Estimate(rho, float(low), float(high), len(labels), method)


def rank_residuals(values: Sequence[float], control: Sequence | np.ndarray) -> np.ndarray:
    """Ranks of ``values`` minus their least-squares fit on the ranks of ``control`` (and an
    intercept): the part of ``values``' ordering that ``control`` does not explain, as used by
    :func:`partial_spearman` (for plotting the relation it measures)."""
    a = np.asarray(values, dtype=float).ravel()
    c = np.asarray(control, dtype=float).reshape(len(a), -1)
    design = np.column_stack([np.ones(len(a)), _rank_columns(c)])
    ranks = sps.rankdata(a)
    coef, *_ = np.linalg.lstsq(design, ranks, rcond=None)
    return ranks - design @ coef


def cluster_bootstrap(groups: Sequence[Sequence[float] | np.ndarray],
                      statistic: Callable[[np.ndarray], float] = np.mean, *, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0, within: bool = True) -> Estimate:
    """Two-level percentile bootstrap: models are the unit of replication.

    Each replicate draws whole ``groups`` (one per independently trained model, or model pair)
    with replacement, then, with ``within``, the items (inputs) of each drawn group with
    replacement; ``statistic`` is computed on the pooled resample. Non-finite items are dropped;
    empty groups do not count. ``n`` of the result is the number of groups.
    """
    arrays = [a for a in (_clean(g) for g in groups) if len(a)]
    method = "two-level cluster bootstrap (models, then inputs)" if within else "cluster bootstrap (models)"
    if not arrays:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, method)
    value = float(statistic(np.concatenate(arrays)))
    if len(arrays) < 2:
        return Estimate(value, float("nan"), float("nan"), len(arrays), method)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        picks = rng.integers(0, len(arrays), len(arrays))
        parts = [arrays[k][rng.integers(0, len(arrays[k]), len(arrays[k]))] if within else arrays[k]
                 for k in picks]
        boots[b] = statistic(np.concatenate(parts))
    alpha = (1 - level) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha])
    return Estimate(value, float(low), float(high), len(arrays), method)
