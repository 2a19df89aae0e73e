"""H2's primary: the kappa against the pixel 1-NN as a fraction of the replicate ceiling.

Two networks of the same architecture and different seeds share their errors too (hard inputs
are hard for every classifier), so the raw kappa against the 1-NN (:mod:`.kappa`) has no
reachable ideal at 1. The primary divides it by the kappa of each network against another seed's
network, measured in the same run: ``kappa(net, 1-NN) / kappa(net, replicate net)``, so 0 is
independent errors and 1 is "as close to the 1-NN as networks are to each other".

A unit (:data:`Unit`) holds one model's items against the 1-NN (numerator) and against its
replicate (denominator), or only one of the two (a control's items, the zoo's ceiling).
:func:`ratio_strata` resamples, per replicate, each data set's test inputs once for every unit and
part measured on them, and the units within their stratum (both parts of a unit together:
:func:`.kappa.unit_replicates`), so the interval carries the uncertainty of both kappas; every
stratum and the pooled value come from the same replicates, with t intervals. :func:`zoo_units`,
:func:`primary_by_stratum` apply it to the zoo, :func:`against_ceiling` to any other system beside
the zoo's ceiling, and :func:`reach` gives the range the primary can take at a stratum's numbers.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...evidence import stats
from .kappa import Items, as_items, error_groups, kappa_of_sums, pooled_estimate, unit_replicates

Group = Items | tuple[np.ndarray, np.ndarray]  # (same, expected) per input, or Items with their inputs' positions
Unit = tuple[Group | None, Group | None]  # (against the 1-NN, against a replicate network)
METHOD = ("two-level bootstrap (models within their stratum, numerator and ceiling together, then each data set's "
          "test inputs jointly for all models)")


def _kappa(sums: np.ndarray) -> float:
    """``(O - E) / (1 - E)`` from summed (same, expected, inputs)."""
    if sums[2] == 0:
        return float("nan")
    o, e = sums[0] / sums[2], sums[1] / sums[2]
    return (o - e) / (1.0 - e) if e < 1.0 else float("nan")


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    k, ceiling = _kappa(num), _kappa(den)
    return k / ceiling if np.isfinite(ceiling) and ceiling > 0 else float("nan")


def _sums(group: Items | None) -> np.ndarray:
    if group is None or len(group.same) == 0:
        return np.zeros(3)
    return np.array([group.same.sum(), group.expected.sum(), len(group.same)], dtype=float)


def ratio_of_sums(sums: np.ndarray) -> np.ndarray:
    """The ratio from ``(..., 2, 3)`` summed (same, expected, items) of the numerator and the ceiling
    (NaN where the ceiling is not positive)."""
    k, ceiling = kappa_of_sums(sums[..., 0, :]), kappa_of_sums(sums[..., 1, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ceiling > 0, k / ceiling, np.nan)


def _units(units: Sequence[Unit]) -> list[tuple[Items | None, Items | None]]:
    return [tuple(None if g is None else as_items(g, k) for g in unit) for k, unit in enumerate(units)]


def ratio_replicates(units: Sequence[Unit], strata: Sequence[Hashable], *, n_boot: int, seed: int = 0
                     ) -> tuple[dict[Hashable, np.ndarray], np.ndarray]:
    """Per stratum and pooled, the ``n_boot`` replicates of the ratio (:func:`.kappa.unit_replicates`)."""
    reps, pooled = unit_replicates(_units(units), strata, n_boot=n_boot, seed=seed)
    return {key: ratio_of_sums(r) for key, r in reps.items()}, ratio_of_sums(pooled)


def ratio_strata(units: Sequence[Unit], strata: Sequence[Hashable] | None = None, *, n_boot: int,
                 level: float = stats.LEVEL, seed: int = 0, fixed: bool = True
                 ) -> tuple[stats.Estimate, dict[Hashable, stats.Estimate]]:
    """The pooled kappa of the units' numerator items over the pooled kappa of their denominator items,
    pooled and per stratum (one label per unit), all from the same replicates: each redraws the units
    within their stratum (both parts of a unit together) and each data set's test inputs once for all
    (items without positions: over their own inputs). A stratum's t interval has ``n`` its units; with
    ``fixed`` a stratum of one unit (a deterministic control) is resampled over its inputs only and
    ``n`` is its inputs (numerator items), else it has no interval. The pooled interval:
    :func:`.kappa.pooled_estimate`. NaN where the ceiling is not positive; the pooled ``n`` counts the
    units with a numerator (their inputs, where every such stratum is one fixed unit)."""
    labels = list(strata) if strata is not None else [0] * len(units)
    if len(labels) != len(units):
        raise ValueError("strata needs one label per unit")
    units = _units(units)
    by = {lab: [u for u, lb in zip(units, labels) if lb == lab] for lab in dict.fromkeys(labels)}
    point = {lab: np.array([sum((_sums(u[p]) for u in us), np.zeros(3)) for p in (0, 1)]) for lab, us in by.items()}
    sizes = {lab: len(us) if len(us) > 1 or not fixed else int(point[lab][0, 2] or point[lab][1, 2])
             for lab, us in by.items()}  # models, or a fixed system's inputs
    numbered = [lab for lab, us in by.items() if any(a is not None for a, _ in us)]
    n = sum(len(by[lab]) for lab in numbered)
    if numbered and fixed and all(len(by[lab]) == 1 for lab in numbered):
        n = sum(sizes[lab] for lab in numbered)
    value = _ratio(*sum(point.values(), np.zeros((2, 3))))
    if not units or not np.isfinite(value):
        return stats.Estimate(value, float("nan"), float("nan"), n, METHOD), {}
    reps, pooled = unit_replicates(units, labels, n_boot=n_boot, seed=seed)
    per = {lab: stats.replicate_interval(_ratio(*point[lab]), ratio_of_sums(reps[lab]), sizes[lab], METHOD,
                                         level=level) for lab in by}
    if len(by) == 1:
        return next(iter(per.values())), per
    return pooled_estimate(value, ratio_of_sums(pooled), reps, point, ratio_of_sums, sizes, n, METHOD, level), per


def ratio_estimate(units: Sequence[Unit], strata: Sequence[Any] | None = None, *, n_boot: int,
                   level: float = 0.95, seed: int = 0) -> stats.Estimate:
    """The pooled :func:`ratio_strata` of ``units`` (a stratum of one unit: a fixed system, over its inputs)."""
    return ratio_strata(units, strata, n_boot=n_boot, level=level, seed=seed)[0]


def zoo_units(per_sample: pd.DataFrame) -> dict[str, list[Unit]]:
    """``"dataset/arch"`` -> one unit per fitted model: its items against the pixel 1-NN and against
    the next seed's network of its stratum (:func:`.kappa.error_groups`; no ceiling with one seed)."""
    pixel, net = error_groups(per_sample, "pixel_nn"), error_groups(per_sample, "net")
    out: dict[str, list[Unit]] = {}
    for stratum, groups in pixel.items():
        pairs = {g.name.split(" vs ")[0]: g for g in net.get(stratum, [])}
        out[stratum] = [(g, pairs.get(g.name)) for g in groups]
    return out


def ratio_by_stratum(units: dict[str, list[Unit]], *, n_boot: int, seed: int = 0, level: float = stats.LEVEL
                     ) -> tuple[stats.Estimate, dict[str, stats.Estimate]]:
    """H2's primary pooled and per stratum of ``{stratum: units}`` (models as the unit: a stratum of one
    model has no interval), from the same replicates (:func:`ratio_strata`)."""
    flat = [(name, u) for name, us in units.items() for u in us]
    pooled, per = ratio_strata([u for _, u in flat], [name for name, _ in flat], n_boot=n_boot, seed=seed,
                               level=level, fixed=False)
    nan = stats.Estimate(float("nan"), float("nan"), float("nan"), 0, METHOD)
    return pooled, {name: per.get(name, nan) if per else ratio_strata(us, n_boot=n_boot, seed=seed, fixed=False)[0]
                    for name, us in units.items()}


def primary_by_stratum(per_sample: pd.DataFrame, *, n_boot: int, seed: int = 0
                       ) -> tuple[stats.Estimate, dict[str, stats.Estimate]]:
    """H2's primary pooled (units resampled within their stratum) and per ``dataset/arch`` stratum."""
    return ratio_by_stratum(zoo_units(per_sample), n_boot=n_boot, seed=seed)


def against_ceiling(groups: Sequence[Group], group_strata: Sequence[Any], per_sample: pd.DataFrame, *,
                    n_boot: int, seed: int = 0) -> stats.Estimate:
    """The primary of another system (``groups``: its items against the 1-NN, e.g. one per data set
    or seed, with their strata) on the zoo's scale: over the pooled ceiling of the zoo's networks,
    the zoo's replicate pairs redrawn within their strata and the test inputs of each data set drawn
    once for the system and the zoo in the same bootstrap (a system of one unit per stratum, a
    deterministic control, is resampled over its inputs only: ``n`` is its inputs)."""
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
