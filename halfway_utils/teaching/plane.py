"""The halfway idea in two dimensions: a few dozen labelled points, a small MLP and the Voronoi partition.

The 1-NN rule of the training points splits the plane into their Voronoi cells, each labelled by
its point: the exact "halfway" partition, whose class boundaries are perpendicular bisectors of
pairs of training points. This module trains a network on the same points and compares the two,
through the functions the real notebooks measure with, so that what it shows is what they measure:

- the network is :func:`halfway_utils.models.mlp` on 1x1x2 "images"; its regions come from
  :func:`halfway_utils.models.predict`;
- the 1-NN partition is :func:`halfway_utils.methods.neighbors.nearest_labels` (notebooks 02, 05);
- the flips on segments between training points of different classes are found by
  :func:`halfway_utils.methods.segments.scan_model_pairs` (the batched
  :func:`~halfway_utils.methods.boundary.scan_paths`) and scored with notebook 01's flip zone
  (:func:`~halfway_utils.experiments.boundaries.pairs.flip_zone`), beside the same network untrained and
  the 1-NN rule as a model (:class:`~halfway_utils.methods.neighbors.NearestNeighbor`).

Training is a small full-batch loop here, not :func:`halfway_utils.train.train`: that one takes a
data set of :mod:`halfway_utils.data` by name and caches the weights on disk, while these points
live in memory and a network fits them in well under a second. An epoch is one full-batch step.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from scipy.spatial import Voronoi
from torch import Tensor, nn

from .. import models
from ..experiments import common
from ..experiments.boundaries.pairs import NO_FLIP_ZONE, UNIFORM_ZONE, flip_zone
from ..infra import params as p
from ..infra.device import pick_device, seed_everything
from ..infra.plotting import PALETTE
from ..methods import neighbors, segments

NOTEBOOK = "06_two_dimensions"
INPUT_SHAPE = (1, 1, 2)  # a point of the plane as a one-pixel, two-column "image"
LABELINGS = ("true", "random")

PARAMETERS = common.rules(
    "torch_threads",
    n_points=p.integer(6, 2000),
    n_classes=p.integer(2, 10),
    spread=p.number(0.01, 10.0),
    width=p.integer(1, 4096),
    depth=p.integer(1, 8),
    epochs=p.integer(0, 100_000),
    lr=p.number(1e-6, 10.0),
    resolution=p.integer(20, 1000),
    n_segments=p.integer(1, 10_000),
    n_fresh=p.integer(10, 100_000),
    seed=p.integer(0),
)

# The quick profile: notebook 06's parameters cell (tests/test_teaching.py keeps the two equal), so that
# a lecture notebook can call :func:`explore` without the notebook.
DEFAULTS: dict[str, Any] = {"profile": "quick", "n_points": 40, "n_classes": 3, "spread": 0.35, "width": 64,
                            "depth": 2, "epochs": 600, "lr": 0.01, "resolution": 200, "n_segments": 60,
                            "n_fresh": 500, "seed": 0, "device": None, "torch_threads": 1}


def check_parameters(P: Mapping[str, Any]) -> None:
    """Refuse settings the plane cannot draw: each class needs two points (pairs, Voronoi cells)."""
    if P["n_points"] < 2 * P["n_classes"]:
        raise p.ParameterError(f"invalid notebook parameters:\n  n_points: needs at least 2 per class "
                               f"({2 * P['n_classes']} for {P['n_classes']} classes), got {P['n_points']}")


# --- points ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plane:
    """Labelled points of the plane: ``x`` float32 (N, 2), ``y`` int64 (N,) in ``[0, n_classes)``."""

    x: Tensor
    y: Tensor
    n_classes: int

    @property
    def inputs(self) -> Tensor:
        """The points as the (N, 1, 1, 2) batch the zoo's models and the boundary scans take."""
        return self.x.reshape(-1, *INPUT_SHAPE)


def points(n_points: int, n_classes: int, *, spread: float = 0.35, seed: int = 0) -> Plane:
    """``n_points`` points in ``n_classes`` Gaussian clusters (std ``spread``) centred on the unit circle."""
    g = torch.Generator().manual_seed(int(seed))
    y = (torch.arange(n_points) % n_classes)[torch.randperm(n_points, generator=g)]
    angle = 2 * torch.pi * y.double() / n_classes
    centre = torch.stack([angle.cos(), angle.sin()], 1)
    x = centre + spread * torch.randn(n_points, 2, generator=g, dtype=torch.float64)
    return Plane(x.float(), y, int(n_classes))


def relabel(plane: Plane, seed: int = 0) -> Plane:
    """The same points with uniformly random labels (seeded), as the random-label runs of 02 and 05 draw them."""
    g = torch.Generator().manual_seed(10_000 + int(seed))
    return Plane(plane.x, torch.randint(0, plane.n_classes, plane.y.shape, generator=g), plane.n_classes)


# --- the network ---------------------------------------------------------------------------------

@dataclass
class Fit:
    """A trained MLP (eval mode), the same network at its initial weights, and its training record."""

    model: nn.Module
    untrained: nn.Module
    train_acc: float
    loss: list[float]


def build(n_classes: int, width: int, depth: int) -> nn.Module:
    """The zoo's MLP on points of the plane (identity normalisation: the points are not pixels)."""
    return models.mlp(in_shape=INPUT_SHAPE, num_classes=n_classes, width=width, depth=depth,
                      mean=(0.0,), std=(1.0,))


def fit(plane: Plane, *, width: int = 64, depth: int = 2, epochs: int = 600, lr: float = 0.01, seed: int = 0,
        device: str | None = None) -> Fit:
    """Train the MLP on all points for ``epochs`` full-batch Adam steps (seeded); ``epochs=0`` leaves it untrained."""
    seed_everything(seed)
    dev = pick_device(device)
    net = build(plane.n_classes, width, depth).to(dev)
    untrained = copy.deepcopy(net).eval()
    x, y = plane.inputs.to(dev), plane.y.to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    net.train()
    for _ in range(epochs):
        loss = nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    net.eval()
    return Fit(net, untrained, accuracy(net, plane), torch.stack(losses).cpu().tolist() if losses else [])


def accuracy(model: nn.Module, plane: Plane) -> float:
    """Share of ``plane``'s points that ``model`` labels with their label."""
    return float((models.predict(model, plane.inputs).cpu() == plane.y).double().mean())


def nn_accuracy(train: Plane, test: Plane) -> float:
    """Share of ``test``'s points that the 1-NN rule of ``train`` labels with their label."""
    return float((neighbors.nearest_labels(train.x, train.y, test.x) == test.y).double().mean())


# --- regions -------------------------------------------------------------------------------------

@dataclass
class Regions:
    """The labels the network and the 1-NN rule give a square grid over the points (row = y, column = x)."""

    extent: tuple[float, float, float, float]  # left, right, bottom, top, as imshow takes it
    net: np.ndarray  # int (R, R)
    nearest: np.ndarray  # int (R, R)

    @property
    def agreement(self) -> float:
        """Share of the drawn square where the network's label is the 1-NN rule's."""
        return float((self.net == self.nearest).mean())


def square(plane: Plane, resolution: int = 200, pad: float = 0.5) -> tuple[Tensor, tuple[float, float, float, float]]:
    """``resolution``² grid points (float32, row-major from the bottom left) of a square around the points."""
    lo, hi = plane.x.min(0).values, plane.x.max(0).values
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 + pad
    xs = torch.linspace(float(centre[0]) - half, float(centre[0]) + half, resolution)
    ys = torch.linspace(float(centre[1]) - half, float(centre[1]) + half, resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    extent = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    return torch.stack([gx.flatten(), gy.flatten()], 1), extent


def regions(plane: Plane, model: nn.Module, resolution: int = 200) -> Regions:
    """The network's and the 1-NN rule's label at every point of :func:`square`."""
    grid, extent = square(plane, resolution)
    net = models.predict(model, grid.reshape(-1, *INPUT_SHAPE)).cpu().numpy()
    nearest = neighbors.nearest_labels(plane.x, plane.y, grid, dtype=torch.float32).numpy()
    return Regions(extent, net.reshape(resolution, resolution), nearest.reshape(resolution, resolution))


def agreement_at(model: nn.Module, train: Plane, test: Plane) -> float:
    """Share of ``test``'s points where the network's label is the 1-NN label of ``train`` (02's raw agreement)."""
    net = models.predict(model, test.inputs).cpu()
    return float((net == neighbors.nearest_labels(train.x, train.y, test.x)).double().mean())


def voronoi_edges(plane: Plane, far: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """The Voronoi ridges of the points as segments (E, 2, 2), and whether each parts two classes (E,).

    A ridge that runs to infinity is cut ``far`` from its finite end; the ridges between points of
    different classes are the 1-NN rule's decision boundary.
    """
    x, y = plane.x.double().numpy(), plane.y.numpy()
    vor = Voronoi(x)
    centre = x.mean(0)
    edges, parts = [], []
    for (i, j), ridge in zip(vor.ridge_points, vor.ridge_vertices):
        ridge = np.asarray(ridge)
        if (ridge >= 0).all():
            edge = vor.vertices[ridge]
        else:  # as scipy's voronoi_plot_2d: away from the points' centre, along the bisector
            start = vor.vertices[ridge[ridge >= 0][0]]
            tangent = x[j] - x[i]
            normal = np.array([-tangent[1], tangent[0]]) / np.linalg.norm(tangent)
            sign = np.sign(np.dot((x[i] + x[j]) / 2 - centre, normal)) or 1.0
            edge = np.stack([start, start + sign * far * normal])
        edges.append(edge)
        parts.append(y[i] != y[j])
    return np.asarray(edges).reshape(-1, 2, 2), np.asarray(parts, dtype=bool)


# --- flips on segments ------------------------------------------------------------------------------

CLASSIFIERS = ("trained", "untrained", "1-NN")
DRAWN_SEGMENTS = 25  # segments drawn in the plane (all of them are measured)


def flips(plane: Plane, fitted: Fit, *, n_segments: int = 60, seed: int = 0, grid: int = 17) -> pd.DataFrame:
    """Flips of the trained net, the same net untrained and the 1-NN rule on segments between points of
    different classes; one row per (classifier, segment) with notebook 01's flip zone.

    A path without a flip scores as in notebook 01: 0.5 for the trained net and the 1-NN rule (no
    boundary on the segment), 0.25 for the untrained net (a boundary placed at random).
    """
    ia, ib = segments.sample_pairs(plane.y, n=n_segments, kind="different", seed=seed)
    rules = {"trained": (fitted.model, NO_FLIP_ZONE), "untrained": (fitted.untrained, UNIFORM_ZONE),
             "1-NN": (neighbors.NearestNeighbor(plane.inputs, plane.y, plane.n_classes), NO_FLIP_ZONE)}
    frames = []
    for name, (model, no_flip) in rules.items():
        scan = segments.scan_model_pairs(model, plane.inputs, plane.inputs, ia, ib, grid=grid)
        first, last = scan.first_flip.numpy(), scan.last_flip.numpy()
        frames.append(pd.DataFrame({"classifier": name, "segment": np.arange(len(ia)), "a": ia, "b": ib,
                                    "first_flip": first, "last_flip": last, "n_flips": scan.n_flips.numpy(),
                                    "zone": flip_zone(first, last, no_flip=no_flip)}))
    return pd.concat(frames, ignore_index=True)


# --- one labelling, start to end --------------------------------------------------------------------

@dataclass
class Study:
    """One labelling of the points and everything measured on it."""

    labels: str
    plane: Plane
    fit: Fit
    regions: Regions
    flips: pd.DataFrame


def study(plane: Plane, *, labels: str = "true", width: int = 64, depth: int = 2, epochs: int = 600,
          lr: float = 0.01, seed: int = 0, resolution: int = 200, n_segments: int = 60,
          device: str | None = None) -> Study:
    """Train on ``plane`` (relabelled at random for ``labels="random"``), then its regions and flips."""
    if labels not in LABELINGS:
        raise ValueError(f"labels must be one of {LABELINGS}, got {labels!r}")
    plane = relabel(plane, seed) if labels == "random" else plane
    fitted = fit(plane, width=width, depth=depth, epochs=epochs, lr=lr, seed=seed, device=device)
    return Study(labels, plane, fitted, regions(plane, fitted.model, resolution),
                 flips(plane, fitted, n_segments=n_segments, seed=seed))


def summary(studies: Sequence[Study], fresh: Plane) -> pd.DataFrame:
    """Per labelling: fit, accuracy on fresh points (true labels) of the net and of the 1-NN rule, the
    net's agreement with the 1-NN rule (on the drawn square and at the fresh points) and the mean flip zones."""
    rows = []
    for s in studies:
        zone = s.flips.groupby("classifier")["zone"].mean()
        rows.append({"labels": s.labels, "train_acc": s.fit.train_acc, "fresh_acc": accuracy(s.fit.model, fresh),
                     "fresh_acc_1nn": nn_accuracy(s.plane, fresh), "agreement_square": s.regions.agreement,
                     "agreement_fresh": agreement_at(s.fit.model, s.plane, fresh),
                     **{f"zone_{c}": float(zone[c]) for c in CLASSIFIERS}})
    return pd.DataFrame(rows).set_index("labels")


# --- figures -------------------------------------------------------------------------------------------

def _colours(n_classes: int) -> np.ndarray:
    return np.asarray(sns.color_palette(PALETTE, n_classes))


def draw_partition(ax: plt.Axes, plane: Plane, labels: np.ndarray, extent: tuple[float, float, float, float], *,
                   cells: bool = False, bisectors: str = "-") -> None:
    """Regions ``labels`` (R, R) under the points; the 1-NN class boundary drawn with ``bisectors``
    (a line style, "" for none), every Voronoi ridge too with ``cells``."""
    colours = _colours(plane.n_classes)
    ax.imshow(labels, origin="lower", extent=extent, cmap=ListedColormap(colours), vmin=-0.5,
              vmax=plane.n_classes - 0.5, alpha=0.35, interpolation="nearest", aspect="equal")
    edges, parts = voronoi_edges(plane)
    if cells:
        ax.add_collection(LineCollection(edges[~parts], colors="grey", linewidths=0.5, alpha=0.6))
    if bisectors:
        ax.add_collection(LineCollection(edges[parts], colors="black", linewidths=1.2, linestyles=bisectors))
    ax.scatter(*plane.x.numpy().T, c=colours[plane.y.numpy()], s=28, edgecolors="black", linewidths=0.6, zorder=3)
    ax.set(xlim=extent[:2], ylim=extent[2:], xticks=[], yticks=[])
    ax.grid(False)


def figure_regions(studies: Sequence[Study]) -> plt.Figure:
    """Per labelling (rows): the Voronoi / 1-NN partition, and the net's regions under the 1-NN class boundary."""
    fig, axes = plt.subplots(len(studies), 2, figsize=(8.4, 4.2 * len(studies)), squeeze=False)
    for row, s in zip(axes, studies):
        draw_partition(row[0], s.plane, s.regions.nearest, s.regions.extent, cells=True)
        row[0].set_title(f"{s.labels} labels: 1-NN rule = Voronoi cells\n(black: the class boundary, halfway "
                         "between points)", fontsize=9)
        draw_partition(row[1], s.plane, s.regions.net, s.regions.extent, bisectors="--")
        row[1].set_title(f"{s.labels} labels: the trained MLP (train acc {s.fit.train_acc:.2f})\n"
                         f"agrees with the 1-NN rule on {s.regions.agreement:.0%} of the square", fontsize=9)
    fig.tight_layout()
    return fig


def figure_flips(studies: Sequence[Study]) -> plt.Figure:
    """Per labelling (rows): the segments with the trained net's flips (x) and midpoints (o), and the flip
    zone of the trained net, the same net untrained and the 1-NN rule (0: every flip at the midpoint)."""
    fig, axes = plt.subplots(len(studies), 2, figsize=(9.6, 4.2 * len(studies)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.2]})
    for row, s in zip(axes, studies):
        draw_partition(row[0], s.plane, s.regions.net, s.regions.extent, bisectors="")
        t = s.flips[s.flips.classifier == "trained"].head(DRAWN_SEGMENTS)
        x = s.plane.x.double().numpy()
        a, b = x[t["a"].to_numpy()], x[t["b"].to_numpy()]
        row[0].add_collection(LineCollection(np.stack([a, b], 1), colors="black", linewidths=0.5, alpha=0.35))
        row[0].scatter(*((a + b) / 2).T, marker="o", s=14, facecolors="none", edgecolors="black", zorder=4)
        for col in ("first_flip", "last_flip"):
            f = t[col].to_numpy()[:, None]
            ok = np.isfinite(f[:, 0])
            row[0].scatter(*(a + f * (b - a))[ok].T, marker="x", s=18, color="C3", zorder=5)
        row[0].set_title(f"{s.labels} labels: first and last flips (x) of the trained MLP\non "
                         f"{len(t)} segments between points of different classes; o: midpoints", fontsize=9)
        sns.stripplot(data=s.flips, x="classifier", y="zone", order=list(CLASSIFIERS), ax=row[1], size=3.5,
                      alpha=0.6, jitter=0.25)
        means = s.flips.groupby("classifier")["zone"].mean().reindex(list(CLASSIFIERS))
        row[1].scatter(range(len(means)), means, marker="_", s=600, color="black", zorder=4, label="mean")
        row[1].axhline(UNIFORM_ZONE, color="grey", ls=":", lw=0.8)
        row[1].set(ylim=(-0.02, 0.52), xlabel="", ylabel="flip zone max(|first − 0.5|, |last − 0.5|)")
        row[1].set_title(f"{s.labels} labels: flip zone per segment ({len(s.flips) // len(CLASSIFIERS)} "
                         "segments)\n0: every flip at the midpoint; dotted: flips placed at random", fontsize=9)
        row[1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def explore(parameters: Mapping[str, Any] | None = None, n_points: int = 40, width: int = 64, epochs: int = 600,
            labels: str = "true") -> plt.Figure:
    """The explorer's figure: points, width, training length and labelling set, the rest from ``parameters``
    (default :data:`DEFAULTS`)."""
    P = {**DEFAULTS, **(parameters or {})}
    plane = points(n_points, P["n_classes"], spread=P["spread"], seed=P["seed"])
    fresh = points(P["n_fresh"], P["n_classes"], spread=P["spread"], seed=P["seed"] + 1)
    s = study(plane, labels=labels, width=width, depth=P["depth"], epochs=epochs, lr=P["lr"], seed=P["seed"],
              resolution=min(P["resolution"], 150), n_segments=P["n_segments"], device=P["device"])
    row = summary([s], fresh).iloc[0]
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.4))
    draw_partition(axes[0], s.plane, s.regions.nearest, s.regions.extent, cells=True)
    axes[0].set_title(f"1-NN rule of {n_points} points ({labels} labels)\nfresh accuracy "
                      f"{row.fresh_acc_1nn:.2f}, flip zone {row['zone_1-NN']:.2f}", fontsize=9)
    draw_partition(axes[1], s.plane, s.regions.net, s.regions.extent, bisectors="--")
    axes[1].set_title(f"MLP width {width}, {epochs} epochs: train acc {row.train_acc:.2f}, fresh {row.fresh_acc:.2f}"
                      f"\nagrees with 1-NN on {row.agreement_square:.0%} of the square, flip zone "
                      f"{row.zone_trained:.2f}", fontsize=9)
    fig.tight_layout()
    return fig
