"""The figures of notebook 04: code statistics against depth, unit occupancy, S1's and S2's primaries.

S1: :func:`figure_code_metrics_depth`, :func:`figure_occupancy`, :func:`figure_excess_mi`;
S2: :func:`figure_change_rate_depth`, :func:`figure_first_departure`, :func:`figure_homogeneity`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ...evidence import claims
from ...evidence.stats import StratifiedEstimates
from ...methods.codes import code_metrics, occupancy
from . import s1, s2
from .zoo_codes import METRICS, N_CLASSES, TRAINED, FittedModel, ModelKey

# How the figures name the code statistics of :data:`~.zoo_codes.METRICS`.
METRIC_LABELS = {"units_used_frac": "units used (share)", "normalized_entropy": "code entropy / log2(units)",
                 "class_conditional_entropy_bits": "entropy within class (bits)", "purity": "class purity",
                 "normalized_mi": "MI(code; label) / H(label)", "shared_units_frac": "units shared by classes"}


def _strata_panel(ax: plt.Axes, series: Mapping[str, StratifiedEstimates], name: str, rule: claims.Rule,
                  xlabel: str, controls: Sequence[claims.Control] = ()) -> None:
    """Point and 95 % interval of ``name`` per stratum and pooled, one colour per entry of ``series``, then
    each control (black), against the null with its band (grey) and the margin (dashed)."""
    palette = sns.color_palette(n_colors=max(len(series), 1))
    labels: list[str] = []
    for k, (label, est) in enumerate(series.items()):
        items = [*est.of(name).items(), ("pooled", est.pooled[name])]
        ys = np.arange(len(items)) + 0.15 * (k - (len(series) - 1) / 2)
        for y, (_, e) in zip(ys, items):
            ax.plot([e.low, e.high], [y, y], color=palette[k], lw=2)
        ax.plot([e.value for _, e in items], ys, "o", color=palette[k], label=label)
        labels = [s for s, _ in items]
    first = len(labels)
    for k, c in enumerate(controls):
        y = first + k
        ax.plot([c.estimate.low, c.estimate.high], [y, y], color="k", lw=2)
        ax.plot([c.estimate.value], [y], "s", color="k", label="controls" if k == 0 else None)
        ax.text(c.estimate.value, y - 0.25, rule.judge(c.estimate), fontsize=7, ha="center")
        labels.append(f"{c.kind}: {c.name}")
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
    band = rule.band if rule.op == ">" else -rule.band
    ax.axvspan(min(rule.null_value, rule.null_value + band), max(rule.null_value, rule.null_value + band),
               color="0.85", label=f"null {rule.null_value:g}, band {rule.band:g}")
    ax.axvline(rule.null_value, color="0.5", lw=0.8)
    ax.axvline(rule.margin, color="0.3", ls="--", lw=1, label=f"margin {rule.margin:g}")
    ax.set_ylim(len(labels) - 0.4, -0.6)  # first row on top
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def figure_code_metrics_depth(metrics: pd.DataFrame, *, grid: str, title: str) -> plt.Figure:
    """One panel per code statistic against depth (trained networks at ``grid``); band = the seeds' range."""
    sel = metrics[(metrics.network == TRAINED) & (metrics.grid == grid)]
    long = sel.melt(id_vars=["dataset", "arch", "seed", "layer", "depth"], value_vars=METRICS,
                    var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(METRIC_LABELS)
    grid_plot = sns.relplot(data=long, x="depth", y="value", hue="arch", style="dataset", col="metric",
                            col_wrap=3, kind="line", markers=True, errorbar=("pi", 100), height=2.7, aspect=1.25,
                            facet_kws={"sharey": False})
    grid_plot.set_titles("{col_name}")
    grid_plot.set_axis_labels("depth (0 = pixels, 1 = logits)", "")
    grid_plot.figure.suptitle(title, y=1.03)
    return grid_plot.figure


def figure_excess_mi(metrics: pd.DataFrame, est: StratifiedEstimates, *, grid: str, alt_grid: str,
                     controls: Sequence[claims.Control] = ()) -> plt.Figure:
    """Left: MI above the shuffled-label null against depth, trained vs untrained; right: S1's primary.

    Lines are the mean over seeds at ``grid``, bands span the seeds; the right panel shows the
    primary per stratum and pooled at both grids (only ``grid`` decides) and the ``controls``.
    """
    sel = metrics[metrics.grid == grid].assign(group=lambda t: t["dataset"] + "/" + t["arch"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    sns.lineplot(data=sel, x="depth", y="excess_mi", hue="group", style="network", markers=True,
                 errorbar=("pi", 100), ax=axes[0])
    axes[0].set_xlabel("depth (0 = pixels, 1 = logits)")
    axes[0].set_ylabel("MI(code; label)/H(label) − shuffled-label MI")
    axes[0].set_title(f"{grid} SOM per layer, trained and untrained networks", fontsize=9)
    axes[0].legend(fontsize=7, loc="best")
    alt = StratifiedEstimates({s1.PRIMARY: est.pooled[s1.ALT]},
                              {s: {s1.PRIMARY: e[s1.ALT]} for s, e in est.strata.items()})
    _strata_panel(axes[1], {grid: est, f"{alt_grid} (reported)": alt}, s1.PRIMARY, s1.RULE,
                  "rise of excess MI beyond max(0, untrained rise)", controls)
    axes[1].set_title("S1's primary per (dataset, arch) and pooled, 95% t over models", fontsize=9)
    fig.tight_layout()
    return fig


def figure_occupancy(fitted: Mapping[ModelKey, FittedModel], datasets: Sequence[str], arch: str,
                     seed: int) -> plt.Figure:
    """Per data set, the majority class of each SOM unit at the first and last hidden layer.

    Opacity = the unit's purity, white = unused, the digit = the majority class index.
    """
    palette = np.array(sns.color_palette("tab10", N_CLASSES))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(7.2, 3.5 * len(datasets)), squeeze=False)
    for row, dataset in enumerate(datasets):
        # The asked-for seed, else this stratum's first fitted model (a misfit is excluded, not drawn).
        key = (dataset, arch, seed) if (dataset, arch, seed) in fitted else \
            min((k for k in fitted if k[:2] == (dataset, arch)), default=None)
        if key is None:
            for ax in axes[row]:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"{dataset}/{arch}: no fitted model", ha="center", va="center")
            continue
        f = fitted[key]
        for col, layer in enumerate([f.mapper.layers[1], f.mapper.layers[-2]]):
            occ = occupancy(f.clean[layer], f.y, f.mapper.rows, f.mapper.cols, N_CLASSES).numpy()
            hits = occ.sum(-1)
            purity = np.where(hits > 0, occ.max(-1) / np.maximum(hits, 1), 0.0)
            rgba = np.concatenate([palette[occ.argmax(-1)], purity[..., None]], axis=-1)
            ax = axes[row, col]
            ax.imshow(rgba, interpolation="nearest")
            for (r, c), n in np.ndenumerate(hits):
                if n:
                    ax.text(c, r, str(occ[r, c].argmax()), ha="center", va="center", fontsize=6)
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            m = code_metrics(f.clean[layer], f.y, f.mapper.n_units, N_CLASSES)
            ax.set_title(f"{dataset} · {layer} (seed {key[2]})\npurity {m['purity']:.2f}, "
                         f"norm. MI {m['normalized_mi']:.2f}", fontsize=9)
    fig.suptitle(f"S1: majority class per SOM unit ({arch}; digit = class index)")
    fig.tight_layout()
    return fig


def figure_change_rate_depth(changes: pd.DataFrame) -> plt.Figure:
    """Code change rate against depth, attack (solid) and random of the same L2 norm (dashed).

    Rows = attack, columns = data set / arch, hue = eps; band = the seeds' range.
    """
    long = pd.concat([changes.assign(perturbation="attack", rate=changes["change_rate"]),
                      changes.assign(perturbation="random, same L2", rate=changes["random_change_rate"])])
    long["model"] = long["dataset"] + "/" + long["arch"]
    grid_plot = sns.relplot(data=long, x="depth", y="rate", hue="eps", style="perturbation", row="attack",
                            col="model", kind="line", markers=True, errorbar=("pi", 100), palette="viridis",
                            height=2.8, aspect=1.15)
    grid_plot.set_titles("{row_name} · {col_name}")
    grid_plot.set_axis_labels("depth (0 = pixels, 1 = logits)", "share of codes changed")
    grid_plot.set(ylim=(-0.02, 1.02))
    grid_plot.figure.suptitle("S2: code change rate per layer under attack and under random perturbations "
                              "of the same L2 norm\n(SOMs fitted on clean activations)", y=1.12)
    return grid_plot.figure


def figure_first_departure(departures: pd.DataFrame, layers: Mapping[str, Sequence[str]], eps: float
                           ) -> plt.Figure:
    """Per architecture, the share of inputs by first layer whose code changes under PGD at ``eps``.

    ``layers`` maps each architecture to its layer names (the bar order after ``"never"``).
    """
    dep = departures[(departures.attack == "pgd") & np.isclose(departures.eps, eps)]
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.4), squeeze=False)
    for ax, (arch, names) in zip(axes[0], layers.items()):
        sns.barplot(data=dep[dep.arch == arch], x="first_layer", y="share", hue="dataset",
                    order=["never", *names], errorbar=None, ax=ax)
        ax.set_title(f"{arch}, PGD eps={eps}")
        ax.set_xlabel("first layer whose code changes")
        ax.set_ylabel("share of inputs")
        ax.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def figure_homogeneity(points: pd.DataFrame, est: StratifiedEstimates, eps: float,
                       controls: Sequence[claims.Control] = (), control_points: pd.DataFrame | None = None
                       ) -> plt.Figure:
    """Left: at matched depth, homogeneity against the attack's excess change (each minus its (stratum, layer)
    mean), zoo and controls; right: S2's primary per stratum and pooled, and the ``controls``."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.4), gridspec_kw={"width_ratios": [1.1, 1]})
    frames = [points] if control_points is None else [points, control_points]
    data_ = pd.concat(frames, ignore_index=True)
    data_ = data_.assign(group=data_["dataset"] + "/" + data_["arch"])
    cell = data_.groupby(["group", "layer"])
    data_["homogeneity_within"] = data_["homogeneity"] - cell["homogeneity"].transform("mean")
    data_["excess_change_within"] = data_["excess_change"] - cell["excess_change"].transform("mean")
    sns.scatterplot(data=data_, x="homogeneity_within", y="excess_change_within", hue="group", style="layer",
                    s=45, ax=axes[0])
    axes[0].set_xlabel("homogeneity − its mean at that depth (1 − excess MI)")
    axes[0].set_ylabel(f"excess change (PGD eps={eps} − random) − its mean")
    axes[0].set_title("one point per model and hidden layer, centred per (stratum, layer)", fontsize=9)
    axes[0].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    _strata_panel(axes[1], {"PGD": est}, s2.PRIMARY, s2.RULE,
                  "Spearman(homogeneity, excess change) across models, matched depth", controls)
    axes[1].set_title("S2's primary per (dataset, arch) and pooled, 95% bootstrap over models", fontsize=9)
    fig.tight_layout()
    return fig
