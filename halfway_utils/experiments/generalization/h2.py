"""Claim H2: a network labels unseen inputs like the nearest training sample (the halfway partition).

Our reading of *Meet You Halfway* (BenShmuel 2022). Raw agreement with the 1-NN label cannot
decide it (two classifiers right on most inputs agree there), so the primary (:data:`PRIMARY`)
is the shared-error kappa against the pixel 1-NN rule (:mod:`.kappa`) over the kappa the same
networks reach with replicate networks (:mod:`.ceiling`), per (dataset, arch) stratum and pooled,
fitted models as the unit; :data:`RULE` decides it, and its controls (:mod:`.control_systems`). :func:`measurements`
are reported beside it, :func:`strata_table` tabulates each stratum, :func:`notes` builds the
ledger's notes (excluded models, thin strata, the controls) and :func:`record` writes the entry.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ... import zoo
from ...evidence import claims, stats
from ...train import TrainResult
from .controls import CHANCE
from .kappa import error_groups, kappa_by_stratum
from .parameters import NOTEBOOK

STATEMENT = ("A network labels unseen inputs like the nearest training sample in input space (the halfway "
             "partition of its training set): where the pixel-space 1-NN rule errs, the network makes the "
             "same error (our reading of BenShmuel 2022).")
PRIMARY = "shared_error_kappa_pixel_1nn_over_replicates"
RULE = claims.Rule(
    primary=PRIMARY, op=">", margin=0.5, null_value=0.0, band=0.1, ideal=1.0,
    null=("independent errors: on the test inputs the pixel 1-NN rule gets wrong, the network gives the "
          "1-NN's wrong label only at its own confusion rate P(net = that label | true class), kappa 0 and so "
          "0 on the scale; within the band (a tenth of the way to the ideal) a system reads 'no effect'"),
    strata=("dataset", "arch"),
    margin_reason=("half the way from independent errors (0) to the ceiling (1) that replicate networks (same data "
                   "and arch, another seed) reach with each other in the same run: the 1-NN must be at least half "
                   "as close to a network as another such network is; a fraction of the scale, not a value read off "
                   "results; band 0.1, a tenth of the way"),
    scale=("0 = independent errors (kappa 0), 1 = the network shares the pixel 1-NN's errors as much as it "
           "shares a replicate network's (kappa with the 1-NN = kappa with another seed's network)"),
    changes=("2026-12-01: was feature-space 1-NN agreement > 0.9 and feature minus pixel agreement > 0, "
             "pooled over all models and test samples with a per-sample bootstrap; feature agreement is near "
             "tautological (the head is linear on those features), raw agreement is at least "
             "acc(net) + acc(1-NN) - 1, rows of several models were treated as independent and the pooled "
             "interval mixed MNIST (above 0.9) with Fashion-MNIST (0.81-0.86); now the pixel 1-NN's errors "
             "shared beyond independent errors (kappa), per (dataset, arch) stratum, fitted models as the "
             "unit (issue 13)",
             "2026-12-04: was the raw kappa > 0.5 (ideal: copying the 1-NN, kappa 1), a margin set after results "
             "were seen and one that even two replicate networks barely reach (they share errors at kappa "
             "0.59); now the kappa over the ceiling two replicate networks reach with each other in the same "
             "run (models resampled jointly for both), margin 0.5 = half the way to that ceiling, band 0.1; "
             "raw kappa and ceiling are reported; a positive (small-bandwidth RBF kernel machine) and a "
             "negative control (noisy oracle) are decided by the same rule (issue 20)",
             claims.INTERVALS_CHANGE + "the test "
             "inputs, shared by every model of a data set, are resampled jointly (one multinomial weight per "
             "input and replicate), strata and pooled from the same replicates (issue 21).",))
FIGURES = ("02_shared_errors", "02_controls", "02_agreement", "02_random_labels", "02_width_sweep")
MODEL_KEYS = ["dataset", "arch", "seed"]
MIN_MODELS = 5  # independently trained, fitted models a stratum needs behind the primary


def _fitted(per_sample: pd.DataFrame) -> pd.DataFrame:
    return per_sample[per_sample["fitted"]] if "fitted" in per_sample else per_sample


def _per_model(per_sample: pd.DataFrame, column: str) -> list[np.ndarray]:
    """One array of ``column`` per fitted model, strata and models in order of appearance."""
    return [a for arrays in stats.model_groups(_fitted(per_sample), column).values() for a in arrays]


def measurements(per_sample: pd.DataFrame, random_table: pd.DataFrame, *, n_boot: int,
                 net_pooled: stats.Estimate | None = None,
                 raw_pooled: stats.Estimate | None = None) -> dict[str, stats.Estimate]:
    """H2's reported (not judged) measurements, fitted models only, with the model as the unit:
    the raw kappa against the pixel 1-NN (``raw_pooled``, or computed) and its ceiling, the
    shared-error kappa between networks (``net_pooled``, or computed), the shared and the
    expected share behind the primary, raw agreements with their floor, accuracy (two-level
    cluster bootstraps over models), and the random-label control across labelings (fitted
    random-label models; test accuracy minus chance)."""
    if net_pooled is None:
        net_pooled, _ = kappa_by_stratum(error_groups(per_sample, "net"), n_boot=n_boot)
    if raw_pooled is None:
        raw_pooled, _ = kappa_by_stratum(error_groups(per_sample, "pixel_nn"), n_boot=n_boot)
    pixel = [g for groups in error_groups(per_sample, "pixel_nn").values() for g in groups]
    floor = [np.full(len(g), g["correct"].mean() + (g["pixel_nn"] == g["label"]).mean() - 1.0)
             for _, g in _fitted(per_sample).groupby(MODEL_KEYS, sort=False)]

    def boot(groups: list[np.ndarray]) -> stats.Estimate:
        return stats.cluster_bootstrap(groups, n_boot=n_boot, seed=0)

    fitted_random = random_table.query("labels == 'random' and fitted")
    true = random_table.query("labels == 'true' and fitted")
    return {
        "shared_error_kappa_pixel_1nn": raw_pooled,
        "shared_error_kappa_net_vs_net": net_pooled,
        "shared_error_share_pixel_1nn": boot([g.same for g in pixel]),
        "shared_error_expected_pixel_1nn": boot([g.expected for g in pixel]),
        "agreement_pixel_1nn": boot(_per_model(per_sample, "agree_pixel")),
        "agreement_pixel_floor": boot(floor),
        "agreement_feature_1nn": boot(_per_model(per_sample, "agree_feature")),
        "test_accuracy": boot(_per_model(per_sample, "correct")),
        "random_labels_train_acc": stats.across_seeds(fitted_random["train_acc"]),
        "random_labels_test_acc_minus_chance": stats.across_seeds(fitted_random["test_acc"] - CHANCE),
        "random_labels_share_first_mid": stats.across_seeds(fitted_random["share_first_mid"]),
        "true_labels_share_first_mid": stats.across_seeds(true["share_first_mid"]),
    }


def strata_table(agree: pd.DataFrame, pixel: dict[str, stats.Estimate], net: dict[str, stats.Estimate],
                 pixel_acc: dict[str, float], primary: dict[str, stats.Estimate] | None = None) -> pd.DataFrame:
    """Per ``dataset/arch`` stratum: fitted models, the primary (kappa vs the pixel 1-NN over the
    kappa between networks), the raw kappa vs the pixel 1-NN and the kappa between networks (the
    ceiling), with intervals; over the fitted models, mean test accuracy, pixel
    agreement, its floor acc(net) + acc(1-NN) - 1 and feature agreement; the pixel 1-NN's accuracy."""
    rows = []
    for (dataset, arch), g in agree.groupby(["dataset", "arch"], sort=False):
        name, kept = stats.stratum_label(dataset, arch), g[g["fitted"]]
        k, kn, r = pixel.get(name), net.get(name), (primary or {}).get(name)
        nan = float("nan")
        rows.append({"stratum": name, "models": len(g), "fitted": len(kept),
                     "primary": r.value if r else nan, "primary_low": r.low if r else nan,
                     "primary_high": r.high if r else nan,
                     "kappa_pixel_1nn": k.value if k else nan, "low": k.low if k else nan,
                     "high": k.high if k else nan, "kappa_net_vs_net": kn.value if kn else nan,
                     "net_low": kn.low if kn else nan, "net_high": kn.high if kn else nan,
                     "test_acc": kept["correct"].mean(), "pixel_1nn_acc": pixel_acc.get(dataset, nan),
                     "agree_pixel": kept["agree_pixel"].mean(),
                     "agreement_floor": kept["correct"].mean() + pixel_acc.get(dataset, nan) - 1.0,
                     "agree_feature": kept["agree_feature"].mean()})
    return pd.DataFrame(rows)


def notes(agree: pd.DataFrame, random_table: pd.DataFrame, widths_table: pd.DataFrame,
          misfits: list[TrainResult], *, archs: list[str], random_archs: list[str],
          random_datasets: list[str], random_n_train: int | None, bandwidths: pd.DataFrame | None = None) -> str:
    """The ledger's notes: excluded models, thin strata, the random-label control per labeling
    group, the width sweep per width (means over seeds, with how many reached the target) and,
    when given, the kernel machine's primary per bandwidth (``control_systems.bandwidth_sweep``)."""
    parts = [zoo.misfit_note(misfits)] if misfits else []
    counts = agree[agree["fitted"]].groupby(["dataset", "arch"]).size()
    thin = [f"{stats.stratum_label(d, a)} ({n})" for (d, a), n in counts.items() if n < MIN_MODELS]
    if thin:
        parts.append(f"Strata with fewer than {MIN_MODELS} fitted models: {', '.join(thin)}.")
    left_out = [a for a in archs if a not in random_archs]
    r = random_table.groupby("labels", sort=False)
    random_part = "; ".join(
        f"{lab}: {int(g.fitted.sum())}/{len(g)} fitted, train acc {g.train_acc.mean():.3f}, test acc "
        f"{g.test_acc.mean():.3f}, median |t-0.5| {g.median_abs_first.mean():.3f}, share in [0.4,0.6] "
        f"{g.share_first_mid.mean():.2f}" for lab, g in r)
    parts.append("Random labels (" + ", ".join(random_archs) + f" on {', '.join(random_datasets)}, "
                 f"n_train={random_n_train}, one labeling per seed"
                 + (f"; {', '.join(left_out)} left out of the random-label runs for the CPU budget" if left_out else "")
                 + "): " + random_part + ".")
    width_part = "; ".join(
        f"w={int(w)}: {int(g.fitted.sum())}/{len(g)} fitted, train {g.train_acc.mean():.3f}, test "
        f"{g.test_acc.mean():.3f}, share in [0.4,0.6] {g.share_first_mid.mean():.2f}"
        for w, g in widths_table.groupby("width"))
    parts.append("Width sweep: " + width_part + ".")
    if bandwidths is not None and len(bandwidths):
        parts.append("RBF kernel machine by bandwidth (in median nearest-neighbour distances; test accuracy, primary): "
                     + "; ".join(f"{r.factor:g}: {r.test_acc:.3f}, {r.primary:.2f} [{r.low:.2f}, {r.high:.2f}]"
                                 for r in bandwidths.itertuples()) + ".")
    return " ".join(parts)


def record(pooled: stats.Estimate, strata: dict[str, stats.Estimate],
           measurements: dict[str, stats.Estimate | float], *, replicates: int, figures: list[str],
           parameters: dict[str, Any], notes: str, controls: Sequence[claims.Control] = ()) -> claims.Claim:
    """Write H2 to the claims ledger, decided by :data:`RULE` per stratum and pooled, with its controls."""
    return claims.record_rule("H2", RULE, statement=STATEMENT, pooled=pooled, strata=strata,
                              measurements=measurements, replicates=replicates, figures=figures,
                              notebook=NOTEBOOK, parameters=parameters, notes=notes, controls=controls)
