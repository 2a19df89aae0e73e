"""Notebook 01's figures: flip distributions, the primary and its controls, first vs last flip, history, one path."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ...evidence.stats import Estimate
from .h1 import RULE
from .history import History
from .morph import MorphPath
from .pairs import CONTROL_KIND, UNIFORM_ZONE


def _mid_band(ax: plt.Axes, horizontal: bool = False) -> None:
    """Shade [0.4, 0.6], the band of a flip zone <= 0.1."""
    (ax.axhspan if horizontal else ax.axvspan)(0.4, 0.6, color="grey", alpha=0.15, lw=0)


def figure_flip_distributions(paths: pd.DataFrame) -> plt.Figure:
    """Histograms of first and last flips of different-class pairs, per data set and arch."""
    diff = paths[paths["kind"] != CONTROL_KIND]
    long = diff.melt(id_vars=["dataset", "arch", "kind"], value_vars=["first_flip", "last_flip"],
                     var_name="flip", value_name="t").dropna()
    long["pairs"] = long["kind"].str.replace(", different", "") + " · " + long["flip"].str.replace("_flip", "")
    g = sns.displot(data=long, x="t", hue="pairs", row="dataset", col="arch", kind="hist", element="step",
                    fill=False, stat="density", common_norm=False, bins=np.linspace(0, 1, 41),
                    height=2.4, aspect=1.25, facet_kws={"margin_titles": True})
    for ax in g.axes.flat:
        _mid_band(ax)
        ax.axvline(0.5, color="k", lw=0.8, ls="--")
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    g.set_axis_labels("flip point t on a → b", "density")
    g.figure.suptitle("First and last flip along segments between samples of different classes", y=1.03)
    return g.figure


def _references(ax: plt.Axes, rule: Any = RULE) -> None:
    """The rule's two references on a horizontal fraction axis: the null with its band, the margin, the ideal."""
    ax.axvspan(rule.null_value - rule.band, rule.null_value + rule.band, color="grey", alpha=0.2, lw=0,
               label=f"no effect: within {rule.band:g} of the null {rule.null_value:g}, or below it")
    ax.axvline(rule.null_value, color="k", lw=0.8)
    ax.axvline(rule.margin, color="r", ls="--", lw=1, label=f"margin {rule.margin:g}")
    if rule.ideal is not None:
        ax.axvline(rule.ideal, color="g", ls=":", lw=1, label=f"ideal {rule.ideal:g} (1-NN bisector)")


def _intervals(ax: plt.Axes, rows: Sequence[tuple[str, Estimate, str]]) -> None:
    """One point with its 95% interval per ``(label, estimate, colour)``, top to bottom."""
    for k, (_, est, colour) in enumerate(rows):
        err = np.nan_to_num([[est.value - est.low], [est.high - est.value]])
        ax.errorbar([est.value], [k], xerr=err, fmt="o", capsize=3, color=colour)
    ax.set(yticks=np.arange(len(rows)), yticklabels=[r[0] for r in rows])
    ax.invert_yaxis()


def figure_gain(claim: pd.DataFrame, pooled: Estimate, strata: Mapping[str, Estimate],
                controls: Mapping[str, Estimate] | None = None, kinds: Mapping[str, str] | None = None) -> plt.Figure:
    """Left: each model's mean flip zone, trained vs untrained vs the 1-NN rule; right: the primary per stratum,
    pooled and for each control (``kinds``: name -> positive / negative), against the null, its band and the margin."""
    per_model = claim.groupby(["dataset", "arch", "seed"], sort=False)[["zone", "zone_untrained", "zone_1nn"]].mean()
    per_model = per_model.reset_index().assign(stratum=lambda d: d["dataset"] + "/" + d["arch"])
    long = per_model.melt(id_vars=["stratum", "seed"], value_vars=["zone_untrained", "zone", "zone_1nn"],
                          var_name="classifier", value_name="mean flip zone")
    long["classifier"] = long["classifier"].map({"zone_untrained": "untrained (null)", "zone": "trained",
                                                 "zone_1nn": "1-NN (bisector)"})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 2.4]})
    sns.stripplot(data=long, x="stratum", y="mean flip zone", hue="classifier", dodge=True, ax=axes[0], size=5,
                  jitter=0.15)
    axes[0].axhline(UNIFORM_ZONE, color="grey", ls=":", lw=0.8)
    axes[0].set(ylim=(0, 0.5), xlabel="", title="mean max(|first − 0.5|, |last − 0.5|), one dot per model")
    axes[0].tick_params(axis="x", labelrotation=30, labelsize=8)
    axes[0].legend(fontsize=8)
    kinds = kinds or {}
    rows = [(name, est, "C0") for name, est in [*strata.items(), ("pooled", pooled)]]
    rows += [(f"{kinds.get(name, 'control')}: {name}", est, "C2" if kinds.get(name) == "positive" else "C3")
             for name, est in (controls or {}).items()]
    _references(axes[1])
    _intervals(axes[1], rows)
    axes[1].tick_params(axis="y", labelsize=8)
    axes[1].set(xlabel="fraction of the way from the untrained network (0) to the 1-NN bisector (1)",
                title="primary, zoo (blue) and controls (95% intervals)")
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def figure_either_side(family: Mapping[str, Estimate]) -> plt.Figure:
    """The primary of each member of the two control families (kernel machines by bandwidth, favoured 1-NN rules
    by ratio), against the null, its band and the margin: real classifiers land on both sides."""
    rows = [(name, est, "C2" if "kernel" in name or name.startswith("1-NN") else "C3") for name, est in family.items()]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    _references(ax)
    _intervals(ax, rows)
    ax.set(xlabel="fraction of the way from the untrained network (0) to the 1-NN bisector (1)",
           title="Classifiers built to meet halfway, and less and less so")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def figure_first_last(claim: pd.DataFrame, rho: Estimate) -> plt.Figure:
    """First vs last flip of the flipping claim paths, and the flip zone vs the pair's distance."""
    tt = claim[claim["has_flip"] > 0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sns.scatterplot(data=tt, x="first_flip", y="last_flip", hue="arch", s=8, alpha=0.4, ax=axes[0], linewidth=0)
    axes[0].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[0].plot([0, 1], [1, 0], color="grey", ls=":", lw=0.8)
    axes[0].set(xlabel="first flip t", ylabel="last flip t", title="first vs last flip", xlim=(0, 1), ylim=(0, 1))
    sns.scatterplot(data=claim, x="distance", y="zone", hue="arch", s=8, alpha=0.4, ax=axes[1],
                    linewidth=0, legend=False)
    axes[1].set(xlabel="pixel distance ||a − b||", ylabel="flip zone", ylim=(0, 0.52),
                title="flip zone vs pair distance")
    axes[1].text(0.98, 0.95, f"Spearman ρ(zone, ||a − b||) = {rho}", transform=axes[1].transAxes,
                 ha="right", va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    fig.suptitle("Train-train pairs of different classes, all fitted models")
    fig.tight_layout()
    return fig


def figure_history(history: History) -> plt.Figure:
    """Summary per checkpoint (left) and the distribution of the flips' midpoints per checkpoint (right)."""
    h = history.table
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].errorbar(h["epoch"], h["zone"], yerr=[h["zone"] - h["low"], h["high"] - h["zone"]],
                     marker="o", capsize=3, label="mean flip zone (95% CI over paths)")
    axes[0].plot(h["epoch"], h["share_flip"], marker="s", label="share of paths that flip")
    axes[0].plot(h["epoch"], h["train_acc"], marker="^", ls=":", label="train accuracy")
    axes[0].axhline(UNIFORM_ZONE, color="grey", ls="--", lw=0.8)
    axes[0].set(xlabel="epoch", ylim=(0, 1.02), title="summary per checkpoint")
    axes[0].legend(fontsize=8)
    sns.violinplot(data=history.mids, x="epoch", y="mid", ax=axes[1], cut=0, inner="quartile", color="C0")
    _mid_band(axes[1], horizontal=True)
    axes[1].set(ylabel="(first + last flip) / 2", ylim=(0, 1), title="flips' midpoint per checkpoint")
    fig.suptitle(f"Boundary history of {history.label}, {history.n_pairs} train-train pairs of different classes")
    fig.tight_layout()
    return fig


def figure_morph(path: MorphPath, t_mark: float | None = None) -> plt.Figure:
    """Nine frames of the path and each model's probabilities of a's and b's class along it."""
    fig = plt.figure(figsize=(11, 4.4))
    gs = fig.add_gridspec(2, 9, height_ratios=[1, 2.2], hspace=0.25)
    for k, t in enumerate(np.linspace(0, 1, 9)):
        ax = fig.add_subplot(gs[0, k])
        ax.imshow(((1 - t) * path.a + t * path.b)[0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"t={t:.3g}", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(gs[1, :])
    ca, cb, classes = path.class_a, path.class_b, path.classes
    for i, (arch, probs) in enumerate(path.probs.items()):
        ax.plot(path.ts, probs[:, ca], color=f"C{i}", label=f"{arch}: p({classes[ca]})")
        ax.plot(path.ts, probs[:, cb], color=f"C{i}", ls="--", label=f"{arch}: p({classes[cb]})")
    ax.axvline(0.5, color="k", lw=0.8, ls=":")
    if t_mark is not None:
        ax.axvline(t_mark, color="r", lw=1.2)
    ax.set(xlabel="t on a → b", ylabel="probability", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize=7, ncol=3, loc="center right")
    fig.suptitle(f"{path.dataset}: a = {classes[ca]} → b = {classes[cb]} (probabilities of other classes not drawn)")
    return fig
