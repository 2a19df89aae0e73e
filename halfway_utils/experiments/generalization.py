"""Generalization by the halfway partition: notebook 02, claim H2 of ``../shared/PAPERS.md``.

Our reading of *Meet You Halfway* (BenShmuel 2022): a network labels an unseen input like
the nearest training sample, in pixel space and more so in its own penultimate feature
space. The experiment measures, per zoo model and test sample, whether the prediction
equals the label of the nearest training sample (1-NN, with the labels the model was
trained on) in both spaces. Two controls are reported next to it but do not enter the
verdict: models trained on random labels (they should memorize yet test at chance, while
notebook 01's H1 statistic still places their boundaries halfway) and a width sweep of
the MLP.

- :func:`load_data` loads each data set's shared subsets and their pixel-space 1-NN labels;
- :func:`agreement` / :func:`model_agreement` give the per-test-sample agreement of a model;
- :func:`h1_statistic` is notebook 01's flip summary on train-train pairs of different labels;
- :func:`agreement_runs`, :func:`random_label_runs`, :func:`width_runs` build the three tables;
- :func:`claim_measurements`, :func:`per_model_across_seeds`, :func:`control_notes` and
  :func:`record_claim` turn them into the ledger entry (:data:`CONDITIONS`, :data:`STATEMENT`);
- :func:`save_run` writes the results file.

Loops run over models; every measurement is batched over samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor, nn

from .. import zoo
from ..data import DATASETS
from ..evidence import claims, stats
from ..infra import params as p
from ..infra.store import save_results
from ..methods import neighbors, segments
from ..models import embed, predict
from ..train import TrainConfig, TrainResult, load_split, train
from ..zoo import ARCH_KW
from . import common

__all__ = [
    "CONDITIONS",
    "DataSet",
    "H1_SEED",
    "NOTEBOOK",
    "PARAMETERS",
    "STATEMENT",
    "agreement",
    "agreement_runs",
    "claim_measurements",
    "control_notes",
    "h1_statistic",
    "load_data",
    "model_agreement",
    "nn_labels",
    "per_model_across_seeds",
    "pixel_accuracy",
    "random_label_runs",
    "record_claim",
    "save_run",
    "width_runs",
]

NOTEBOOK = "02_generalization"

PARAMETERS = common.rules(
    "datasets", "archs", "seeds", "n_train", "n_test", "grid", "n_boot",
    random_datasets=p.list_of(p.one_of(*DATASETS)),
    random_archs=p.list_of(p.one_of(*ARCH_KW)),
    random_seeds=p.list_of(p.integer(0)),
    random_n_train=p.integer(10, 60000, none=True),
    random_epochs=p.integer(1, 10000),
    widths=p.list_of(p.integer(1, 100000)),
    width_dataset=p.one_of(*DATASETS),
    width_seeds=p.list_of(p.integer(0)),
    n_pairs=p.integer(10, 100000),
)

AGREEMENT_KEYS = ("correct", "agree_pixel", "agree_feature", "feature_nn_correct")
H1_SEED = 1  # the pair seed of notebook 02's H1 statistic (notebook 01 draws its own pairs)


@dataclass
class DataSet:
    """The training and test subsets every model of one data set shares, and their pixel 1-NN labels."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    pixel_nn: Tensor  # label of each test sample's nearest training sample in pixel space
    n_train: int | None


def nn_labels(train_x: Tensor, train_y: Tensor, query_x: Tensor) -> Tensor:
    """The 1-NN rule on the CPU in float64: label of each query's nearest training row."""
    return neighbors.nearest_labels(train_x.cpu(), train_y.cpu(), query_x.cpu(), device="cpu")


def load_data(names: list[str], *, arch: str, n_train: int | None, n_test: int | None
              ) -> dict[str, DataSet]:
    """Each data set's zoo subsets (in sorted order of names) with their pixel-space 1-NN labels."""
    out = {}
    for name in sorted(set(names)):
        cfg = zoo.config(name, arch, n_train=n_train, n_test=n_test)
        (xtr, ytr), (xte, yte) = load_split(cfg, "train"), load_split(cfg, "test")
        out[name] = DataSet(xtr, ytr, xte, yte, nn_labels(xtr, ytr, xte), n_train)
    return out


def pixel_accuracy(data: dict[str, DataSet]) -> dict[str, float]:
    """Test accuracy of the pixel-space 1-NN rule of each data set."""
    return {name: float((d.pixel_nn == d.y_test).float().mean()) for name, d in data.items()}


def agreement(model: nn.Module, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor,
              pixel: Tensor | None = None) -> dict[str, np.ndarray]:
    """Per test sample (0/1 floats): prediction correct, prediction equals the pixel 1-NN label,
    equals the feature 1-NN label, and the feature 1-NN label is correct.

    ``y_train`` are the labels the model was trained on; ``pixel`` reuses precomputed pixel
    1-NN labels (of the same training set and labels).
    """
    pred = predict(model, x_test.cpu())
    pix = nn_labels(x_train, y_train, x_test) if pixel is None else pixel
    feat = nn_labels(embed(model, x_train.cpu()), y_train, embed(model, x_test.cpu()))
    y_test = y_test.cpu()
    return {"correct": (pred == y_test).numpy().astype(float),
            "agree_pixel": (pred == pix).numpy().astype(float),
            "agree_feature": (pred == feat).numpy().astype(float),
            "feature_nn_correct": (feat == y_test).numpy().astype(float)}


def model_agreement(result: TrainResult, data: DataSet) -> dict[str, np.ndarray]:
    """:func:`agreement` of a trained model on its own training set and labels, on ``data``'s test set."""
    x_train = load_split(result.config, "train")[0]
    # The data set's pixel 1-NN labels hold only for a model trained on the same true-label subset.
    same = result.config.labels == "true" and result.config.n_train == data.n_train
    return agreement(result.model, x_train, result.train_labels, data.x_test, data.y_test,
                     pixel=data.pixel_nn if same else None)


def h1_statistic(model: nn.Module, x: Tensor, labels: Tensor | np.ndarray, *, n_pairs: int, grid: int,
                 seed: int = H1_SEED) -> dict[str, Any]:
    """Notebook 01's H1 summary (no per-path arrays) on train-train pairs whose training labels differ."""
    ia, ib = segments.sample_pairs(np.asarray(labels), n=n_pairs, kind="different", seed=seed)
    summary = segments.pair_flips(model, x, x, ia, ib, grid=grid)
    return {k: v for k, v in summary.items() if k != "per_path"}


def _means(ag: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v.mean()) for k, v in ag.items()}


def agreement_runs(configs: list[TrainConfig], data: dict[str, DataSet], *,
                   device: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model (dataset, arch, seed, mean agreements) and per test sample tables of the true-label zoo."""
    rows, per_sample = [], []
    for config in configs:
        result = train(config, device=device)
        ag = model_agreement(result, data[config.dataset])
        key = {"dataset": config.dataset, "arch": config.arch, "seed": config.seed}
        rows.append({**key, **_means(ag)})
        per_sample.append(pd.DataFrame(ag).assign(**key))
    return pd.DataFrame(rows), pd.concat(per_sample, ignore_index=True)


def random_label_runs(datasets: list[str], archs: list[str], seeds: list[int], data: dict[str, DataSet], *,
                      n_train: int | None, n_test: int | None, epochs: int, n_pairs: int, grid: int,
                      device: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """True- and random-label models of each (dataset, arch, seed) on a small subset: accuracies,
    1-NN agreement and H1 statistic per model, and the random-label models' learning curves."""
    rows, curves = [], []
    for name in datasets:
        xtr = load_split(zoo.config(name, "mlp", n_train=n_train, n_test=n_test), "train")[0]
        for arch in archs:
            for seed in seeds:
                for labels in ("true", "random"):
                    cfg = zoo.config(name, arch, seed, n_train=n_train, n_test=n_test, labels=labels,
                                     epochs=epochs if labels == "random" else None)
                    result = train(cfg, device=device)
                    h1 = h1_statistic(result.model, xtr, result.train_labels.numpy(), n_pairs=n_pairs, grid=grid)
                    ag = model_agreement(result, data[name])
                    rows.append({"dataset": name, "arch": arch, "seed": seed, "labels": labels,
                                 "epochs": cfg.epochs, "train_acc": result.final["train_acc"],
                                 "test_acc": result.final["test_acc"],
                                 "agree_feature": float(ag["agree_feature"].mean()),
                                 "agree_pixel": float(ag["agree_pixel"].mean()), **h1})
                    if labels == "random":
                        curves += [{"dataset": name, "arch": arch, "seed": seed, "epoch": e, "split": s,
                                    "accuracy": a}
                                   for s in ("train", "test")
                                   for e, a in zip(result.history["epoch"], result.history[f"{s}_acc"])]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def width_runs(widths: list[int], seeds: list[int], data: dict[str, DataSet], *, dataset: str,
               n_train: int | None, n_test: int | None, n_pairs: int, grid: int,
               device: str | None = None) -> pd.DataFrame:
    """MLPs of each width and seed: accuracies, 1-NN agreement and H1 statistic per model."""
    rows = []
    xtr = data[dataset].x_train
    for width in widths:
        for seed in seeds:
            result = train(zoo.config(dataset, "mlp", seed, n_train=n_train, n_test=n_test, width=width),
                           device=device)
            ag = model_agreement(result, data[dataset])
            rows.append({"width": width, "seed": seed, "train_acc": result.final["train_acc"],
                         "test_acc": result.final["test_acc"],
                         "agree_feature": float(ag["agree_feature"].mean()),
                         "agree_pixel": float(ag["agree_pixel"].mean()),
                         **h1_statistic(result.model, xtr, result.train_labels.numpy(), n_pairs=n_pairs,
                                        grid=grid)})
    return pd.DataFrame(rows)


def claim_measurements(per_sample: pd.DataFrame, random_table: pd.DataFrame, *, n_boot: int
                       ) -> dict[str, stats.Estimate]:
    """H2's measurements: pooled per-sample bootstraps (the gain paired per sample) and the
    random-label controls across seeds."""
    gain = per_sample["agree_feature"] - per_sample["agree_pixel"]
    rand = random_table.query("labels == 'random'")
    true = random_table.query("labels == 'true'")
    return {
        "agreement_feature_1nn": stats.bootstrap(per_sample["agree_feature"], n_boot=n_boot, seed=0),
        "agreement_pixel_1nn": stats.bootstrap(per_sample["agree_pixel"], n_boot=n_boot, seed=0),
        "agreement_gain_feature_minus_pixel": stats.bootstrap(gain, n_boot=n_boot, seed=0),
        "test_accuracy": stats.bootstrap(per_sample["correct"], n_boot=n_boot, seed=0),
        "random_labels_train_acc": stats.across_seeds(rand["train_acc"]),
        "random_labels_test_acc": stats.across_seeds(rand["test_acc"]),
        "random_labels_share_first_mid": stats.across_seeds(rand["share_first_mid"]),
        "true_labels_share_first_mid": stats.across_seeds(true["share_first_mid"]),
    }


def per_model_across_seeds(agree: pd.DataFrame) -> dict[str, dict[str, stats.Estimate]]:
    """``arch/dataset`` -> across-seed interval of its accuracy and pixel and feature agreement."""
    return {f"{a}/{d}": {k: stats.across_seeds(g[k]) for k in ("correct", "agree_pixel", "agree_feature")}
            for (d, a), g in agree.groupby(["dataset", "arch"])}


def control_notes(random_table: pd.DataFrame, widths_table: pd.DataFrame, *, archs: list[str],
                  random_archs: list[str], random_datasets: list[str], random_n_train: int | None,
                  random_epochs: int) -> str:
    """The ledger's notes: random-label and width-sweep results, means over seeds."""
    r = random_table.groupby("labels")[["train_acc", "test_acc", "median_abs_first", "share_first_mid"]].mean()
    left_out = [a for a in archs if a not in random_archs]
    random_part = "; ".join(f"{lab}: train acc {v.train_acc:.3f}, test acc {v.test_acc:.3f}, median |t-0.5| "
                            f"{v.median_abs_first:.3f}, share in [0.4,0.6] {v.share_first_mid:.2f}"
                            for lab, v in r.iterrows())
    width_part = "; ".join(f"w={int(w.width)}: test {w.test_acc:.3f}, agree_feature "
                           f"{w.agree_feature:.3f}, share in [0.4,0.6] {w.share_first_mid:.2f}"
                           for w in widths_table.groupby("width").mean().reset_index().itertuples())
    return ("Random labels (" + ", ".join(random_archs)
            + f" on {', '.join(random_datasets)}, n_train={random_n_train}, {random_epochs} epochs"
            + (f"; {', '.join(left_out)} left out of the random-label runs for the CPU budget" if left_out else "")
            + "): " + random_part + ". Width sweep: " + width_part + ".")


STATEMENT = ("A network labels unseen inputs like the nearest training sample, in input space and more "
             "so in its own feature space (our reading of BenShmuel 2022).")
# Pooled over the true-label models: feature 1-NN agreement above 0.9 and above pixel 1-NN agreement.
CONDITIONS = [claims.Condition("agreement_feature_1nn", ">", 0.9),
              claims.Condition("agreement_gain_feature_minus_pixel", ">", 0.0)]


def record_claim(measurements: dict[str, stats.Estimate], *, figures: list[str], parameters: dict[str, Any],
                 notes: str) -> claims.Claim:
    """Write H2 to the claims ledger; the verdict follows from :data:`CONDITIONS`."""
    return claims.record("H2", statement=STATEMENT, measurements=measurements, conditions=CONDITIONS,
                         figures=figures, notebook=NOTEBOOK, parameters=parameters, notes=notes)


def save_run(agree: pd.DataFrame, per_model: dict[str, Any], random_table: pd.DataFrame,
             widths_table: pd.DataFrame, measurements: dict[str, stats.Estimate],
             parameters: dict[str, Any]) -> Path:
    """Write ``results/02_generalization.json``: the three tables, per-model intervals, measurements."""
    return save_results(NOTEBOOK, {"agreement": agree.to_dict("records"), "per_model_across_seeds": per_model,
                                   "random_labels": random_table.to_dict("records"),
                                   "width_sweep": widths_table.to_dict("records"),
                                   "measurements": measurements}, parameters)
