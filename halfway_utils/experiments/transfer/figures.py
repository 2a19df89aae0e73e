"""Notebook 03's figures: transfer matrices and curves, boundary distances (H3), landing points (H4),
and the zoo beside the controls against each claim's null, band and margin."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ...evidence import claims
from ...evidence.stats import Estimate, pair_effects
from ...methods.directions import censor
from . import h3
from .bundles import arch_of
from .distances import DIRECTIONS


def figure_transfer_matrix(rates: pd.DataFrame, name: str, models: Sequence[str],
                           eps_list: Sequence[float]) -> plt.Figure:
    """Heatmaps of one data set's PGD transfer matrices, one per eps (rows: sources, columns: targets)."""
    size = max(3.3, 0.32 * len(models) + 1.2)
    fig, axes = plt.subplots(1, len(eps_list), figsize=(size * len(eps_list) + 1, size + 0.5), squeeze=False)
    for ax, eps in zip(axes[0], eps_list):
        sub = rates[(rates["dataset"] == name) & (rates["attack"] == "pgd") & (rates["eps"] == eps)]
        m = sub.pivot(index="source", columns="target", values="success").loc[list(models), list(models)]
        sns.heatmap(m, vmin=0, vmax=1, annot=len(models) <= 16, fmt=".2f", cmap="rocket_r",
                    cbar=ax is axes[0][-1], annot_kws={"size": 5 if len(models) > 8 else 7}, square=True, ax=ax)
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


def figure_boundary_distances(mds: pd.DataFrame, rows: pd.DataFrame, datasets: Sequence[str]) -> plt.Figure:
    """Per data set: MD per architecture and direction (log scale), and per pair the observed
    ID/MD over the permutation null's, by direction and pair of architectures, with H3's margin."""
    fig, axes = plt.subplots(len(datasets), 2, figsize=(12, 3.8 * len(datasets)), squeeze=False)
    effects = rows.groupby(["dataset", "direction", "source", "model_a", "model_b", "kind"], sort=False).apply(
        lambda g: pair_effects(g["obs"].to_numpy(), g["null"].to_numpy()), include_groups=False
    ).rename("effect").reset_index()
    effects["arch pair"] = ["-".join(sorted((arch_of(a), arch_of(b)))) for a, b in
                            zip(effects["model_a"], effects["model_b"])]
    for row, name in zip(axes, datasets):
        sub = mds[mds["dataset"] == name].assign(arch=lambda d: d["model"].map(arch_of),
                                                 md=lambda d: censor(d["md"], d["cap"]))
        sns.boxplot(data=sub, x="direction", y="md", hue="arch", order=DIRECTIONS, fliersize=1, ax=row[0])
        row[0].set(yscale="log", ylabel="MD (L2; censored at max ε)", xlabel="",
                   title=f"{name}: distance to each model's boundary")
        effects["shared"] = 1 - effects["effect"]
        sns.stripplot(data=effects[effects["dataset"] == name], x="direction", y="shared", hue="arch pair",
                      hue_order=sorted(set(effects["arch pair"])), order=DIRECTIONS, dodge=True, size=3, ax=row[1])
        _references(row[1], h3.RULE, horizontal=True)
        row[1].set(ylabel="1 - median ID/MD observed / null", xlabel="",
                   title=f"{name}: per model pair, 0 unrelated, 1 identical boundaries")
        row[1].legend(fontsize=7, ncols=2)
    fig.tight_layout()
    return fig


def figure_landing_and_agreement(landing: pd.DataFrame, pairs: pd.DataFrame, eps_ref: float) -> plt.Figure:
    """Where PGD points land against random perturbations of the same norm (H4's primary), the
    perpendicular shares, and boundary agreement against transfer, one point per model pair."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    melt = landing.melt(id_vars=["dataset", "source"], value_vars=["landing", "landing_random"], var_name="what",
                        value_name="fraction")
    melt["what"] = melt["what"].map({"landing": "PGD point", "landing_random": "random, same L2 norm"})
    bound = landing.assign(fraction=landing["t_bound"] / landing["flip_t"], what="the most an L∞ step reaches")
    melt = pd.concat([melt, bound[["dataset", "source", "what", "fraction"]]], ignore_index=True)
    sns.histplot(data=melt, x="fraction", hue="what", bins=np.linspace(-0.5, 1.5, 41), element="step",
                 stat="density", common_norm=False, ax=axes[0])
    axes[0].axvline(1.0, color="k", ls=":", lw=1)
    axes[0].axvline(0.5, color="C3", ls="--", lw=1)
    axes[0].set(xlabel="t / t_flip on the segment input → nearest training sample\n"
                       "of the adversarial class (1: on the source's boundary there)",
                title=f"where PGD points land (ε = {eps_ref:g}); dashed: the former margin")
    axes[0].get_legend().set_title(None)
    perp = landing.melt(id_vars=["dataset"], value_vars=["perp", "perp_random"], var_name="what", value_name="share")
    perp["what"] = perp["what"].map({"perp": "PGD perturbation", "perp_random": "random, same norm"})
    sns.boxplot(data=perp, x="dataset", y="share", hue="what", fliersize=1, ax=axes[1])
    axes[1].set(ylabel="share of the perturbation perpendicular to the segment", xlabel="",
                title="perpendicular share against random directions")
    axes[1].legend(fontsize=8)
    sns.scatterplot(data=pairs, x="legit_effect", y="transfer", hue="kind", style="dataset", s=50, ax=axes[2])
    axes[2].set(xlabel="pair's median ID/MD along legitimate directions,\nobserved / null (lower: boundaries closer)",
                ylabel=f"PGD transfer at ε = {eps_ref:g} (mean of both directions)",
                title="boundary agreement against transfer (reported)")
    fig.tight_layout()
    return fig


def _references(ax: plt.Axes, rule: claims.Rule, *, horizontal: bool) -> None:
    """The rule's null with its band, its margin and its ideal, as lines across ``ax``."""
    line, span = (ax.axhline, ax.axhspan) if horizontal else (ax.axvline, ax.axvspan)
    span(rule.null_value - rule.band, rule.null_value + rule.band, color="0.85", zorder=0,
         label=f"null ± band ({rule.band:g}): no effect")
    line(rule.null_value, color="k", ls=":", lw=1)
    line(rule.margin, color="C3", ls="--", lw=1.2, label=f"margin ({rule.margin:g})")
    if rule.ideal is not None:
        line(rule.ideal, color="C2", ls="-.", lw=1, label=f"ideal ({rule.ideal:g})")


def figure_controls(parts: Mapping[str, tuple[Mapping[str, Estimate], Estimate, Sequence[claims.Control]]],
                    rules: Mapping[str, claims.Rule]) -> plt.Figure:
    """Per claim: each stratum, the pooled zoo and each control with its 95% interval, against the rule's
    null (with its band), margin and ideal."""
    fig, axes = plt.subplots(1, len(parts), figsize=(6.5 * len(parts), 0.45 * max(len(s) for s, _, _ in
                                                                              parts.values()) + 3.2), squeeze=False)
    for ax, (cid, (strata, pooled, controls)) in zip(axes[0], parts.items()):
        rows = [(k, e, "C0") for k, e in strata.items()] + [("zoo, pooled", pooled, "k")]
        rows += [(f"{c.kind} control: {c.name}", c.estimate, "C2" if c.kind == claims.POSITIVE else "C3")
                 for c in controls]
        for k, (_, e, colour) in enumerate(rows):
            err = [[max(e.value - e.low, 0)], [max(e.high - e.value, 0)]] if np.isfinite(e.low) else None
            ax.errorbar(e.value, k, xerr=err, fmt="o", color=colour, capsize=3)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.invert_yaxis()
        _references(ax, rules[cid], horizontal=False)
        ax.set(xlabel=rules[cid].primary, title=f"{cid}: zoo and controls (95% intervals)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
