"""Every figure of notebook 05: the queries against the hull, the training-size sweep, C1's effect and
the width sweep."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...evidence.claims import Control, Rule
from ...evidence.stats import Estimate
from .tables import Tables


def figure_hull_vs_nn(tables: Tables, held: Tables, datasets: Sequence[str], spaces: Sequence[str]
                      ) -> plt.Figure:
    """Hull distance against NN distance per query (test dots, held-out training crosses), one panel
    per space, each data set in units of its median test NN distance."""
    fig, axes = plt.subplots(1, len(spaces), figsize=(4.2 * len(spaces), 4), squeeze=False)
    for ax, space in zip(axes[0], spaces):
        for i, name in enumerate(datasets):
            if (name, space) not in tables:  # that data set's model of this space was excluded (not fitted)
                continue
            t = tables[(name, space)]
            scale = np.median(t["nn"])
            ax.scatter(t["nn"] / scale, t["hull"] / scale, s=9, alpha=0.6, color=f"C{i}", label=f"{name}: test")
            if (name, space) in held:
                h = held[(name, space)]
                ax.scatter(h["nn"] / scale, h["hull"] / scale, s=12, alpha=0.5, marker="x", color=f"C{i}",
                           label=f"{name}: held-out train")
        lim = ax.get_xlim()[1]
        ax.plot([0, lim], [0, lim], color="grey", lw=1, ls="--", label="hull = NN")
        ax.set(xlim=(0, None), ylim=(0, None), title=space,
               xlabel="NN distance / median NN", ylabel="hull distance / median NN")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Distance to the training hull vs to the nearest training sample", y=1.02)
    fig.tight_layout()
    return fig


def figure_ratio_distributions(long: pd.DataFrame) -> plt.Figure:
    """Box plots of hull/NN per space, test against held-out training queries, one panel per data set."""
    names = list(long["dataset"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        group = long[long["dataset"] == name]
        spaces = list(group["space"].unique())
        for j, which in enumerate(["test", "held-out"]):
            values = [group[(group["space"] == s) & (group["queries"] == which)]["hull / NN"].dropna()
                      for s in spaces]
            ax.boxplot(values, positions=np.arange(len(spaces)) + (j - 0.5) * 0.35, widths=0.3,
                       patch_artist=True, boxprops={"facecolor": f"C{j}", "alpha": 0.6},
                       flierprops={"markersize": 2}, manage_ticks=False)
            ax.plot([], [], "s", color=f"C{j}", alpha=0.6, label=which)
        ax.axhline(1, color="grey", lw=1, ls="--")
        ax.set_xticks(np.arange(len(spaces)), spaces)
        ax.set(ylim=(0, 1.05), title=name, ylabel="hull distance / NN distance")
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("Test queries against as many held-out training samples", y=1.02)
    fig.tight_layout()
    return fig



def figure_train_size(sizes: pd.DataFrame, train_sizes: Sequence[int], n_queries: int) -> plt.Figure:
    """Share outside, median distances and median hull/NN ratio against the training-set size."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for i, name in enumerate(sizes["dataset"].unique()):
        group = sizes[sizes["dataset"] == name]
        axes[0].plot(group["n_train"], group["outside"], "o-", color=f"C{i}", label=name)
        axes[1].plot(group["n_train"], group["median_hull"], "o-", color=f"C{i}", label=f"{name}: hull")
        axes[1].plot(group["n_train"], group["median_nn"], "s--", color=f"C{i}", label=f"{name}: NN")
        axes[2].plot(group["n_train"], group["median_hull/nn"], "o-", color=f"C{i}", label=name)
    axes[0].set(ylabel="share of queries outside", ylim=(0, 1.05))
    axes[1].set(ylabel="median distance (pixels, L2)", ylim=(0, None))
    axes[2].set(ylabel="median hull / NN", ylim=(0, 1.05))
    for ax in axes:
        ax.set(xscale="log", xlabel="training samples (log)")
        ax.set_xticks(train_sizes, [str(n) for n in train_sizes])
        ax.minorticks_off()
        ax.legend(fontsize=8, loc="lower left", ncol=2 if ax is axes[1] else 1)
    fig.suptitle(f"Pixel space: {n_queries} test queries against training sets of growing size", y=1.03)
    fig.tight_layout()
    return fig



def figure_rule(ax: plt.Axes, rows: Mapping[str, Estimate], controls: Sequence[Control], rule: Rule) -> None:
    """On ``ax``: each estimate of ``rows`` (strata, then "pooled" in red) and each control (positive green,
    negative purple) with its 95% interval, against the null with its band (grey) and the margin (red)."""
    names = [*rows, *[f"{c.kind}: {c.name}" for c in controls]]
    estimates = [*rows.values(), *[c.estimate for c in controls]]
    colors = ["C3" if n == "pooled" else "C0" for n in rows] + ["C2" if c.kind == "positive" else "C4"
                                                                 for c in controls]
    for i, (est, color) in enumerate(zip(estimates, colors)):
        low, high = (est.low, est.high) if np.isfinite(est.low) else (est.value, est.value)
        ax.errorbar(i, est.value, yerr=[[est.value - low], [high - est.value]], fmt="o", color=color, capsize=3)
    ax.axhspan(rule.null_value - rule.band, rule.null_value + rule.band, color="grey", alpha=0.2,
               label=f"null {rule.null_value:g} ± band {rule.band:g} (no effect)")
    ax.axhline(rule.null_value, color="grey", lw=1)
    ax.axhline(rule.margin, color="C3", lw=1, ls=":", label=f"margin {rule.margin:g}")
    if rule.ideal is not None:
        ax.axhline(rule.ideal, color="k", lw=1, ls="--", label=f"ideal {rule.ideal:g}")
    if controls:
        ax.axvline(len(rows) - 0.5, color="k", lw=0.5)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.legend(fontsize=7, loc="best")


def figure_c1_effect(strata: Mapping[str, Estimate], pooled: Estimate, controls: Sequence[Control], rule: Rule
                     ) -> plt.Figure:
    """The C1 primary per stratum and pooled beside its controls, against the null, its band and the margin."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * (len(strata) + len(controls)) + 3), 4))
    figure_rule(ax, {**strata, "pooled": pooled}, controls, rule)
    ax.set(ylabel="median hull / NN of the queries", ylim=(-0.15, 1.05),
           title="C1: test queries against the hull (0 = inside, 1 = hull no closer than the NN)")
    fig.tight_layout()
    return fig


def figure_dimension_sweep(rows: Sequence[Mapping[str, object]], margin: float, band: float = 0.0) -> plt.Figure:
    """C1's primary (with its margin and the null's band) and the share outside against the number of
    principal components kept."""
    frame = pd.DataFrame(list(rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, name in enumerate(frame["dataset"].unique()):
        group = frame[frame["dataset"] == name]
        axes[0].plot(group["dims"], group["median_hull/nn"], "o-", color=f"C{i}", label=name)
        axes[1].plot(group["dims"], group["outside"], "o-", color=f"C{i}", label=name)
    axes[0].axhline(margin, color="C3", lw=1, ls=":", label=f"margin {margin:g}")
    if band:
        axes[0].axhspan(-band, band, color="grey", alpha=0.2, label=f"null 0 ± band {band:g}")
    axes[0].set(ylabel="median hull / NN (C1's primary)", ylim=(-0.12, 1.05))
    axes[1].set(ylabel="share of queries outside", ylim=(-0.05, 1.05))
    for ax in axes:
        ax.set(xscale="log", xlabel="principal components kept (log)")
        ax.legend(fontsize=8)
    fig.suptitle("The same test queries in fewer dimensions: where the primary can read 'no effect'", y=1.03)
    fig.tight_layout()
    return fig


def figure_c2_effect(gaps: Mapping[str, Mapping[int, Sequence[float]]], primary: Estimate,
                     controls: Sequence[Control], rule: Rule) -> plt.Figure:
    """Left: the far-minus-near accuracy gap against width, mean over seeds, per family (the zoo's mlp and
    each control); right: C2's primary beside its controls against the null, its band and the margin."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for name, by_width in gaps.items():
        widths = sorted(by_width)
        color = "C2" if name.startswith("positive") else "C4" if name.startswith("negative") else "C0"
        axes[0].plot(widths, [np.mean(by_width[w]) for w in widths], "o-", color=color, label=name)
    axes[0].axhline(0, color="grey", lw=1)
    axes[0].set(xscale="log", xlabel="width (log)", ylabel="accuracy near third − far third",
                title="queries by distance to the training hull")
    axes[0].legend(fontsize=8)
    figure_rule(axes[1], {"zoo mlp": primary}, controls, rule)
    axes[1].set(ylabel="share of the gap closed", ylim=(min(-0.15, primary.low - 0.05) if np.isfinite(primary.low)
                                                         else -0.15, 1.1),
                title="C2: narrowest fitted vs widest width")
    fig.tight_layout()
    return fig


def figure_width_sweep(sweep: pd.DataFrame, agreement: pd.DataFrame, widths: Sequence[int], dataset: str,
                       n_train: int) -> plt.Figure:
    """Train/test accuracy and 1-NN agreement outside the hull against the mlp width (means over seeds;
    an open marker where some model of that width missed its target training accuracy)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, labels in enumerate(["true", "random"]):
        rows = sweep[sweep["labels"] == labels]
        group = rows.groupby("width")[["train_acc", "test_acc"]].mean()
        axes[0].plot(group.index, group["train_acc"], "o--", color=f"C{i}", label=f"{labels} labels: train")
        axes[0].plot(group.index, group["test_acc"], "o-", color=f"C{i}", label=f"{labels} labels: test")
        if "fitted" in rows:
            missed = rows.groupby("width")["fitted"].all()
            missed = missed[~missed].index
            axes[0].plot(missed, group.loc[missed, "train_acc"], "o", ms=10, mfc="none", color="k",
                         label="not fitted" if i == 0 else None)
        g = agreement[agreement["labels"] == labels].groupby("width")["agree_with_1nn_outside"].mean()
        axes[1].plot(g.index, g.values, "o-", color=f"C{i}", label=f"{labels} labels")
    for ax in axes:
        ax.axhline(0.1, color="grey", lw=1, ls=":", label="chance")
        ax.set(xscale="log", xlabel="mlp width (log)", ylim=(0, 1.03))
        ax.set_xticks(widths, [str(w) for w in widths])
    axes[0].set(ylabel="accuracy", title=f"{dataset}, {n_train} training samples")
    axes[1].set(ylabel="agreement with 1-NN's trained label", title="queries outside the training hull")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig

