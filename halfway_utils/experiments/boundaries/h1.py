"""Claim H1: on segments between training samples of different classes, trained networks flip near t = 0.5.

Our reading of *Meet You Halfway* (BenShmuel 2022). The primary (:func:`primary`) is, per model,
the fraction of the way from its untrained network's mean flip zone (:func:`~.pairs.flip_zone`,
the null: 0) to the 1-NN bisector's (the ideal: 1) on the claim's paths of
:func:`~.scan.claim_paths` that the trained network closes, averaged over models, per (dataset,
arch) stratum and pooled, models as the unit of replication; :data:`RULE` decides it, and
decides the controls of :mod:`.controls` measured by the same code (:func:`control_estimates`).
:func:`measurements` are reported beside it, :func:`attainable` bounds the primary on the paths
(it can land on either side), :func:`notes` builds the ledger's notes and :func:`record` writes
the entry.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ... import zoo
from ...evidence import claims, stats
from ...evidence.stats import Estimate
from ...train import TrainResult
from .history import History
from .pairs import CONTROL_KIND, MID_ZONE, TEST_KIND, flip_zone
from .parameters import NOTEBOOK
from .scan import stand_in

STATEMENT = ("On segments between training samples of different classes, trained networks switch their "
             "decision near t = 0.5: at least halfway from where the same networks untrained switch to the "
             "1-NN bisector (our reading of BenShmuel 2022).")
PRIMARY = "fraction_to_bisector"
RULE = claims.Rule(
    primary=PRIMARY, op=">", margin=0.5, band=0.1, null_value=0.0, ideal=1.0,
    null=("the same network untrained (same architecture and seed, epoch 0) on the same segments (0 on this "
          "scale); where it never flips it is credited with a boundary placed uniformly at random (flip zone 0.25, "
          "the mean |U - 0.5|), since a network with no boundary on a segment says nothing about where one would "
          "sit; the primary on the paths where it does flip is reported beside it"),
    margin_reason=("at least halfway from the untrained network to the 1-NN bisector (0.5 of the way from the null "
                   "to the ideal), the claim's 'meet halfway' read on its own null-to-ideal scale; 'no effect' within "
                   "a tenth of the way (band 0.1) or on the wrong side of the null"),
    scale=("0 = the mean flip zone of the same network untrained on the same segments, 1 = that of the 1-NN rule "
           "of the training subset (the Voronoi bisector); per model, then the mean over models"),
    strata=("dataset", "arch"),
    changes=(
        "2026-12-01: was (median |first flip - 0.5| < 0.1) and (share of first flips in [0.4, 0.6] > 0.5), "
        "pooled over all models and architectures with a bootstrap over paths, against no null; the first flip "
        "is not symmetric in a and b (it is biased toward a when a third class intervenes), uniform flip points "
        "already give 0.25 and the untrained network 0.27, the pooled verdict spoke for architectures that differ "
        "in kind, and paths of several models were treated as independent. Now: the mean per-path gain of the "
        "symmetric flip zone max(|first - 0.5|, |last - 0.5|) over the untrained network on the same paths, "
        "> 0.05, per (dataset, arch) stratum and pooled, models as the unit of replication (issue 13).",
        "2026-12-04: was the mean per-path zone gain over the untrained network > 0.05, a margin anchored in "
        "nothing, in units where the ideal (the 1-NN bisector, 0.03 in the audit's run) and the null (0.255) were "
        "not shown, so a gain that closes 29% of the way read 'supported'; and no classifier was measured that "
        "is known to meet halfway or known not to. Now: per model, the fraction of the way from its untrained "
        "network's mean flip zone to the 1-NN rule's on the same paths that the trained network closes "
        "(mean of untrained - trained over mean of untrained - 1-NN), mean over models, two-level cluster "
        "bootstrap (models, then paths); supported above 0.5 (at least halfway), no effect below 0.1; a "
        "Parzen kernel machine of small bandwidth and the 1-NN rule (positive) and a 1-NN rule that favours one "
        "class of each pair by a distance factor 4 (negative) are measured by the same code (issue 20).",
        claims.INTERVALS_CHANGE + "the paths, "
        "scanned by every model of a data set, are resampled jointly across models, and the pooled "
        "interval is drawn with the strata's (issue 21).",
    ),
)
FIGURES = ("01_flip_distributions", "01_gain_vs_untrained", "01_either_side", "01_controls",
           "01_first_last_distance", "01_boundary_history", "01_morph_path")
RHO_BOOT = 200  # bootstrap resamples of the rank-correlation interval (a fixed number, not n_boot)
FRACTION_METHOD = "mean per-model fraction; models within strata, then the shared paths jointly"


def _estimates(frame: pd.DataFrame, column: str, *, n_boot: int, statistic: Any = np.mean,
               strata: bool = True) -> tuple[Estimate, dict[str, Estimate]]:
    """Pooled and (with ``strata``) per-stratum two-level cluster bootstrap (models, then paths) of ``statistic``."""
    groups = stats.model_groups(frame, column)

    def boot(arrays: list[np.ndarray]) -> Estimate:
        return stats.cluster_bootstrap(arrays, statistic, n_boot=n_boot, seed=0)

    pooled = boot([a for arrays in groups.values() for a in arrays])
    return pooled, ({s: boot(a) for s, a in groups.items()} if strata else {})


# A model's fraction is undefined where its untrained network already sits at (or past) the bisector: a mean gap
# below ten times the scans' tolerance in t (1e-4) is refinement noise, not a way to go.
MIN_GAP = 1e-3


def _ratio(closed: Any, gap: Any) -> np.ndarray:
    """``closed / gap`` where the gap exceeds :data:`MIN_GAP`, NaN where the null already sits at the ideal."""
    closed, gap = np.asarray(closed, dtype=float), np.asarray(gap, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > MIN_GAP, closed / gap, np.nan)


def _model_replicates(closed: np.ndarray, gap: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One model's fraction on each row of path indices ``idx`` (B, N)."""
    with warnings.catch_warnings():  # a resample of only missing paths is NaN, left out by the bootstrap
        warnings.simplefilter("ignore", RuntimeWarning)
        return _ratio(np.nanmean(closed[idx], 1), np.nanmean(gap[idx], 1))


def fractions(models: Sequence[tuple[str, str, np.ndarray, np.ndarray]], *, n_boot: int, seed: int = 0
              ) -> tuple[Estimate, dict[str, Estimate]]:
    """Mean over models of ``mean(closed) / mean(gap)``: pooled over all models and per stratum, with t intervals.

    ``models`` holds one ``(stratum, dataset, closed, gap)`` per model, the per-path arrays aligned
    by path within a data set (the paths every model of it scans). Each replicate draws the models of
    each stratum with replacement and one resample of each data set's paths for all its models
    (:func:`~halfway_utils.evidence.stats.stratified_bootstrap`); NaN fractions (a model whose
    untrained network already sits at the bisector) are left out.
    """
    models = [(s, d, np.asarray(c, float), np.asarray(g, float)) for s, d, c, g in models if len(c)]
    if not models:
        nan = Estimate(float("nan"), float("nan"), float("nan"), 0, FRACTION_METHOD)
        return nan, {}
    rng = np.random.default_rng(seed)
    sizes = {}
    for _, d, c, _ in models:
        sizes.setdefault(d, len(c))
    if any(len(c) != sizes[d] for _, d, c, _ in models):
        raise ValueError("every model of a data set must have one value per shared path (align them by path)")
    draws = stats.input_draws(sizes, n_boot, rng)
    # nanmean, as the replicates: a model holds NaN on the shared paths it does not scan (a subset such as the
    # paths where the untrained network flips), and a plain mean made every such model NaN.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model with no path of the subset: NaN
        values = [_ratio(np.nanmean(c), np.nanmean(g)) for _, _, c, g in models]
    reps = np.array([_model_replicates(c, g, draws[d]) for _, d, c, g in models])
    return stats.stratified_bootstrap(values, reps, [s for s, *_ in models], seed=seed + 1, method=FRACTION_METHOD)


def fraction(models: Sequence[tuple[np.ndarray, np.ndarray]], *, n_boot: int, seed: int = 0) -> Estimate:
    """:func:`fractions` of one stratum of models that scan the same paths: ``(closed, gap)`` per model."""
    return fractions([("all", "data", c, g) for c, g in models], n_boot=n_boot, seed=seed)[0]


def _fraction_models(paths: pd.DataFrame) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """One ``(stratum, dataset, closed, gap)`` per model, its paths in the data set's path order."""
    order = {d: np.sort(g["path"].unique()) for d, g in paths.groupby("dataset", sort=False)}
    out = []
    for (dataset, arch, _), grp in paths.groupby(["dataset", "arch", "seed"], sort=False):
        grp = grp.groupby("path")[["closed", "gap"]].mean().reindex(order[dataset])
        out.append((stats.stratum_label(dataset, arch), dataset, grp["closed"].to_numpy(float),
                    grp["gap"].to_numpy(float)))
    return out


def primary(paths: pd.DataFrame, n_boot: int) -> tuple[Estimate, dict[str, Estimate]]:
    """H1's primary, the fraction of the way from the untrained network to the 1-NN bisector: pooled and per stratum.

    ``paths`` is :func:`~.scan.claim_paths`' frame (at least ``dataset, arch, seed, path, closed, gap``).
    Per model the fraction is ``mean(zone_untrained - zone) / mean(zone_untrained - zone_1nn)``
    over its paths; the estimate is the mean over models, every model weighing the same, with
    :func:`fractions`' t interval (models within strata, the shared paths jointly).
    """
    return fractions(_fraction_models(paths), n_boot=n_boot)


def control_estimates(claim: pd.DataFrame, flips: pd.DataFrame, n_boot: int) -> dict[str, Estimate]:
    """Each control's primary, pooled: its flips (:func:`~.controls.scan_controls`) stand in for every model's.

    The control is measured against each fitted model's untrained network and the 1-NN rule on
    the same paths (:func:`~.scan.stand_in`), by :func:`primary`: its interval resamples those
    nulls and the paths.
    """
    scanned = claim.merge(flips[["dataset", "path"]].drop_duplicates(), on=["dataset", "path"])  # the paths they scan
    return {name: primary(stand_in(scanned, frame), n_boot)[0] for name, frame in flips.groupby("control", sort=False)}


def _flipped_median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def _with_zone(paths: pd.DataFrame) -> pd.DataFrame:
    return paths.assign(zone=flip_zone(paths["first_flip"], paths["last_flip"]))


def measurements(claim: pd.DataFrame, paths: pd.DataFrame, n_boot: int) -> dict[str, Estimate]:
    """H1's reported (not judged) measurements, pooled, with the model as the unit of replication.

    ``claim`` is :func:`~.scan.claim_paths`' frame; ``paths`` the per-path frame of every kind
    (:attr:`~.scan.ZooScan.paths`). The 1-NN rule is one classifier per data set, so its zone has a
    bootstrap over its paths.
    """
    def pooled(frame: pd.DataFrame, column: str, statistic: Any = np.mean) -> Estimate:
        return _estimates(frame, column, n_boot=n_boot, statistic=statistic, strata=False)[0]

    ref = claim.drop_duplicates(["dataset", "path"])
    flips = claim[claim["untrained_flip"] > 0]  # the paths where the untrained network has a boundary
    none = stats.bootstrap([], n_boot=n_boot)
    return {
        "zone_gain_vs_untrained": pooled(claim, "gain"),
        "fraction_where_null_flips": primary(flips, n_boot)[0] if len(flips) else none,
        "zone_untrained_where_flips": pooled(flips, "zone_untrained") if len(flips) else none,
        "zone_trained": pooled(claim, "zone"),
        "zone_untrained": pooled(claim, "zone_untrained"),
        "zone_1nn": stats.bootstrap(ref["zone_1nn"], n_boot=n_boot, seed=0),
        "distance_to_1nn": pooled(claim, "to_1nn"),
        "share_zone_mid": pooled(claim.assign(mid=(claim["zone"] <= MID_ZONE).astype(float)), "mid"),
        "share_flip_untrained": pooled(claim, "untrained_flip"),
        "share_third_class": pooled(claim, "third_class"),
        "share_flip_same_class": pooled(paths[paths["kind"] == CONTROL_KIND], "has_flip"),
        "zone_test_train": pooled(_with_zone(paths[paths["kind"] == TEST_KIND]), "zone"),
        "median_abs_first": pooled(claim, "abs_first", _flipped_median),
        "share_first_mid": pooled(claim[claim["has_flip"] > 0], "first_mid"),
    }


def stratum_table(claim: pd.DataFrame, paths: pd.DataFrame) -> pd.DataFrame:
    """Per stratum: the number of models and the mean over them of each per-model number (3 digits): the fraction
    (the primary), then means over paths."""
    per_model = claim.groupby(["dataset", "arch", "seed"], sort=False).agg(
        closed=("closed", "mean"), gap=("gap", "mean"), gain=("gain", "mean"), zone=("zone", "mean"),
        zone_untrained=("zone_untrained", "mean"),
        zone_1nn=("zone_1nn", "mean"), distance_to_1nn=("to_1nn", "mean"),
        share_flip_untrained=("untrained_flip", "mean"), share_third_class=("third_class", "mean"))
    same = paths[paths["kind"] == CONTROL_KIND].groupby(["dataset", "arch", "seed"], sort=False)["has_flip"].mean()
    per_model["share_flip_same_class"] = same.reindex(per_model.index)
    per_model.insert(0, "fraction", _ratio(per_model.pop("closed").to_numpy(), per_model.pop("gap").to_numpy()))
    table = per_model.groupby(level=["dataset", "arch"], sort=False).mean()
    table.insert(0, "models", per_model.groupby(level=["dataset", "arch"], sort=False).size())
    table.index = [stats.stratum_label(ds, arch) for ds, arch in table.index]
    return table.round(3)


def zone_distance_correlation(claim: pd.DataFrame) -> Estimate:
    """Spearman rho of ||a - b|| with the flip zone over the claim's paths, resampling whole models."""
    model = claim["dataset"] + "/" + claim["arch"] + "/" + claim["seed"].astype(str)
    return stats.partial_spearman(claim["distance"], claim["zone"], None, groups=model.to_numpy(),
                                  n_boot=RHO_BOOT, seed=0)


def attainable(claim: pd.DataFrame) -> pd.DataFrame:
    """Per stratum, the primary's range on these paths: mean over models of the fraction if every path sat at the
    bisector's zone 0 (``highest``) or never flipped (zone 0.5, ``lowest``), beside the null, band and margin."""
    per_model = claim.groupby(["dataset", "arch", "seed"], sort=False).agg(
        null=("zone_untrained", "mean"), ideal=("zone_1nn", "mean"))
    gap = per_model["null"] - per_model["ideal"]
    per_model["lowest"] = _ratio(per_model["null"] - 0.5, gap)  # NaN where the null sits at the ideal, as in primary
    per_model["highest"] = _ratio(per_model["null"], gap)
    table = per_model[["lowest", "highest"]].groupby(level=["dataset", "arch"], sort=False).mean()
    table.index = [stats.stratum_label(ds, arch) for ds, arch in table.index]
    return table.assign(null=RULE.null_value, band=RULE.band, margin=RULE.margin).round(3)


def n_models(claim: pd.DataFrame) -> int:
    """The number of (dataset, arch, seed) models in a per-path frame."""
    return int(claim[["dataset", "arch", "seed"]].drop_duplicates().shape[0])


def notes(strata: pd.DataFrame, history: History, misfits: Sequence[TrainResult] = ()) -> str:
    """The ledger notes: excluded models, per-stratum zones of the three classifiers, the history."""
    by_stratum = "; ".join(f"{name}: trained {r.zone:.3f}, untrained {r.zone_untrained:.3f}, 1-NN {r.zone_1nn:.3f}"
                           + (f" (fraction {r.fraction:.2f})" if "fraction" in strata else "")
                           for name, r in strata.iterrows())
    epochs = ", ".join(f"{int(r.epoch)}: {r.zone:.3f}" for r in history.table.itertuples())
    text = ("Mean flip zone max(|first - 0.5|, |last - 0.5|) of the train-train pairs of different classes, "
            "mean over models: " + by_stratum + ". History of " + history.label + ", mean flip zone by epoch "
            + epochs + ".")
    misfit = zoo.misfit_note(misfits)
    return f"{misfit} {text}" if misfit else text


def record(pooled: Estimate, strata: Mapping[str, Estimate], reported: Mapping[str, Estimate], *,
           replicates: int, figures: list[str], parameters: Mapping[str, Any], notes: str,
           controls: Sequence[claims.Control] = ()) -> claims.Claim:
    """Decide H1 by :data:`RULE` from :func:`primary`'s estimates, per stratum and pooled, and record it.

    ``replicates`` is the number of fitted models behind the primary (:func:`n_models`);
    ``controls`` (:func:`~.controls.as_controls`) are decided by the same rule and recorded.
    """
    return claims.record_rule("H1", RULE, statement=STATEMENT, pooled=pooled, strata=strata,
                              measurements=reported, replicates=replicates, figures=figures, notebook=NOTEBOOK,
                              parameters=parameters, notes=notes, controls=controls)
