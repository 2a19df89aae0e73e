
"""Notebook 01 (claim H1): where a trained network's decision flips between two samples.

Our reading of *Meet You Halfway* (BenShmuel 2022): on the straight segment
``x(t) = (1 - t) a + t b`` between two training samples of different classes, a trained
network switches its decision near ``t = 0.5``. For every fitted model of the zoo this
module scans three kinds of pairs (train-train of different classes: the claim; train-train
of the same class: a control; test-train of different classes: off the training set) with
:func:`halfway_utils.methods.segments.pair_flips`, scans the claim's pairs again with the
same network untrained (its epoch-0 weights, :func:`untrained`: the null) and with the 1-NN
rule of the training subset (:class:`NearestNeighbor`, whose boundary along a segment is the
Voronoi bisector: what "exactly halfway" looks like), follows one model from checkpoint to
checkpoint, and records claim H1 by the registered rule :data:`H1_RULE`.

The statistic is symmetric in ``a`` and ``b``: the *flip zone* of a path,
``max(|first flip - 0.5|, |last flip - 0.5|)``, the half-width of the band around the middle
that holds every flip (:func:`flip_zone`). Swapping ``a`` and ``b`` maps ``t`` to ``1 - t`` and
the first flip to the last, so the zone does not change; a path through a third class
(``a -> c -> b``, flips at 0.2 and 0.8) gets 0.3, not the 0.5 - 0.2 of its first flip alone nor
the 0 of the flips' midpoint. A path that never flips gets 0.5 for a trained network (its
boundary is not on the segment) and 0.25 for the untrained one (see :data:`UNIFORM_ZONE`).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
from ..infra.device import pick_device, seed_everything
from ..infra.progress import stage
from ..infra.store import save_results
from ..methods import segments
from ..train import TrainConfig, TrainResult, build_model, load_split, train
from ..zoo import ARCH_KW
from . import common

__all__ = [
    "H1_RULE",
    "H1_STATEMENT",
    "NO_FLIP_ZONE",
    "PAIR_KINDS",
    "PARAMETERS",
    "UNIFORM_ZONE",
    "History",
    "MorphPath",
    "NearestNeighbor",
    "ZooScan",
    "boundary_history",
    "checkpoint_row",
    "claim_notes",
    "claim_paths",
    "draw_pairs",
    "figure_first_last",
    "figure_flip_distributions",
    "figure_gain",
    "figure_history",
    "figure_morph",
    "flip_mid",
    "flip_zone",
    "history_config",
    "load_sets",
    "measurements",
    "model_groups",
    "model_means",
    "morph_path",
    "n_models",
    "primary",
    "record_claim",
    "save",
    "scan_model",
    "scan_nearest",
    "scan_threads",
    "scan_zoo",
    "stratum_table",
    "train_history",
    "untrained",
    "zone_distance_correlation",
]

NOTEBOOK = "01_halfway_boundaries"

PARAMETERS = common.rules(
    "datasets", "archs", "seeds", "n_train", "n_test", "grid", "n_boot",
    n_pairs=p.integer(10, 100000),
    n_control_pairs=p.integer(10, 100000),
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
KEYS = ["dataset", "arch", "seed", "path"]  # one path of one model
RHO_BOOT = 200  # bootstrap resamples of the rank-correlation interval (a fixed number, not n_boot)
# Rows per forward call of a scan. On CPU, convolutional nets run markedly faster in batches of a few
# hundred rows than of 4096 (the activations stay in cache): 1.5 s instead of 3.5 s for 200 ResNet paths.
SCAN_CHUNK = 256
# Torch threads of the scans. On the project's two shared cores, two intra-op threads doubled the CPU
# time of this notebook's scans and more than doubled their wall time (162 s against 81 s for the
# whole notebook, measured back to back); one thread is the robust choice (restored afterwards).
SCAN_THREADS = 1

# The flip zone of a path that never flips. A trained network without a flip on a segment between
# two classes has no boundary there: the worst zone, 0.5. The untrained network (the null) is
# credited instead with a boundary placed uniformly at random, E|U - 0.5| = 0.25: this makes the
# null harder to beat (an untrained ResNet predicts one class everywhere, so counting its paths
# at 0.5 would give a null that no trained network could fail against).
NO_FLIP_ZONE, UNIFORM_ZONE = 0.5, 0.25
MID_ZONE = 0.1  # a zone <= 0.1: every flip of the path lies in [0.4, 0.6]

Split = tuple[Tensor, Tensor]
Pairs = dict[str, tuple[str, str, np.ndarray, np.ndarray]]


# --- the symmetric statistic ------------------------------------------------------------------

def flip_zone(first: Any, last: Any, *, no_flip: float = NO_FLIP_ZONE) -> np.ndarray:
    """``max(|first - 0.5|, |last - 0.5|)`` per path, ``no_flip`` where the path never flips (NaN)."""
    first, last = np.asarray(first, dtype=float), np.asarray(last, dtype=float)
    with np.errstate(invalid="ignore"):
        zone = np.maximum(np.abs(first - 0.5), np.abs(last - 0.5))
    return np.where(np.isfinite(zone), zone, no_flip)


def flip_mid(first: Any, last: Any) -> np.ndarray:
    """``(first + last) / 2`` per path: the first flips seen from ``a`` and from ``b``, averaged (NaN: no flip)."""
    return (np.asarray(first, dtype=float) + np.asarray(last, dtype=float)) / 2


# --- the two reference classifiers ------------------------------------------------------------

def untrained(config: TrainConfig, device: str | torch.device | None = None) -> nn.Module:
    """The network ``config`` starts training from (its epoch-0 weights), in eval mode.

    :func:`halfway_utils.train.train` seeds everything with ``config.seed`` and builds the
    model before any other draw from the global generators, so this is the same network as
    the epoch-0 checkpoint, without training or caching anything.
    """
    seed_everything(config.seed)
    return build_model(config).to(pick_device(device)).eval()


class NearestNeighbor(nn.Module):
    """The 1-NN rule of ``(x, y)`` as a model: logit of class c = -(squared distance to the nearest sample of c).

    Its argmax is the label of the nearest sample, so its boundary along a segment is made of
    Voronoi bisectors; between the logits of two classes the squared distances' common
    ``t^2`` term cancels, the margin is piecewise linear in ``t`` and the secant refinement of
    :func:`halfway_utils.methods.boundary.scan_paths` finds its flips exactly.
    """

    BLOCK = 1 << 24  # at most this many query-sample distances at once (64 MiB of float32)

    def __init__(self, x: Tensor, y: Tensor, n_classes: int | None = None) -> None:
        super().__init__()
        flat = x.flatten(1).float()
        # A parameter (frozen), so that scans find the rule's device as they find a network's.
        self.points = nn.Parameter(flat, requires_grad=False)
        self.register_buffer("sq_norms", (flat ** 2).sum(1))
        self.register_buffer("labels", torch.as_tensor(y).long().to(flat.device))
        self.n_classes = int(n_classes if n_classes is not None else int(self.labels.max()) + 1)

    def forward(self, x: Tensor) -> Tensor:
        q = x.flatten(1).to(self.points.dtype)
        out = torch.full((len(q), self.n_classes), float("-inf"), dtype=q.dtype, device=q.device)
        step = max(1, self.BLOCK // max(1, len(self.points)))
        masks = [(c, self.labels == c) for c in range(self.n_classes)]
        for lo in range(0, len(q), step):
            block = q[lo:lo + step]
            dist = (block ** 2).sum(1, keepdim=True) - 2 * block @ self.points.T + self.sq_norms
            for c, mask in masks:
                if mask.any():
                    out[lo:lo + step, c] = -dist[:, mask].amin(1)
        return out


@contextlib.contextmanager
def scan_threads(n: int | None = SCAN_THREADS) -> Iterator[None]:
    """Run the enclosed scans with ``n`` torch threads (``None``: leave the count alone), then restore it."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --- data and pairs ---------------------------------------------------------------------------

def load_sets(datasets: Sequence[str], arch: str, *, n_train: int | None, n_test: int | None
              ) -> dict[str, dict[str, Split]]:
    """The shared train and test subsets of each data set (``data_seed=0``): name -> split -> (x, y)."""
    sets = {}
    for name in datasets:
        cfg = zoo.config(name, arch, n_train=n_train, n_test=n_test)
        sets[name] = {"train": load_split(cfg, "train"), "test": load_split(cfg, "test")}
    return sets


def draw_pairs(split: Mapping[str, Split], n_pairs: int, n_control: int | None = None) -> Pairs:
    """The seeded index pairs of every kind of :data:`PAIR_KINDS`: kind -> (set a, set b, idx a, idx b).

    The claim's kind gets ``n_pairs`` pairs, the two controls ``n_control`` (default ``n_pairs``).
    """
    pairs = {}
    for kind, (sa, sb, relation, seed) in PAIR_KINDS.items():
        n = n_pairs if kind == CLAIM_KIND or n_control is None else n_control
        # One set: sample_pairs must know it, so that no sample is paired with itself.
        labels_b = None if sa == sb else split[sb][1]
        ia, ib = segments.sample_pairs(split[sa][1], labels_b, n=n, kind=relation, seed=seed)
        pairs[kind] = (sa, sb, ia, ib)
    return pairs


# --- scanning the zoo -------------------------------------------------------------------------

@dataclass
class ZooScan:
    """Every fitted model's scan: one row per (model, pair kind), one row per path, and the models.

    ``untrained`` holds the claim's paths scanned by each model's untrained network, ``nearest``
    those scanned by each data set's 1-NN rule; ``misfits`` the models excluded as not fitted.
    """

    rows: list[dict[str, Any]]
    table: pd.DataFrame
    paths: pd.DataFrame
    models: dict[tuple[str, str, int], nn.Module]
    untrained: pd.DataFrame = field(default_factory=pd.DataFrame)
    nearest: pd.DataFrame = field(default_factory=pd.DataFrame)
    misfits: list[TrainResult] = field(default_factory=list)


def scan_model(model: nn.Module, split: Mapping[str, Split], pairs: Pairs, *, grid: int,
               key: Mapping[str, Any], test_acc: float) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """One model's flips on every pair kind: a summary row and a per-path frame per kind."""
    rows, frames = [], []
    for kind, (sa, sb, ia, ib) in pairs.items():
        xa, xb = split[sa][0], split[sb][0]
        summary = segments.pair_flips(model, xa, xb, ia, ib, grid=grid, chunk=SCAN_CHUNK)
        tags = {**key, "kind": kind}
        rows.append({**tags, "test_acc": test_acc, **{k: v for k, v in summary.items() if k != "per_path"}})
        frames.append(pd.DataFrame(summary["per_path"])
                      .assign(**tags, path=np.arange(len(ia)), distance=segments.pair_distance(xa, xb, ia, ib)))
    return rows, frames


def scan_zoo(datasets: Sequence[str], archs: Sequence[str], seeds: Sequence[int],
             sets: Mapping[str, Mapping[str, Split]], pairs: Mapping[str, Pairs], *, n_train: int | None,
             n_test: int | None, grid: int, device: str | None = None) -> ZooScan:
    """Load (or train) every zoo model; scan every pair kind with each fitted one, the claim's with its untrained net.

    A model that missed its target training accuracy is kept in ``misfits`` and scanned by nothing.
    """
    rows, frames, nulls, models, misfits = [], [], [], {}, []
    for config in zoo.grid(datasets, archs, seeds, n_train=n_train, n_test=n_test):
        result = train(config, device=device)
        if not result.fitted:
            misfits.append(result)
            continue
        models[(config.dataset, config.arch, config.seed)] = result.model
        stage(f"scanning segments with {config.label} and its untrained twin")
        key = {"dataset": config.dataset, "arch": config.arch, "seed": config.seed}
        split, kinds = sets[config.dataset], pairs[config.dataset]
        with scan_threads():
            r, f = scan_model(result.model, split, kinds, grid=grid, key=key, test_acc=result.final["test_acc"])
            _, (null,) = scan_model(untrained(config, device), split, {CLAIM_KIND: kinds[CLAIM_KIND]},
                                    grid=grid, key=key, test_acc=float("nan"))
        rows += r
        frames += f
        nulls.append(null)
    stage("scanning segments with the 1-NN rule")
    with scan_threads():
        nearest = scan_nearest(sets, pairs, grid=grid, device=device)
    if not frames:
        return ZooScan(rows, pd.DataFrame(rows), pd.DataFrame(), models, pd.DataFrame(), nearest, misfits)
    return ZooScan(rows, pd.DataFrame(rows), pd.concat(frames, ignore_index=True), models,
                   pd.concat(nulls, ignore_index=True), nearest, misfits)


def scan_nearest(sets: Mapping[str, Mapping[str, Split]], pairs: Mapping[str, Pairs], *, grid: int,
                 device: str | None = None) -> pd.DataFrame:
    """The claim's paths of each data set scanned by the 1-NN rule of its training subset."""
    frames = []
    for name, split in sets.items():
        x, y = split["train"]
        rule = NearestNeighbor(x, y, len(data.info(name).classes) if name in DATASETS else None)
        rule = rule.to(pick_device(device))
        _, (frame,) = scan_model(rule, split, {CLAIM_KIND: pairs[name][CLAIM_KIND]}, grid=grid,
                                 key={"dataset": name}, test_acc=float("nan"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def model_means(table: pd.DataFrame) -> pd.DataFrame:
    """Summary numbers per (pair kind, data set, arch), mean over seeds, rounded to 3 digits."""
    return table.groupby(["kind", "dataset", "arch"])[SUMMARY_COLUMNS].mean().round(3)


def claim_paths(scan: ZooScan) -> pd.DataFrame:
    """One row per (fitted model, claim path): the trained net's zone, its untrained net's, the 1-NN rule's.

    Columns: ``zone`` (trained, no flip = 0.5), ``zone_untrained`` (no flip = 0.25, the null),
    ``untrained_flip``, ``zone_1nn``, ``gain = zone_untrained - zone`` (the primary's per-path
    value: positive when training moved the flips toward the middle), ``mid`` / ``mid_1nn``
    (the flips' midpoints) and ``to_1nn = |mid - mid_1nn|`` (NaN unless both flip).
    """
    net = scan.paths[scan.paths["kind"] == CLAIM_KIND]
    out = net[[*KEYS, "first_flip", "last_flip", "abs_first", "first_mid", "has_flip", "third_class",
               "distance"]].reset_index(drop=True)
    out["zone"] = flip_zone(out["first_flip"], out["last_flip"])
    out["mid"] = flip_mid(out["first_flip"], out["last_flip"])
    null = scan.untrained[KEYS].assign(
        zone_untrained=flip_zone(scan.untrained["first_flip"], scan.untrained["last_flip"], no_flip=UNIFORM_ZONE),
        untrained_flip=scan.untrained["has_flip"].to_numpy())
    ref = scan.nearest[["dataset", "path"]].assign(
        zone_1nn=flip_zone(scan.nearest["first_flip"], scan.nearest["last_flip"]),
        mid_1nn=flip_mid(scan.nearest["first_flip"], scan.nearest["last_flip"]))
    out = out.merge(null, on=KEYS, how="left", validate="one_to_one")
    out = out.merge(ref, on=["dataset", "path"], how="left", validate="many_to_one")
    out["gain"] = out["zone_untrained"] - out["zone"]
    out["to_1nn"] = (out["mid"] - out["mid_1nn"]).abs()
    return out


# --- intervals with the model as the unit -----------------------------------------------------

def _stratum(dataset: str, arch: str) -> str:
    return f"{dataset}/{arch}"


def model_groups(frame: pd.DataFrame, column: str) -> dict[str, list[np.ndarray]]:
    """Stratum (``dataset/arch``) -> one array of ``column`` per model (seed), in order of appearance."""
    groups: dict[str, list[np.ndarray]] = {}
    for (ds, arch, _), grp in frame.groupby(["dataset", "arch", "seed"], sort=False):
        groups.setdefault(_stratum(ds, arch), []).append(grp[column].to_numpy(dtype=float))
    return groups


def _estimates(frame: pd.DataFrame, column: str, *, n_boot: int, statistic: Any = np.mean,
               strata: bool = True) -> tuple[Estimate, dict[str, Estimate]]:
    """Pooled and (with ``strata``) per-stratum two-level cluster bootstrap (models, then paths) of ``statistic``."""
    groups = model_groups(frame, column)

    def boot(arrays: list[np.ndarray]) -> Estimate:
        return stats.cluster_bootstrap(arrays, statistic, n_boot=n_boot, seed=0)

    pooled = boot([a for arrays in groups.values() for a in arrays])
    return pooled, ({s: boot(a) for s, a in groups.items()} if strata else {})


def primary(paths: pd.DataFrame, n_boot: int) -> tuple[Estimate, dict[str, Estimate]]:
    """H1's primary, the mean per-path gain of the flip zone over the untrained network: pooled and per stratum.

    ``paths`` is :func:`claim_paths`' frame (at least ``dataset, arch, seed, gain``). Each
    interval is a two-level cluster bootstrap: models (the unit of replication), then the paths
    of each drawn model; every model weighs the same.
    """
    return _estimates(paths, "gain", n_boot=n_boot)


def _flipped_median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def measurements(claim: pd.DataFrame, paths: pd.DataFrame, n_boot: int) -> dict[str, Estimate]:
    """H1's reported (not judged) measurements, pooled, with the model as the unit of replication.

    ``claim`` is :func:`claim_paths`' frame; ``paths`` the per-path frame of every kind
    (:attr:`ZooScan.paths`). The 1-NN rule is one classifier per data set, so its zone has a
    bootstrap over its paths.
    """
    def pooled(frame: pd.DataFrame, column: str, statistic: Any = np.mean) -> Estimate:
        return _estimates(frame, column, n_boot=n_boot, statistic=statistic, strata=False)[0]

    ref = claim.drop_duplicates(["dataset", "path"])
    return {
        "zone_trained": pooled(claim, "zone"),
        "zone_untrained": pooled(claim, "zone_untrained"),
        "zone_1nn": stats.bootstrap(ref["zone_1nn"], n_boot=n_boot, seed=0),
        "distance_to_1nn": pooled(claim, "to_1nn"),
        "share_zone_mid": pooled(claim.assign(mid=(claim["zone"] <= MID_ZONE).astype(float)), "mid"),
        "share_flip_untrained": pooled(claim, "untrained_flip"),
        "share_third_class": pooled(claim, "third_class"),
        "share_flip_same_class": pooled(paths[paths["kind"] == CONTROL_KIND], "has_flip"),
        "zone_test_train": pooled(_with_zone(paths[paths["kind"] == TEST_KIND]), "zone"),
        "median_abs_first": pooled(claim, "abs_first", _flipped_median),
        "share_first_mid": pooled(claim[claim["has_flip"] > 0], "first_mid"),
    }


def _with_zone(paths: pd.DataFrame) -> pd.DataFrame:
    return paths.assign(zone=flip_zone(paths["first_flip"], paths["last_flip"]))


def stratum_table(claim: pd.DataFrame, paths: pd.DataFrame) -> pd.DataFrame:
    """Per stratum: the number of models and the mean over them of each per-model mean (3 digits)."""
    per_model = claim.groupby(["dataset", "arch", "seed"], sort=False).agg(
        gain=("gain", "mean"), zone=("zone", "mean"), zone_untrained=("zone_untrained", "mean"),
        zone_1nn=("zone_1nn", "mean"), distance_to_1nn=("to_1nn", "mean"),
        share_flip_untrained=("untrained_flip", "mean"), share_third_class=("third_class", "mean"))
    same = paths[paths["kind"] == CONTROL_KIND].groupby(["dataset", "arch", "seed"], sort=False)["has_flip"].mean()
    per_model["share_flip_same_class"] = same.reindex(per_model.index)
    table = per_model.groupby(level=["dataset", "arch"], sort=False).mean()
    table.insert(0, "models", per_model.groupby(level=["dataset", "arch"], sort=False).size())
    table.index = [_stratum(ds, arch) for ds, arch in table.index]
    return table.round(3)


def zone_distance_correlation(claim: pd.DataFrame) -> Estimate:
    """Spearman rho of ||a - b|| with the flip zone over the claim's paths, resampling whole models."""
    model = claim["dataset"] + "/" + claim["arch"] + "/" + claim["seed"].astype(str)
    return stats.partial_spearman(claim["distance"], claim["zone"], None, groups=model.to_numpy(),
                                  n_boot=RHO_BOOT, seed=0)


# --- boundary history -------------------------------------------------------------------------

@dataclass
class History:
    """The flips of one model at each checkpoint: one row per epoch and the flips' midpoint of each path."""

    label: str
    rows: list[dict[str, Any]]
    table: pd.DataFrame
    mids: pd.DataFrame
    n_pairs: int


def history_config(dataset: str, arch: str, epochs: Sequence[int], *, n_train: int | None,
                   n_test: int | None) -> TrainConfig:
    """Seed-0 zoo config trained to the last checkpoint, without the early stop (``target_acc=None``).

    The zoo stops at the first epoch that reaches its target accuracy, so a history model must
    not: it trains exactly ``max(epochs)`` epochs and keeps every checkpoint asked for.
    """
    return zoo.config(dataset, arch, 0, n_train=n_train, n_test=n_test, epochs=max(epochs), target_acc=None)


def train_history(dataset: str, arch: str, epochs: Sequence[int], *, n_train: int | None,
                  n_test: int | None, device: str | None = None) -> TrainResult:
    """Train (or load) the history model with a checkpoint at each of ``epochs``."""
    config = history_config(dataset, arch, epochs, n_train=n_train, n_test=n_test)
    return train(config, checkpoints=list(epochs), device=device)


def checkpoint_row(summary: Mapping[str, Any], *, epoch: int, train_acc: float, n_boot: int) -> dict[str, Any]:
    """One checkpoint's row: train accuracy, mean flip zone with a bootstrap interval over paths, shares.

    One model: its paths are the only replication, so a bootstrap over them is the interval.
    """
    per_path = summary["per_path"]
    zone = flip_zone(per_path["first_flip"], per_path["last_flip"])
    est = stats.bootstrap(zone, n_boot=n_boot, seed=0)
    first = np.asarray(per_path["abs_first"], dtype=float)
    return {"epoch": epoch, "train_acc": train_acc, "zone": est.value, "low": est.low, "high": est.high,
            "median_abs_first": float(np.nanmedian(first)) if np.isfinite(first).any() else float("nan"),
            "share_first_mid": summary["share_first_mid"], "share_flip": summary["share_flip"],
            "share_third_class": summary["share_third_class"]}


def boundary_history(result: TrainResult, x: Tensor, idx_a: np.ndarray, idx_b: np.ndarray,
                     epochs: Sequence[int], *, grid: int, n_boot: int) -> History:
    """Scan the same pairs ``x[idx_a] -> x[idx_b]`` with the model at each checkpoint epoch."""
    rows, frames = [], []
    for epoch in epochs:
        with scan_threads():
            summary = segments.pair_flips(result.model_at(epoch), x, x, idx_a, idx_b, grid=grid, chunk=SCAN_CHUNK)
        acc = result.history["train_acc"][result.history["epoch"].index(epoch)]
        rows.append(checkpoint_row(summary, epoch=epoch, train_acc=acc, n_boot=n_boot))
        per_path = summary["per_path"]
        frames.append(pd.DataFrame({"epoch": epoch, "mid": flip_mid(per_path["first_flip"], per_path["last_flip"])}))
    return History(result.config.label, rows, pd.DataFrame(rows), pd.concat(frames).dropna(), len(idx_a))


# --- claim H1 ---------------------------------------------------------------------------------

H1_STATEMENT = ("On segments between training samples of different classes, trained networks switch their "
                "decision near t = 0.5, nearer than the same networks untrained (our reading of BenShmuel 2022).")
H1_RULE = claims.Rule(
    primary="zone_gain_vs_untrained", op=">", margin=0.05,
    null=("the same network untrained (same architecture and seed, epoch 0) on the same segments; where it "
          "never flips it is credited with a boundary placed uniformly at random (flip zone 0.25)"),
    strata=("dataset", "arch"),
    changes=(
        "2026-12-01: was (median |first flip - 0.5| < 0.1) and (share of first flips in [0.4, 0.6] > 0.5), "
        "pooled over all models and architectures with a bootstrap over paths, against no null; the first flip "
        "is not symmetric in a and b (it is biased toward a when a third class intervenes), uniform flip points "
        "already give 0.25 and the untrained network 0.27, the pooled verdict spoke for architectures that differ "
        "in kind, and paths of several models were treated as independent. Now: the mean per-path gain of the "
        "symmetric flip zone max(|first - 0.5|, |last - 0.5|) over the untrained network on the same paths, "
        "> 0.05, per (dataset, arch) stratum and pooled, models as the unit of replication (issue 13).",
    ),
)


def record_claim(pooled: Estimate, strata: Mapping[str, Estimate], reported: Mapping[str, Estimate], *,
                 replicates: int, figures: list[str], parameters: Mapping[str, Any], notes: str) -> claims.Claim:
    """Decide H1 by :data:`H1_RULE` from :func:`primary`'s estimates, per stratum and pooled, and record it.

    ``replicates`` is the number of fitted models behind the primary (:func:`n_models`).
    """
    return claims.record_rule("H1", H1_RULE, statement=H1_STATEMENT, pooled=pooled, strata=strata,
                              measurements=reported, replicates=replicates, figures=figures, notebook=NOTEBOOK,
                              parameters=parameters, notes=notes)


def n_models(claim: pd.DataFrame) -> int:
    """The number of (dataset, arch, seed) models in a per-path frame."""
    return int(claim[["dataset", "arch", "seed"]].drop_duplicates().shape[0])


def claim_notes(strata: pd.DataFrame, history: History, misfits: Sequence[TrainResult] = ()) -> str:
    """The ledger notes: excluded models, per-stratum zones of the three classifiers, the history."""
    by_stratum = "; ".join(f"{name}: trained {r.zone:.3f}, untrained {r.zone_untrained:.3f}, 1-NN {r.zone_1nn:.3f}"
                           for name, r in strata.iterrows())
    epochs = ", ".join(f"{int(r.epoch)}: {r.zone:.3f}" for r in history.table.itertuples())
    text = ("Mean flip zone max(|first - 0.5|, |last - 0.5|) of the train-train pairs of different classes, "
            "mean over models: " + by_stratum + ". History of " + history.label + ", mean flip zone by epoch "
            + epochs + ".")
    misfit = zoo.misfit_note(misfits)
    return f"{misfit} {text}" if misfit else text


def save(scan: ZooScan, strata: pd.DataFrame, history: History, values: Mapping[str, Estimate],
         parameters: Mapping[str, Any]) -> Path:
    """Write ``results/01_halfway_boundaries.json``."""
    return save_results(NOTEBOOK, {"per_model_seed": scan.rows, "per_stratum": strata.reset_index(
        names="stratum").to_dict("records"), "history": history.rows, "measurements": values,
        "excluded": [r.config.label for r in scan.misfits]}, dict(parameters))


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
    """The first train-train pair of different classes and each arch's softmax along it (seed ``seed``).

    An arch whose seed-``seed`` model was excluded (not fitted) is left out.
    """
    xtr, ytr = split["train"]
    _, _, ia, ib = pairs[CLAIM_KIND]
    a, b = xtr[int(ia[0])], xtr[int(ib[0])]
    ts = torch.linspace(0, 1, 101)
    segment = (1 - ts.view(-1, 1, 1, 1)) * a + ts.view(-1, 1, 1, 1) * b
    probs = {}
    with torch.no_grad():
        for arch in archs:
            model = models.get((dataset, arch, seed))
            if model is not None:
                probs[arch] = torch.softmax(model(segment.to(next(model.parameters()).device)), 1).cpu()
    return MorphPath(dataset, a, b, int(ytr[int(ia[0])]), int(ytr[int(ib[0])]), data.info(dataset).classes,
                     ts, segment, probs)


# --- figures ----------------------------------------------------------------------------------

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


def figure_gain(claim: pd.DataFrame, pooled: Estimate, strata: Mapping[str, Estimate],
                margin: float = H1_RULE.margin) -> plt.Figure:
    """Left: each model's mean flip zone, trained vs untrained vs the 1-NN rule; right: the primary per stratum."""
    per_model = claim.groupby(["dataset", "arch", "seed"], sort=False)[["zone", "zone_untrained", "zone_1nn"]].mean()
    per_model = per_model.reset_index().assign(stratum=lambda d: d["dataset"] + "/" + d["arch"])
    long = per_model.melt(id_vars=["stratum", "seed"], value_vars=["zone_untrained", "zone", "zone_1nn"],
                          var_name="classifier", value_name="mean flip zone")
    long["classifier"] = long["classifier"].map({"zone_untrained": "untrained (null)", "zone": "trained",
                                                 "zone_1nn": "1-NN (bisector)"})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    sns.stripplot(data=long, x="stratum", y="mean flip zone", hue="classifier", dodge=True, ax=axes[0], size=5,
                  jitter=0.15)
    axes[0].axhline(UNIFORM_ZONE, color="grey", ls=":", lw=0.8)
    axes[0].set(ylim=(0, 0.5), xlabel="", title="mean max(|first − 0.5|, |last − 0.5|), one dot per model")
    axes[0].tick_params(axis="x", labelrotation=30, labelsize=8)
    axes[0].legend(fontsize=8)
    names = [*strata, "pooled"]
    ests = [*strata.values(), pooled]
    values = np.array([e.value for e in ests])
    err = np.array([[e.value - e.low for e in ests], [e.high - e.value for e in ests]])
    axes[1].errorbar(values, np.arange(len(names)), xerr=np.nan_to_num(err), fmt="o", capsize=3)
    axes[1].axvline(margin, color="r", ls="--", lw=1, label=f"margin {margin:g}")
    axes[1].axvline(0, color="k", lw=0.6)
    axes[1].set(yticks=np.arange(len(names)), yticklabels=names, xlabel="gain: untrained zone − trained zone",
                title="primary (95% interval, models resampled)")
    axes[1].invert_yaxis()
    axes[1].legend(fontsize=8)
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
