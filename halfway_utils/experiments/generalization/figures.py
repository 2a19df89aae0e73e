"""Notebook 02's two larger figures: the controls beside the zoo, and the MLP width sweep."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...evidence.claims import Control
from ...evidence.stats import Estimate
from . import h2


def figure_controls(strata: Mapping[str, Estimate], pooled: Estimate, controls: Sequence[Control],
                    sweep: pd.DataFrame, kernel_bandwidth: float) -> plt.Figure:
    """The zoo's strata, the pooled primary and the controls against the null, its band, the margin and the
    ideal; beside them the kernel machine's primary against its bandwidth."""
    rule = h2.RULE
    rows = [(name, e, "zoo") for name, e in strata.items()] + [("pooled", pooled, "zoo")]
    rows += [(c.name, c.estimate, c.kind) for c in controls]
    colors = {"zoo": "tab:blue", "positive": "tab:green", "negative": "tab:red"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    for ax in axes:
        ax.axhspan(rule.null_value - rule.band, rule.null_value + rule.band, color="grey", alpha=0.15, lw=0)
        ax.axhline(rule.null_value, color="grey", ls=":", lw=0.8)
        ax.axhline(rule.margin, color="grey", ls="--", lw=0.8)
        ax.axhline(rule.ideal, color="grey", lw=0.8)
    for k, (_, e, kind) in enumerate(rows):
        axes[0].errorbar(k, e.value, [[e.value - e.low], [e.high - e.value]], fmt="o", color=colors[kind], capsize=4)
    axes[0].set_xticks(range(len(rows)), [name for name, _, _ in rows], rotation=30, ha="right")
    axes[0].set(ylabel="kappa with 1-NN / kappa with a replicate", title="zoo (blue) and controls (green +, red −)")
    axes[1].errorbar(sweep["factor"], sweep["primary"], [sweep["primary"] - sweep["low"],
                                                         sweep["high"] - sweep["primary"]], fmt="o-",
                     color="tab:green", capsize=3)
    axes[1].axvline(kernel_bandwidth, color="tab:green", ls=":", lw=0.8)
    axes[1].set(xscale="log", xlabel="bandwidth / median nearest-neighbour distance", title="RBF kernel machine")
    fig.tight_layout()
    return fig


def figure_width_sweep(widths_table: pd.DataFrame, widths: Sequence[int], dataset: str, n_train: int) -> plt.Figure:
    """Accuracy, 1-NN agreement and notebook 01's flip statistics of the MLP against its width."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    panels = [({"train_acc": "train accuracy", "test_acc": "test accuracy", "agree_pixel": "agrees with pixel 1-NN",
                "agree_feature": "agrees with feature 1-NN"}, (0.5, 1.01), "share", "accuracy and 1-NN agreement"),
              ({"median_abs_first": "median |first flip − 0.5|", "share_first_mid": "first flips in [0.4, 0.6]",
                "share_third_class": "paths through a third class"}, (0, 1), "",
               "H1 statistic (train-train pairs, different labels)")]
    for ax, (names, ylim, ylabel, title) in zip(axes, panels):
        long = widths_table.melt(id_vars=["width", "seed"], var_name="measure", value_vars=list(names))
        long["measure"] = long["measure"].map(names)
        sns.lineplot(data=long, x="width", y="value", hue="measure", marker="o", ax=ax, errorbar=("pi", 100))
        ax.set(xscale="log", ylim=ylim, ylabel=ylabel, title=title)
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.minorticks_off()
        ax.legend(fontsize=8)
    axes[1].axhline(0.1, color="grey", ls="--", lw=0.8)
    fig.suptitle(f"MLP width sweep on {dataset} (depth 2, n_train={n_train}, trained to the target)")
    fig.tight_layout()
    return fig
