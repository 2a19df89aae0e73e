"""Notebook 05: do test samples lie outside the convex hull of the training set? (paper 3, C1/C2)

- **C1** For test queries: the exact distance to the convex hull of the training set
  (:func:`halfway_utils.methods.hull.distance`, certified duality gap), the distance to the
  nearest training sample and to the nearest one of another class, in pixel space
  (:func:`pixel_tables`) and in the penultimate features of the zoo's models
  (:func:`feature_tables`); plus a sweep of the training-set size (:func:`train_size_sweep`).
  The claim needs most queries outside the hull and the hull not much closer than the nearest
  training point (:data:`C1_RULES`, :func:`record_c1`).
- **C2** A width sweep of the ``mlp`` trained with true and with random labels
  (:func:`width_sweep`): train/test accuracy, and whether queries outside the sweep's hull are
  labelled like their nearest training point (:func:`sweep_agreement`). The claim needs the
  widest random-label net to fit its training set at chance test accuracy, and the widest
  true-label net not to be worse than the next smaller one (:data:`C2_CONDITIONS`,
  :func:`record_c2`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .. import data, zoo
from ..evidence import claims, stats
from ..evidence.claims import Claim, Condition
from ..evidence.stats import Estimate
from ..infra import params as p
from ..infra.params import ParameterError
from ..methods import hull
from ..methods.neighbors import nearest
from ..models import count_parameters, embed, predict
from ..train import TrainResult, train
from .common import rules

__all__ = [
    "C1_RULES", "C1_STATEMENT", "C2_CONDITIONS", "C2_STATEMENT", "PARAMETERS", "Split",
    "c1_conditions", "c1_estimates", "c1_measurements", "c2_measurements", "check_query_counts",
    "class_distances", "feature_tables", "figure_train_size", "figure_width_sweep", "flatten",
    "hull_table", "load_split", "median_ratio", "model_outcomes", "pixel_tables", "pooled",
    "ratio_frame", "record_c1", "record_c2", "share", "size_row", "space_summary", "split_table", "summarize",
    "sweep_agreement", "train_size_sweep", "width_sweep",
]

NOTEBOOK = "05_convex_hull"

PARAMETERS = rules(
    "archs", "seeds", "n_train", "n_test", "n_boot",
    datasets=p.list_of(p.one_of("mnist", "fashion_mnist")),
    n_queries=p.integer(10, 10000),
    train_sizes=p.list_of(p.integer(10, 60000)),
    sweep_dataset=p.one_of(*data.DATASETS),
    widths=p.list_of(p.integer(1, 8192), min_len=2),
    sweep_n_train=p.integer(10, 60000),
    sweep_n_test=p.integer(10, 10000),
    sweep_epochs_true=p.integer(1, 1000),
    sweep_epochs_random=p.integer(1, 5000),
    hull_tol=p.number(1e-12, 1e-2),
)

Table = dict[str, np.ndarray]
Tables = dict[tuple[str, str], Table]  # (dataset, space) -> per-query table; space "pixel" or "arch/seedN"


def check_query_counts(parameters: Mapping[str, Any]) -> None:
    """Raise ParameterError when the queries outnumber the test samples they are taken from."""
    problems = []
    if parameters["n_test"] is not None and parameters["n_queries"] > parameters["n_test"]:
        problems.append("n_queries must not exceed n_test")
    if parameters["n_queries"] > parameters["sweep_n_test"]:
        problems.append("n_queries must not exceed sweep_n_test")
    if problems:
        raise ParameterError("; ".join(problems))


# --- per-query tables -------------------------------------------------------------------------

def flatten(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, ...) images or features as a float32 (N, d) numpy array."""
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.ascontiguousarray(array.reshape(len(array), -1), dtype=np.float32)


def class_distances(points: np.ndarray, labels: np.ndarray, queries: np.ndarray,
                    query_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each query to the nearest training point of its own class and of another class.

    A query whose class has no training point gets ``inf`` as same-class distance (and
    likewise for another class).
    """
    pair = (torch.as_tensor(np.asarray(query_labels)), torch.as_tensor(np.asarray(labels)))
    _, same = nearest(queries, points, labels=pair, relation="same")
    _, other = nearest(queries, points, labels=pair, relation="other")
    return same.numpy(), other.numpy()


def hull_table(points: np.ndarray, labels: np.ndarray, queries: np.ndarray,
               query_labels: np.ndarray, **hull_kw: Any) -> Table:
    """Per query: hull distance (and its certified lower bound), inside flag, NN distance,
    NN index and label, same- and other-class NN distances, and the ratios to the NN distance.

    ``hull_kw`` goes to :func:`halfway_utils.methods.hull.distance`.
    """
    points, queries = flatten(points), flatten(queries)
    labels, query_labels = np.asarray(labels), np.asarray(query_labels)
    h = hull.distance(points, queries, **hull_kw)
    nn_idx, nn_dist = nearest(queries, points, dtype=torch.float32, device=hull_kw.get("device"))
    nn_idx, nn_dist = nn_idx.numpy(), nn_dist.numpy()
    same, other = class_distances(points, labels, queries, query_labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_nn = np.where(nn_dist > 0, h.distance / nn_dist, np.nan)
        ratio_other = np.where(other > 0, h.distance / other, np.nan)
    return {"hull": h.distance, "hull_lower": h.lower_bound, "inside": h.inside,
            "converged": h.converged, "nn": nn_dist, "nn_index": nn_idx, "nn_label": labels[nn_idx],
            "same_class": same, "other_class": other, "ratio_nn": ratio_nn,
            "ratio_other": ratio_other}


@dataclass(frozen=True)
class Split:
    """A training set and a test set whose first ``n_queries`` samples are the queries."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_queries: int

    @property
    def x_query(self) -> Tensor:
        """The query images: the first ``n_queries`` test samples."""
        return self.x_test[:self.n_queries]

    @property
    def y_query(self) -> Tensor:
        """The queries' true labels."""
        return self.y_test[:self.n_queries]


def load_split(name: str, n_train: int | None, n_test: int | None, n_queries: int) -> Split:
    """The zoo's class-balanced train and test subsets of ``name`` (seed 0) with ``n_queries`` queries."""
    x_tr, y_tr = data.load(name, "train", n=n_train, seed=0)
    x_te, y_te = data.load(name, "test", n=n_test, seed=0)
    return Split(x_tr, y_tr, x_te, y_te, n_queries)


def split_table(split: Split, *, tol: float, device: str | None = None) -> Table:
    """The pixel-space hull table of a split's queries against its training set."""
    return hull_table(split.x_train, split.y_train.numpy(), split.x_query, split.y_query.numpy(),
                      tol=tol, device=device)


def pixel_tables(splits: Mapping[str, Split], *, tol: float, device: str | None = None) -> Tables:
    """One pixel-space table per data set, keyed ``(dataset, "pixel")``."""
    return {(name, "pixel"): split_table(split, tol=tol, device=device) for name, split in splits.items()}


def feature_tables(splits: Mapping[str, Split], archs: Sequence[str], seeds: Sequence[int], *,
                   n_train: int | None, n_test: int | None, tol: float, device: str | None = None
                   ) -> tuple[Tables, list[dict[str, Any]]]:
    """Train (or load) each zoo model and tabulate its queries in its penultimate feature space.

    Returns the tables keyed ``(dataset, "arch/seedN")`` and one row per model.
    """
    tables: Tables = {}
    rows = []
    for config in zoo.grid(list(splits), archs, seeds, n_train=n_train, n_test=n_test):
        result = train(config, device=device)
        split = splits[config.dataset]
        f_tr, f_q = flatten(embed(result.model, split.x_train)), flatten(embed(result.model, split.x_query))
        tables[(config.dataset, f"{config.arch}/seed{config.seed}")] = hull_table(
            f_tr, split.y_train.numpy(), f_q, split.y_query.numpy(), tol=tol, device=device)
        rows.append({"dataset": config.dataset, "arch": config.arch, "seed": config.seed,
                     "feature_dim": f_tr.shape[1], "test_acc": result.final["test_acc"],
                     "cache": "hit" if result.cache_hit else "trained"})
    return tables, rows


def space_summary(dataset: str, space: str, t: Table) -> dict[str, Any]:
    """One row: share outside, median distances and ratios, share of converged hull solves."""
    return {"dataset": dataset, "space": space, "outside": 1 - t["inside"].mean(),
            "median_hull": np.median(t["hull"]), "median_nn": np.median(t["nn"]),
            "median_other_class": np.median(t["other_class"]),
            "median_hull/nn": np.median(t["ratio_nn"]),
            "median_hull/other": np.median(t["ratio_other"]), "converged": t["converged"].mean()}


def summarize(tables: Tables) -> pd.DataFrame:
    """:func:`space_summary` of every table, in the tables' order."""
    return pd.DataFrame([space_summary(*key, t) for key, t in tables.items()])


def ratio_frame(tables: Tables) -> pd.DataFrame:
    """Long table of both ratios per query, with the space shortened to its prefix (for box plots)."""
    return pd.concat([pd.DataFrame({"dataset": k[0], "space": k[1].split("/")[0], "hull / NN": t["ratio_nn"],
                                    "hull / other-class NN": t["ratio_other"]})
                      for k, t in tables.items()], ignore_index=True)


# --- C1 · a bigger training set ---------------------------------------------------------------

def size_row(dataset: str, n_train: int, t: Table) -> dict[str, Any]:
    """One row of the training-size sweep."""
    return {"dataset": dataset, "n_train": n_train, "outside": 1 - t["inside"].mean(),
            "median_hull": np.median(t["hull"]), "median_nn": np.median(t["nn"]),
            "median_hull/nn": np.median(t["ratio_nn"])}


def train_size_sweep(splits: Mapping[str, Split], tables: Tables, train_sizes: Sequence[int], *,
                     tol: float, device: str | None = None) -> list[dict[str, Any]]:
    """Pixel-space hull of class-balanced training subsets of each size against the same queries."""
    rows = []
    for name, split in splits.items():
        for n in train_sizes:
            if n == len(split.x_train):  # the training set already measured
                t = tables[(name, "pixel")]
            else:
                x_s, y_s = data.load(name, "train", n=n, seed=0)
                t = hull_table(x_s, y_s.numpy(), split.x_query, split.y_query.numpy(), tol=tol, device=device)
            rows.append(size_row(name, n, t))
    return rows


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


# --- C1 · verdict -----------------------------------------------------------------------------

def share(flags: Sequence[bool] | np.ndarray, n_boot: int) -> Estimate:
    """Share of True flags with a bootstrap interval over the queries."""
    return stats.bootstrap(np.asarray(flags, dtype=float), n_boot=n_boot)


def median_ratio(values: Sequence[float] | np.ndarray, n_boot: int) -> Estimate:
    """Median of hull/NN ratios with a bootstrap interval over the queries."""
    return stats.bootstrap(values, np.median, n_boot=n_boot)


def c1_estimates(tables: Tables, dataset: str, prefix: str, n_boot: int) -> tuple[Estimate, Estimate]:
    """Share outside and median hull/NN ratio of one space (``"pixel"`` or an arch) of one data set.

    One table (one seed): bootstrap over the queries; several seeds: t interval of the
    per-seed numbers.
    """
    keys = [k for k in tables if k[0] == dataset and k[1].split("/")[0] == prefix]
    if len(keys) == 1:
        t = tables[keys[0]]
        return share(~t["inside"], n_boot), median_ratio(t["ratio_nn"], n_boot)
    return (stats.across_seeds([1 - tables[k]["inside"].mean() for k in keys]),
            stats.across_seeds([np.median(tables[k]["ratio_nn"]) for k in keys]))


C1_STATEMENT = ("Test samples lie considerably outside the convex hull of the training set, "
                "in pixel space and in the penultimate feature space of trained networks.")
# Every space (pixel, each arch) of every data set must pass both; "considerably outside" = the
# hull is not much closer than the nearest training point.
C1_RULES: tuple[tuple[str, str, float], ...] = (
    ("outside_{space}_{dataset}", ">", 0.9),
    ("median_hull_over_nn_{space}_{dataset}", ">", 0.5),
)


def c1_conditions(datasets: Sequence[str], archs: Sequence[str]) -> list[Condition]:
    """:data:`C1_RULES` for every data set and space (pixel first, then the archs)."""
    return [Condition(template.format(space=space, dataset=name), op, threshold)
            for name in datasets for space in ["pixel", *archs] for template, op, threshold in C1_RULES]


def c1_measurements(tables: Tables, datasets: Sequence[str], archs: Sequence[str], n_boot: int
                    ) -> dict[str, Estimate]:
    """The two C1 measurements of every space and data set, then the descriptive other-class ratios."""
    out = {}
    for name in datasets:
        for prefix in ["pixel", *archs]:
            out[f"outside_{prefix}_{name}"], out[f"median_hull_over_nn_{prefix}_{name}"] = c1_estimates(
                tables, name, prefix, n_boot)
    for name in datasets:  # descriptive: hull distance against the nearest other-class sample
        out[f"median_hull_over_other_class_pixel_{name}"] = median_ratio(
            tables[(name, "pixel")]["ratio_other"], n_boot)
    return out


def record_c1(measurements: Mapping[str, Estimate], *, figures: Sequence[str],
              parameters: Mapping[str, Any]) -> Claim:
    """Decide C1 by :data:`C1_RULES` and write it to the ledger."""
    n_train = parameters["n_train"]
    return claims.record(
        "C1", statement=C1_STATEMENT, measurements=measurements,
        conditions=c1_conditions(parameters["datasets"], parameters["archs"]),
        figures=list(figures), notebook=NOTEBOOK, parameters=parameters,
        notes=f"{parameters['n_queries']} test queries against {n_train or 'all'} training samples per "
        "data set; hull distance exact up to a certified duality gap (hull.distance). 'considerably "
        "outside' = median hull/NN distance > 0.5. hull/other-class ratios are descriptive.")


# --- C2 · width sweep -------------------------------------------------------------------------

def width_sweep(dataset: str, widths: Sequence[int], seeds: Sequence[int], *, epochs_true: int,
                epochs_random: int, n_train: int, n_test: int, device: str | None = None
                ) -> tuple[dict[tuple[str, int, int], TrainResult], list[dict[str, Any]]]:
    """Train (or load) the ``mlp`` of every width with true and random labels.

    Returns the results keyed ``(labels, seed, width)`` and one row per model.
    """
    results, rows = {}, []
    for labels, epochs in [("true", epochs_true), ("random", epochs_random)]:
        for seed in seeds:
            for w in widths:
                config = zoo.config(dataset, "mlp", seed, width=w, labels=labels, epochs=epochs,
                                    n_train=n_train, n_test=n_test)
                result = train(config, device=device)
                results[(labels, seed, w)] = result
                rows.append({"labels": labels, "seed": seed, "width": w,
                             "parameters": count_parameters(result.model),
                             "train_acc": result.final["train_acc"], "test_acc": result.final["test_acc"],
                             "cache": "hit" if result.cache_hit else "trained"})
    return results, rows


def model_outcomes(model: torch.nn.Module, trained_labels: np.ndarray, split: Split, table: Table
                   ) -> dict[str, np.ndarray]:
    """Per sample: train/test correctness, and for queries outside the hull whether the prediction
    equals the trained-on label of the nearest training sample (``agree``) and the true label."""
    outside = ~table["inside"]
    pred_q = predict(model, split.x_query).numpy()
    agree = pred_q == trained_labels[table["nn_index"]]
    return {"train_correct": predict(model, split.x_train).numpy() == trained_labels,
            "test_correct": predict(model, split.x_test).numpy() == split.y_test.numpy(),
            "agree": agree[outside], "correct_outside": (pred_q == split.y_query.numpy())[outside]}


def sweep_agreement(results: Mapping[tuple[str, int, int], TrainResult], split: Split, table: Table
                    ) -> tuple[list[dict[str, Any]], dict[tuple[str, int, int], dict[str, np.ndarray]]]:
    """:func:`model_outcomes` of every sweep model: one summary row each, and the per-sample outcomes."""
    rows, per_sample = [], {}
    for (labels, seed, w), result in results.items():
        outcome = model_outcomes(result.model, result.train_labels.numpy(), split, table)
        per_sample[(labels, seed, w)] = outcome
        rows.append({"labels": labels, "seed": seed, "width": w,
                     "agree_with_1nn_outside": outcome["agree"].mean(),
                     "correct_outside": outcome["correct_outside"].mean()})
    return rows, per_sample


def figure_width_sweep(sweep: pd.DataFrame, agreement: pd.DataFrame, widths: Sequence[int], dataset: str,
                       n_train: int) -> plt.Figure:
    """Train/test accuracy and 1-NN agreement outside the hull against the mlp width."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, labels in enumerate(["true", "random"]):
        group = sweep[sweep["labels"] == labels].groupby("width")[["train_acc", "test_acc"]].mean()
        axes[0].plot(group.index, group["train_acc"], "o--", color=f"C{i}", label=f"{labels} labels: train")
        axes[0].plot(group.index, group["test_acc"], "o-", color=f"C{i}", label=f"{labels} labels: test")
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


# --- C2 · verdict -----------------------------------------------------------------------------

def pooled(per_sample: Mapping[tuple[str, int, int], Mapping[str, np.ndarray]], labels: str, width: int,
           key: str, seeds: Sequence[int]) -> np.ndarray:
    """One per-sample outcome of one (labels, width), concatenated over the seeds, as floats."""
    return np.concatenate([per_sample[(labels, s, width)][key] for s in seeds]).astype(float)


def c2_measurements(per_sample: Mapping[tuple[str, int, int], Mapping[str, np.ndarray]],
                    outside: np.ndarray, widths: Sequence[int], seeds: Sequence[int], n_boot: int
                    ) -> dict[str, Estimate]:
    """The C2 measurements at the widest net (bootstrap over samples pooled over seeds).

    The true-label difference between the two largest widths is paired on the same test samples.
    """
    big, second = max(widths), sorted(widths)[-2]

    def boot(labels: str, width: int, key: str) -> Estimate:
        return stats.bootstrap(pooled(per_sample, labels, width, key, seeds), n_boot=n_boot)

    return {
        "train_acc_random_widest": boot("random", big, "train_correct"),
        "test_acc_random_widest": boot("random", big, "test_correct"),
        "test_acc_true_widest_minus_next": stats.bootstrap(
            pooled(per_sample, "true", big, "test_correct", seeds)
            - pooled(per_sample, "true", second, "test_correct", seeds), n_boot=n_boot),
        # descriptive: how the outside of the hull is partitioned by the widest nets
        "test_acc_true_widest": boot("true", big, "test_correct"),
        "agree_1nn_outside_true_widest": boot("true", big, "agree"),
        "agree_1nn_outside_random_widest": boot("random", big, "agree"),
        "share_outside_sweep_hull": share(outside, n_boot),
    }


C2_STATEMENT = ("Over-parameterized networks fit random labels (test accuracy at chance) and "
                "over-parameterization does not hurt test accuracy with true labels; the partition outside "
                "the training hull is set by the trained model.")
C2_CONDITIONS = (
    Condition("train_acc_random_widest", ">", 0.95),  # the widest net memorizes random labels
    Condition("test_acc_random_widest", "<", 0.2),  # ... and stays near chance (0.1) on the test set
    Condition("test_acc_true_widest_minus_next", ">", -0.03),  # width does not hurt with true labels
)


def record_c2(measurements: Mapping[str, Estimate], *, figures: Sequence[str],
              parameters: Mapping[str, Any]) -> Claim:
    """Decide C2 by :data:`C2_CONDITIONS` and write it to the ledger."""
    widths = parameters["widths"]
    return claims.record(
        "C2", statement=C2_STATEMENT, measurements=measurements, conditions=list(C2_CONDITIONS),
        figures=list(figures), notebook=NOTEBOOK, parameters=parameters,
        notes=f"mlp widths {widths} on {parameters['sweep_n_train']} {parameters['sweep_dataset']} samples, "
        f"seeds {parameters['seeds']}; epochs {parameters['sweep_epochs_true']} (true) / "
        f"{parameters['sweep_epochs_random']} (random); widest {max(widths)} compared with "
        f"{sorted(widths)[-2]}. agree_1nn_* (descriptive) = prediction on outside-hull queries equals the "
        "trained-on label of the pixel-space nearest training sample.")
