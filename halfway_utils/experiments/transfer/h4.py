"""H4, transfer: where successful PGD points land against random perturbations of the same L2 norm.

For each source's successful PGD examples at eps_ref: the projection on the segment from the
input to the nearest training sample of the adversarial class, over the source's own first flip
point there (:func:`landing_points`, :func:`landing_table`), against a random perturbation of
exactly the same L2 norm (:func:`~halfway_utils.methods.perturb.matched_norm_noise`); per
(data set, source arch) the median difference with source models as the unit, and the transfer
measurements per kind of pair, reported (:func:`h4_estimates`); the rule, and the ledger entry
(:func:`record`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from ...evidence import claims, stats
from ...evidence.stats import Estimate
from ...methods.boundary import scan_paths
from ...methods.directions import segment_projection
from ...methods.neighbors import nearest
from ...methods.perturb import matched_norm_noise
from ...models import predict
from .bundles import Bundle, arch_of
from .parameters import NOTEBOOK, claim_figures

Model = Callable[[Tensor], Tensor]

PRIMARY = "h4_landing_vs_random"
STATEMENT = ("Adversarial points land near the (shared, halfway) boundary: on the segment from an input to the "
             "nearest training sample of its adversarial class, a successful PGD point lies at least halfway "
             "to the source's own boundary on that segment, beyond where a random perturbation of the same "
             "L2 norm lies.")
RULE = claims.Rule(
    primary=PRIMARY, op=">", margin=0.5,
    null="a random perturbation of the same L2 norm from the same input (clipped to [0, 1]); its landing "
         "fraction t / t_flip is subtracted per example",
    strata=("dataset", "arch"),
    changes=("2026-12-01: was spearman(boundary agreement, transfer) > 0 over 30 model pairs bootstrapped as "
             "independent, same- and cross-arch pairs mixed, and off-diagonal transfer > sign noise (which "
             "any transferable attack passes); inconclusive by construction. Now one primary, where PGD points "
             "land (t / t_flip) minus where random perturbations of the same norm land, per source model with "
             "models as the unit, decided per (dataset, source arch); the transfer-agreement correlations (same- "
             "and cross-arch apart, bootstrap over models) and the perpendicular share against random directions "
             "are reported (issue 13).",
             "2026-12-03: the null's random perturbation now has exactly the attack's L2 norm after clipping to "
             "[0, 1] (methods.perturb.matched_norm_noise, shared with S2); before, it was scaled to that norm and "
             "then clipped, so it came out shorter than the attack. Same Gaussian directions and seeds; margin, "
             "primary and strata unchanged (issue 19).",))
FIGURES = ("03_landing_and_agreement", "03_transfer_vs_eps", "03_transfer_matrix_")


def landing_points(model: Model, x: Tensor, y: Tensor, x_adv: Tensor, x_train: Tensor, y_train: Tensor, *,
                   grid: int, seed: int = 0) -> pd.DataFrame:
    """Where one source's successful adversarial points lie on the segment to the adversarial class,
    against a random perturbation of the same L2 norm.

    For each input the source classifies correctly and its adversarial point fools it: ``t``
    and ``perp`` of :func:`segment_projection` on the segment ``x -> n`` (n: the nearest
    training sample of the adversarial class), the source's first flip point ``flip_t`` on
    that segment, the segment's length ``segment_l2``, and the same ``t_random`` and
    ``perp_random`` for a random perturbation of exactly the attack's L2 norm inside [0, 1]
    (:func:`~halfway_utils.methods.perturb.matched_norm_noise`: a seeded Gaussian direction, its
    step solved for the norm after clipping). ``landing = t / flip_t`` is how far the point went
    toward the source's own boundary on the segment (1: onto it), ``landing_random`` the same
    for the random perturbation.
    """
    pred_clean, pred_adv = predict(model, x), predict(model, x_adv)
    hit = (pred_clean == y) & (pred_adv != y)
    cols = ["t", "perp", "flip_t", "segment_l2", "t_random", "perp_random", "landing", "landing_random"]
    if not hit.any():
        return pd.DataFrame(columns=cols)
    idx, dist = nearest(x[hit], x_train, labels=(pred_adv[hit], y_train), relation="same")
    if (idx < 0).any():
        raise ValueError("some adversarial class has no training sample")
    n, xh = x_train[idx], x[hit]
    t, perp = segment_projection(xh, x_adv[hit], n)
    x_rand = matched_norm_noise(xh, x_adv[hit], seed=seed)
    t_rand, perp_rand = segment_projection(xh, x_rand, n)
    flip = scan_paths(model, xh, n, grid=grid).first_flip
    with np.errstate(invalid="ignore", divide="ignore"):
        landing, landing_rand = (t / flip).numpy(), (t_rand / flip).numpy()
    return pd.DataFrame({"t": t.numpy(), "perp": perp.numpy(), "flip_t": flip.numpy(), "segment_l2": dist.numpy(),
                         "t_random": t_rand.numpy(), "perp_random": perp_rand.numpy(), "landing": landing,
                         "landing_random": landing_rand})


def landing_table(bundles: Mapping[str, Bundle], adv: Mapping[tuple, Tensor], *, eps_ref: float, grid: int,
                  seed: int = 0) -> pd.DataFrame:
    """:func:`landing_points` of every source's PGD points at eps_ref, one row per successful example."""
    frames = []
    for name, b in bundles.items():
        for k, model in b.models.items():
            pts = landing_points(model, b.x, b.y, adv[name, "pgd", eps_ref, k], b.x_train, b.y_train, grid=grid,
                                 seed=seed)
            if len(pts):
                frames.append(pts.assign(dataset=name, source=k, arch=arch_of(k))[
                    ["dataset", "source", "arch", *pts.columns]])
    return pd.concat(frames, ignore_index=True)


def landing_medians(landing: pd.DataFrame) -> pd.DataFrame:
    """Per data set, the median landing position, flip point, landing fractions and perpendicular shares."""
    cols = ["t", "flip_t", "landing", "landing_random", "perp", "perp_random", "segment_l2"]
    return landing.groupby("dataset")[cols].median()


def _source_groups(landing: pd.DataFrame, column: str) -> list[np.ndarray]:
    """One array per source model of a landing column (the groups of a cluster bootstrap)."""
    return [g[column].to_numpy(float) for _, g in landing.groupby(["dataset", "source"], sort=False)]


def h4_estimates(landing: pd.DataFrame, pairs: pd.DataFrame, models: Mapping[str, Sequence[str]], *,
                 n_boot: int, seed: int) -> tuple[dict[str, Estimate], Estimate, dict[str, Estimate]]:
    """H4's primary per (data set, source arch) stratum, pooled, and the reported measurements.

    The primary, ``h4_landing_vs_random``: median over a source's successful PGD examples of
    ``landing - landing_random``, from a two-level cluster bootstrap (source models, then
    examples). Reported: the landing fractions themselves, the perpendicular share against the
    random perturbation's, and per kind of pair (same arch, other arch) the mean transfer,
    transfer minus sign noise and the Spearman rho of transfer with boundary agreement (minus
    ``legit_effect``, and minus ``flip_gap``) within each data set, averaged over data sets,
    with intervals that redraw models
    (:func:`~halfway_utils.evidence.stats.dyadic_bootstrap`).
    """
    landing = landing.assign(effect=landing["landing"] - landing["landing_random"],
                             perp_effect=landing["perp"] - landing["perp_random"])
    boot = dict(statistic=np.median, n_boot=n_boot, seed=seed)
    strata = {f"{name}/{arch}": stats.cluster_bootstrap(_source_groups(g, "effect"), **boot)
              for (name, arch), g in landing.groupby(["dataset", "arch"], sort=False)}
    pooled = stats.cluster_bootstrap(_source_groups(landing, "effect"), **boot)
    reported = {f"median_{c}": stats.cluster_bootstrap(_source_groups(landing, c), **boot)
                for c in ("landing", "landing_random", "t", "flip_t", "perp", "perp_random")}
    reported["perpendicular_share_vs_random"] = stats.cluster_bootstrap(_source_groups(landing, "perp_effect"), **boot)
    rng = np.random.default_rng(seed)
    per_kind: dict[str, list[tuple[float, np.ndarray]]] = {}
    for name, names in models.items():
        counts = stats.model_draws([arch_of(n) for n in names], n_boot, rng)
        for kind in ("same arch", "other arch"):
            sub = pairs[(pairs["dataset"] == name) & (pairs["kind"] == kind)]
            keys = list(zip(sub["model_a"], sub["model_b"]))
            if len(sub) < 3:
                continue
            measures = {
                "transfer": (sub[["transfer"]], lambda v, w: stats.weighted_mean(v[:, 0], w)),
                "transfer_minus_noise": (sub["transfer"] - sub["noise"], lambda v, w: stats.weighted_mean(v, w)),
                "spearman_agreement_transfer": (pd.concat([-sub["legit_effect"], sub["transfer"]], axis=1),
                                                stats.weighted_spearman),
                "spearman_flip_agreement_transfer": (pd.concat([-sub["flip_gap"], sub["transfer"]], axis=1),
                                                     stats.weighted_spearman)}
            for measure, (values, fn) in measures.items():
                key = f"{measure}_{kind.replace(' ', '_')}"
                per_kind.setdefault(key, []).append(stats.dyadic_bootstrap(values.to_numpy(float), names, keys, fn,
                                                                           counts=counts))
    n_models = sum(len(v) for v in models.values())
    for key, parts in per_kind.items():
        reported[key] = stats.replicate_interval(
            float(np.mean([v for v, _ in parts])), np.mean([b for _, b in parts], axis=0), n_models,
            "bootstrap over models (within arch), mean over data sets")
    return strata, pooled, reported


def notes(parameters: Mapping[str, Any], models: Mapping[str, Sequence[str]], excluded: str = "") -> str:
    """The ledger notes of H4: the attack, the source models and what the landing fraction measures."""
    return (f"PGD L-inf, eps_ref={parameters['eps_ref']}, {parameters['pgd_steps']} steps; source models: "
            f"{', '.join(f'{k}: {len(v)}' for k, v in models.items())}. {excluded} landing = t / t_flip: the "
            "projection of the PGD point on the segment input -> nearest training sample of the adversarial "
            "class, over the source's first flip point on it. Under the halfway reading no boundary lies nearer "
            "than the halfway point of that segment, so a point that fools the source should reach it. The "
            "transfer measurements (per kind of pair, intervals over models) are reported, not judged.")


def record(strata: Mapping[str, Estimate], pooled: Estimate, measurements: Mapping[str, Estimate],
           parameters: Mapping[str, Any], models: Mapping[str, Sequence[str]], figures: Iterable[str],
           excluded: str = "") -> claims.Claim:
    """Decide and record H4 (adversarial points land near the shared boundary) by :data:`RULE`."""
    n_models = sum(len(v) for v in models.values())
    return claims.record_rule(
        "H4", RULE, statement=STATEMENT, pooled=pooled, strata=strata, measurements=measurements,
        replicates=n_models, figures=claim_figures(figures, FIGURES), notebook=NOTEBOOK, parameters=parameters,
        notes=notes(parameters, models, excluded))
