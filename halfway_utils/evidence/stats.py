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
from collections.abc import Callable, Hashable, Mapping, Sequence
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
        return Estimate(float(value), float("nan"), float("nan"), n, label)
    inflate = n / (n - 1) if inflate is None else inflate
    se = float(boots.std(ddof=1) * math.sqrt(inflate))
    return t_estimate(value, se, n - 1 if df is None else df, n, label, level)


def percentile_interval(value: float, boots: Sequence[float] | np.ndarray, n: int, method: str,
                        level: float = LEVEL) -> Estimate:
    """The percentile interval of the replicates: too narrow at five models (kept to show it, in the tests)."""
    boots = np.asarray(boots, dtype=float)
    boots = boots[np.isfinite(boots)]
    if not len(boots) or not np.isfinite(value):
        return Estimate(float(value), float("nan"), float("nan"), n, method)
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


def draw_dof(groups: Sequence[Hashable]) -> tuple[float, float]:
    """``(df, inflate)`` of replicates that redraw models within ``groups`` (one label per model, as
    :func:`model_draws` takes them): ``df = sum(M_g - 1)``, ``inflate`` the largest ``M_g / (M_g - 1)``."""
    sizes = [n for n in pd.Series(list(groups), dtype=object).value_counts().tolist() if n >= 2]
    return (float(sum(n - 1 for n in sizes)), max(n / (n - 1) for n in sizes)) if sizes else (float("nan"), 1.0)


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
        return Estimate(float(value), float("nan"), float("nan"), n, f"{method}; {T_METHOD}")
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
