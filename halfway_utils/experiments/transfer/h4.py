"""H4, transfer: along the source's adversarial direction, how near the target's boundary lies.

For each oriented model pair (source -> target) and input: the target's boundary distance along
the source's PGD direction at eps_ref against its distance along a sign-noise direction of the
same L-inf size (the null: a random direction shaped like the attack), in logs, over the same for
the source itself (the ideal: the target's boundary as near along that direction as the source's
own); per pair the ratio of medians, with models and inputs as crossed bootstrap factors, per
(data set, same-arch or cross-arch pair) (:func:`h4_rows`, :func:`h4_primary`, :func:`h4_estimates`).
Reported beside it: where successful PGD points land on the segment to the adversarial class
(the former primary, with the bound that kept it from reaching its margin, :func:`landing_points`)
and transfer against boundary agreement per kind of pair; the rule, and the ledger entry
(:func:`record`).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from ...evidence import claims, stats
from ...evidence.stats import Estimate
from ...methods.boundary import scan_paths
from ...methods.directions import censor, segment_projection
from ...methods.neighbors import nearest
from ...methods.perturb import matched_norm_noise
from ...models import predict
from .bundles import Bundle, arch_of, pair_kind
from .distances import SIGN
from .parameters import NOTEBOOK, claim_figures

Model = Callable[[Tensor], Tensor]

PRIMARY = "h4_adversarial_direction_shared"
STATEMENT = ("Adversarial examples transfer because models share boundaries: along the source's adversarial "
             "(PGD) direction the target's boundary lies much nearer than along a random sign-noise direction "
             "of the same L-inf size, at least halfway (in log distance) from where the random direction meets "
             "it to where the source's own boundary lies on that direction; same- and cross-arch pairs apart.")
RULE = claims.Rule(
    primary=PRIMARY, op=">", margin=0.5, null_value=0.0, band=0.2, ideal=1.0,
    null="unrelated boundaries: the source's adversarial direction is, for the target, no better than a random "
         "sign-noise direction of the same L-inf size (log MD_sign / MD_adv of the target is 0); within 0.2 of it "
         "(a fifth of the way to the ideal) reads no effect: networks fitted to random labels on the same images "
         "meet an adversarial direction a little sooner than sign noise (about 0.05, a sensitivity to image-like "
         "directions, not a shared boundary), so the no-effect zone is twice H3's",
    strata=("dataset", "pair kind"),
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
             "primary and strata unchanged (issue 19).",
             "2026-12-04: the landing primary could not pass: an L-inf step of eps moves a point at most "
             "t <= eps ||s||_1 / ||s||_2^2 along the segment s, far short of the flip (the notebook computes "
             "the bound). Now h4_adversarial_direction_shared: per oriented pair, the median over inputs of "
             "log(MD_sign / MD_adv) of the target over the source's, 0 when the adversarial direction is no "
             "better than sign noise for the target, 1 when its boundary is as near as the source's; margin "
             "half the way, band 0.2 (with 0.1 the random-label control read inconclusive at 0.06 [-0.01, 0.13]: "
             "such networks share a little sensitivity to image-like directions); strata (dataset, same-arch / "
             "cross-arch pair); models and inputs crossed "
             "in the bootstrap; positive (a copy of the source with 2% weight noise) and negative (networks "
             "fitted to random labels) controls by the same code (issue 20).",
             claims.INTERVALS_CHANGE + "models within "
             "arch and the shared inputs were already crossed factors; the df is now the models' (sum over "
             "archs of M - 1) and the pooled interval is drawn with the strata's (issue 21).",),
    margin_reason="half of the way from the null (the adversarial direction no better than sign noise for the "
                  "target, 0) to the ideal (the target's boundary as near along it as the source's own, 1), in "
                  "log distance: the shared boundary explains at least half of the source's advantage",
    scale="0 = the source's adversarial direction is no nearer the target's boundary than sign noise, "
          "1 = as near as the source's own boundary")
FIGURES = ("03_landing_and_agreement", "03_transfer_vs_eps", "03_transfer_matrix_", "03_controls")


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
    for the random perturbation. ``t_bound = ||delta||_inf ||s||_1 / ||s||_2^2`` is the most an
    L-inf perturbation of that size can move ``t`` along the segment ``s`` (why landing was replaced).
    """
    pred_clean, pred_adv = predict(model, x), predict(model, x_adv)
    hit = (pred_clean == y) & (pred_adv != y)
    cols = ["t", "perp", "flip_t", "segment_l2", "t_random", "perp_random", "landing", "landing_random", "t_bound"]
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
    seg, step = (n - xh).flatten(1).double(), (x_adv[hit] - xh).flatten(1).double()
    bound = step.abs().amax(1) * seg.abs().sum(1) / seg.square().sum(1)  # the most an L-inf step moves t
    with np.errstate(invalid="ignore", divide="ignore"):
        landing, landing_rand = (t / flip).numpy(), (t_rand / flip).numpy()
    return pd.DataFrame({"t": t.numpy(), "perp": perp.numpy(), "flip_t": flip.numpy(), "segment_l2": dist.numpy(),
                         "t_random": t_rand.numpy(), "perp_random": perp_rand.numpy(), "landing": landing,
                         "landing_random": landing_rand, "t_bound": bound.numpy()})


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
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["dataset", "source", "arch"])


def landing_medians(landing: pd.DataFrame) -> pd.DataFrame:
    """Per data set, the median landing position, flip point, landing fractions and perpendicular shares."""
    cols = ["t", "flip_t", "landing", "landing_random", "perp", "perp_random", "segment_l2", "t_bound"]
    return landing.groupby("dataset")[cols].median()


def landing_bound(landing: pd.DataFrame) -> pd.DataFrame:
    """Per data set, the most an L-inf step can move a PGD point along its segment (median, max) against
    the source's flip point there, and the share of examples whose bound reaches half their flip point."""
    g = landing.assign(reach=landing["t_bound"] / landing["flip_t"]).groupby("dataset")
    return pd.DataFrame({"t_bound_median": g["t_bound"].median(), "t_bound_max": g["t_bound"].max(),
                         "flip_t_median": g["flip_t"].median(), "bound_over_flip_median": g["reach"].median(),
                         "share_bound_reaches_half_flip": g["reach"].apply(lambda r: float((r >= 0.5).mean()))})


def h4_rows(mds: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, oriented pair source -> target, input): the log advantage of the source's PGD direction.

    From the MD table of :mod:`.distances` (censored distances at their cap): ``toward`` =
    log(MD_sign / MD_adv) of the target along the source's adversarial direction and the input's
    sign-noise direction, ``own`` = the same of the source. Columns: ``dataset, source, target,
    kind, input, toward, own``.
    """
    frames = []
    capped = mds.assign(md=censor(mds["md"], mds["cap"]))
    for name, sub in capped.groupby("dataset", sort=False):
        sign = sub[sub["direction"] == SIGN].pivot(index="input", columns="model", values="md")
        for src, block in sub[sub["direction"] == "adversarial"].groupby("source", sort=False):
            wide = block.pivot(index="input", columns="model", values="md")
            if src not in wide or src not in sign:
                continue
            own = np.log(sign.loc[wide.index, src].to_numpy() / wide[src].to_numpy())
            for tgt in wide.columns:
                if tgt == src or tgt not in sign:
                    continue
                toward = np.log(sign.loc[wide.index, tgt].to_numpy() / wide[tgt].to_numpy())
                frames.append(pd.DataFrame({"dataset": name, "source": src, "target": tgt,
                                            "kind": pair_kind(src, tgt), "input": wide.index,
                                            "toward": toward, "own": own}))
    cols = ["dataset", "source", "target", "kind", "input", "toward", "own"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def h4_primary(rows: pd.DataFrame, models: Mapping[str, Sequence[str]], *, n_boot: int, seed: int
               ) -> tuple[dict[str, Estimate], Estimate]:
    """H4's primary per (data set, pair kind) and pooled (the mean over strata).

    Per oriented pair: median ``toward`` over inputs / median ``own`` (0: the adversarial direction
    is no better than sign noise for the target, 1: as good as for the source); the mean over
    pairs; intervals from :func:`~halfway_utils.evidence.stats.crossed_bootstrap`, redrawing models
    (within arch) and inputs with one draw per data set and replicate.
    """
    rng = np.random.default_rng(seed)
    values, boots, sizes, dyadic = {}, {}, {}, {}
    for name, names in models.items():
        sub = rows[rows["dataset"] == name]
        if sub.empty:
            continue
        inputs = np.sort(sub["input"].unique())
        counts = stats.model_draws([arch_of(n) for n in names], n_boot, rng)
        draws = rng.integers(0, len(inputs), size=(n_boot, len(inputs)))
        for kind in ("same arch", "other arch"):
            block = sub[sub["kind"] == kind]
            if block.empty:
                continue
            keys = list(dict.fromkeys(zip(block["source"], block["target"])))
            obs = block.pivot_table(index=["source", "target"], columns="input", values="toward", dropna=False)
            own = block.pivot_table(index=["source", "target"], columns="input", values="own", dropna=False)
            obs, own = obs.reindex(index=keys, columns=inputs), own.reindex(index=keys, columns=inputs)
            key = f"{name}/{kind}"
            values[key], boots[key] = stats.crossed_bootstrap(obs.to_numpy(float), own.to_numpy(float), names, keys,
                                                              counts=counts, inputs=draws)
            sizes[key], dyadic[key] = len(names), stats.is_dyadic(keys)
    method = "crossed bootstrap (models within arch, and inputs)"
    dof = {k: stats.draw_dof([arch_of(n) for n in models[k.split("/")[0]]], pairs=dyadic[k]) for k in values}
    strata = {k: stats.replicate_interval(v, boots[k], sizes[k], method, df=dof[k][0], inflate=dof[k][1])
              for k, v in values.items()}
    n_models = sum(len(v) for v in models.values())
    if not values:
        return strata, Estimate(float("nan"), float("nan"), float("nan"), n_models, method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        parts = {k: (boots[k], sizes[k], 1 / len(values)) for k in values}
        pooled = stats.pooled_interval(float(np.mean(list(values.values()))), np.nanmean(list(boots.values()), axis=0),
                                       parts, method + ", mean over strata", dof=dof,
                                       n=n_models)
    return strata, pooled


def _source_groups(landing: pd.DataFrame, column: str) -> list[np.ndarray]:
    """One array per source model of a landing column (the groups of a cluster bootstrap)."""
    return [g[column].to_numpy(float) for _, g in landing.groupby(["dataset", "source"], sort=False)]


def h4_estimates(rows: pd.DataFrame, landing: pd.DataFrame, pairs: pd.DataFrame, models: Mapping[str, Sequence[str]],
                 *, n_boot: int, seed: int) -> tuple[dict[str, Estimate], Estimate, dict[str, Estimate]]:
    """H4's primary per (data set, pair kind) stratum, pooled (:func:`h4_primary`), and the reported measurements.

    Reported: the medians of ``toward`` and ``own``; the former landing primary (``landing -
    landing_random``, two-level cluster bootstrap over source models) and its parts; the
    perpendicular share against the random perturbation's; and per kind of pair (same arch,
    other arch) the mean transfer, transfer minus sign noise and the Spearman rho of transfer
    with boundary agreement (minus ``legit_effect``, and minus ``flip_gap``) within each data set,
    averaged over data sets, with intervals that redraw models
    (:func:`~halfway_utils.evidence.stats.dyadic_bootstrap`).
    """
    strata, pooled = h4_primary(rows, models, n_boot=n_boot, seed=seed)
    reported = {f"median_{c}": _point(rows[c].median(), len(rows)) for c in ("toward", "own")}
    landing = landing.assign(effect=landing["landing"] - landing["landing_random"],
                             perp_effect=landing["perp"] - landing["perp_random"])
    boot = dict(statistic=np.median, n_boot=n_boot, seed=seed)
    reported["landing_vs_random"] = stats.cluster_bootstrap(_source_groups(landing, "effect"), **boot)
    reported.update({f"median_{c}": stats.cluster_bootstrap(_source_groups(landing, c), **boot)
                     for c in ("landing", "landing_random", "t", "flip_t", "t_bound", "perp", "perp_random")})
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




def _point(value: float, n: int) -> Estimate:
    """A reported point value with no interval (descriptive)."""
    return Estimate(float(value), float("nan"), float("nan"), int(n), "point value (descriptive)")


def notes(parameters: Mapping[str, Any], models: Mapping[str, Sequence[str]], excluded: str = "") -> str:
    """The ledger notes of H4: the attack, the models and what the primary measures."""
    return (f"PGD L-inf, eps_ref={parameters['eps_ref']}, {parameters['pgd_steps']} steps; models: "
            f"{', '.join(f'{k}: {len(v)}' for k, v in models.items())}. {excluded} Per oriented pair (each "
            "pair measured along one member's PGD directions) and input: toward = log(MD_sign / MD_adv) of the "
            "target, own = the same of the source, distances censored at max_eps; the primary is median toward "
            "/ median own per pair, averaged over pairs. The former landing primary (t / t_flip minus random; "
            "it could not reach its margin since an L-inf step moves t at most eps ||s||_1 / ||s||_2^2) and the "
            "transfer measurements (per kind of pair, intervals over models) are reported, not judged.")


def record(strata: Mapping[str, Estimate], pooled: Estimate, measurements: Mapping[str, Estimate],
           parameters: Mapping[str, Any], models: Mapping[str, Sequence[str]], figures: Iterable[str],
           excluded: str = "", controls: Sequence[claims.Control] = ()) -> claims.Claim:
    """Decide and record H4 (adversarial directions cross the target's boundary too) by :data:`RULE`,
    per (dataset, pair kind) and pooled, with its ``controls`` decided by the same rule."""
    n_models = sum(len(v) for v in models.values())
    return claims.record_rule(
        "H4", RULE, statement=STATEMENT, pooled=pooled, strata=strata, measurements=measurements,
        replicates=n_models, figures=claim_figures(figures, FIGURES), notebook=NOTEBOOK, parameters=parameters,
        notes=notes(parameters, models, excluded), controls=controls)
