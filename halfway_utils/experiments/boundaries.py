"""Notebook 01 (claim H1): where a trained network's decision flips between two samples.

Our reading of *Meet You Halfway* (BenShmuel 2022): on the straight segment
``x(t) = (1 - t) a + t b`` between two training samples of different classes, a trained
network switches its decision near ``t = 0.5``. For every model of the zoo this module
scans three kinds of pairs (train-train of different classes: the claim; train-train of
the same class: a control; test-train of different classes: off the training set) with
:func:`halfway_utils.methods.segments.pair_flips`, follows the flips of one model from
checkpoint to checkpoint, and records claim H1 from the pooled first flips of the
train-train pairs of different classes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import Tensor, nn

from .. import data, zoo
from ..data import DATASETS
from ..evidence import claims, stats
from ..evidence.stats import Estimate
from ..infra import params as p
from ..infra.store import save_results
from ..methods import segments
from ..train import TrainConfig, TrainResult, load_split, train
from ..zoo import ARCH_KW
from . import common

__all__ = [
    "H1_CONDITIONS",
    "H1_STATEMENT",
    "PAIR_KINDS",
    "PARAMETERS",
    "History",
    "MorphPath",
    "ZooScan",
    "arch_means",
    "boundary_history",
    "checkpoint_row",
    "claim_notes",
    "draw_pairs",
    "figure_first_last",
    "figure_flip_distributions",
    "figure_history",
    "figure_morph",
    "first_flip_correlation",
    "flipped",
    "history_config",
    "load_sets",
    "measurements",
    "model_means",
    "morph_path",
    "per_model",
    "record_claim",
    "save",
    "scan_model",
    "scan_zoo",
    "train_history",
]

NOTEBOOK = "01_halfway_boundaries"

PARAMETERS = common.rules(
    "datasets", "archs", "seeds", "n_train", "n_test", "grid", "n_boot",
    n_pairs=p.integer(10, 100000),
    history_arch=p.one_of(*ARCH_KW),
    history_dataset=p.one_of(*DATASETS),
    history_epochs=p.list_of(p.integer(0, 1000)),
)

# Pair kinds: (set of a, set of b, label relation, seed of sample_pairs). The seeds fix the pairs,
# and every model of a data set scans the same ones.
PAIR_KINDS: dict[str, tuple[str, str, str, int]] = {
    "train-train, different": ("train", "train", "different", 1),
    "train-train, same": ("train", "train", "same", 2),
    "test-train, different": ("test", "train", "different", 3),
}
CLAIM_KIND, CONTROL_KIND, TEST_KIND = PAIR_KINDS
SUMMARY_COLUMNS = ["share_flip", "median_abs_first", "share_first_mid", "share_third_class", "mean_n_flips"]
PER_MODEL_COLUMNS = ["median_abs_first", "share_first_mid", "share_third_class"]
RHO_BOOT = 200  # bootstrap resamples of the Spearman interval (a fixed number, not n_boot)

Split = tuple[Tensor, Tensor]
Pairs = dict[str, tuple[str, str, np.ndarray, np.ndarray]]


# --- data and pairs ---------------------------------------------------------------------------

def load_sets(datasets: Sequence[str], arch: str, *, n_train: int | None, n_test: int | None
              ) -> dict[str, dict[str, Split]]:
    """The shared train and test subsets of each data set (``data_seed=0``): name -> split -> (x, y)."""
    sets = {}
    for name in datasets:
        cfg = zoo.config(name, arch, n_train=n_train, n_test=n_test)
        sets[name] = {"train": load_split(cfg, "train"), "test": load_split(cfg, "test")}
    return sets


def draw_pairs(split: Mapping[str, Split], n_pairs: int) -> Pairs:
    """The seeded index pairs of every kind of :data:`PAIR_KINDS`: kind -> (set a, set b, idx a, idx b)."""
    pairs = {}
    for kind, (sa, sb, relation, seed) in PAIR_KINDS.items():
        # One set: sample_pairs must know it, so that no sample is paired with itself.
        labels_b = None if sa == sb else split[sb][1]
        ia, ib = segments.sample_pairs(split[sa][1], labels_b, n=n_pairs, kind=relation, seed=seed)
        pairs[kind] = (sa, sb, ia, ib)
    return pairs


# --- scanning the zoo -------------------------------------------------------------------------

@dataclass
class ZooScan:
    """Every model's scan: one row per (model, pair kind), one row per path, and the models."""

    rows: list[dict[str, Any]]
    table: pd.DataFrame
    paths: pd.DataFrame
    models: dict[tuple[str, str, int], nn.Module]


def scan_model(model: nn.Module, split: Mapping[str, Split], pairs: Pairs, *, grid: int,
               key: Mapping[str, Any], test_acc: float) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """One model's flips on every pair kind: a summary row and a per-path frame per kind."""
    rows, frames = [], []
    for kind, (sa, sb, ia, ib) in pairs.items():
        xa, xb = split[sa][0], split[sb][0]
        summary = segments.pair_flips(model, xa, xb, ia, ib, grid=grid)
        tags = {**key, "kind": kind}
        rows.append({**tags, "test_acc": test_acc, **{k: v for k, v in summary.items() if k != "per_path"}})
        frames.append(pd.DataFrame(summary["per_path"])
                      .assign(**tags, distance=segments.pair_distance(xa, xb, ia, ib)))
    return rows, frames


def scan_zoo(datasets: Sequence[str], archs: Sequence[str], seeds: Sequence[int],
             sets: Mapping[str, Mapping[str, Split]], pairs: Mapping[str, Pairs], *, n_train: int | None,
             n_test: int | None, grid: int, device: str | None = None) -> ZooScan:
    """Load (or train) every zoo model and scan every pair kind of its data set with it."""
    rows, frames, models = [], [], {}
    for config in zoo.grid(datasets, archs, seeds, n_train=n_train, n_test=n_test):
        result = train(config, device=device)
        models[(config.dataset, config.arch, config.seed)] = result.model
        key = {"dataset": config.dataset, "arch": config.arch, "seed": config.seed}
        r, f = scan_model(result.model, sets[config.dataset], pairs[config.dataset], grid=grid, key=key,
                          test_acc=result.final["test_acc"])
        rows += r
        frames += f
    return ZooScan(rows, pd.DataFrame(rows), pd.concat(frames, ignore_index=True), models)


def model_means(table: pd.DataFrame) -> pd.DataFrame:
    """Summary numbers per (pair kind, data set, arch), mean over seeds, rounded to 3 digits."""
    return table.groupby(["kind", "dataset", "arch"])[SUMMARY_COLUMNS].mean().round(3)


def flipped(paths: pd.DataFrame, kind: str = CLAIM_KIND) -> pd.DataFrame:
    """The paths of one pair kind that flip at least once."""
    return paths[(paths["kind"] == kind) & paths["first_flip"].notna()]


def first_flip_correlation(paths: pd.DataFrame) -> Estimate:
    """Spearman rho of ||a - b|| with |first flip - 0.5| over the flipping train-train pairs of different classes."""
    tt = flipped(paths)
    return stats.spearman(tt["distance"], tt["abs_first"], n_boot=RHO_BOOT, seed=0)


# --- boundary history -------------------------------------------------------------------------

@dataclass
class History:
    """The flips of one model at each checkpoint: one row per epoch and the first flip of each path."""

    label: str
    rows: list[dict[str, Any]]
    table: pd.DataFrame
    first_flips: pd.DataFrame
    n_pairs: int


def history_config(dataset: str, arch: str, epochs: Sequence[int], *, n_train: int | None,
                   n_test: int | None) -> TrainConfig:
    """Seed-0 zoo config trained for at least the zoo's epochs and the last checkpoint."""
    return zoo.config(dataset, arch, 0, n_train=n_train, n_test=n_test,
                      epochs=max(max(epochs), zoo.EPOCHS[arch]))


def train_history(dataset: str, arch: str, epochs: Sequence[int], *, n_train: int | None,
                  n_test: int | None, device: str | None = None) -> TrainResult:
    """Train (or load) the history model with a checkpoint at each of ``epochs``."""
    config = history_config(dataset, arch, epochs, n_train=n_train, n_test=n_test)
    return train(config, checkpoints=list(epochs), device=device)


def checkpoint_row(summary: Mapping[str, Any], *, epoch: int, train_acc: float, n_boot: int) -> dict[str, Any]:
    """One checkpoint's row: train accuracy, median |first flip - 0.5| with its bootstrap interval, shares."""
    est = stats.bootstrap(summary["per_path"]["abs_first"], np.median, n_boot=n_boot, seed=0)
    return {"epoch": epoch, "train_acc": train_acc, "median_abs_first": est.value, "low": est.low,
            "high": est.high, "share_first_mid": summary["share_first_mid"], "share_flip": summary["share_flip"],
            "share_third_class": summary["share_third_class"]}


def boundary_history(result: TrainResult, x: Tensor, idx_a: np.ndarray, idx_b: np.ndarray,
                     epochs: Sequence[int], *, grid: int, n_boot: int) -> History:
    """Scan the same pairs ``x[idx_a] -> x[idx_b]`` with the model at each checkpoint epoch."""
    rows, frames = [], []
    for epoch in epochs:
        summary = segments.pair_flips(result.model_at(epoch), x, x, idx_a, idx_b, grid=grid)
        acc = result.history["train_acc"][result.history["epoch"].index(epoch)]
        rows.append(checkpoint_row(summary, epoch=epoch, train_acc=acc, n_boot=n_boot))
        frames.append(pd.DataFrame({"epoch": epoch, "first_flip": summary["per_path"]["first_flip"]}))
    return History(result.config.label, rows, pd.DataFrame(rows), pd.concat(frames).dropna(), len(idx_a))


# --- claim H1 ---------------------------------------------------------------------------------

H1_STATEMENT = ("On segments between training samples of different classes, trained networks switch "
                "their decision near t = 0.5 (our reading of BenShmuel 2022).")
# Pooled over every model, on train-train pairs of different classes, on the whole 95% interval.
H1_CONDITIONS = (claims.Condition("median_abs_first", "<", 0.1),
                 claims.Condition("share_first_mid", ">", 0.5))


def measurements(paths: pd.DataFrame, rho: Estimate, n_boot: int) -> dict[str, Estimate]:
    """H1's measurements, pooled over all models, with bootstrap intervals over paths."""
    tt = paths[paths["kind"] == CLAIM_KIND]
    first = tt[tt["first_flip"].notna()]

    def boot(values: pd.Series, statistic: Any = np.mean) -> Estimate:
        return stats.bootstrap(values, statistic, n_boot=n_boot, seed=0)

    return {
        "median_abs_first": boot(first["abs_first"], np.median),
        "share_first_mid": boot(first["first_mid"]),
        "share_flip_different": boot(tt["has_flip"]),
        "share_flip_same_class": boot(paths.loc[paths["kind"] == CONTROL_KIND, "has_flip"]),
        "share_third_class": boot(tt["third_class"]),
        "median_abs_first_test_train": boot(flipped(paths, TEST_KIND)["abs_first"], np.median),
        "spearman_abs_first_vs_distance": rho,
    }


def per_model(table: pd.DataFrame) -> dict[str, dict[str, Estimate]]:
    """Per (arch, data set): mean and t interval across seeds of the train-train, different summaries."""
    groups = table[table["kind"] == CLAIM_KIND].groupby(["dataset", "arch"])
    return {f"{arch}/{ds}": {k: stats.across_seeds(grp[k]) for k in PER_MODEL_COLUMNS}
            for (ds, arch), grp in groups}


def arch_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per arch: mean over data sets and seeds of the train-train, different summaries."""
    return table[table["kind"] == CLAIM_KIND].groupby("arch")[PER_MODEL_COLUMNS].mean()


def claim_notes(table: pd.DataFrame, history: History) -> str:
    """The ledger notes: per-arch means, and the median |t - 0.5| at each checkpoint of the history."""
    by_arch = "; ".join(f"{a}: median |t-0.5| {r.median_abs_first:.3f}, share in [0.4,0.6] "
                        f"{r.share_first_mid:.2f}, third class {r.share_third_class:.2f}"
                        for a, r in arch_means(table).iterrows())
    epochs = ", ".join(f"{int(r.epoch)}: {r.median_abs_first:.3f}" for r in history.table.itertuples())
    return ("By architecture (train-train, different classes; mean over data sets and seeds): " + by_arch
            + ". History of " + history.label + ": median |t-0.5| by epoch " + epochs + ".")


def record_claim(values: Mapping[str, Estimate], *, figures: list[str], parameters: Mapping[str, Any],
                 notes: str) -> claims.Claim:
    """Record H1 in the ledger under :data:`H1_STATEMENT` and :data:`H1_CONDITIONS`."""
    return claims.record("H1", statement=H1_STATEMENT, measurements=values, conditions=list(H1_CONDITIONS),
                         figures=figures, notebook=NOTEBOOK, parameters=parameters, notes=notes)


def save(scan: ZooScan, models_summary: Mapping[str, Any], history: History, values: Mapping[str, Estimate],
         parameters: Mapping[str, Any]) -> Path:
    """Write ``results/01_halfway_boundaries.json``."""
    return save_results(NOTEBOOK, {"per_model_seed": scan.rows, "per_model_across_seeds": models_summary,
                                   "history": history.rows, "measurements": values}, dict(parameters))


# --- one path seen by each model --------------------------------------------------------------

@dataclass
class MorphPath:
    """One segment a -> b at 101 points and each model's class probabilities along it."""

    dataset: str
    a: Tensor
    b: Tensor
    class_a: int
    class_b: int
    classes: tuple[str, ...]
    ts: Tensor
    segment: Tensor
    probs: dict[str, Tensor]


def morph_path(models: Mapping[tuple[str, str, int], nn.Module], split: Mapping[str, Split], pairs: Pairs,
               dataset: str, archs: Sequence[str], seed: int) -> MorphPath:
    """The first train-train pair of different classes and each arch's softmax along it (seed ``seed``)."""
    xtr, ytr = split["train"]
    _, _, ia, ib = pairs[CLAIM_KIND]
    a, b = xtr[int(ia[0])], xtr[int(ib[0])]
    ts = torch.linspace(0, 1, 101)
    segment = (1 - ts.view(-1, 1, 1, 1)) * a + ts.view(-1, 1, 1, 1) * b
    probs = {}
    with torch.no_grad():
        for arch in archs:
            model = models[(dataset, arch, seed)]
            probs[arch] = torch.softmax(model(segment.to(next(model.parameters()).device)), 1).cpu()
    return MorphPath(dataset, a, b, int(ytr[int(ia[0])]), int(ytr[int(ib[0])]), data.info(dataset).classes,
                     ts, segment, probs)


# --- figures ----------------------------------------------------------------------------------

def _mid_band(ax: plt.Axes, horizontal: bool = False) -> None:
    """Shade [0.4, 0.6], the band where the claim wants the first flips."""
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


def figure_first_last(paths: pd.DataFrame, rho: Estimate) -> plt.Figure:
    """First vs last flip, and first flip vs pair distance, of the flipping train-train different pairs."""
    tt = flipped(paths)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sns.scatterplot(data=tt, x="first_flip", y="last_flip", hue="arch", s=8, alpha=0.4, ax=axes[0], linewidth=0)
    axes[0].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[0].set(xlabel="first flip t", ylabel="last flip t", title="first vs last flip", xlim=(0, 1), ylim=(0, 1))
    sns.scatterplot(data=tt, x="distance", y="first_flip", hue="arch", s=8, alpha=0.4, ax=axes[1],
                    linewidth=0, legend=False)
    _mid_band(axes[1], horizontal=True)
    axes[1].set(xlabel="pixel distance ||a − b||", ylabel="first flip t", ylim=(0, 1),
                title="first flip vs pair distance")
    axes[1].text(0.98, 0.95, f"Spearman ρ(|t − 0.5|, ||a − b||) = {rho}", transform=axes[1].transAxes,
                 ha="right", va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    fig.suptitle("Train-train pairs of different classes, all models")
    fig.tight_layout()
    return fig


def figure_history(history: History) -> plt.Figure:
    """Summary per checkpoint (left) and the first-flip distribution per checkpoint (right)."""
    h = history.table
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].errorbar(h["epoch"], h["median_abs_first"],
                     yerr=[h["median_abs_first"] - h["low"], h["high"] - h["median_abs_first"]],
                     marker="o", capsize=3, label="median |first flip − 0.5| (95% CI)")
    axes[0].plot(h["epoch"], h["share_first_mid"], marker="s", label="share of first flips in [0.4, 0.6]")
    axes[0].plot(h["epoch"], h["train_acc"], marker="^", ls=":", label="train accuracy")
    axes[0].axhline(0.1, color="grey", ls="--", lw=0.8)
    axes[0].set(xlabel="epoch", ylim=(0, 1.02), title="summary per checkpoint")
    axes[0].legend(fontsize=8)
    sns.violinplot(data=history.first_flips, x="epoch", y="first_flip", ax=axes[1], cut=0, inner="quartile",
                   color="C0")
    _mid_band(axes[1], horizontal=True)
    axes[1].set(ylabel="first flip t", ylim=(0, 1), title="first-flip distribution per checkpoint")
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
