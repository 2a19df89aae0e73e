"""The pairs notebook 01 scans and the symmetric statistic of one path.

Every model of a data set scans the same seeded pairs of its shared training and test subsets
(:func:`load_sets`, :func:`draw_pairs`), of three kinds (:data:`PAIR_KINDS`). The statistic is
symmetric in ``a`` and ``b``: the *flip zone* of a path, ``max(|first flip - 0.5|, |last flip - 0.5|)``,
the half-width of the band around the middle that holds every flip (:func:`flip_zone`). Swapping
``a`` and ``b`` maps ``t`` to ``1 - t`` and the first flip to the last, so the zone does not change; a
path through a third class (``a -> c -> b``, flips at 0.2 and 0.8) gets 0.3, not the 0.5 - 0.2 of its
first flip alone nor the 0 of the flips' midpoint. A path that never flips gets 0.5 for a trained
network (its boundary is not on the segment) and 0.25 for the untrained one (:data:`UNIFORM_ZONE`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import Tensor

from ... import zoo
from ...methods import segments
from ...train import load_split

Split = tuple[Tensor, Tensor]
Pairs = dict[str, tuple[str, str, np.ndarray, np.ndarray]]

# Pair kinds: (set of a, set of b, label relation, seed of sample_pairs). The seeds fix the pairs,
# and every model of a data set scans the same ones.
PAIR_KINDS: dict[str, tuple[str, str, str, int]] = {
    "train-train, different": ("train", "train", "different", 1),
    "train-train, same": ("train", "train", "same", 2),
    "test-train, different": ("test", "train", "different", 3),
}
CLAIM_KIND, CONTROL_KIND, TEST_KIND = PAIR_KINDS

# The flip zone of a path that never flips. A trained network without a flip on a segment between
# two classes has no boundary there: the worst zone, 0.5. The untrained network (the null) is
# credited instead with a boundary placed uniformly at random, E|U - 0.5| = 0.25: this makes the
# null harder to beat (an untrained ResNet predicts one class everywhere, so counting its paths
# at 0.5 would give a null that no trained network could fail against).
NO_FLIP_ZONE, UNIFORM_ZONE = 0.5, 0.25
MID_ZONE = 0.1  # a zone <= 0.1: every flip of the path lies in [0.4, 0.6]


def flip_zone(first: Any, last: Any, *, no_flip: float = NO_FLIP_ZONE) -> np.ndarray:
    """``max(|first - 0.5|, |last - 0.5|)`` per path, ``no_flip`` where the path never flips (NaN)."""
    first, last = np.asarray(first, dtype=float), np.asarray(last, dtype=float)
    with np.errstate(invalid="ignore"):
        zone = np.maximum(np.abs(first - 0.5), np.abs(last - 0.5))
    return np.where(np.isfinite(zone), zone, no_flip)


def flip_mid(first: Any, last: Any) -> np.ndarray:
    """``(first + last) / 2`` per path: the first flips seen from ``a`` and from ``b``, averaged (NaN: no flip)."""
    return (np.asarray(first, dtype=float) + np.asarray(last, dtype=float)) / 2


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
