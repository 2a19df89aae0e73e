"""C1 · test samples outside the training hull, against held-out training samples.

The primary (:data:`RULE`) is the median hull/NN ratio of the test queries minus that of as many
held-out training queries: are test samples further out than a new draw from the training
distribution? "Outside" alone is reported, never judged (in more than ~100 dimensions every new
sample is outside). Decided per (dataset, space) stratum (:func:`stratum_effects`: pixel space over
queries, a feature space over its fitted models) and pooled (:func:`pooled_effect`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ... import zoo
from ...evidence import claims, stats
from ...evidence.claims import Claim, Rule
from ...evidence.stats import Estimate
from ...train import TrainResult
from .parameters import NOTEBOOK
from .tables import Tables

STATEMENT = ("Test samples lie considerably outside the convex hull of the training set, in pixel space "
             "and in the penultimate feature space of trained networks: further outside it than new "
             "samples drawn from the training distribution.")
PRIMARY = "median_hull_over_nn_test_minus_heldout"
MARGIN = 0.05  # of a hull/NN ratio whose medians are 0.4 to 0.7: "considerably" further out, not a hair
RULE = Rule(
    PRIMARY, ">", MARGIN,
    null=("as many held-out training samples from the same training split (not in the hull's subset) as "
          "test queries: a test query is no further out than a new training draw (difference 0)"),
    strata=("dataset", "space"),
    changes=("2026-12-01: was an AND of 12 conditions, the share of queries outside the hull > 0.9 (which "
             "cannot fail in more than ~100 dimensions, Balestriero, Pesenti, LeCun 2021) and the median "
             "hull/NN ratio > 0.5 (an arbitrary yardstick) in every space, on one seed and 200 queries; now "
             "one primary, the median hull/NN of test queries minus that of as many held-out training "
             "samples (a null the claim can fail against), margin 0.05, per (dataset, space) stratum on five "
             "fitted models per arch (issue 13)",))
FIGURES = ("05_hull_vs_nn", "05_ratio_distributions", "05_train_size", "05_c1_effect")


def median_ratio(values: Sequence[float] | np.ndarray, n_boot: int) -> Estimate:
    """Median of hull/NN ratios with a bootstrap interval over the queries."""
    return stats.bootstrap(values, np.median, n_boot=n_boot)


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The finite values, flattened to a float array."""
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def _boot_median_difference(a: np.ndarray, b: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap replicates of median(a) - median(b), each sample resampled apart."""
    return (np.median(a[rng.integers(0, len(a), (n_boot, len(a)))], axis=1)
            - np.median(b[rng.integers(0, len(b), (n_boot, len(b)))], axis=1))


def median_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, n_boot: int,
                      seed: int = 0) -> Estimate:
    """median(a) - median(b) of two independent samples (finite values), with a percentile
    bootstrap that resamples each sample apart; ``n`` is the size of ``a``."""
    a, b = _finite(a), _finite(b)
    method = "bootstrap over queries (test and held-out resampled apart)"
    if len(a) == 0 or len(b) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), len(a), method)
    boots = _boot_median_difference(a, b, n_boot, np.random.default_rng(seed))
    low, high = np.quantile(boots, [0.025, 0.975])
    return Estimate(float(np.median(a) - np.median(b)), float(low), float(high), len(a), method)


def _model_keys(tables: Tables, dataset: str, arch: str) -> list[tuple[str, str]]:
    """The keys of ``arch``'s feature spaces on ``dataset``, one per fitted model."""
    return [k for k in tables if k[0] == dataset and k[1].split("/")[0] == arch]


def per_model_effects(tests: Tables, helds: Tables, dataset: str, arch: str) -> np.ndarray:
    """One number per model of ``arch`` on ``dataset``: median hull/NN of its test queries minus that
    of its held-out training queries, both in its own feature space."""
    return np.array([np.nanmedian(tests[k]["ratio_nn"]) - np.nanmedian(helds[k]["ratio_nn"])
                     for k in _model_keys(tests, dataset, arch) if k in helds], dtype=float)


def stratum_effect(tests: Tables, helds: Tables, dataset: str, space: str, n_boot: int) -> Estimate:
    """The C1 primary of one stratum: pixel space (one space, interval over queries) or an arch
    (one space per fitted model, t interval over the models)."""
    if space == "pixel":
        key = (dataset, "pixel")
        return median_difference(tests[key]["ratio_nn"], helds[key]["ratio_nn"], n_boot=n_boot)
    return stats.across_seeds(per_model_effects(tests, helds, dataset, space))


def stratum_effects(tests: Tables, helds: Tables, datasets: Sequence[str], archs: Sequence[str], n_boot: int
                    ) -> dict[str, Estimate]:
    """:func:`stratum_effect` of every (dataset, space) stratum, keyed ``"dataset/space"``, pixel first."""
    return {f"{name}/{space}": stratum_effect(tests, helds, name, space, n_boot)
            for name in datasets for space in ["pixel", *archs]}


def pooled_effect(tests: Tables, helds: Tables, datasets: Sequence[str], archs: Sequence[str], n_boot: int,
                  seed: int = 0) -> Estimate:
    """The C1 primary pooled: the mean of the strata's values, with a stratified interval in which
    each stratum contributes its own sampling distribution, drawn independently: the bootstrap over
    queries in pixel space, and in a feature space the Student-t distribution of the mean over its
    models (the same one :func:`stats.across_seeds` uses; a bootstrap over five models would be too
    narrow). Strata with fewer than two models are left out."""
    rng = np.random.default_rng(seed)
    values, draws = [], []
    for name in datasets:
        key = (name, "pixel")
        a, b = _finite(tests[key]["ratio_nn"]), _finite(helds[key]["ratio_nn"])
        if len(a) and len(b):
            values.append(np.median(a) - np.median(b))
            draws.append(_boot_median_difference(a, b, n_boot, rng))
        for arch in archs:
            e = _finite(per_model_effects(tests, helds, name, arch))
            if len(e) >= 2:
                values.append(e.mean())
                draws.append(e.mean() + e.std(ddof=1) / np.sqrt(len(e)) * rng.standard_t(len(e) - 1, n_boot))
    method = "mean of strata; stratified (queries bootstrapped in pixel space, t over models in feature spaces)"
    if not values:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, method)
    low, high = np.quantile(np.mean(draws, axis=0), [0.025, 0.975])
    return Estimate(float(np.mean(values)), float(low), float(high), len(values), method)


def measurements(tests: Tables, helds: Tables, rows: Sequence[Mapping[str, Any]], datasets: Sequence[str],
                 archs: Sequence[str], n_boot: int) -> dict[str, Estimate]:
    """What C1 reports, not judges, per stratum ``<dataset>_<space>``: the share of test and held-out
    queries outside the hull, their median hull/NN ratios, the share whose model label changes at
    the hull projection (pixel space: ``..._pixel_by_<arch>``, as the fitted models of each arch
    label the pixel-hull projections, t interval over models), and in pixel space the median
    hull / other-class NN ratio."""
    out: dict[str, Estimate] = {}
    for name in datasets:
        key = (name, "pixel")
        for which, tables in (("test", tests), ("heldout", helds)):
            out[f"outside_{which}_{name}_pixel"] = stats.share(~tables[key]["inside"], n_boot)
            out[f"median_hull_over_nn_{which}_{name}_pixel"] = median_ratio(tables[key]["ratio_nn"], n_boot)
        out[f"median_hull_over_other_class_test_{name}_pixel"] = median_ratio(tests[key]["ratio_other"], n_boot)
        for arch in archs:  # the pixel-hull projections as each arch's fitted models label them
            fitted = [r for r in rows if r["dataset"] == name and r["arch"] == arch and r.get("fitted", True)]
            for which, column in (("test", "pixel_change_test"), ("heldout", "pixel_change_held")):
                out[f"label_change_{which}_{name}_pixel_by_{arch}"] = stats.across_seeds(
                    [r[column] for r in fitted if column in r])
        for arch in archs:
            for which, tables in (("test", tests), ("heldout", helds)):
                keys = _model_keys(tables, name, arch)
                out[f"outside_{which}_{name}_{arch}"] = stats.across_seeds(
                    [1 - tables[k]["inside"].mean() for k in keys])
                out[f"median_hull_over_nn_{which}_{name}_{arch}"] = stats.across_seeds(
                    [np.nanmedian(tables[k]["ratio_nn"]) for k in keys])
                out[f"label_change_{which}_{name}_{arch}"] = stats.across_seeds(
                    [tables[k]["label_change"].mean() for k in keys])
    return out


def notes(parameters: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], misfits: Sequence[TrainResult]) -> str:
    """What the C1 entry rests on: queries, training samples, models, intervals, exclusions."""
    used = sum(1 for r in rows if r.get("fitted", True))
    note = (f"{parameters['n_queries']} test queries and {parameters['n_queries']} held-out training samples "
            f"against {parameters['n_train']} training samples per data set; hull distance exact up to a "
            "certified duality gap (hull.distance). Pixel space: one space per data set, intervals over "
            "queries (test and held-out resampled apart). Feature spaces: one per fitted model "
            f"({used} models), t interval over the models (the queries are shared, so their sampling "
            "error is common to the models). 'outside' shares and label changes at the hull projection "
            "are reported, not judged.")
    return " ".join(s for s in (note, zoo.misfit_note(misfits)) if s)


def record(strata: Mapping[str, Estimate], pooled: Estimate, measurements: Mapping[str, Estimate], *,
           replicates: int, parameters: Mapping[str, Any], notes: str = "",
           figures: Sequence[str] | None = None) -> Claim:
    """Decide C1 by :data:`RULE` per stratum and pooled, and write it to the ledger (``figures``:
    the PNG paths behind it, by default those of :data:`FIGURES`)."""
    figures = [f"figures/{stem}.png" for stem in FIGURES] if figures is None else list(figures)
    return claims.record_rule(
        "C1", RULE, statement=STATEMENT, pooled=pooled, strata=dict(strata), measurements=dict(measurements),
        replicates=replicates, figures=figures, notebook=NOTEBOOK, parameters=parameters, notes=notes)
