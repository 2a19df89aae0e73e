"""Uncertainty: seeded bootstrap intervals and intervals across seeds."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
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


def share(flags: Sequence[bool] | np.ndarray, n_boot: int, seed: int = 0) -> Estimate:
    """Share of True flags with a percentile bootstrap interval over the flags."""
    return bootstrap(np.asarray(flags, dtype=float), n_boot=n_boot, seed=seed)


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


# --------------------------------------------------------------------------- models and model pairs as the unit
# Notebook 03's designs: measurements per (model pair, input), where models and inputs are both
# crossed factors; a bootstrap redraws models (within each architecture) and, where it says so, inputs.


def permutation_null(a: np.ndarray, b: np.ndarray, labels: np.ndarray,
                     relation: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Per input i, what *unrelated* measurements would give: the median over inputs j != i of the
    same label of ``relation(a_i, b_j)`` and ``relation(a_j, b_i)``.

    ``a`` and ``b`` are two models' measurements (e.g. boundary distances) on the same inputs;
    ``relation`` is vectorised (it gets broadcast arrays). NaN where an input has no other
    input of its label.
    """
    a, b, labels = np.asarray(a, float), np.asarray(b, float), np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    r = relation(a[:, None], b[None, :])  # r[i, j]: a_i against b_j
    both = np.concatenate([np.where(same, r, np.nan), np.where(same, r.T, np.nan)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inputs alone in their class: NaN
        return np.nanmedian(both, axis=1)


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


def pair_weights(counts: np.ndarray, models: Sequence[Hashable], pairs: Sequence[tuple[Hashable, Hashable]]
                 ) -> np.ndarray:
    """(n_boot, P) weights of the pairs in each replicate: the product of their two models' counts."""
    index = {name: k for k, name in enumerate(models)}
    ia, ib = [index[a] for a, _ in pairs], [index[b] for _, b in pairs]
    return counts[:, ia] * counts[:, ib]


def pair_effects(obs: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Per row (model pair): median over inputs of the observed values over the null's (NaN ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(obs, axis=-1) / np.nanmedian(null, axis=-1)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (..., P) with ``weights`` (..., P) over the last axis, ignoring NaN values."""
    ok = np.isfinite(values)
    w = np.where(ok, weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(ok, values, 0.0) * w).sum(-1) / w.sum(-1)


def crossed_bootstrap(obs: np.ndarray, null: np.ndarray, models: Sequence[Hashable],
                      pairs: Sequence[tuple[Hashable, Hashable]], *, counts: np.ndarray, inputs: np.ndarray
                      ) -> tuple[float, np.ndarray]:
    """The mean over pairs of :func:`pair_effects`, and its replicates under a crossed bootstrap.

    ``obs`` and ``null`` are (P, N): per pair and input, the observed and the null value.
    Each replicate reweights the pairs by ``counts`` (:func:`model_draws`, so a model drawn
    twice counts in each of its pairs twice) and redraws the inputs by ``inputs`` (n_boot, N)
    for every pair at once: models and inputs are both crossed factors of the design, and
    pairs that share a model or inputs are not treated as independent.
    """
    value = float(np.nanmean(pair_effects(obs, null))) if len(obs) else float("nan")
    if not len(obs):
        return value, np.full(len(counts), np.nan)
    weights = pair_weights(counts, models, pairs)
    effects = pair_effects(obs[:, inputs], null[:, inputs]).T  # (n_boot, P)
    return value, weighted_mean(effects, weights)


def dyadic_bootstrap(values: np.ndarray, models: Sequence[Hashable], pairs: Sequence[tuple[Hashable, Hashable]],
                     statistic: Callable[[np.ndarray, np.ndarray], float], *, counts: np.ndarray
                     ) -> tuple[float, np.ndarray]:
    """``statistic(values, weights)`` over pairs, and its replicates when models are redrawn by ``counts``.

    ``values`` is (P,) or (P, k), one row per pair; the point value uses unit weights.
    """
    values = np.asarray(values, dtype=float)
    weights = pair_weights(counts, models, pairs)
    boots = np.array([statistic(values, w) for w in weights])
    return float(statistic(values, np.ones(len(values)))), boots


def replicate_interval(value: float, boots: np.ndarray, n: int, method: str) -> Estimate:
    """An Estimate from a point value and its bootstrap replicates (95% percentile interval; NaN ones dropped)."""
    boots = np.asarray(boots, dtype=float)
    boots = boots[np.isfinite(boots)]
    if not len(boots) or not np.isfinite(value):
        return Estimate(value, float("nan"), float("nan"), n, method)
    low, high = np.quantile(boots, [0.025, 0.975])
    return Estimate(float(value), float(low), float(high), n, method)


def weighted_spearman(values: np.ndarray, weights: np.ndarray) -> float:
    """Spearman rho of ``values[:, 0]`` and ``values[:, 1]`` with each row repeated ``weights`` times."""
    reps = np.asarray(weights).astype(int)
    a, b = np.repeat(values[:, 0], reps), np.repeat(values[:, 1], reps)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(sps.spearmanr(a, b).statistic)


@dataclass
class StratifiedEstimates:
    """Per measurement: the pooled estimate over all models and one per (dataset, arch) stratum."""

    pooled: dict[str, Estimate]
    strata: dict[str, dict[str, Estimate]]

    def of(self, name: str) -> dict[str, Estimate]:
        """``{stratum: estimate}`` of one measurement."""
        return {stratum: est[name] for stratum, est in self.strata.items()}

    def line(self, name: str) -> str:
        """``"stratum value [low, high]; ..."``: one measurement per stratum, for a ledger note."""
        return "; ".join(f"{stratum} {e}" for stratum, e in self.of(name).items())

    def table(self, names: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows = strata then ``"pooled"``, columns = ``value [low, high]`` of each measurement."""
        names = list(self.pooled) if names is None else list(names)
        rows = {**self.strata, "pooled": self.pooled}
        return pd.DataFrame({stratum: {k: str(est[k]) for k in names} for stratum, est in rows.items()}).T


def stratified(per_model: pd.DataFrame, columns: Sequence[str]) -> StratifiedEstimates:
    """Mean and 95 % t-interval over models of each column: per (dataset, arch) and pooled.

    ``per_model`` has one row per independently trained model, so the model is the unit of
    replication; strata keep their order of appearance.
    """
    pooled = {c: across_seeds(per_model[c]) for c in columns}
    strata = {f"{d}/{a}": {c: across_seeds(sel[c]) for c in columns}
              for (d, a), sel in per_model.groupby(["dataset", "arch"], sort=False)}
    return StratifiedEstimates(pooled, strata)


# --------------------------------------------------------------------------- per-model groups of a long table
# Notebooks 01 and 02: one row per (model, path or input), the model (dataset, arch, seed) the unit.


def stratum_label(dataset: str, arch: str) -> str:
    """The name of a (dataset, arch) stratum as the ledger writes it: ``"mnist/mlp"``."""
    return f"{dataset}/{arch}"


def model_groups(frame: pd.DataFrame, column: str) -> dict[str, list[np.ndarray]]:
    """Stratum (:func:`stratum_label`) -> one float array of ``column`` per model (seed).

    ``frame`` has the columns ``dataset``, ``arch``, ``seed`` and ``column``; strata and the
    models within each keep their order of appearance.
    """
    groups: dict[str, list[np.ndarray]] = {}
    for (dataset, arch, _), grp in frame.groupby(["dataset", "arch", "seed"], sort=False):
        groups.setdefault(stratum_label(dataset, arch), []).append(grp[column].to_numpy(dtype=float))
    return groups
