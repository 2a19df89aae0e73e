"""Notebook 03's experiment: do independently trained models share their boundaries (H3), and
does that explain why adversarial examples transfer between them (H4)?

For a zoo of models per data set (architectures x seeds, from the cache), following Tramèr
et al. (arXiv 1704.03453), "The Space of Transferable Adversarial Examples":

- adversarial sets (FGSM, PGD L-inf over eps) crafted on each source and their transfer
  matrices on each target, with random sign noise of the same size as control
  (:func:`adversarial_sets`, :func:`transfer_rates`, :func:`sign_noise`);
- the minimum distance ``MD_d(f, x)`` to each model's boundary along unit directions of three
  kinds, *legitimate* (toward the nearest training sample of another class), *adversarial*
  (a source's PGD perturbation) and *random* (seeded Gaussian), and the inter-boundary
  distance ``ID = |MD_d(f1, x) - MD_d(f2, x)|`` of every model pair relative to the pair's
  mean ``MD`` (:func:`boundary_distances`);
- per model pair, boundary agreement (median ID/MD along legitimate directions, and the gap
  between first flip points on common train-train segments) against transfer at eps_ref
  (:func:`pair_table`, :func:`agreement_correlations`);
- where successful PGD points land on the segment from their input to the nearest training
  sample of the adversarial class (:func:`landing_table`);
- the claims: H3 from the legitimate-direction ID/MD ratios (:func:`record_h3`), H4 from the
  rank correlation over pairs and the excess of transfer over sign noise (:func:`record_h4`).

The first half of the module holds the building blocks (directions, distances, transfer
outcomes, flip points, projections); everything is batched over inputs and loops run over
models only.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import Tensor, nn

from .. import data
from .. import zoo as model_zoo
from ..evidence import claims, stats
from ..evidence.stats import Estimate
from ..infra import params as p
from ..infra.store import save_results
from ..methods import attacks
from ..methods.boundary import boundary_distance, scan_paths
from ..methods.neighbors import nearest
from ..methods.segments import sample_pairs
from ..models import predict
from ..train import load_split, train
from . import common

Model = Callable[[Tensor], Tensor]

__all__ = [
    "PARAMETERS",
    "H3_CONDITIONS",
    "H3_FIGURES",
    "H3_STATEMENT",
    "H3_THRESHOLD",
    "H4_CONDITIONS",
    "H4_FIGURES",
    "H4_STATEMENT",
    "Zoo",
    "adversarial_directions",
    "adversarial_sets",
    "agreement_correlations",
    "attack_kw",
    "boundary_distances",
    "boundary_inputs",
    "boundary_summary",
    "check_parameters",
    "direction_searches",
    "figure_agreement_and_landing",
    "figure_boundary_distances",
    "figure_transfer_matrix",
    "figure_transfer_vs_eps",
    "flip_disagreement",
    "flip_gaps",
    "flip_points",
    "h3_measurements",
    "h4_measurements",
    "inter_boundary",
    "landing_medians",
    "landing_points",
    "landing_table",
    "legitimate_directions",
    "load_zoo",
    "load_zoos",
    "min_distances",
    "offdiagonal_rate",
    "pair_kind",
    "pair_table",
    "per_input_ratio",
    "random_directions",
    "record_h3",
    "record_h4",
    "segment_projection",
    "sign_noise",
    "transfer_matrix",
    "transfer_minus_noise",
    "transfer_outcomes",
    "transfer_rates",
    "unit",
    "write_results",
]

NOTEBOOK = "03_transfer"

PARAMETERS = common.rules(
    "datasets", "archs", "seeds",
    n_inputs=p.integer(10, 10000),
    attack_names=p.list_of(p.one_of("pgd", "fgsm")),
    eps_list=p.list_of(p.number(0.001, 1.0)),
    eps_ref=p.number(0.001, 1.0),
    pgd_steps=p.integer(1, 1000),
    max_eps_legitimate=p.number(0.01, 1000.0),
    max_eps_adversarial=p.number(0.01, 1000.0),
    max_eps_random=p.number(0.01, 1000.0),
    grid=p.integer(3, 1000),  # this notebook's bound, not the shared one
    n_boundary=p.integer(5, 10000),
    n_paths=p.integer(10, 100000),
    seed=p.integer(0),
    torch_threads=p.integer(1, 256, none=True),
)


def check_parameters(P: Mapping[str, Any]) -> None:
    """The checks across parameters that single rules cannot express; raises ParameterError."""
    problems = []
    if P["eps_ref"] not in P["eps_list"]:
        problems.append(f"eps_ref={P['eps_ref']} must be one of eps_list={P['eps_list']}")
    if "pgd" not in P["attack_names"]:
        problems.append("the H3/H4 analysis uses PGD: keep 'pgd' in attack_names")
    if len(P["archs"]) * len(P["seeds"]) < 3:
        problems.append("H4's rank correlation needs at least 3 model pairs")
    if problems:
        raise p.ParameterError("invalid notebook parameters:\n" + "\n".join(f"  {m}" for m in problems))


# --------------------------------------------------------------------------- building blocks


def _rows(t: Tensor) -> Tensor:
    """``t`` flattened to (N, D)."""
    return t.reshape(len(t), -1)


def _view(v: Tensor, like: Tensor) -> Tensor:
    """A per-row vector shaped to broadcast against ``like`` (N, ...)."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def unit(d: Tensor) -> Tensor:
    """Rows of ``d`` scaled to unit L2 norm (over all non-batch dims); zero rows raise."""
    norms = _rows(d).norm(dim=1)
    if (norms == 0).any():
        raise ValueError(f"{int((norms == 0).sum())} all-zero direction(s) cannot be normalised")
    return d / _view(norms, d)


def legitimate_directions(x: Tensor, y: Tensor, x_train: Tensor, y_train: Tensor
                          ) -> tuple[Tensor, Tensor, Tensor]:
    """Unit directions from ``x`` toward its nearest training sample of another class.

    Returns ``(directions, index into x_train, L2 distance to that sample)``.
    """
    idx, dist = nearest(x, x_train, labels=(y, y_train), relation="other")
    if (idx < 0).any():
        raise ValueError("some input has no training sample of another class")
    return unit(x_train[idx] - x), idx, dist


def adversarial_directions(x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor]:
    """Unit directions ``(x_adv - x) / ||x_adv - x||`` and a bool mask of usable rows.

    Rows where the attack did not move the input get a NaN direction and ``False``.
    """
    delta = x_adv - x
    ok = _rows(delta).norm(dim=1) > 0
    out = torch.full_like(delta, float("nan"))
    if ok.any():
        out[ok] = unit(delta[ok])
    return out, ok


def random_directions(like: Tensor, seed: int = 0) -> Tensor:
    """Seeded Gaussian directions of unit L2 norm, one per row of ``like`` (same shape and dtype)."""
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.randn(like.shape, generator=gen, dtype=torch.float64).to(like.dtype)
    return unit(g).to(like.device)


def min_distances(models: Mapping[str, Model], x: Tensor, directions: Tensor, *, max_eps: float,
                  grid: int = 17, clip: bool = False, chunk: int = 4096) -> dict[str, Tensor]:
    """``MD_d(f, x)`` for every model along the same unit ``directions``: name -> float64 (N,).

    ``inf`` where a model keeps its class up to ``max_eps``; NaN where a direction is NaN.
    """
    ok = torch.isfinite(_rows(directions)).all(1)
    out = {}
    for name, model in models.items():
        md = torch.full((len(x),), float("nan"), dtype=torch.float64)
        if ok.any():
            md[ok] = boundary_distance(model, x[ok], directions[ok], max_eps=max_eps, grid=grid,
                                       clip=clip, chunk=chunk).distance
        out[name] = md
    return out


def inter_boundary(md: Mapping[str, Tensor], pairs: list[tuple[str, str]] | None = None
                   ) -> pd.DataFrame:
    """Long table of ``ID = |MD_a - MD_b|`` per (pair, input) with ``ratio = ID / mean(MD_a, MD_b)``.

    ``pairs`` defaults to every unordered pair of ``md``'s keys. Rows where either
    distance is not finite (no boundary within the search range, or no direction) are
    kept with NaN ``id`` and ``ratio``; ``both_found`` says which rows are measured.
    """
    pairs = list(combinations(md, 2)) if pairs is None else pairs
    frames = []
    for a, b in pairs:
        ma, mb = md[a].double().numpy(), md[b].double().numpy()
        found = np.isfinite(ma) & np.isfinite(mb)
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.where(found, np.abs(ma - mb), np.nan)
            mean = np.where(found, (ma + mb) / 2, np.nan)
            ratio = gap / mean
        frames.append(pd.DataFrame({"model_a": a, "model_b": b, "input": np.arange(len(ma)),
                                    "md_a": ma, "md_b": mb, "id": gap, "ratio": ratio,
                                    "both_found": found}))
    cols = ["model_a", "model_b", "input", "md_a", "md_b", "id", "ratio", "both_found"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def transfer_outcomes(models: Mapping[str, Model], x: Tensor, y: Tensor,
                      x_adv: Mapping[str, Tensor]) -> np.ndarray:
    """Array (S, T, N): 1 where target T misclassifies source S's adversarial input, else 0.

    NaN where source or target misclassifies the clean input (only inputs both classify
    correctly count). Sources follow ``x_adv``'s order, targets ``models``' order.
    """
    clean_ok = {name: (predict(m, x) == y).numpy() for name, m in models.items()}
    out = np.full((len(x_adv), len(models), len(x)), np.nan)
    for i, (src, xa) in enumerate(x_adv.items()):
        for j, (tgt, model) in enumerate(models.items()):
            fooled = (predict(model, xa) != y).numpy().astype(float)
            keep = clean_ok[src] & clean_ok[tgt]
            out[i, j] = np.where(keep, fooled, np.nan)
    return out


def transfer_matrix(outcomes: np.ndarray, sources: list[str], targets: list[str]) -> pd.DataFrame:
    """Success rates (sources x targets) from :func:`transfer_outcomes`, NaN where nothing counts."""
    with np.errstate(invalid="ignore"):
        n = np.isfinite(outcomes).sum(2)
        rates = np.where(n > 0, np.nansum(outcomes, 2) / np.maximum(n, 1), np.nan)
    return pd.DataFrame(rates, index=pd.Index(sources, name="source"),
                        columns=pd.Index(targets, name="target"))


def flip_points(models: Mapping[str, Model], a: Tensor, b: Tensor, *, grid: int = 17
                ) -> dict[str, Tensor]:
    """First flip point t in [0, 1] of every model on the segments a -> b: name -> float64 (N,)."""
    return {name: scan_paths(m, a, b, grid=grid).first_flip for name, m in models.items()}


def flip_disagreement(flips: Mapping[str, Tensor], pairs: list[tuple[str, str]] | None = None
                      ) -> pd.DataFrame:
    """Per model pair, the mean and median |t_a - t_b| of first flip points over common segments."""
    pairs = list(combinations(flips, 2)) if pairs is None else pairs
    rows = []
    for a, b in pairs:
        gap = (flips[a] - flips[b]).abs().numpy()
        gap = gap[np.isfinite(gap)]
        rows.append({"model_a": a, "model_b": b, "n": len(gap),
                     "mean_flip_gap": float(gap.mean()) if len(gap) else np.nan,
                     "median_flip_gap": float(np.median(gap)) if len(gap) else np.nan})
    return pd.DataFrame(rows)


def segment_projection(x: Tensor, x_adv: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Where ``x_adv`` lies relative to the segment ``x -> target``.

    Returns ``t = <x_adv - x, target - x> / ||target - x||^2`` (0 at ``x``, 1 at the
    target) and ``perp = ||residual|| / ||x_adv - x||``, the fraction of the
    perturbation's norm orthogonal to the segment (1: wholly perpendicular). ``perp``
    is NaN where the perturbation is zero.
    """
    delta, seg = _rows(x_adv - x).double(), _rows(target - x).double()
    seg_sq = (seg * seg).sum(1)
    if (seg_sq == 0).any():
        raise ValueError("a target coincides with its input: the segment has no direction")
    t = (delta * seg).sum(1) / seg_sq
    resid = delta - t[:, None] * seg
    norm = delta.norm(dim=1)
    perp = torch.where(norm > 0, resid.norm(dim=1) / norm.clamp_min(1e-300),
                       torch.full_like(norm, float("nan")))
    return t, perp


# --------------------------------------------------------------------------- models and inputs


@dataclass
class Zoo:
    """One data set's models (``arch/s<seed>`` -> model), its test inputs and its training set."""

    name: str
    models: dict[str, nn.Module]
    x: Tensor
    y: Tensor
    x_train: Tensor
    y_train: Tensor
    keys: dict[str, str]  # model name -> cache key of its training config (keys the adversarial cache)


def load_zoo(name: str, archs: Sequence[str], seeds: Sequence[int], n_inputs: int,
             device: str | None = None) -> tuple[Zoo, list[dict[str, Any]]]:
    """The zoo of notebook 00 on one data set (from the cache) and one table row per model."""
    configs = model_zoo.grid([name], archs, seeds)
    results = {f"{c.arch}/s{c.seed}": train(c, device=device) for c in configs}
    x_test, y_test = load_split(configs[0], "test")
    x_train, y_train = load_split(configs[0], "train")
    rows = [{"dataset": name, "model": k, "test_acc": r.final["test_acc"],
             "cache": "hit" if r.cache_hit else "trained"} for k, r in results.items()]
    zoo = Zoo(name, {k: r.model for k, r in results.items()}, x_test[:n_inputs], y_test[:n_inputs],
              x_train, y_train, {k: r.config.key for k, r in results.items()})
    return zoo, rows


def load_zoos(datasets: Iterable[str], archs: Sequence[str], seeds: Sequence[int], n_inputs: int,
              device: str | None = None) -> tuple[dict[str, Zoo], pd.DataFrame]:
    """Every available data set's zoo, and a table of the models' test accuracy and cache use."""
    zoos, rows = {}, []
    for name in datasets:
        if not data.available(name):
            print(f"skipping {name}: not available here ({data.info(name).fetch_hint})")
            continue
        zoos[name], new = load_zoo(name, archs, seeds, n_inputs, device)
        rows += new
    if not zoos:
        raise RuntimeError("no data set available: nothing to measure")
    return zoos, pd.DataFrame(rows)


# --------------------------------------------------------------------------- transfer


def attack_kw(name: str, pgd_steps: int, seed: int) -> dict[str, int]:
    """Keyword arguments of one attack: PGD takes ``pgd_steps`` steps from a seeded random start."""
    return {"steps": pgd_steps, "seed": seed} if name == "pgd" else {}


def adversarial_sets(zoos: Mapping[str, Zoo], attack_names: Sequence[str], eps_list: Sequence[float], *,
                     pgd_steps: int, seed: int) -> tuple[dict[tuple, Tensor], list[bool]]:
    """One cached attack per (data set, attack, eps, source): ``{(name, atk, eps, source): x_adv}``, hits."""
    adv, hits = {}, []
    for name, z in zoos.items():
        data_key = f"{name}/test/zoo-subset/first{len(z.x)}"
        for atk in attack_names:
            for eps in eps_list:
                for key, model in z.models.items():
                    xa, hit = attacks.adversarial_set(model, z.keys[key], z.x, z.y, attack=atk, eps=eps,
                                                      data_key=data_key, **attack_kw(atk, pgd_steps, seed))
                    adv[name, atk, eps, key] = xa
                    hits.append(hit)
    return adv, hits


def pair_kind(source: str, target: str) -> str:
    """"white-box" on the diagonal, else "same arch" or "other arch" (names are ``arch/s<seed>``)."""
    if source == target:
        return "white-box"
    return "same arch" if source.split("/")[0] == target.split("/")[0] else "other arch"


def transfer_rates(zoos: Mapping[str, Zoo], adv: Mapping[tuple, Tensor], attack_names: Sequence[str],
                   eps_list: Sequence[float]) -> tuple[dict[tuple, np.ndarray], pd.DataFrame]:
    """Transfer outcomes ``{(name, atk, eps): (S, T, N)}`` and the long table of success per (source, target)."""
    outcomes, long = {}, []
    for name, z in zoos.items():
        names = list(z.models)
        for atk in attack_names:
            for eps in eps_list:
                out = transfer_outcomes(z.models, z.x, z.y, {k: adv[name, atk, eps, k] for k in names})
                outcomes[name, atk, eps] = out
                m = transfer_matrix(out, names, names)
                long += [{"dataset": name, "attack": atk, "eps": eps, "source": s, "target": t,
                          "kind": pair_kind(s, t), "success": m.loc[s, t]} for s in m.index for t in m.columns]
    return outcomes, pd.DataFrame(long)


def sign_noise(zoos: Mapping[str, Zoo], eps_list: Sequence[float], seed: int
               ) -> tuple[dict[tuple, np.ndarray], pd.DataFrame]:
    """The control: random sign noise of L-inf size eps on every target.

    Returns ``{(name, eps): (targets, inputs)}`` (1 fooled, 0 not, NaN where the target
    misclassifies the clean input) and its rows for the long table of :func:`transfer_rates`.
    One generator draws every data set's noise in turn.
    """
    gen = torch.Generator().manual_seed(seed)
    noise, rows = {}, []
    for name, z in zoos.items():
        for eps in eps_list:
            xn = (z.x + eps * torch.randn(z.x.shape, generator=gen).sign()).clamp(0, 1)
            fooled = np.stack([(predict(m, xn) != z.y).numpy().astype(float) for m in z.models.values()])
            correct = np.stack([(predict(m, z.x) == z.y).numpy() for m in z.models.values()])
            noise[name, eps] = np.where(correct, fooled, np.nan)
            rows += [{"dataset": name, "attack": "sign noise", "eps": eps, "source": "-", "target": k,
                      "kind": "noise", "success": rate}
                     for k, rate in zip(z.models, np.nanmean(noise[name, eps], 1))]
    return noise, pd.DataFrame(rows)


def figure_transfer_matrix(rates: pd.DataFrame, name: str, models: Sequence[str],
                           eps_list: Sequence[float]) -> plt.Figure:
    """Heatmaps of one data set's PGD transfer matrices, one per eps (rows: sources, columns: targets)."""
    fig, axes = plt.subplots(1, len(eps_list), figsize=(3.3 * len(eps_list) + 1, 3.8), squeeze=False)
    for ax, eps in zip(axes[0], eps_list):
        sub = rates[(rates["dataset"] == name) & (rates["attack"] == "pgd") & (rates["eps"] == eps)]
        m = sub.pivot(index="source", columns="target", values="success").loc[list(models), list(models)]
        sns.heatmap(m, vmin=0, vmax=1, annot=True, fmt=".2f", cmap="rocket_r", cbar=ax is axes[0][-1],
                    annot_kws={"size": 7}, square=True, ax=ax)
        ax.set_title(f"PGD L∞ ε = {eps:g}")
        if ax is not axes[0][0]:
            ax.set_ylabel("")
    fig.suptitle(f"{name}: success of source's adversarial inputs on target (both correct on clean)")
    fig.tight_layout()
    return fig


def figure_transfer_vs_eps(rates: pd.DataFrame) -> plt.Figure:
    """Success against eps per kind of pair (white-box, same arch, other arch, noise), bands over pairs."""
    curve = rates.assign(line=np.where(rates["kind"] == "noise", "sign noise", rates["attack"].str.upper()))
    grid = sns.relplot(data=curve, x="eps", y="success", hue="kind", style="line", col="dataset",
                       kind="line", marker="o", errorbar=("pi", 100), height=3.4, aspect=1.3,
                       hue_order=["white-box", "same arch", "other arch", "noise"])
    grid.set(ylim=(0, 1.02), xlabel="ε (L∞)", ylabel="success rate")
    grid.figure.suptitle("White-box and transfer success against ε", y=1.03)
    return grid.figure


# --------------------------------------------------------------------------- H3: distances to the boundary


def boundary_inputs(models: Mapping[str, Model], x: Tensor, y: Tensor, n_boundary: int) -> np.ndarray:
    """Bool mask of the first ``n_boundary`` inputs that every model classifies correctly."""
    ok = np.all([(predict(m, x) == y).numpy() for m in models.values()], axis=0)
    return ok & (np.cumsum(ok) <= n_boundary)


def direction_searches(x: Tensor, y: Tensor, x_train: Tensor, y_train: Tensor, x_adv: Mapping[str, Tensor],
                       *, seed: int, max_eps_legitimate: float, max_eps_adversarial: float,
                       max_eps_random: float) -> dict[str, list[tuple[str | None, Tensor, float]]]:
    """Per direction kind, the searches to run: ``(source model or None, unit directions, max_eps)``.

    ``x_adv`` holds each source's PGD points for the rows of ``x``.
    """
    return {"legitimate": [(None, legitimate_directions(x, y, x_train, y_train)[0], max_eps_legitimate)],
            "random": [(None, random_directions(x, seed), max_eps_random)],
            "adversarial": [(k, adversarial_directions(x, xa)[0], max_eps_adversarial) for k, xa in x_adv.items()]}


def boundary_distances(zoos: Mapping[str, Zoo], adv: Mapping[tuple, Tensor], *, eps_ref: float,
                       n_boundary: int, max_eps_legitimate: float, max_eps_adversarial: float,
                       max_eps_random: float, grid: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MD per (data set, direction, source, model, input) and ID/MD per model pair: ``(mds, ids)``.

    Along adversarial directions only the pairs that contain the direction's source count
    (Tramèr et al.); an input whose boundary lies beyond ``max_eps`` has ``md = inf``.
    """
    md_rows, id_tables = [], []
    for name, z in zoos.items():
        ok = boundary_inputs(z.models, z.x, z.y, n_boundary)
        searches = direction_searches(
            z.x[ok], z.y[ok], z.x_train, z.y_train, {k: adv[name, "pgd", eps_ref, k][ok] for k in z.models},
            seed=seed, max_eps_legitimate=max_eps_legitimate, max_eps_adversarial=max_eps_adversarial,
            max_eps_random=max_eps_random)
        for kind, runs in searches.items():
            for src, d, cap in runs:
                md = min_distances(z.models, z.x[ok], d, max_eps=cap, grid=grid)
                md_rows += [pd.DataFrame({"dataset": name, "direction": kind, "source": src or "-", "model": k,
                                          "input": np.arange(len(v)), "md": v.numpy()}) for k, v in md.items()]
                pairs = [(src, k) for k in z.models if k != src] if src else None
                id_tables.append(inter_boundary(md, pairs).assign(dataset=name, direction=kind, source=src or "-"))
        print(f"{name}: {ok.sum()} inputs classified correctly by all {len(z.models)} models")
    return pd.concat(md_rows, ignore_index=True), pd.concat(id_tables, ignore_index=True)


def boundary_summary(mds: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, direction): share of boundaries found, median MD, median ID and median ID/MD."""
    summary = mds.assign(found=np.isfinite(mds["md"])).groupby(["dataset", "direction"]).agg(
        found=("found", "mean"), median_md=("md", lambda v: np.median(v[np.isfinite(v)])))
    summary["median_id"] = ids.groupby(["dataset", "direction"])["id"].median()
    summary["median_ratio"] = ids.groupby(["dataset", "direction"])["ratio"].median()
    return summary


# --------------------------------------------------------------------------- H4: agreement and transfer


def flip_gaps(z: Zoo, *, n_paths: int, grid: int, seed: int) -> pd.DataFrame:
    """Per model pair, the gap between first flip points on ``n_paths`` different-class train-train segments."""
    i, j = sample_pairs(z.y_train, n=n_paths, kind="different", seed=seed)
    i, j = torch.as_tensor(i), torch.as_tensor(j)
    return flip_disagreement(flip_points(z.models, z.x_train[i], z.x_train[j], grid=grid))


def pair_table(zoos: Mapping[str, Zoo], ids: pd.DataFrame, outcomes: Mapping[tuple, np.ndarray], *,
               eps_ref: float, n_paths: int, grid: int, seed: int) -> pd.DataFrame:
    """Per unordered model pair: legitimate ID/MD, mean flip-point gap and PGD transfer at eps_ref.

    The transfer rate is the mean over both directions of the pair.
    """
    rows = []
    for name, z in zoos.items():
        gaps = flip_gaps(z, n_paths=n_paths, grid=grid, seed=seed).set_index(["model_a", "model_b"])
        m = transfer_matrix(outcomes[name, "pgd", eps_ref], list(z.models), list(z.models))
        legit = ids[(ids["dataset"] == name) & (ids["direction"] == "legitimate")]
        for (a, b), ratio in legit.groupby(["model_a", "model_b"])["ratio"].median().items():
            rows.append({"dataset": name, "pair": f"{a} | {b}", "kind": pair_kind(a, b), "legit_ratio": ratio,
                         "flip_gap": gaps.loc[(a, b), "mean_flip_gap"], "transfer": (m.loc[a, b] + m.loc[b, a]) / 2})
    return pd.DataFrame(rows)


def agreement_correlations(pairs: pd.DataFrame, seed: int) -> tuple[Estimate, Estimate]:
    """Spearman rho of transfer with agreement along legitimate directions and with flip-point agreement.

    Agreement is minus the distance measure. Pooled over data sets after centring each data
    set's values, since their levels differ.
    """
    cols = ["legit_ratio", "flip_gap", "transfer"]
    centred = pairs.groupby("dataset")[cols].transform(lambda v: v - v.mean())
    return (stats.spearman(-centred["legit_ratio"], centred["transfer"], seed=seed),
            stats.spearman(-centred["flip_gap"], centred["transfer"], seed=seed))


def landing_points(model: Model, x: Tensor, y: Tensor, x_adv: Tensor, x_train: Tensor, y_train: Tensor, *,
                   grid: int) -> pd.DataFrame:
    """Where one source's successful adversarial points lie on the segment to the adversarial class.

    For each input the source classifies correctly and its adversarial point fools it: ``t``
    and ``perp`` of :func:`segment_projection` on the segment ``x -> n`` (n: the nearest
    training sample of the adversarial class), the source's first flip point ``flip_t`` on
    that segment, and the segment's length ``segment_l2``.
    """
    pred_clean, pred_adv = predict(model, x), predict(model, x_adv)
    hit = (pred_clean == y) & (pred_adv != y)
    cols = ["t", "perp", "flip_t", "segment_l2"]
    if not hit.any():
        return pd.DataFrame(columns=cols)
    idx, dist = nearest(x[hit], x_train, labels=(pred_adv[hit], y_train), relation="same")
    if (idx < 0).any():
        raise ValueError("some adversarial class has no training sample")
    n = x_train[idx]
    t, perp = segment_projection(x[hit], x_adv[hit], n)
    flip = scan_paths(model, x[hit], n, grid=grid).first_flip
    return pd.DataFrame({"t": t.numpy(), "perp": perp.numpy(), "flip_t": flip.numpy(), "segment_l2": dist.numpy()})


def landing_table(zoos: Mapping[str, Zoo], adv: Mapping[tuple, Tensor], *, eps_ref: float, grid: int
                  ) -> pd.DataFrame:
    """:func:`landing_points` of every source's PGD points at eps_ref, one row per successful example."""
    frames = []
    for name, z in zoos.items():
        for k, model in z.models.items():
            pts = landing_points(model, z.x, z.y, adv[name, "pgd", eps_ref, k], z.x_train, z.y_train, grid=grid)
            if len(pts):
                frames.append(pts.assign(dataset=name, source=k)[["dataset", "source", *pts.columns]])
    return pd.concat(frames, ignore_index=True)


def landing_medians(landing: pd.DataFrame) -> pd.DataFrame:
    """Per data set, the median landing position, flip point, perpendicular share and segment length."""
    return landing.groupby("dataset")[["t", "flip_t", "perp", "segment_l2"]].median()


def figure_boundary_distances(mds: pd.DataFrame, ids: pd.DataFrame, datasets: Sequence[str]) -> plt.Figure:
    """Per data set: MD per model and direction kind (log scale), and ID / MD of every model pair."""
    fig, axes = plt.subplots(len(datasets), 2, figsize=(12, 3.8 * len(datasets)), squeeze=False)
    order = ["legitimate", "adversarial", "random"]
    for row, name in zip(axes, datasets):
        sub = mds[(mds["dataset"] == name) & (mds["md"] < np.inf)]
        sns.boxplot(data=sub, x="direction", y="md", hue="model", order=order, fliersize=1, ax=row[0])
        row[0].set(yscale="log", ylabel="MD (L2 distance to the boundary)", xlabel="",
                   title=f"{name}: distance to each model's boundary")
        row[0].legend(fontsize=7, ncols=2, title=None)
        sns.boxplot(data=ids[ids["dataset"] == name], x="direction", y="ratio", order=order, fliersize=1,
                    color="C7", ax=row[1])
        row[1].axhline(H3_THRESHOLD, color="C3", ls="--", lw=1, label="H3 threshold (legitimate)")
        row[1].set(ylabel="ID / mean MD of the pair", xlabel="", ylim=(0, 2),
                   title=f"{name}: inter-boundary distance relative to MD")
        row[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def figure_agreement_and_landing(pairs: pd.DataFrame, landing: pd.DataFrame, rho_legit: Estimate,
                                 rho_flip: Estimate, eps_ref: float) -> plt.Figure:
    """Agreement against transfer (two measures, one point per pair) and where PGD points land."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    sns.scatterplot(data=pairs, x="legit_ratio", y="transfer", hue="kind", style="dataset", s=60, ax=axes[0])
    axes[0].set(xlabel="median ID / MD along legitimate directions\n(lower: boundaries closer)",
                ylabel=f"PGD transfer rate at ε = {eps_ref:g}\n(mean of both directions)",
                title=f"boundary distance vs transfer\nSpearman ρ = {rho_legit}")
    sns.scatterplot(data=pairs, x="flip_gap", y="transfer", hue="kind", style="dataset", s=60, ax=axes[1],
                    legend=False)
    axes[1].set(xlabel="mean |Δt| of first flip points\non train-train segments (lower: agree)",
                ylabel="", title=f"H1 flip-point gap vs transfer\nSpearman ρ = {rho_flip}")
    melt = landing.melt(id_vars=["dataset", "source"], value_vars=["t", "flip_t"], var_name="what",
                        value_name="position")
    melt["what"] = melt["what"].map({"t": "adversarial point (projection)",
                                     "flip_t": "source's boundary on the segment"})
    sns.histplot(data=melt, x="position", hue="what", bins=np.linspace(0, 1, 41), element="step", stat="density",
                 common_norm=False, ax=axes[2])
    axes[2].axvline(0.5, color="k", ls=":", lw=1)
    axes[2].set(xlabel="t on the segment input (0) → nearest training\nsample of the adversarial class (1)",
                title=f"where PGD points land (ε = {eps_ref:g}); perpendicular\nshare of the perturbation: "
                      f"median {landing['perp'].median():.2f}")
    axes[2].get_legend().set_title(None)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- claims


def _claim_figures(names: Iterable[str], stems: Sequence[str]) -> list[str]:
    """The logged figure paths whose file name starts with one of ``stems``, in the order of ``stems``."""
    names = list(names)
    return [n for stem in stems for n in names if Path(n).name.startswith(stem)]


H3_THRESHOLD = 0.5
H3_STATEMENT = ("Boundaries of independently trained models lie closer to each other than to the data: "
                "median over inputs of ID/MD along legitimate directions < 0.5.")
H3_CONDITIONS = [claims.Condition("median_id_over_md_legitimate", "<", H3_THRESHOLD)]
H3_FIGURES = ("03_boundary_distances",)


def per_input_ratio(ids: pd.DataFrame, direction: str) -> np.ndarray:
    """Per (data set, input), the median ID/MD over the model pairs along one direction kind."""
    return ids[ids["direction"] == direction].groupby(["dataset", "input"])["ratio"].median().values


def h3_measurements(ids: pd.DataFrame, seed: int) -> dict[str, Estimate]:
    """Bootstrap intervals of the median over inputs of the per-input ID/MD, per direction kind."""
    return {f"median_id_over_md_{kind}": stats.bootstrap(per_input_ratio(ids, kind), np.median, seed=seed)
            for kind in ("legitimate", "adversarial", "random")}


def record_h3(measurements: Mapping[str, Estimate], parameters: Mapping[str, Any], datasets: Sequence[str],
              figures: Iterable[str]) -> claims.Claim:
    """Decide and record H3 (shared boundaries) by :data:`H3_CONDITIONS`."""
    return claims.record(
        "H3", statement=H3_STATEMENT, measurements=measurements, conditions=H3_CONDITIONS,
        figures=_claim_figures(figures, H3_FIGURES), notebook=NOTEBOOK, parameters=parameters,
        notes="MD is the mean of the pair's two distances, so ID/MD lies in [0, 2]. Models: "
              f"{parameters['archs']} x seeds {parameters['seeds']} on {list(datasets)}; inputs classified "
              "correctly by all models; inputs whose boundary lies beyond max_eps are not counted.")


H4_STATEMENT = ("Adversarial examples transfer, and more so between models whose boundaries agree: "
                "spearman(boundary agreement, transfer rate) > 0 over model pairs, and off-diagonal PGD "
                "transfer exceeds random sign noise of the same size.")
H4_CONDITIONS = [claims.Condition("spearman_agreement_transfer", ">", 0.0),
                 claims.Condition("transfer_minus_noise", ">", 0.0)]
H4_FIGURES = ("03_agreement_and_landing", "03_transfer_vs_eps", "03_transfer_matrix_")


def offdiagonal_rate(outcomes: np.ndarray) -> np.ndarray:
    """Per input, the mean over off-diagonal (source != target) pairs of (S, S, N) transfer outcomes."""
    off = ~np.eye(len(outcomes), dtype=bool)
    with warnings.catch_warnings():  # inputs that no pair counts give NaN, dropped by the bootstrap
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(outcomes[off], axis=0)


def transfer_minus_noise(outcomes: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Per input, :func:`offdiagonal_rate` minus the targets' mean rate of being fooled by sign noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return offdiagonal_rate(outcomes) - np.nanmean(noise, axis=0)


def h4_measurements(rhos: tuple[Estimate, Estimate], outcomes: Mapping[tuple, np.ndarray],
                    noise: Mapping[tuple, np.ndarray], landing: pd.DataFrame, *, datasets: Sequence[str],
                    eps_ref: float, seed: int) -> dict[str, Estimate]:
    """The rank correlations, PGD transfer at eps_ref over sign noise (per input), and the landing medians."""
    excess = np.concatenate([transfer_minus_noise(outcomes[n, "pgd", eps_ref], noise[n, eps_ref])
                             for n in datasets])
    off_diag = np.concatenate([offdiagonal_rate(outcomes[n, "pgd", eps_ref]) for n in datasets])
    return {"spearman_agreement_transfer": rhos[0], "spearman_flip_agreement_transfer": rhos[1],
            "transfer_minus_noise": stats.bootstrap(excess, seed=seed),
            "offdiagonal_transfer_rate": stats.bootstrap(off_diag, seed=seed),
            "landing_t_median": stats.bootstrap(landing["t"].values, np.median, seed=seed),
            "landing_flip_t_median": stats.bootstrap(landing["flip_t"].values, np.median, seed=seed),
            "landing_perpendicular_share_median": stats.bootstrap(landing["perp"].values, np.median, seed=seed)}


def record_h4(measurements: Mapping[str, Estimate], parameters: Mapping[str, Any], figures: Iterable[str]
              ) -> claims.Claim:
    """Decide and record H4 (transfer follows boundary agreement) by :data:`H4_CONDITIONS`."""
    return claims.record(
        "H4", statement=H4_STATEMENT, measurements=measurements, conditions=H4_CONDITIONS,
        figures=_claim_figures(figures, H4_FIGURES), notebook=NOTEBOOK, parameters=parameters,
        notes=f"PGD L-inf, eps_ref={parameters['eps_ref']}, {parameters['pgd_steps']} steps. Agreement = minus "
              "the pair's median ID/MD along legitimate directions; values centred per data set before ranking. "
              "The landing measurements (t of the adversarial point on the segment to the nearest training "
              "sample of the adversarial class, the source's flip point there, and the perpendicular share) "
              "are reported, not judged.")


def write_results(rates: pd.DataFrame, summary: pd.DataFrame, pairs: pd.DataFrame, landing: pd.DataFrame,
                  recorded: Sequence[claims.Claim], seconds: float, parameters: Mapping[str, Any]) -> Path:
    """Write the numbers behind the figures and the claims to ``results/03_transfer.json``."""
    return save_results(NOTEBOOK, {
        "transfer": rates.to_dict("records"),
        "boundary_summary": summary.reset_index().to_dict("records"),
        "pairs": pairs.to_dict("records"),
        "landing_median": landing_medians(landing).reset_index().to_dict("records"),
        "claims": {c.id: {"verdict": c.verdict, "measurements": c.measurements, "rule": c.rule} for c in recorded},
        "seconds": seconds,
    }, dict(parameters))
