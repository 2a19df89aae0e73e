"""Scanning the pairs: each fitted model, its untrained twin and the 1-NN rule, path by path.

:func:`scan_models` scans every pair kind with each fitted model of the zoo
(:func:`halfway_utils.methods.segments.pair_flips`), and the claim's pairs with the same network
untrained (:func:`halfway_utils.zoo.untrained`, its epoch-0 weights: the null) and with the 1-NN
rule of the training subset (:class:`halfway_utils.methods.neighbors.NearestNeighbor`, whose
boundary along a segment is the Voronoi bisector: what "exactly halfway" looks like).
:func:`claim_paths` lines the three up, one row per (model, claim path); :func:`stand_in` puts another
classifier's flips (a control's) in place of every model's, against the same nulls and ideal.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import data, zoo
from ...data import DATASETS
from ...infra.device import pick_device
from ...infra.progress import stage
from ...methods import segments
from ...methods.neighbors import NearestNeighbor
from ...train import TrainResult
from .pairs import CLAIM_KIND, UNIFORM_ZONE, Pairs, Split, flip_mid, flip_zone

SUMMARY_COLUMNS = ["share_flip", "median_abs_first", "share_first_mid", "share_third_class", "mean_n_flips"]
KEYS = ["dataset", "arch", "seed", "path"]  # one path of one model
# Rows per forward call of a scan. On CPU, convolutional nets run markedly faster in batches of a few
# hundred rows than of 4096 (the activations stay in cache): 1.5 s instead of 3.5 s for 200 ResNet paths.
SCAN_CHUNK = 256
# Torch threads of the scans. On the project's two shared cores, two intra-op threads doubled the CPU
# time of this notebook's scans and more than doubled their wall time (162 s against 81 s for the
# whole notebook, measured back to back); one thread is the robust choice (restored afterwards).
SCAN_THREADS = 1
# The distance rules (the 1-NN rule, H1's controls) are one large matrix product per chunk, which two
# threads share well: 40 full-profile MNIST paths took 1.49 s instead of 2.11 s (1-NN), 1.52 s instead of
# 2.62 s (kernel machine), with the same flips. Over the full run's 1,000 paths the refined flips of the 1-NN
# rule moved by a few 1e-10 (H1's values in the ninth decimal). They scan with the session's threads.
RULE_THREADS = None


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


def scan_models(fitted: Sequence[TrainResult], misfits: Sequence[TrainResult],
                sets: Mapping[str, Mapping[str, Split]], pairs: Mapping[str, Pairs], *, grid: int,
                device: str | None = None) -> ZooScan:
    """Scan every pair kind with each fitted model of :func:`halfway_utils.zoo.load`, the claim's with its
    untrained twin, then with each data set's 1-NN rule; ``misfits`` are kept in the scan, scanned by nothing.
    """
    rows, frames, nulls, models = [], [], [], {}
    for result in fitted:
        config = result.config
        models[(config.dataset, config.arch, config.seed)] = result.model
        stage(f"scanning segments with {config.label} and its untrained twin")
        key = {"dataset": config.dataset, "arch": config.arch, "seed": config.seed}
        split, kinds = sets[config.dataset], pairs[config.dataset]
        with scan_threads():
            r, f = scan_model(result.model, split, kinds, grid=grid, key=key, test_acc=result.final["test_acc"])
            _, (null,) = scan_model(zoo.untrained(config, device), split, {CLAIM_KIND: kinds[CLAIM_KIND]},
                                    grid=grid, key=key, test_acc=float("nan"))
        rows += r
        frames += f
        nulls.append(null)
    stage("scanning segments with the 1-NN rule")
    with scan_threads(RULE_THREADS):
        nearest = scan_nearest(sets, pairs, grid=grid, device=device)
    misfits = list(misfits)
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
    ``untrained_flip``, ``zone_1nn``, ``closed = zone_untrained - zone`` and ``gap = zone_untrained
    - zone_1nn`` (the primary's per-path parts: the way from the null toward the bisector that
    training closed, and the whole way), ``gain`` (= ``closed``, the former primary), ``mid`` /
    ``mid_1nn`` (the flips' midpoints) and ``to_1nn = |mid - mid_1nn|`` (NaN unless both flip).
    """
    net = scan.paths[scan.paths["kind"] == CLAIM_KIND]
    out = net[[*KEYS, "first_flip", "last_flip", "abs_first", "first_mid", "has_flip", "third_class",
               "distance"]].reset_index(drop=True)
    null = scan.untrained[KEYS].assign(
        zone_untrained=flip_zone(scan.untrained["first_flip"], scan.untrained["last_flip"], no_flip=UNIFORM_ZONE),
        untrained_flip=scan.untrained["has_flip"].to_numpy())
    ref = scan.nearest[["dataset", "path"]].assign(
        zone_1nn=flip_zone(scan.nearest["first_flip"], scan.nearest["last_flip"]),
        mid_1nn=flip_mid(scan.nearest["first_flip"], scan.nearest["last_flip"]))
    out = out.merge(null, on=KEYS, how="left", validate="one_to_one")
    out = out.merge(ref, on=["dataset", "path"], how="left", validate="many_to_one")
    return with_zone(out)


def with_zone(out: pd.DataFrame) -> pd.DataFrame:
    """Add (or redo) ``zone``, ``mid``, ``closed``, ``gap``, ``gain`` and ``to_1nn`` from the flips and references."""
    out = out.copy()
    out["zone"] = flip_zone(out["first_flip"], out["last_flip"])
    out["mid"] = flip_mid(out["first_flip"], out["last_flip"])
    out["closed"] = out["zone_untrained"] - out["zone"]
    out["gap"] = out["zone_untrained"] - out["zone_1nn"]
    out["gain"] = out["closed"]
    out["to_1nn"] = (out["mid"] - out["mid_1nn"]).abs()
    return out


def stand_in(claim: pd.DataFrame, flips: pd.DataFrame) -> pd.DataFrame:
    """``claim`` with each model's flips replaced by another classifier's on the same paths (a control).

    ``flips`` has one row per (dataset, path) with ``first_flip``, ``last_flip``, ``has_flip`` and
    ``third_class`` (a scan of :func:`scan_model`); each model's untrained network and the 1-NN
    rule stay: the classifier is measured against the same nulls and the same ideal as the zoo.
    """
    cols = ["first_flip", "last_flip", "has_flip", "third_class"]
    base = claim.drop(columns=[c for c in [*cols, "abs_first", "first_mid"] if c in claim])
    out = base.merge(flips[["dataset", "path", *cols]], on=["dataset", "path"], how="left",
                     validate="many_to_one")
    return with_zone(out)
