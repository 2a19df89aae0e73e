"""Statistics with models as the unit of replication: bootstraps, rank correlations, pair designs, strata.

The intervals themselves (t intervals from bootstrap standard errors, and why) are in :mod:`.intervals`,
re-exported here so that every claim module reads ``stats.<name>``.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from .intervals import (
    LEVEL,
    T_METHOD,
    Estimate,
    at_level,
    draw_dof,
    input_draws,
    model_draws,
    percentile_interval,
    pooled_interval,
    replicate_interval,
    satterthwaite,
    stratified_bootstrap,
    t_estimate,
    weighted_mean,
)

__all__ = ["Estimate", "LEVEL", "StratifiedEstimates", "T_METHOD", "across_seeds", "at_level", "bootstrap",
           "cluster_bootstrap", "crossed_bootstrap", "draw_dof", "dyadic_bootstrap", "input_draws", "is_dyadic",
           "model_draws", "model_groups", "pair_effects", "pair_weights", "partial_spearman", "percentile_interval",
           "permutation_null", "pooled_interval", "rank_residuals", "replicate_interval", "resampled_medians",
           "satterthwaite", "share", "spearman", "stratified", "stratified_bootstrap", "stratum_label", "t_estimate",
           "weighted_mean", "weighted_spearman"]

def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def bootstrap(values: Sequence[float] | np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean,
              *, n_boot: int = 2000, level: float = LEVEL, seed: int = 0) -> Estimate:
    """Bootstrap over finite ``values`` (independent units, e.g. queries): :func:`replicate_interval`'s t form."""
    array = _clean(values)
    if len(array) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "bootstrap")
    rng = np.random.default_rng(seed)
    samples = array[rng.integers(0, len(array), size=(n_boot, len(array)))]
    boots = np.apply_along_axis(statistic, 1, samples) if statistic not in (np.mean, np.median) \
        else statistic(samples, axis=1)
    return replicate_interval(float(statistic(array)), boots, len(array), "bootstrap", level=level)


def share(flags: Sequence[bool] | np.ndarray, n_boot: int, seed: int = 0) -> Estimate:
    """Share of True flags with a percentile bootstrap interval over the flags."""
    return bootstrap(np.asarray(flags, dtype=float), n_boot=n_boot, seed=seed)


def across_seeds(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Estimate:
    """Mean and Student-t interval of one number measured once per seed (model)."""
    array = _clean(values)
    if len(array) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "t across seeds")
    mean = float(array.mean())
    if len(array) == 1:
        return Estimate(mean, float("nan"), float("nan"), 1, "single seed")
    se = float(array.std(ddof=1) / np.sqrt(len(array)))
    return t_estimate(mean, se, len(array) - 1, len(array), "t across seeds", level)


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
                      level: float = LEVEL, seed: int = 0, within: bool = True, shared: bool = False,
                      interval: str = "t") -> Estimate:
    """Two-level bootstrap with models as the unit of replication, and its t interval.

    Each replicate draws whole ``groups`` (one per independently trained model) with replacement,
    then, with ``within``, the items (inputs): with ``shared`` (every model measured on the same
    inputs, in the same order) one draw of the inputs for all drawn models, else a draw per drawn
    model. ``statistic`` is computed on the pooled finite items of the resample. ``interval="percentile"``
    gives the old percentile interval (too narrow at five models: for comparison only).
    """
    raw = [np.asarray(g, dtype=float).ravel() if shared else _clean(g) for g in groups]
    raw = [a for a in raw if np.isfinite(a).any()]
    if shared and len({len(a) for a in raw}) > 1:
        raise ValueError("shared inputs need one value per input for every model (equal lengths)")
    method = ("two-level cluster bootstrap (models, then " + ("shared inputs jointly)" if shared else "inputs)")
              if within else "cluster bootstrap (models)")
    if not raw:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, method)
    value = float(statistic(_clean(np.concatenate(raw))))
    if len(raw) < 2:
        return Estimate(value, float("nan"), float("nan"), len(raw), method)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        picks = rng.integers(0, len(raw), len(raw))
        common = rng.integers(0, len(raw[0]), len(raw[0])) if shared and within else None
        parts = [raw[k] if not within else raw[k][common if common is not None
                                                  else rng.integers(0, len(raw[k]), len(raw[k]))] for k in picks]
        boots[b] = statistic(_clean(np.concatenate(parts)))
    if interval == "percentile":
        return percentile_interval(value, boots, len(raw), method, level)
    return replicate_interval(value, boots, len(raw), method, level=level)


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


def pair_weights(counts: np.ndarray, models: Sequence[Hashable], pairs: Sequence[tuple[Hashable, Hashable]]
                 ) -> np.ndarray:
    """(n_boot, P) weights of the pairs in each replicate: the product of their two models' counts."""
    index = {name: k for k, name in enumerate(models)}
    ia, ib = [index[a] for a, _ in pairs], [index[b] for _, b in pairs]
    return counts[:, ia] * counts[:, ib]


def is_dyadic(pairs: Sequence[tuple[Hashable, Hashable]]) -> bool:
    """True when the pairs cross models with each other (no one model is in every pair, as in a star of
    controls around one source): their bootstrap needs :func:`draw_dof`'s ``pairs`` inflation."""
    common = set(pairs[0]) if len(pairs) else set()
    for pair in pairs[1:]:
        common &= set(pair)
    return len(pairs) > 1 and not common


def pair_effects(obs: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Per row (model pair): median over inputs of the observed values over the null's (NaN ignored)."""
    def median(values: np.ndarray) -> np.ndarray:  # np.median is several times faster where nothing is missing
        return np.nanmedian(values, axis=-1) if np.isnan(values).any() else np.median(values, axis=-1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return median(obs) / median(null)


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
    with np.errstate(invalid="ignore", divide="ignore"):
        effects = (resampled_medians(obs, inputs) / resampled_medians(null, inputs)).T  # (n_boot, P)
    return value, weighted_mean(effects, weights)


def resampled_medians(values: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """(P, B): the median (NaN ignored) of each row of ``values`` (P, N) over each resample of its columns in
    ``inputs`` (B, N) — ``np.nanmedian(values[:, inputs], -1)`` exactly, by counting through each row's sorted
    values once (several times faster; tests/test_stats_pairs.py compares them)."""
    values = np.asarray(values, float)
    n_rows, n = values.shape
    n_boot = len(inputs)
    counts = np.bincount((np.arange(n_boot)[:, None] * n + inputs).ravel(), minlength=n_boot * n).reshape(n_boot, n)
    out = np.full((n_rows, n_boot), np.nan)
    for p in range(n_rows):
        order = np.argsort(values[p])  # NaN sorts last and counts for nothing
        ordered = values[p][order]
        cum = np.cumsum(counts[:, order] * np.isfinite(ordered), axis=1)
        total = cum[:, -1]
        low = np.minimum((cum < ((total + 1) // 2)[:, None]).sum(1), n - 1)
        high = np.minimum((cum < (total // 2 + 1)[:, None]).sum(1), n - 1)
        out[p] = np.where(total > 0, (ordered[low] + ordered[high]) / 2, np.nan)
    return out


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
