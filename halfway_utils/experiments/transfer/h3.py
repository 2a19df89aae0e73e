"""H3, shared boundaries: per model pair, the median ID/MD over inputs against a permutation null.

From the long MD table of :mod:`.distances`: per (data set, direction, model pair, input) the
observed ID/MD and what unrelated boundaries would give (:func:`h3_rows`); per pair 1 - the ratio
of their medians (0: unrelated, 1: identical boundaries), averaged over pairs, with intervals from
a crossed bootstrap that redraws models (within each architecture) and inputs together
(:func:`h3_estimates`); the rule, and the ledger entry with its controls (:func:`record`).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...evidence import claims, stats
from ...evidence.stats import Estimate
from ...methods.directions import censor, id_over_md
from .bundles import arch_of, pair_kind
from .distances import DIRECTIONS
from .parameters import NOTEBOOK, claim_figures

PRIMARY = "h3_shared_boundaries"
STATEMENT = ("Independently trained models put their boundaries at nearly the same places: per model pair, "
             "the median ID/MD over inputs is at most half of what unrelated boundaries give (a permutation "
             "null pairing one model's distance on input i with the other's on input j of the same class), "
             "along legitimate, adversarial and random directions; on the scale 1 - observed / null, at least "
             "halfway from unrelated (0) to identical boundaries (1).")
RULE = claims.Rule(
    primary=PRIMARY, op=">", margin=0.5, null_value=0.0, band=0.1, ideal=1.0,
    null="unrelated boundaries: model A's boundary distance on input i paired with model B's on another "
         "input j of the same class and direction kind (positions on the segment for legitimate directions); "
         "the primary 1 - observed / null is 0 under it; within 0.1 of it (a tenth of the way to identical "
         "boundaries) reads no effect",
    strata=("dataset", "direction"),
    changes=("2026-12-01: was the median over inputs of ID/MD along legitimate directions < 0.5, pooled rows "
             "of 6 models bootstrapped as independent, censored distances dropped, search points not clipped; "
             "unrelated boundaries spread like ours on a short segment already give about 0.3-0.4, so the rule "
             "could barely fail. Now the per-pair ratio of the observed median ID/MD to a permutation null of "
             "unrelated boundaries, for all three direction kinds, censored distances kept at max_eps, points "
             "clipped to [0, 1], models (5 per arch) and inputs as crossed bootstrap factors (issue 13).",
             "2026-12-04: the primary is now 1 - (observed / null), h3_shared_boundaries, on a scale where 0 is "
             "the null (unrelated boundaries) and 1 the ideal (identical boundaries); the margin is the same "
             "point as before (observed / null < 0.5 is 1 - it > 0.5), now anchored as half the way from the "
             "null to the ideal; a band of 0.1 around the null reads no effect; beside the zoo, a positive "
             "control (the source against copies of itself with 2% weight noise) and a negative one (against "
             "networks fitted to random labels) are measured by the same code (issue 20).",
             claims.INTERVALS_CHANGE + "models within "
             "arch and the shared inputs were already crossed factors; the df is now the models' (sum over "
             "archs of M - 1) and the pooled interval is drawn with the strata's (issue 21).",),
    margin_reason="half of the way from the null (unrelated boundaries, 0) to the ideal (identical boundaries, 1): "
                  "boundaries nearer to identical than to unrelated; not the replicate ceiling, because "
                  "same-arch replicates are part of the zoo this claim is about (normalising by them would make "
                  "the same-arch pairs 1 by construction); the replicate value is reported beside it",
    scale="0 = unrelated boundaries (the permutation null), 1 = identical boundaries (a model against itself)")
FIGURES = ("03_boundary_distances", "03_controls")


def h3_rows(mds: pd.DataFrame, pairs: Mapping[str, Sequence[tuple[str, str]]]) -> pd.DataFrame:
    """Per (data set, direction, model pair, input): the observed ID/MD and the permutation null's.

    Censored distances count at their cap (:func:`censor`). Along legitimate directions the
    distances are first divided by the segment's length, i.e. taken as positions ``t`` on the
    segment to the target: the null then pairs model A's position on input i with model B's
    position on input j, two boundaries placed independently on a segment of the same length,
    which is the stronger null (unrelated boundaries on segments of different lengths differ more).
    Along adversarial directions a pair is measured along the PGD directions of whichever member
    the MD table searched them for (``source``, as :func:`orient` chose); along the others with
    ``source = "-"``. Only H3's direction kinds (:data:`DIRECTIONS`) are used.
    Columns: ``dataset, direction, source, model_a, model_b, kind, input, label, obs, null,
    censored`` (``censored``: either distance was censored).
    """
    frames = []
    for (name, kind), sub in mds[mds["direction"].isin(DIRECTIONS)].groupby(["dataset", "direction"], sort=False):
        for src, block in sub.groupby("source", sort=False):
            oriented = list(pairs[name]) if src == "-" else [(src, b if a == src else a) for a, b in pairs[name]
                                                             if src in (a, b)]
            wide = block.pivot(index="input", columns="model", values="md")
            meta = block.drop_duplicates("input").set_index("input").loc[wide.index]
            scale = meta["length"].to_numpy() if kind == "legitimate" else np.ones(len(wide))
            labels = meta["label"].to_numpy()
            for a, b in oriented:
                if a not in wide or b not in wide:
                    continue
                raw_a, raw_b = wide[a].to_numpy(), wide[b].to_numpy()
                ta, tb = censor(raw_a, meta["cap"].to_numpy()) / scale, censor(raw_b, meta["cap"].to_numpy()) / scale
                frames.append(pd.DataFrame({
                    "dataset": name, "direction": kind, "source": src, "model_a": a, "model_b": b,
                    "kind": pair_kind(a, b), "input": wide.index, "label": labels, "obs": id_over_md(ta, tb),
                    "null": stats.permutation_null(ta, tb, labels, id_over_md),
                    "censored": np.isinf(raw_a) | np.isinf(raw_b)}))
    return pd.concat(frames, ignore_index=True)




def _block(rows: pd.DataFrame, inputs: np.ndarray, pairs: Sequence[tuple[str, str]] | None = None
           ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """(P, N) observed and null arrays of one (data set, direction) and its pair list (optionally a subset)."""
    keys = list(dict.fromkeys(zip(rows["model_a"], rows["model_b"]))) if pairs is None else list(pairs)
    obs = rows.pivot_table(index=["model_a", "model_b"], columns="input", values="obs", dropna=False)
    null = rows.pivot_table(index=["model_a", "model_b"], columns="input", values="null", dropna=False)
    obs, null = obs.reindex(index=keys, columns=inputs), null.reindex(index=keys, columns=inputs)
    return obs.to_numpy(float), null.to_numpy(float), keys


def h3_estimates(rows: pd.DataFrame, models: Mapping[str, Sequence[str]], *, n_boot: int, seed: int
                 ) -> tuple[dict[str, Estimate], Estimate, dict[str, Estimate]]:
    """H3's primary per (data set, direction) stratum, pooled, and the reported splits.

    The primary, ``h3_shared_boundaries``: per model pair, 1 - median ID/MD over inputs divided by
    the permutation null's (0: like unrelated boundaries, 1: identical), averaged over pairs.
    Pooled: the mean over all strata. Reported: the same for same-arch pairs (what replicate
    networks reach with each other) and cross-arch pairs per direction (averaged over data
    sets), and the observed and null medians themselves.
    Intervals: :func:`~halfway_utils.evidence.stats.crossed_bootstrap` with one draw of models and
    inputs per data set and replicate, shared by its directions.
    """
    rng = np.random.default_rng(seed)
    strata, boots, split, split_boots, dyadic = {}, {}, {}, {}, {}
    n_models = sum(len(v) for v in models.values())
    for name, names in models.items():
        sub = rows[rows["dataset"] == name]
        inputs = np.sort(sub["input"].unique())
        counts = stats.model_draws([arch_of(n) for n in names], n_boot, rng)
        draws = rng.integers(0, len(inputs), size=(n_boot, len(inputs)))
        for kind in DIRECTIONS:
            block = sub[sub["direction"] == kind]
            if block.empty:
                continue
            obs, null, keys = _block(block, inputs)
            dyadic[f"{name}/{kind}"] = stats.is_dyadic(keys)
            strata[f"{name}/{kind}"], boots[f"{name}/{kind}"] = stats.crossed_bootstrap(
                obs, null, names, keys, counts=counts, inputs=draws)
            for pk in ("same arch", "other arch"):
                rows_k = [i for i, (a, b) in enumerate(keys) if pair_kind(a, b) == pk]
                v, bt = stats.crossed_bootstrap(obs[rows_k], null[rows_k], names, [keys[i] for i in rows_k],
                                                counts=counts, inputs=draws)
                split.setdefault((kind, pk), []).append(v)
                split_boots.setdefault((kind, pk), []).append(bt)
    method = "crossed bootstrap (models within arch, and inputs)"
    dof = {k: stats.draw_dof([arch_of(n) for n in models[k.split("/")[0]]], pairs=dyadic[k]) for k in strata}
    est = {k: stats.replicate_interval(1 - v, 1 - boots[k], len(models[k.split("/")[0]]), method, df=dof[k][0],
                                       inflate=dof[k][1]) for k, v in strata.items()}
    parts = {k: (1 - boots[k], len(models[k.split("/")[0]]), 1 / len(strata)) for k in strata}
    pooled = stats.pooled_interval(1 - float(np.mean(list(strata.values()))), 1 - np.mean(list(boots.values()), axis=0),
                                   parts, method + ", mean over strata", dof=dof,
                                       n=n_models)
    with warnings.catch_warnings():  # a replicate may draw no pair of a kind in every data set: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        reported = {f"{PRIMARY}_{kind}_{pk.replace(' ', '_')}": stats.replicate_interval(
            1 - float(np.nanmean(split[kind, pk])), 1 - np.nanmean(split_boots[kind, pk], axis=0), n_models, method)
            for kind, pk in split if np.isfinite(split[kind, pk]).any()}
    for kind in DIRECTIONS:
        block = rows[rows["direction"] == kind]
        if len(block):
            reported[f"median_id_over_md_{kind}"] = _point(block["obs"].median(), len(block))
            reported[f"median_null_id_over_md_{kind}"] = _point(block["null"].median(), len(block))
            reported[f"share_censored_{kind}"] = _point(block["censored"].mean(), len(block))
    return est, pooled, reported


def _point(value: float, n: int) -> Estimate:
    """A reported point value with no interval (descriptive)."""
    return Estimate(float(value), float("nan"), float("nan"), int(n), "point value (descriptive)")




def notes(parameters: Mapping[str, Any], models: Mapping[str, Sequence[str]], excluded: str = "") -> str:
    """The ledger notes of H3: the models, the inputs and how ID/MD is measured."""
    return (f"Fitted models: {', '.join(f'{k}: {len(v)}' for k, v in models.items())} "
            f"({parameters['archs']} x seeds {parameters['seeds']}). {excluded} Inputs: the first "
            f"{parameters['n_boundary']} test inputs every model classifies correctly. ID/MD = |MD_a - MD_b| / "
            "mean(MD_a, MD_b); censored distances (no boundary within max_eps) count at max_eps; search points "
            "clipped to [0, 1]. Along adversarial directions a pair is measured along one of its models' "
            "PGD directions (each model the source of about as many pairs). Primary: 1 - observed / null "
            "(0 unrelated, 1 identical boundaries). Same-arch (replicate) and cross-arch splits, "
            "the raw medians and the censored shares are reported, not judged.")


def record(strata: Mapping[str, Estimate], pooled: Estimate, measurements: Mapping[str, Estimate],
           parameters: Mapping[str, Any], models: Mapping[str, Sequence[str]], figures: Iterable[str],
           excluded: str = "", controls: Sequence[claims.Control] = ()) -> claims.Claim:
    """Decide and record H3 (shared boundaries) by :data:`RULE`, per (dataset, direction) and pooled,
    with its positive and negative ``controls`` decided by the same rule."""
    n_models = sum(len(v) for v in models.values())
    return claims.record_rule(
        "H3", RULE, statement=STATEMENT, pooled=pooled, strata=strata, measurements=measurements,
        replicates=n_models, figures=claim_figures(figures, FIGURES), notebook=NOTEBOOK, parameters=parameters,
        notes=notes(parameters, models, excluded), controls=controls)
