"""Uncertainty: intervals with models as the unit of replication.

Every interval that decides a verdict is a **t interval from a bootstrap standard error**:
``value ± t(df) · se`` where ``se`` is the standard deviation of bootstrap replicates that redraw the
models (within their stratum) and, where inputs are shared by the models, one draw of those inputs for
all of them; it is scaled by ``M / (M - 1)`` (the bootstrap's small-sample shrinkage of the model
variance) and ``df = M - 1`` with M models (Welch-Satterthwaite over strata for pooled estimates).
Why not the percentile bootstrap: at 5 models it covers about 84% for a nominal 95% (Cameron, Gelbach
& Miller 2008 on few clusters); the t form covers at least 93% in ``tests/test_coverage.py``'s
simulations of each design, and that test shows the percentile form failing.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

LEVEL = 0.95  # the nominal level of every interval (a claim's strata: LEVEL adjusted for the family, claims.py)
T_METHOD = "bootstrap SE, t(models - 1)"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided interval (and, for t intervals, its standard error and df)."""

    value: float
    low: float
    high: float
    n: int
    method: str
    se: float = float("nan")
    df: float = float("nan")
    level: float = LEVEL

    def as_dict(self) -> dict[str, float | int | str]:
        """JSON-ready form."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n,
                "method": self.method, "se": self.se, "df": self.df, "level": self.level}

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def t_estimate(value: float, se: float, df: float, n: int, method: str, level: float = LEVEL) -> Estimate:
    """``value ± t(df) · se`` at ``level`` (NaN bounds where se or df is not finite and positive)."""
    value = float(value)
    if not (np.isfinite(value) and np.isfinite(se) and np.isfinite(df) and df > 0):
        return Estimate(value, float("nan"), float("nan"), n, method, float(se), float(df), level)
    half = float(sps.t.ppf(0.5 + level / 2, df) * se)
    return Estimate(value, value - half, value + half, n, method, float(se), float(df), level)


def at_level(estimate: Estimate, level: float) -> Estimate:
    """The same t interval at another level (a family's corrected level); unchanged without se and df."""
    if not (np.isfinite(estimate.se) and np.isfinite(estimate.df)):
        return estimate
    return replace(t_estimate(estimate.value, estimate.se, estimate.df, estimate.n, estimate.method, level))


def replicate_interval(value: float, boots: Sequence[float] | np.ndarray, n: int, method: str, *,
                       df: float | None = None, inflate: float | None = None, level: float = LEVEL) -> Estimate:
    """The t interval of ``value`` from its bootstrap replicates that redrew ``n`` models.

    ``se = sd(boots) · sqrt(inflate)`` with ``inflate = n / (n - 1)`` and ``df = n - 1`` unless given
    (NaN replicates are dropped; fewer than two models or replicates: no interval).
    """
    boots = np.asarray(boots, dtype=float)
    boots = boots[np.isfinite(boots)]
    label = f"{method}; {T_METHOD}" if T_METHOD not in method else method
    if n < 2 or len(boots) < 2 or not np.isfinite(value):
        return Estimate(float(value), float("nan"), float("nan"), n, label, level=level)
    inflate = n / (n - 1) if inflate is None else inflate
    se = float(boots.std(ddof=1) * math.sqrt(inflate))
    return t_estimate(value, se, n - 1 if df is None else df, n, label, level)


def percentile_interval(value: float, boots: Sequence[float] | np.ndarray, n: int, method: str,
                        level: float = LEVEL) -> Estimate:
    """The percentile interval of the replicates: too narrow at five models (kept to show it, in the tests)."""
    boots = np.asarray(boots, dtype=float)
    boots = boots[np.isfinite(boots)]
    if not len(boots) or not np.isfinite(value):
        return Estimate(float(value), float("nan"), float("nan"), n, method, level=level)
    low, high = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float(value), float(low), float(high), n, method + ", percentile", level=level)


def satterthwaite(variances: Sequence[float], dfs: Sequence[float]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance components."""
    v, d = np.asarray(variances, float), np.asarray(dfs, float)
    keep = np.isfinite(v) & (v > 0) & np.isfinite(d) & (d > 0)
    if not keep.any():  # no variance anywhere: every component's df counts
        return float(d[np.isfinite(d) & (d > 0)].sum()) if (np.isfinite(d) & (d > 0)).any() else float("nan")
    v, d = v[keep], d[keep]
    return float(v.sum() ** 2 / (v ** 2 / d).sum())


def draw_dof(groups: Sequence[Hashable], pairs: bool = False) -> tuple[float, float]:
    """``(df, inflate)`` of replicates that redraw models within ``groups`` (one label per model, as
    :func:`model_draws` takes them): ``df = sum(M_g - 1)``, ``inflate`` the largest ``M_g / (M_g - 1)``.

    With ``pairs`` (statistics over model pairs weighted by the product of their models' draws) the
    inflation is squared: a model drawn twice has no pair with itself, which shrinks the bootstrap
    variance a second time (measured: the true variance is 1.80x the bootstrap's at 3 models per group,
    1.35x at 5; the square gives 2.25x and 1.56x, tests/test_coverage.py)."""
    sizes = [n for n in pd.Series(list(groups), dtype=object).value_counts().tolist() if n >= 2]
    if not sizes:
        return float("nan"), 1.0
    inflate = max(n / (n - 1) for n in sizes)
    return float(sum(n - 1 for n in sizes)), inflate ** 2 if pairs else inflate


def pooled_interval(value: float, boots: np.ndarray, parts: Mapping[Hashable, tuple[np.ndarray, int, float]],
                    method: str, level: float = LEVEL,
                    dof: Mapping[Hashable, tuple[float, float]] | None = None, n: int | None = None) -> Estimate:
    """The t interval of a pooled estimate from its replicates (drawn jointly with its strata's).

    ``parts`` maps each stratum to ``(its replicates, its models, its weight in the pool)``: the
    standard error is the pooled replicates' (covariances between strata that share inputs included)
    scaled by the largest ``M / (M - 1)``; df by Welch-Satterthwaite over the strata's weighted variances.
    ``dof`` overrides a stratum's ``(df, inflate)`` (models redrawn within groups: :func:`draw_dof`);
    ``n`` the number of models (default: the parts' sum, for strata that share no model).
    """
    dof = {k: (dof or {}).get(k, (m - 1, m / (m - 1) if m >= 2 else float("nan"))) for k, (_, m, _) in parts.items()}
    usable = [k for k, (_, m, _) in parts.items() if m >= 2 and np.isfinite(dof[k][0]) and dof[k][0] > 0]
    n = sum(m for _, m, _ in parts.values()) if n is None else n
    boots = np.asarray(boots, float)
    boots = boots[np.isfinite(boots)]
    if not usable or len(boots) < 2 or not np.isfinite(value):
        return Estimate(float(value), float("nan"), float("nan"), n, f"{method}; {T_METHOD}", level=level)
    comps = [parts[k][2] ** 2 * np.nanvar(parts[k][0], ddof=1) * dof[k][1] for k in usable]
    df = satterthwaite(comps, [dof[k][0] for k in usable])
    se = float(boots.std(ddof=1) * math.sqrt(max(dof[k][1] for k in usable)))
    return t_estimate(value, se, df, n, f"{method}; {T_METHOD}, Satterthwaite df over strata", level)


def input_draws(sizes: Mapping[Hashable, int], n_boot: int, rng: np.random.Generator) -> dict[Hashable, np.ndarray]:
    """One ``(n_boot, N)`` index draw per pool of shared inputs (e.g. per data set): every model scanning
    those inputs is resampled with the same draw, so inputs shared by models are resampled jointly."""
    return {key: rng.integers(0, n, (n_boot, n)) for key, n in sizes.items()}


def stratified_bootstrap(values: Sequence[float], replicates: np.ndarray, strata: Sequence[Hashable], *,
                         seed: int = 0, method: str, pool: str = "models", units: Mapping[Hashable, int] | None = None,
                         level: float = LEVEL) -> tuple[Estimate, dict[Hashable, Estimate]]:
    """Per-stratum and pooled t intervals of a mean over models, from per-model replicates.

    ``values`` has one number per model and ``replicates`` (models, B) its values on B input
    resamples (drawn jointly for models sharing inputs: :func:`input_draws`). Each replicate also
    redraws the models within their stratum; a stratum's estimate is the mean over its models, the
    pooled one the mean over all models (``pool="models"``) or over the strata (``pool="strata"``),
    its replicates drawn jointly with the strata's. ``units`` overrides a stratum's count of
    independent units (e.g. the queries of a stratum that is one fixed system).
    """
    values, replicates = np.asarray(values, float), np.asarray(replicates, float)
    labels = list(strata)
    n_boot = replicates.shape[1]
    counts = model_draws(labels, n_boot, np.random.default_rng(seed))
    units = dict(units or {})
    out: dict[Hashable, Estimate] = {}
    parts: dict[Hashable, tuple[np.ndarray, int, float]] = {}
    for key in dict.fromkeys(labels):
        members = [k for k, lab in enumerate(labels) if lab == key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            value = float(np.nanmean(values[members]))
        boots = weighted_mean(replicates[members].T, counts[:, members])
        size = units.get(key, int(np.isfinite(values[members]).sum()))
        out[key] = replicate_interval(value, boots, size, method, level=level)
        parts[key] = (boots, size, len(members) / len(labels) if pool == "models" else 1.0)
    finite = [k for k in out if np.isfinite(out[k].value)]
    if pool == "models":
        value = float(np.nanmean(values))
        boots = weighted_mean(replicates.T, counts)
    else:
        value = float(np.mean([out[k].value for k in finite])) if finite else float("nan")
        boots = np.mean([parts[k][0] for k in finite], axis=0) if finite else np.full(n_boot, np.nan)
    total = sum(parts[j][2] for j in finite) or 1.0
    weights = {k: (b, m, w / total) for k, (b, m, w) in parts.items() if k in finite}
    return pooled_interval(value, boots, weights, method, level), out


def model_draws(groups: Sequence[Hashable], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, M) counts: each replicate redraws, within each group, its models with replacement.

    ``groups`` has one entry per model: the group (e.g. architecture) it is redrawn within.
    """
    counts = np.zeros((n_boot, len(groups)))
    members: dict[Hashable, list[int]] = {}
    for k, group in enumerate(groups):
        members.setdefault(group, []).append(k)
    for idx in members.values():
        picks = rng.integers(0, len(idx), size=(n_boot, len(idx)))
        for pos, k in enumerate(idx):
            counts[:, k] = (picks == pos).sum(1)
    return counts


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (..., P) with ``weights`` (..., P) over the last axis, ignoring NaN values."""
    ok = np.isfinite(values)
    w = np.where(ok, weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(ok, values, 0.0) * w).sum(-1) / w.sum(-1)
