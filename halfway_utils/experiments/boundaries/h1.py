"""Claim H1: on segments between training samples of different classes, trained networks flip near t = 0.5.

Our reading of *Meet You Halfway* (BenShmuel 2022). The primary (:func:`primary`) is the mean
per-path gain of the flip zone (:func:`~.pairs.flip_zone`) over the same network untrained, on
the claim's paths of :func:`~.scan.claim_paths`, per (dataset, arch) stratum and pooled, with the
model as the unit of replication; :data:`RULE` decides it. :func:`measurements` are reported
beside it, :func:`notes` builds the ledger's notes and :func:`record` writes the entry.
"""
from __future__ import annotations

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

STATEMENT = ("On segments between training samples of different classes, trained networks switch their "
             "decision near t = 0.5, nearer than the same networks untrained (our reading of BenShmuel 2022).")
PRIMARY = "zone_gain_vs_untrained"
RULE = claims.Rule(
    primary=PRIMARY, op=">", margin=0.05,
    null=("the same network untrained (same architecture and seed, epoch 0) on the same segments; where it "
          "never flips it is credited with a boundary placed uniformly at random (flip zone 0.25)"),
    strata=("dataset", "arch"),
    changes=(
        "2026-12-01: was (median |first flip - 0.5| < 0.1) and (share of first flips in [0.4, 0.6] > 0.5), "
        "pooled over all models and architectures with a bootstrap over paths, against no null; the first flip "
        "is not symmetric in a and b (it is biased toward a when a third class intervenes), uniform flip points "
        "already give 0.25 and the untrained network 0.27, the pooled verdict spoke for architectures that differ "
        "in kind, and paths of several models were treated as independent. Now: the mean per-path gain of the "
        "symmetric flip zone max(|first - 0.5|, |last - 0.5|) over the untrained network on the same paths, "
        "> 0.05, per (dataset, arch) stratum and pooled, models as the unit of replication (issue 13).",
    ),
)
FIGURES = ("01_flip_distributions", "01_gain_vs_untrained", "01_controls", "01_first_last_distance",
           "01_boundary_history", "01_morph_path")
RHO_BOOT = 200  # bootstrap resamples of the rank-correlation interval (a fixed number, not n_boot)


def _estimates(frame: pd.DataFrame, column: str, *, n_boot: int, statistic: Any = np.mean,
               strata: bool = True) -> tuple[Estimate, dict[str, Estimate]]:
    """Pooled and (with ``strata``) per-stratum two-level cluster bootstrap (models, then paths) of ``statistic``."""
    groups = stats.model_groups(frame, column)

    def boot(arrays: list[np.ndarray]) -> Estimate:
        return stats.cluster_bootstrap(arrays, statistic, n_boot=n_boot, seed=0)

    pooled = boot([a for arrays in groups.values() for a in arrays])
    return pooled, ({s: boot(a) for s, a in groups.items()} if strata else {})


def primary(paths: pd.DataFrame, n_boot: int) -> tuple[Estimate, dict[str, Estimate]]:
    """H1's primary, the mean per-path gain of the flip zone over the untrained network: pooled and per stratum.

    ``paths`` is :func:`~.scan.claim_paths`' frame (at least ``dataset, arch, seed, gain``). Each
    interval is a two-level cluster bootstrap: models (the unit of replication), then the paths
    of each drawn model; every model weighs the same.
    """
    return _estimates(paths, "gain", n_boot=n_boot)


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
    return {
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
    """Per stratum: the number of models and the mean over them of each per-model mean (3 digits)."""
    per_model = claim.groupby(["dataset", "arch", "seed"], sort=False).agg(
        gain=("gain", "mean"), zone=("zone", "mean"), zone_untrained=("zone_untrained", "mean"),
        zone_1nn=("zone_1nn", "mean"), distance_to_1nn=("to_1nn", "mean"),
        share_flip_untrained=("untrained_flip", "mean"), share_third_class=("third_class", "mean"))
    same = paths[paths["kind"] == CONTROL_KIND].groupby(["dataset", "arch", "seed"], sort=False)["has_flip"].mean()
    per_model["share_flip_same_class"] = same.reindex(per_model.index)
    table = per_model.groupby(level=["dataset", "arch"], sort=False).mean()
    table.insert(0, "models", per_model.groupby(level=["dataset", "arch"], sort=False).size())
    table.index = [stats.stratum_label(ds, arch) for ds, arch in table.index]
    return table.round(3)


def zone_distance_correlation(claim: pd.DataFrame) -> Estimate:
    """Spearman rho of ||a - b|| with the flip zone over the claim's paths, resampling whole models."""
    model = claim["dataset"] + "/" + claim["arch"] + "/" + claim["seed"].astype(str)
    return stats.partial_spearman(claim["distance"], claim["zone"], None, groups=model.to_numpy(),
                                  n_boot=RHO_BOOT, seed=0)


def n_models(claim: pd.DataFrame) -> int:
    """The number of (dataset, arch, seed) models in a per-path frame."""
    return int(claim[["dataset", "arch", "seed"]].drop_duplicates().shape[0])


def notes(strata: pd.DataFrame, history: History, misfits: Sequence[TrainResult] = ()) -> str:
    """The ledger notes: excluded models, per-stratum zones of the three classifiers, the history."""
    by_stratum = "; ".join(f"{name}: trained {r.zone:.3f}, untrained {r.zone_untrained:.3f}, 1-NN {r.zone_1nn:.3f}"
                           for name, r in strata.iterrows())
    epochs = ", ".join(f"{int(r.epoch)}: {r.zone:.3f}" for r in history.table.itertuples())
    text = ("Mean flip zone max(|first - 0.5|, |last - 0.5|) of the train-train pairs of different classes, "
            "mean over models: " + by_stratum + ". History of " + history.label + ", mean flip zone by epoch "
            + epochs + ".")
    misfit = zoo.misfit_note(misfits)
    return f"{misfit} {text}" if misfit else text


def record(pooled: Estimate, strata: Mapping[str, Estimate], reported: Mapping[str, Estimate], *,
           replicates: int, figures: list[str], parameters: Mapping[str, Any], notes: str) -> claims.Claim:
    """Decide H1 by :data:`RULE` from :func:`primary`'s estimates, per stratum and pooled, and record it.

    ``replicates`` is the number of fitted models behind the primary (:func:`n_models`).
    """
    return claims.record_rule("H1", RULE, statement=STATEMENT, pooled=pooled, strata=strata,
                              measurements=reported, replicates=replicates, figures=figures, notebook=NOTEBOOK,
                              parameters=parameters, notes=notes)
