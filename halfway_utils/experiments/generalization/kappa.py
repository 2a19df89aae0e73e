"""The primary statistic of H2: the errors a network shares with a reference beyond independent errors.

On the test inputs the reference (the pixel 1-NN rule, or another network) gets wrong,
:func:`shared_errors` compares, per input, whether the network gives the reference's wrong
label (``O``) with the chance of that if the network's errors were independent of the
reference's given the true class (``E``); :func:`kappa` is ``(O - E) / (1 - E)``: 0 for
independent errors, 1 for a network that copies the reference. :func:`error_groups` gives each
model's :class:`Items` (with their inputs' positions in the data set's test inputs);
:func:`unit_replicates` is the bootstrap every interval of H2 uses: one draw of each data set's
test inputs per replicate for every model measured on them, and the models redrawn within their
stratum; :func:`kappa_strata` (:func:`kappa_estimate`, :func:`kappa_by_stratum`) gives the kappa
per stratum and pooled from the same replicates, with t intervals (:func:`pooled_estimate`).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ...evidence import stats

METHOD = "two-level bootstrap (models within their stratum, then each data set's test inputs jointly for all models)"


class Items(NamedTuple):
    """One model's (or model pair's) items: the test inputs its reference gets wrong."""

    name: str
    same: np.ndarray  # 1 where the model gives the reference's wrong label
    expected: np.ndarray  # the chance of that under independent errors
    ids: np.ndarray | None = None  # each item's position among its data set's test inputs (None: its own inputs)
    dataset: Hashable = None  # the test inputs the items are drawn from, shared by every model of the data set
    inputs: int = 0  # how many test inputs that data set has


def shared_errors(pred: Sequence[int] | np.ndarray, reference: Sequence[int] | np.ndarray,
                  label: Sequence[int] | np.ndarray, n_classes: int = 10, *, positions: bool = False
                  ) -> tuple[np.ndarray, ...]:
    """On the inputs the ``reference`` rule gets wrong: ``(same, expected)`` per input (and, with
    ``positions``, those inputs' positions among the inputs given).

    ``same`` is 1 where ``pred`` gives the reference's (wrong) label, else 0; ``expected``
    is the chance of that if ``pred``'s errors were independent of the reference's given
    the true label: ``pred``'s own confusion rate ``P(pred = reference label | true label)``,
    estimated on all the inputs given (so a copying network inflates it: conservative).
    """
    pred, ref, y = (np.asarray(v, dtype=np.int64).ravel() for v in (pred, reference, label))
    if not len(pred) == len(ref) == len(y):
        raise ValueError("pred, reference and label need one entry per input")
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (y, pred), 1.0)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1.0)
    wrong = ref != y
    out = (pred[wrong] == ref[wrong]).astype(float), rates[y[wrong], ref[wrong]]
    return (*out, np.flatnonzero(wrong)) if positions else out


def kappa(same: np.ndarray, expected: np.ndarray) -> float:
    """``(O - E) / (1 - E)`` with ``O``, ``E`` the means of ``same`` and ``expected`` (NaN if empty)."""
    if len(same) == 0:
        return float("nan")
    o, e = float(np.mean(same)), float(np.mean(expected))
    return (o - e) / (1.0 - e) if e < 1.0 else float("nan")


def kappa_of_sums(sums: np.ndarray) -> np.ndarray:
    """:func:`kappa` from summed ``(same, expected, items)`` on the last axis: ``(S - E) / (C - E)``."""
    s, e, c = np.moveaxis(np.asarray(sums, float), -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((c > 0) & (e < c), (s - e) / (c - e), np.nan)


def as_items(group: Items | Sequence[Any], k: int = 0) -> Items:
    """``group`` as :class:`Items`: ``(same, expected)`` or ``(name, same, expected)`` become items on
    inputs of their own (resampled apart from every other group's)."""
    if isinstance(group, Items):
        return group._replace(same=np.asarray(group.same, float), expected=np.asarray(group.expected, float))
    *name, same, expected = group
    return Items(str(name[0]) if name else f"group{k}", np.asarray(same, float), np.asarray(expected, float))


def _input_counts(draws: np.ndarray, size: int) -> np.ndarray:
    """(n_boot, size) multinomial counts: how often each input is drawn in each replicate."""
    rows = len(draws)
    flat = (draws + size * np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * size).reshape(rows, size).astype(np.float64)


def unit_replicates(units: Sequence[Sequence[Items | None]], strata: Sequence[Hashable], *, n_boot: int,
                    seed: int = 0) -> tuple[dict[Hashable, np.ndarray], np.ndarray]:
    """Per stratum and pooled, ``(n_boot, parts, 3)`` summed ``(same, expected, items)`` of each replicate.

    A unit is one model: its parts (e.g. items against the 1-NN and against a replicate network),
    ``None`` where it has none. Each replicate draws each data set's test inputs once, with
    replacement, for every part of every model measured on them (an item counts as often as its
    input is drawn: inputs shared by models are resampled jointly), then redraws the units within
    their stratum (:func:`~halfway_utils.evidence.stats.model_draws`). Items without ``ids`` are
    resampled over their own inputs.
    """
    units = [[None if g is None else as_items(g, k) for g in unit] for k, unit in enumerate(units)]
    sizes: dict[Hashable, int] = {}
    keys = []  # per unit, the pool of inputs of each part
    for k, unit in enumerate(units):
        keys.append([])
        for p, g in enumerate(unit):
            key, size = ((None, 0) if g is None else (("own", k, p), len(g.same)) if g.ids is None
                         else (("data", g.dataset), int(g.inputs)))
            if key is not None and sizes.setdefault(key, size) != size:
                raise ValueError(f"every model of data set {g.dataset!r} needs the same number of test inputs")
            keys[k].append(key)
    rng = np.random.default_rng(seed)
    counts = {key: _input_counts(draw, sizes[key]) for key, draw in stats.input_draws(sizes, n_boot, rng).items()}
    n_parts = max((len(u) for u in units), default=0)
    sums = np.zeros((len(units), n_boot, n_parts, 3))
    for k, unit in enumerate(units):
        for p, g in enumerate(unit):
            if g is not None and len(g.same):
                w = counts[keys[k][p]][:, np.arange(len(g.same)) if g.ids is None else np.asarray(g.ids)]
                sums[k, :, p] = np.column_stack([w @ g.same, w @ g.expected, w.sum(1)])
    labels = list(strata)
    picks = stats.model_draws(labels, n_boot, rng)
    out = {key: np.einsum("bu,ubpk->bpk", picks[:, idx], sums[idx])
           for key in dict.fromkeys(labels) for idx in [[u for u, lab in enumerate(labels) if lab == key]]}
    return out, sum(out.values(), np.zeros((n_boot, n_parts, 3)))


def pooled_estimate(value: float, boots: np.ndarray, strata: dict[Hashable, np.ndarray],
                    point: dict[Hashable, np.ndarray], statistic: Callable[[np.ndarray], np.ndarray],
                    sizes: dict[Hashable, int], n: int, method: str, level: float = stats.LEVEL) -> stats.Estimate:
    """The pooled statistic's t interval (:func:`~halfway_utils.evidence.stats.pooled_interval`) from its
    replicates ``boots``: the parts are each stratum's contribution to it, linearised (the statistic's
    gradient at the pooled point sums times the stratum's replicate sums), with the stratum's size
    (models, or inputs for a fixed system) giving its degrees of freedom."""
    total = sum(point.values())
    flat, step = total.ravel(), 1e-6 * max(1.0, float(np.abs(total).max()))
    grad = np.array([(statistic((flat + step * e).reshape(total.shape)) -
                      statistic((flat - step * e).reshape(total.shape))) / (2 * step) for e in np.eye(len(flat))])
    parts = {key: (strata[key].reshape(len(boots), -1) @ grad, sizes[key], 1.0) for key in strata}
    return stats.pooled_interval(value, boots, parts, method, level, n=n)


def kappa_strata(groups: Sequence[Items | Sequence[Any]], strata: Sequence[Hashable] | None = None, *,
                 n_boot: int, level: float = stats.LEVEL, seed: int = 0
                 ) -> tuple[stats.Estimate, dict[Hashable, stats.Estimate]]:
    """The kappa of the pooled items of several groups (one per model, or model pair), pooled and per
    stratum (one label per group), all from the same :func:`unit_replicates` replicates, with t intervals:
    a stratum's from its replicates with ``n`` its groups, the pooled one by :func:`pooled_estimate`.
    The model, not the input, is the unit; a stratum of one group has no interval. Empty groups are left out."""
    labels = list(strata) if strata is not None else [0] * len(groups)
    if len(labels) != len(groups):
        raise ValueError("strata needs one label per group")
    items = [as_items(g, k) for k, g in enumerate(groups)]
    kept = [(g, lab) for g, lab in zip(items, labels) if len(g.same)]
    nan = stats.Estimate(float("nan"), float("nan"), float("nan"), 0, METHOD)
    if not kept:
        return nan, {}
    by = {lab: [g for g, lb in kept if lb == lab] for lab in dict.fromkeys(lb for _, lb in kept)}
    values = {lab: kappa(np.concatenate([g.same for g in gs]), np.concatenate([g.expected for g in gs]))
              for lab, gs in by.items()}
    value = kappa(np.concatenate([g.same for g, _ in kept]), np.concatenate([g.expected for g, _ in kept]))
    reps, pooled = unit_replicates([[g] for g, _ in kept], [lb for _, lb in kept], n_boot=n_boot, seed=seed)
    per = {lab: stats.replicate_interval(values[lab], kappa_of_sums(reps[lab][:, 0]), len(gs), METHOD, level=level)
           for lab, gs in by.items()}
    if len(by) == 1:
        return next(iter(per.values())), per
    point = {lab: np.array([[g.same.sum(), g.expected.sum(), len(g.same)] for g in gs]).sum(0)[None]
             for lab, gs in by.items()}
    est = pooled_estimate(value, kappa_of_sums(pooled[:, 0]), reps, point, lambda t: kappa_of_sums(t[0]),
                          {lab: len(gs) for lab, gs in by.items()}, len(kept), METHOD, level)
    return est, per


def kappa_estimate(groups: Sequence[Items | Sequence[Any]], strata: Sequence[Any] | None = None, *,
                   n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> stats.Estimate:
    """The pooled :func:`kappa_strata` of ``groups``: models redrawn within ``strata`` when given,
    each data set's inputs drawn jointly for all; ``n`` is the number of groups."""
    return kappa_strata(groups, strata, n_boot=n_boot, level=level, seed=seed)[0]


def error_groups(per_sample: pd.DataFrame, reference: str = "pixel_nn", n_classes: int = 10
                 ) -> dict[str, list[Items]]:
    """``"dataset/arch"`` -> one :class:`Items` per fitted model (``reference`` a label column such as
    ``"pixel_nn"``) or per model pair (``reference="net"``: each model against the next seed of its
    stratum, cyclically, the other network in the 1-NN's place), with the items' positions among the
    model's rows (its data set's test inputs, in the same order for every model of the data set).
    Rows of models that are not fitted (column ``fitted`` False) are left out.
    """
    rows = per_sample[per_sample["fitted"]] if "fitted" in per_sample else per_sample
    out: dict[str, list[Items]] = {}
    for (dataset, arch), stratum in rows.groupby(["dataset", "arch"], sort=False):
        models = {seed: g for seed, g in stratum.groupby("seed")}
        seeds = sorted(models)
        groups = []
        for j, seed in enumerate(seeds):
            model = models[seed]
            if reference == "net":
                if len(seeds) < 2:
                    continue
                other = models[seeds[(j + 1) % len(seeds)]]
                name, ref = f"seed{seed} vs seed{seeds[(j + 1) % len(seeds)]}", other["pred"].to_numpy()
            else:
                name, ref = f"seed{seed}", model[reference].to_numpy()
            same, expected, ids = shared_errors(model["pred"], ref, model["label"], n_classes, positions=True)
            groups.append(Items(name, same, expected, ids, dataset, len(model)))
        out[stats.stratum_label(dataset, arch)] = groups
    return out


def kappa_by_stratum(groups: dict[str, list[Items | Sequence[Any]]], *, n_boot: int, seed: int = 0
                     ) -> tuple[stats.Estimate, dict[str, stats.Estimate]]:
    """The pooled kappa (groups redrawn within their stratum) and one per stratum, from the same replicates
    (:func:`kappa_strata`); every stratum given has an entry (NaN where it has no items)."""
    flat = [(name, g) for name, gs in groups.items() for g in gs]
    pooled, per = kappa_strata([g for _, g in flat], [name for name, _ in flat], n_boot=n_boot, seed=seed)
    empty = stats.Estimate(float("nan"), float("nan"), float("nan"), 0, METHOD)
    return pooled, {name: per.get(name, empty) for name in groups}


def model_kappas(per_sample: pd.DataFrame) -> pd.DataFrame:
    """One row per fitted model (vs its pixel 1-NN) and per model pair (vs the other network):
    stratum, reference, name, inputs the reference gets wrong, O, E and kappa."""
    rows = []
    for reference, title in (("pixel_nn", "pixel 1-NN"), ("net", "another network")):
        for stratum, groups in error_groups(per_sample, reference).items():
            rows += [{"stratum": stratum, "reference": title, "name": g.name, "n_wrong": len(g.same),
                      "shared": float(np.mean(g.same)) if len(g.same) else np.nan,
                      "expected": float(np.mean(g.expected)) if len(g.expected) else np.nan,
                      "kappa": kappa(g.same, g.expected)} for g in groups]
    return pd.DataFrame(rows)
