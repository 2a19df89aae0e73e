"""One path seen by each model: a segment a -> b and every seed-``seed`` model's probabilities along it."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ... import data
from .pairs import CLAIM_KIND, Pairs, Split


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
