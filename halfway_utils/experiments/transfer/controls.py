"""H3's and H4's controls: systems built to share the source's boundary, and systems built not to.

For each data set, one source (the bundle's first fitted model) is measured against

- **positive**: ``len(control_seeds)`` copies of itself whose every weight gets Gaussian noise of
  ``control_noise`` times that tensor's standard deviation (:func:`perturbed_copy`): the same
  boundary, moved a little, so its adversarial directions cross the copy's boundary as its own;
- **negative**: ``len(control_seeds)`` networks of the source's architecture fitted to random
  labels on a training subset of the same data set (:func:`random_label_models`, trained and
  cached by :func:`halfway_utils.train.train`): boundaries that follow no class structure.

A network trained with its classes relabelled (a permutation of the class names) is *not* a
negative here: the boundaries are where the predicted class changes, and relabelling changes no
such place, so it would share boundaries like any replicate.

Both are measured by the zoo's own code: :func:`~.distances.boundary_distances` (on the inputs the
source classifies correctly), then :func:`~.h3.h3_rows` / :func:`~.h3.h3_estimates` and
:func:`~.h4.h4_rows` / :func:`~.h4.h4_primary`, with the control models redrawn as replicates.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from ... import zoo
from ...evidence import claims
from ...infra.progress import stage
from ...train import train
from .bundles import Bundle, arch_of
from .distances import boundary_distances
from .h3 import h3_estimates, h3_rows
from .h4 import h4_primary, h4_rows

POSITIVE, NEGATIVE = "perturbed", "random-labels"  # the control models' "arch" in their names
RANDOM_LABEL_EPOCHS = 100  # a cap: the MLP fits 1,000 random labels in about 20 epochs
BUILT = {
    POSITIVE: "the source against copies of itself with Gaussian weight noise of {noise:g} x each tensor's "
              "std: the same boundaries, moved a little",
    NEGATIVE: "the source against networks of its architecture fitted to random labels (train.py, labels="
              "'random'): boundaries that follow no class structure, so unrelated to the source's",
}


def perturbed_copy(model: nn.Module, noise: float, seed: int) -> nn.Module:
    """A copy of ``model`` whose every parameter gets seeded Gaussian noise of ``noise`` x its std (eval mode)."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for p in out.parameters():
            scale = p.detach().float().std().item() if p.numel() > 1 else p.detach().abs().item()
            p.add_((noise * scale * torch.randn(p.shape, generator=gen)).to(p.device, p.dtype))
    return out.eval()


def random_label_models(dataset: str, arch: str, seeds: Sequence[int], *, n_train: int, n_test: int,
                        device: str | None = None) -> dict[str, nn.Module]:
    """Networks of ``arch`` fitted to random labels on ``n_train`` samples of ``dataset`` (cached), by seed."""
    out = {}
    for s in seeds:
        config = zoo.config(dataset, arch, s, n_train=n_train, n_test=n_test, labels="random",
                            epochs=RANDOM_LABEL_EPOCHS)
        out[f"{NEGATIVE}/s{s}"] = train(config, device=device).model
    return out


def control_models(b: Bundle, *, seeds: Sequence[int], noise: float, n_train: int, n_test: int,
                   device: str | None = None) -> tuple[str, dict[str, dict[str, nn.Module]]]:
    """The source's name and, per kind (``perturbed``, ``random-labels``), its control models by name."""
    source = next(iter(b.models))
    positive = {f"{POSITIVE}/s{s}": perturbed_copy(b.models[source], noise, s) for s in seeds}
    negative = random_label_models(b.name, arch_of(source), seeds, n_train=n_train, n_test=n_test, device=device)
    return source, {POSITIVE: positive, NEGATIVE: negative}


def control_distances(bundles: Mapping[str, Bundle], adv: Mapping[tuple, Tensor], *, seeds: Sequence[int],
                      noise: float, n_train: int, n_test: int, eps_ref: float, n_boundary: int,
                      max_eps_legitimate: float, max_eps_adversarial: float, max_eps_random: float, grid: int,
                      seed: int, device: str | None = None) -> tuple[pd.DataFrame, dict[str, dict[str, list[str]]]]:
    """The MD table of every control pair (column ``control``: its kind) and, per kind, the models per data set.

    Each control model is paired with the source alone and searched along the source's PGD
    directions, on the first ``n_boundary`` inputs the source classifies correctly.
    """
    frames, models = [], {POSITIVE: {}, NEGATIVE: {}}
    for name, b in bundles.items():
        stage(f"{name}: controls (perturbed copies and random-label networks of the source)")
        source, built = control_models(b, seeds=seeds, noise=noise, n_train=n_train, n_test=n_test, device=device)
        src_adv = adv[name, "pgd", eps_ref, source]
        for kind, targets in built.items():
            models[kind][name] = [source, *targets]
            for tgt, model in targets.items():
                cb = Bundle(name, {source: b.models[source], tgt: model}, b.x, b.y, b.x_train, b.y_train, {})
                mds = boundary_distances(
                    {name: cb}, {(name, "pgd", eps_ref, k): src_adv for k in cb.models}, {name: [(source, tgt)]},
                    eps_ref=eps_ref, n_boundary=n_boundary, max_eps_legitimate=max_eps_legitimate,
                    max_eps_adversarial=max_eps_adversarial, max_eps_random=max_eps_random, grid=grid, seed=seed,
                    judges=[source])
                frames.append(mds.assign(control=kind))
    table = pd.concat(frames, ignore_index=True)
    keys = ["control", "dataset", "direction", "source", "model", "input"]
    return table.drop_duplicates(keys, ignore_index=True), models


def control_pairs(models: Mapping[str, Sequence[str]]) -> dict[str, list[tuple[str, str]]]:
    """Per data set, the control pairs: the source (first name) with each control model."""
    return {name: [(names[0], other) for other in names[1:]] for name, names in models.items()}


def control_estimates(table: pd.DataFrame, models: Mapping[str, Mapping[str, Sequence[str]]], *, noise: float,
                      n_boot: int, seed: int) -> dict[str, list[claims.Control]]:
    """H3's and H4's :class:`~halfway_utils.evidence.claims.Control` of each kind, by the zoo's estimators:
    ``{"H3": [positive, negative], "H4": [positive, negative]}``."""
    out: dict[str, list[claims.Control]] = {"H3": [], "H4": []}
    for kind, label in ((POSITIVE, claims.POSITIVE), (NEGATIVE, claims.NEGATIVE)):
        mds, names = table[table["control"] == kind].drop(columns="control"), models[kind]
        built = BUILT[kind].format(noise=noise)
        _, h3, _ = h3_estimates(h3_rows(mds, control_pairs(names)), names, n_boot=n_boot, seed=seed)
        _, h4 = h4_primary(h4_rows(mds), names, n_boot=n_boot, seed=seed)
        out["H3"].append(claims.Control(kind, label, h3, built))
        out["H4"].append(claims.Control(kind, label, h4, built))
    return out


def control_table(found: Mapping[str, Sequence[claims.Control]], rules: Mapping[str, claims.Rule]) -> pd.DataFrame:
    """One row per claim and control: its interval, its verdict under the claim's rule and whether that is as built."""
    rows = [{"claim": cid, **{k: v for k, v in c.row(rules[cid]).items() if k != "built"}}
            for cid, cs in found.items() for c in cs]
    return pd.DataFrame(rows)[["claim", "name", "kind", "value", "low", "high", "verdict", "as_built"]]
