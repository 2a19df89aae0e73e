"""The controls of C1 and C2: real systems built to have, or to lack, each claim's property, measured by
the claims' own code (:mod:`.tables` and :func:`.c1.pooled_effect` for C1, :func:`.c2.gap_closed` for C2).

- C1 positive: another data set's test images against each data set's training hull (Fashion-MNIST
  queries against the MNIST hull and vice versa): far from every training image, so outside; in pixel
  space and embedded by each fitted zoo model.
- C1 negative: convex combinations of each test query's nearest training samples (inverse-distance
  weights), in pixel space and in each model's feature space: built inside the hull, hull distance 0.
- C2 positive: :class:`ReachNN`, the 1-NN rule with a reach: a query with no training sample within
  the radius gets a fixed class; the radius grows with the family's "width" (from the training set's
  median nearest-neighbour distance to unbounded), so width helps exactly the queries far from the data.
- C2 negative: :func:`pad_mlp`, each seed's narrowest fitted ``mlp`` widened by units whose readout
  weights are zero: wider, the same function everywhere, inside and outside the hull.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ... import data, models, zoo
from ...methods.neighbors import nearest
from ...models import embed
from .tables import Split, Tables, flatten, hull_table

OTHER = {"mnist": "fashion_mnist", "fashion_mnist": "mnist"}


def other_dataset_queries(name: str, split: Split, splits: Mapping[str, Split]) -> Tensor:
    """As many test images of the other data set (``OTHER``) as ``split`` has queries: its split's queries
    when it is loaded, else its class-balanced test subset (seed 0)."""
    other = OTHER[name]
    if other in splits:
        x = splits[other].x_query
    else:
        x, _ = data.load(other, "test", n=max(split.n_queries, 10 * len(data.info(other).classes)), seed=0)
    return x[:split.n_queries]


def convex_mix(queries: np.ndarray, points: np.ndarray, k: int = 10) -> np.ndarray:
    """Per query (rows of ``queries``), the convex combination of its ``k`` nearest ``points`` with weights
    proportional to the inverse distance: a point inside the hull of ``points`` near the query."""
    q = torch.as_tensor(np.asarray(queries), dtype=torch.float64)
    p = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    mixes = []
    for start in range(0, len(q), 256):  # bounded memory against a large training set
        dist, idx = torch.topk(torch.cdist(q[start:start + 256], p), min(k, len(p)), dim=1, largest=False)
        w = 1.0 / dist.clamp_min(1e-12)
        w = w / w.sum(dim=1, keepdim=True)
        mixes.append((w[:, :, None] * p[idx]).sum(dim=1))
    return torch.cat(mixes).numpy().astype(np.float32)


def inside_queries(split: Split, k: int = 10) -> Tensor:
    """Per test query, :func:`convex_mix` of its ``k`` nearest training samples, shaped like the images
    (a query built inside the hull that looks like the test image)."""
    mix = convex_mix(flatten(split.x_query), flatten(split.x_train), k)
    return torch.as_tensor(mix).reshape(len(mix), *split.x_query.shape[1:])


def c1_control_tables(splits: Mapping[str, Split], *, tol: float, device: str | None = None,
                      archs: Sequence[str] = (), seeds: Sequence[int] = (), n_train: int | None = None,
                      n_test: int | None = None, n_queries: int | None = None) -> dict[str, Tables]:
    """The hull tables of each C1 control's queries, ``{"positive": ..., "negative": ...}``, keyed like the
    zoo's tables: ``(dataset, "pixel")`` and, for each fitted zoo model of ``archs`` x ``seeds``,
    ``(dataset, "arch/seedN")`` in its penultimate feature space (the other data set's images embedded by
    the model; the inside queries built there, from each embedded test query's nearest training features).
    ``n_queries`` caps each control's queries (the first ones): the full profile's hulls of 50,000 samples cost
    seconds per query and space."""
    out: dict[str, Tables] = {"positive": {}, "negative": {}}
    cut = slice(None) if n_queries is None else slice(0, n_queries)
    others = {name: other_dataset_queries(name, split, splits)[cut] for name, split in splits.items()}

    def add(key: tuple[str, str], train: np.ndarray, y: np.ndarray, positive: np.ndarray, test: np.ndarray) -> None:
        queries = np.concatenate([flatten(positive), convex_mix(flatten(test), flatten(train))])
        table = hull_table(train, y, queries, np.zeros(len(queries), dtype=np.int64), tol=tol, device=device)
        n = len(positive)
        out["positive"][key] = {k: v[:n] for k, v in table.items()}
        out["negative"][key] = {k: v[n:] for k, v in table.items()}

    for name, split in splits.items():
        add((name, "pixel"), flatten(split.x_train), split.y_train.numpy(), flatten(others[name]),
            flatten(split.x_query[cut]))
    if archs and seeds:
        fitted, _ = zoo.load(list(splits), archs, seeds, n_train=n_train, n_test=n_test, device=device)
        for result in fitted:
            c, split = result.config, splits[result.config.dataset]
            feats = [flatten(embed(result.model, x)) for x in (split.x_train, others[c.dataset], split.x_query[cut])]
            add((c.dataset, f"{c.arch}/seed{c.seed}"), feats[0], split.y_train.numpy(), feats[1], feats[2])
    return out


class ReachNN(nn.Module):
    """The 1-NN rule with a reach: the label of the nearest training sample when it lies within ``radius``,
    else class ``fallback``; returns one-hot logits (so :func:`halfway_utils.models.predict` applies)."""

    def __init__(self, x_train: Tensor, y_train: Tensor, radius: float, fallback: int, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("points", torch.as_tensor(flatten(x_train)))
        self.register_buffer("labels", torch.as_tensor(y_train).long())
        self.radius, self.fallback, self.num_classes = float(radius), int(fallback), int(num_classes)
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives predict() a device and dtype

    def forward(self, x: Tensor) -> Tensor:
        """One-hot logits of the reach-limited 1-NN prediction."""
        index, dist = nearest(x.reshape(len(x), -1), self.points, dtype=torch.float32)
        pred = torch.where(dist.to(x.device) <= self.radius, self.labels[index], torch.full_like(index, self.fallback))
        return nn.functional.one_hot(pred, self.num_classes).to(x.dtype)


def reach_radii(x_train: Tensor, widths: Sequence[int]) -> dict[int, float]:
    """The radius of :class:`ReachNN` at each width: the training set's leave-one-out nearest-neighbour
    distances at quantiles spaced evenly from the median (narrowest width) up, unbounded at the widest."""
    points = torch.as_tensor(flatten(x_train), dtype=torch.float64)
    d = torch.cdist(points, points)
    d.fill_diagonal_(float("inf"))
    loo = d.min(dim=1).values.numpy()
    levels = np.linspace(0.5, 1.0, len(widths))
    ordered = sorted(widths)
    return {w: (float("inf") if i == len(ordered) - 1 else float(np.quantile(loo, levels[i])))
            for i, w in enumerate(ordered)}


def reach_family(split: Split, widths: Sequence[int], seeds: Sequence[int], num_classes: int
                 ) -> dict[tuple[int, int], nn.Module]:
    """The C2 positive control's systems keyed ``(seed, width)``: :class:`ReachNN` of the width's radius,
    falling back to class ``seed mod num_classes``."""
    radii = reach_radii(split.x_train, widths)
    return {(s, w): ReachNN(split.x_train, split.y_train, radii[w], s % num_classes, num_classes)
            for s in seeds for w in widths}


@torch.no_grad()
def pad_mlp(model: models.StagedNet, width: int, seed: int = 0) -> models.StagedNet:
    """``model`` (an ``mlp``) widened to ``width`` units per hidden layer: the new units get random
    incoming weights and zero outgoing weights, so the wider net computes the same function."""
    layers = [s for s in model.stages.values()]
    linears = [next(m for m in s.modules() if isinstance(m, nn.Linear)) for s in layers]
    old = linears[0].out_features
    if width < old:
        raise ValueError(f"cannot pad a width-{old} mlp to {width}")
    torch.manual_seed(seed)
    channels = int(model.normalize.mean.numel())
    side = int(round((linears[0].in_features // channels) ** 0.5))
    wide = models.mlp(in_shape=(channels, side, side), num_classes=linears[-1].out_features, width=width,
                      depth=len(linears) - 1)
    wide.normalize.load_state_dict(model.normalize.state_dict())
    new = [next(m for m in s.modules() if isinstance(m, nn.Linear)) for s in wide.stages.values()]
    for i, (src, dst) in enumerate(zip(linears, new)):
        n_in = src.in_features
        dst.weight[:src.out_features, :n_in] = src.weight
        dst.bias[:src.out_features] = src.bias
        if i > 0:
            dst.weight[:, n_in:] = 0.0  # the new units of the layer below are read with weight 0
    return wide.to(next(model.parameters()).dtype)
