"""H2's primary: the kappa against the pixel 1-NN as a fraction of the replicate ceiling.

Two networks of the same architecture and different seeds share their errors too (hard inputs
are hard for every classifier), so the raw kappa against the 1-NN (:mod:`.kappa`) has no
reachable ideal at 1. The primary divides it by the kappa of each network against another seed's
network, measured in the same run: ``kappa(net, 1-NN) / kappa(net, replicate net)``, so 0 is
independent errors and 1 is "as close to the 1-NN as networks are to each other".

A unit (:data:`Unit`) holds one model's items against the 1-NN (numerator) and against its
replicate (denominator), or only one of the two (a control's items, the zoo's ceiling).
:func:`ratio_estimate` resamples the units jointly (within strata), then the inputs of each, so
the interval carries the uncertainty of both kappas; :func:`zoo_units`, :func:`primary_by_stratum`
apply it to the zoo, :func:`against_ceiling` to any other system beside the zoo's ceiling, and
:func:`reach` gives the range the primary can take at a stratum's numbers.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...evidence import stats
from .kappa import error_groups

Group = tuple[np.ndarray, np.ndarray]  # (same, expected) per input, as kappa.shared_errors gives them
Unit = tuple[Group | None, Group | None]  # (against the 1-NN, against a replicate network)
METHOD = "two-level cluster bootstrap (models, then inputs), numerator and ceiling resampled jointly"


def _kappa(sums: np.ndarray) -> float:
    """``(O - E) / (1 - E)`` from summed (same, expected, inputs)."""
    if sums[2] == 0:
        return float("nan")
    o, e = sums[0] / sums[2], sums[1] / sums[2]
    return (o - e) / (1.0 - e) if e < 1.0 else float("nan")


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    k, ceiling = _kappa(num), _kappa(den)
    return k / ceiling if np.isfinite(ceiling) and ceiling > 0 else float("nan")


def _sums(group: Group | None, idx: np.ndarray | None = None) -> np.ndarray:
    if group is None or len(group[0]) == 0:
        return np.zeros(3)
    s, e = group
    if idx is not None:
        s, e = s[idx], e[idx]
    return np.array([s.sum(), e.sum(), len(s)], dtype=float)


def ratio_estimate(units: Sequence[Unit], strata: Sequence[Any] | None = None, *, n_boot: int,
                   level: float = 0.95, seed: int = 0) -> stats.Estimate:
    """The pooled kappa of the units' numerator items over the pooled kappa of their denominator
    items, with a two-level percentile bootstrap: each replicate draws units with replacement
    within each of ``strata`` (one label per unit), both parts of a drawn unit together, then the
    inputs of each part. A stratum of one unit (a deterministic control) is resampled over its
    inputs only. NaN where the ceiling is not positive; ``n`` counts the units with a numerator."""
    labels = list(strata) if strata is not None else [0] * len(units)
    if len(labels) != len(units):
        raise ValueError("strata needs one label per unit")
    units = [(None if a is None else (np.asarray(a[0], float), np.asarray(a[1], float)),
              None if b is None else (np.asarray(b[0], float), np.asarray(b[1], float))) for a, b in units]
    n = sum(a is not None for a, _ in units)
    value = _ratio(sum((_sums(a) for a, _ in units), np.zeros(3)), sum((_sums(b) for _, b in units), np.zeros(3)))
    if not units or not np.isfinite(value):
        return stats.Estimate(value, float("nan"), float("nan"), n, METHOD)
    members = [np.array([k for k, lab in enumerate(labels) if lab == key]) for key in dict.fromkeys(labels)]
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for r in range(n_boot):
        num, den = np.zeros(3), np.zeros(3)
        for k in np.concatenate([rng.choice(ids, len(ids)) for ids in members]):
            a, b = units[k]
            if a is not None and len(a[0]):
                num += _sums(a, rng.integers(0, len(a[0]), len(a[0])))
            if b is not None and len(b[0]):
                den += _sums(b, rng.integers(0, len(b[0]), len(b[0])))
        boots[r] = _ratio(num, den)
    low, high = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return stats.Estimate(value, float(low), float(high), n, METHOD)


def zoo_units(per_sample: pd.DataFrame) -> dict[str, list[Unit]]:
    """``"dataset/arch"`` -> one unit per fitted model: its items against the pixel 1-NN and against
    the next seed's network of its stratum (:func:`.kappa.error_groups`; no ceiling with one seed)."""
    pixel, net = error_groups(per_sample, "pixel_nn"), error_groups(per_sample, "net")
    out: dict[str, list[Unit]] = {}
    for stratum, groups in pixel.items():
        pairs = {name.split(" vs ")[0]: (s, e) for name, s, e in net.get(stratum, [])}
        out[stratum] = [((s, e), pairs.get(name)) for name, s, e in groups]
    return out


def primary_by_stratum(per_sample: pd.DataFrame, *, n_boot: int, seed: int = 0
                       ) -> tuple[stats.Estimate, dict[str, stats.Estimate]]:
    """H2's primary pooled (units resampled within their stratum) and per ``dataset/arch`` stratum."""
    units = zoo_units(per_sample)
    per = {name: ratio_estimate(u, n_boot=n_boot, seed=seed) for name, u in units.items()}
    flat = [(name, u) for name, us in units.items() for u in us]
    pooled = ratio_estimate([u for _, u in flat], [name for name, _ in flat], n_boot=n_boot, seed=seed)
    return pooled, per


def against_ceiling(groups: Sequence[Group], group_strata: Sequence[Any], per_sample: pd.DataFrame, *,
                    n_boot: int, seed: int = 0) -> stats.Estimate:
    """The primary of another system (``groups``: its items against the 1-NN, e.g. one per data set
    or seed, with their strata) on the zoo's scale: over the pooled ceiling of the zoo's networks,
    the zoo's replicate pairs resampled within their strata in the same bootstrap."""
    ceiling = [(name, (None, b)) for name, us in zoo_units(per_sample).items() for _, b in us if b is not None]
    units = [(g, None) for g in groups] + [u for _, u in ceiling]
    labels = [("system", lab) for lab in group_strata] + [("ceiling", name) for name, _ in ceiling]
    return ratio_estimate(units, labels, n_boot=n_boot, seed=seed)


def reach(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Per stratum, the range the primary can take with its ceiling and its expected share E fixed:
    from a network that never gives the 1-NN's wrong label (kappa -E/(1-E)) to one that always
    does (kappa 1), each over the ceiling; the primary can land on either side of the references
    when the range holds both."""
    rows = []
    for stratum, units in zoo_units(per_sample).items():
        num = sum((_sums(a) for a, _ in units), np.zeros(3))
        den = sum((_sums(b) for _, b in units), np.zeros(3))
        ceiling, e = _kappa(den), num[1] / num[2] if num[2] else float("nan")
        rows.append({"stratum": stratum, "ceiling": ceiling, "expected_share": e,
                     "lowest": -e / (1 - e) / ceiling, "highest": 1.0 / ceiling, "primary": _ratio(num, den)})
    return pd.DataFrame(rows)
