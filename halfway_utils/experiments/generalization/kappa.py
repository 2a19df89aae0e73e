"""The primary statistic of H2: the errors a network shares with a reference beyond independent errors.

On the test inputs the reference (the pixel 1-NN rule, or another network) gets wrong,
:func:`shared_errors` compares, per input, whether the network gives the reference's wrong
label (``O``) with the chance of that if the network's errors were independent of the
reference's given the true class (``E``); :func:`kappa` is ``(O - E) / (1 - E)``: 0 for
independent errors, 1 for a network that copies the reference. :func:`kappa_estimate` gives it a
two-level (models, then inputs) bootstrap interval; :func:`error_groups` and
:func:`kappa_by_stratum` apply it per (dataset, arch) stratum and pooled.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...evidence import stats


def shared_errors(pred: Sequence[int] | np.ndarray, reference: Sequence[int] | np.ndarray,
                  label: Sequence[int] | np.ndarray, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """On the inputs the ``reference`` rule gets wrong: ``(same, expected)`` per input.

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
    return (pred[wrong] == ref[wrong]).astype(float), rates[y[wrong], ref[wrong]]


def kappa(same: np.ndarray, expected: np.ndarray) -> float:
    """``(O - E) / (1 - E)`` with ``O``, ``E`` the means of ``same`` and ``expected`` (NaN if empty)."""
    if len(same) == 0:
        return float("nan")
    o, e = float(np.mean(same)), float(np.mean(expected))
    return (o - e) / (1.0 - e) if e < 1.0 else float("nan")


def kappa_estimate(groups: Sequence[tuple[np.ndarray, np.ndarray]], strata: Sequence[Any] | None = None, *,
                   n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> stats.Estimate:
    """The kappa of the pooled ``(same, expected)`` items of several groups (one per model, or model
    pair) with a two-level percentile bootstrap: each replicate draws groups with replacement
    (within each of ``strata``, one label per group, when given), then the inputs of each drawn
    group. The model, not the input, is the unit of replication; ``n`` is the number of groups.
    """
    labels = list(strata) if strata is not None else [0] * len(groups)
    if len(labels) != len(groups):
        raise ValueError("strata needs one label per group")
    kept = [(np.asarray(s, float), np.asarray(e, float), lab) for (s, e), lab in zip(groups, labels) if len(s)]
    method = "two-level cluster bootstrap (models, then inputs)"
    if not kept:
        return stats.Estimate(float("nan"), float("nan"), float("nan"), 0, method)
    value = kappa(np.concatenate([s for s, _, _ in kept]), np.concatenate([e for _, e, _ in kept]))
    if len(kept) < 2:
        return stats.Estimate(value, float("nan"), float("nan"), len(kept), method)
    members = [np.array([k for k, (_, _, lb) in enumerate(kept) if lb == lab])
               for lab in dict.fromkeys(lb for _, _, lb in kept)]
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        picks = np.concatenate([rng.choice(ids, len(ids)) for ids in members])
        sums = np.zeros(3)  # shared, expected, inputs
        for k in picks:
            s, e, _ = kept[k]
            idx = rng.integers(0, len(s), len(s))
            sums += (s[idx].sum(), e[idx].sum(), len(s))
        o, e = sums[0] / sums[2], sums[1] / sums[2]
        boots[b] = (o - e) / (1.0 - e) if e < 1.0 else np.nan
    alpha = (1 - level) / 2
    low, high = np.nanquantile(boots, [alpha, 1 - alpha])
    return stats.Estimate(value, float(low), float(high), len(kept), method)


def error_groups(per_sample: pd.DataFrame, reference: str = "pixel_nn", n_classes: int = 10
                 ) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """``"dataset/arch"`` -> one ``(name, same, expected)`` per fitted model (``reference`` a
    label column such as ``"pixel_nn"``) or per model pair (``reference="net"``: each model
    against the next seed of its stratum, cyclically, the other network in the 1-NN's place).
    Rows of models that are not fitted (column ``fitted`` False) are left out.
    """
    rows = per_sample[per_sample["fitted"]] if "fitted" in per_sample else per_sample
    out: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
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
            same, expected = shared_errors(model["pred"], ref, model["label"], n_classes)
            groups.append((name, same, expected))
        out[stats.stratum_label(dataset, arch)] = groups
    return out


def kappa_by_stratum(groups: dict[str, list[tuple[str, np.ndarray, np.ndarray]]], *, n_boot: int,
                     seed: int = 0) -> tuple[stats.Estimate, dict[str, stats.Estimate]]:
    """The pooled kappa (groups resampled within their stratum) and one per stratum."""
    per = {name: kappa_estimate([(s, e) for _, s, e in g], n_boot=n_boot, seed=seed) for name, g in groups.items()}
    flat = [(name, s, e) for name, g in groups.items() for _, s, e in g]
    pooled = kappa_estimate([(s, e) for _, s, e in flat], [name for name, _, _ in flat], n_boot=n_boot, seed=seed)
    return pooled, per


def model_kappas(per_sample: pd.DataFrame) -> pd.DataFrame:
    """One row per fitted model (vs its pixel 1-NN) and per model pair (vs the other network):
    stratum, reference, name, inputs the reference gets wrong, O, E and kappa."""
    rows = []
    for reference, title in (("pixel_nn", "pixel 1-NN"), ("net", "another network")):
        for stratum, groups in error_groups(per_sample, reference).items():
            rows += [{"stratum": stratum, "reference": title, "name": name, "n_wrong": len(s),
                      "shared": float(np.mean(s)) if len(s) else np.nan,
                      "expected": float(np.mean(e)) if len(e) else np.nan, "kappa": kappa(s, e)}
                     for name, s, e in groups]
    return pd.DataFrame(rows)
