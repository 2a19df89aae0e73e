"""Each data set's fitted models with the inputs they are measured on, and the model pairs measured.

Models are named ``arch/s<seed>``; a :class:`Bundle` holds one data set's fitted models (from
:func:`halfway_utils.zoo.load`), its first test inputs and its training set.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pandas as pd
from torch import Tensor, nn

from ... import data, zoo
from ...train import TrainResult, load_split


@dataclass
class Bundle:
    """One data set's fitted models (``arch/s<seed>`` -> model), its test inputs and its training set."""

    name: str
    models: dict[str, nn.Module]
    x: Tensor
    y: Tensor
    x_train: Tensor
    y_train: Tensor
    keys: dict[str, str]  # model name -> cache key of its training config (keys the adversarial cache)
    excluded: str = ""  # the sentence naming the models left out because they did not fit


def arch_of(name: str) -> str:
    """The architecture of a model named ``arch/s<seed>``."""
    return name.split("/")[0]


def _name(result: TrainResult) -> str:
    """A model's name in this notebook: ``arch/s<seed>``."""
    return f"{result.config.arch}/s{result.config.seed}"


def load_bundle(name: str, archs: Sequence[str], seeds: Sequence[int], n_inputs: int,
                device: str | None = None, *, n_train: int | None = zoo.N_TRAIN,
                n_test: int | None = zoo.N_TEST) -> tuple[Bundle, list[dict[str, Any]]]:
    """One data set's :class:`Bundle` of the zoo's fitted models (from the cache), and one row per model.

    A model that missed its target training accuracy is named in ``Bundle.excluded`` and left out.
    """
    kept, misfits = zoo.load([name], archs, seeds, n_train=n_train, n_test=n_test, device=device)
    order = {c.key: i for i, c in enumerate(zoo.grid([name], archs, seeds, n_train=n_train, n_test=n_test))}
    results = sorted(kept + misfits, key=lambda r: order[r.config.key])  # the zoo's grid order
    x_test, y_test = load_split(results[0].config, "test")
    x_train, y_train = load_split(results[0].config, "train")
    rows = [{"dataset": name, "model": _name(r), "train_acc": r.final["train_acc"], "test_acc": r.final["test_acc"],
             "fitted": r.fitted, "cache": "hit" if r.cache_hit else "trained"} for r in results]
    keep = {_name(r): r for r in kept}
    out = Bundle(name, {k: r.model for k, r in keep.items()}, x_test[:n_inputs], y_test[:n_inputs],
                 x_train, y_train, {k: r.config.key for k, r in keep.items()}, zoo.misfit_note(misfits))
    if len(kept) < 2:
        raise RuntimeError(f"{name}: fewer than 2 fitted models. {out.excluded}")
    return out, rows


def load_bundles(datasets: Iterable[str], archs: Sequence[str], seeds: Sequence[int], n_inputs: int,
                 device: str | None = None, *, n_train: int | None = zoo.N_TRAIN,
                 n_test: int | None = zoo.N_TEST) -> tuple[dict[str, Bundle], pd.DataFrame]:
    """Every available data set's :class:`Bundle`, and a table of the models' accuracy, fit and cache use."""
    out, rows = {}, []
    for name in datasets:
        if not data.available(name):
            print(f"skipping {name}: not available here ({data.info(name).fetch_hint})")
            continue
        out[name], new = load_bundle(name, archs, seeds, n_inputs, device, n_train=n_train, n_test=n_test)
        rows += new
    if not out:
        raise RuntimeError("no data set available: nothing to measure")
    return out, pd.DataFrame(rows)


def excluded_note(bundles: Mapping[str, Bundle]) -> str:
    """The data sets' sentences naming their excluded (not fitted) models, or that none was excluded."""
    notes = [f"{name}: {b.excluded}" for name, b in bundles.items() if b.excluded]
    return " ".join(notes) if notes else "Every model reached its target training accuracy; none excluded."


def model_pairs(names: Sequence[str], n_cross: int) -> list[tuple[str, str]]:
    """The model pairs measured: every same-arch pair, and ``n_cross`` cross-arch partners per model.

    For architectures A and B (models ``A_0..A_{n-1}``, ``B_0..B_{m-1}`` in order), model
    ``A_k`` is paired with ``B_{(k + o) mod m}`` for ``o < n_cross``: a balanced sample in
    which every model has the same number of partners (all ``n * m`` pairs once
    ``n_cross >= m``). Same-arch pairs come first.
    """
    by_arch: dict[str, list[str]] = {}
    for name in names:
        by_arch.setdefault(arch_of(name), []).append(name)
    same = [pair for group in by_arch.values() for pair in combinations(group, 2)]
    cross: list[tuple[str, str]] = []
    for arch_a, arch_b in combinations(by_arch, 2):
        ma, mb = by_arch[arch_a], by_arch[arch_b]
        chosen = [(a, b) for a in ma for b in mb] if n_cross >= len(mb) else \
            [(ma[k], mb[(k + o) % len(mb)]) for k in range(len(ma)) for o in range(n_cross)]
        cross += list(dict.fromkeys(chosen))
    return same + cross


def orient(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each pair as ``(source, partner)``: whose PGD direction the pair is measured along.

    Greedy and deterministic: the member that is the source of fewer pairs so far (the first
    on a tie), so that every model gives about as many directions as the others. One direction
    per pair, not both, halves the adversarial searches.
    """
    count: dict[str, int] = {}
    out = []
    for a, b in pairs:
        src, other = (a, b) if count.get(a, 0) <= count.get(b, 0) else (b, a)
        count[src] = count.get(src, 0) + 1
        out.append((src, other))
    return out


def pair_kind(source: str, target: str) -> str:
    """"white-box" on the diagonal, else "same arch" or "other arch" (names are ``arch/s<seed>``)."""
    if source == target:
        return "white-box"
    return "same arch" if arch_of(source) == arch_of(target) else "other arch"
