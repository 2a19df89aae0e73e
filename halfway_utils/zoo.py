"""The standard model configurations shared by all notebooks.

Notebooks build their models through :func:`config`, so the same (dataset, arch,
seed, size) gives the same cache key everywhere: a model trained by one notebook is
loaded, not retrained, by the next.

Models fit their data: training stops at the first epoch whose training accuracy
reaches :data:`TARGET_ACC`, and ``EPOCHS`` is only a cap. A model that hits the cap
first is not fitted (:attr:`TrainResult.fitted`); :func:`fitted` splits a set of
results so that such a model is named and excluded, never silently kept.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from .infra.device import pick_device
from .train import TrainConfig, TrainResult, build_model, train

# Architecture options and epoch caps of the zoo (the quick profile trains small subsets).
ARCH_KW: dict[str, dict[str, Any]] = {
    "mlp": {"width": 256, "depth": 2},
    "cnn": {"width": 16, "hidden": 128},
    "resnet": {"width": 8, "blocks": 1},
}
EPOCHS: dict[str, int] = {"mlp": 60, "cnn": 40, "resnet": 40}
# Adam with cosine decay over the cap; the ResNet (batch norm, small subsets) needs smaller batches.
LR: dict[str, float] = {"mlp": 2e-3, "cnn": 3e-3, "resnet": 3e-3}
BATCH: dict[str, int] = {"mlp": 128, "cnn": 128, "resnet": 64}
TARGET_ACC = 0.99  # training accuracy a model of a subset must reach to count as fitted
N_TRAIN, N_TEST = 1000, 1000  # the quick profile's class-balanced subsets
SEEDS = (0, 1, 2, 3, 4)  # five independently trained models per (data set, arch)

# Full training sets (more than FULL_SET samples, or n_train=None): the full profile on a 2-core CPU.
# MNIST is fitted to 99%; Fashion-MNIST to 95%, the most a 90-minute CPU budget allows for 3 seeds
# of each arch (99% takes about 4x the epochs). The cap is tighter per epoch of 60,000 samples, and
# the ResNet trains in batches of 128 like the others (64 only helps its batch norm on tiny subsets).
FULL_SET = 10_000
FULL_TARGET_ACC: dict[str, float] = {"mnist": 0.99, "fashion_mnist": 0.95, "cifar10": 0.95}
# The ResNet's cap is 20: the cosine decays over the cap, so a cap far past the fitting epoch keeps the rate
# high. On Fashion-MNIST, seeds 0-2 fitted at 16-19 epochs under a cap of 30, 13-15 under 20, and one seed
# missed under 16 (0.9497 at its cap): runs/paper/epoch_caps_h200.json.
FULL_EPOCHS: dict[str, int] = {"mlp": 60, "cnn": 30, "resnet": 20}
FULL_BATCH: dict[str, int] = {"mlp": 128, "cnn": 128, "resnet": 128}
# Seeds an arch trains on a full set, when fewer than the profile's (none now: every stratum needs three
# fitted models, issue 21; the full profile trains its 18 models on 50,000 samples; its whole cold run: 75 min 33 s).
FULL_SEEDS: dict[str, int] = {}
AUTO = "auto"  # target_acc/epochs/batch from the tables above, by data set and training-set size


def full_set(n_train: int | None) -> bool:
    """True for the full training set or a subset large enough to use the full-set table."""
    return n_train is None or n_train > FULL_SET


def fit_target(dataset: str, n_train: int | None) -> float:
    """The training accuracy a model of this data set and size must reach to count as fitted."""
    return FULL_TARGET_ACC.get(dataset, TARGET_ACC) if full_set(n_train) else TARGET_ACC


def config(dataset: str, arch: str, seed: int = 0, *, n_train: int | None = N_TRAIN,
           n_test: int | None = N_TEST, epochs: int | None = None, labels: str = "true",
           data_seed: int = 0, lr: float | None = None, batch_size: int | None = None,
           target_acc: float | None | str = AUTO, **arch_kw: Any) -> TrainConfig:
    """The zoo's config for one model; ``arch_kw`` overrides the architecture options.

    ``target_acc="auto"`` (and ``epochs``/``batch_size`` None) take the zoo's tables for the size.
    """
    if arch not in ARCH_KW:
        raise ValueError(f"unknown arch {arch!r}; the zoo has {list(ARCH_KW)}")
    options = {**ARCH_KW[arch], **arch_kw}
    full = full_set(n_train)
    return TrainConfig(dataset=dataset, arch=arch, arch_kw=options, n_train=n_train, n_test=n_test,
                       epochs=(FULL_EPOCHS if full else EPOCHS)[arch] if epochs is None else epochs,
                       labels=labels, data_seed=data_seed, seed=seed, lr=LR[arch] if lr is None else lr,
                       batch_size=(FULL_BATCH if full else BATCH)[arch] if batch_size is None else batch_size,
                       target_acc=fit_target(dataset, n_train) if target_acc == AUTO else target_acc)


def arch_seeds(arch: str, seeds: Iterable[int], n_train: int | None) -> list[int]:
    """The seeds an arch trains: all of them, or on a full set the first ``FULL_SEEDS[arch]``."""
    seeds = list(seeds)
    return seeds[:FULL_SEEDS.get(arch, len(seeds))] if full_set(n_train) else seeds


def grid(datasets: Iterable[str], archs: Iterable[str], seeds: Iterable[int], **kw: Any
         ) -> list[TrainConfig]:
    """Configs for every (dataset, arch, seed) combination (seeds per arch as :func:`arch_seeds` says)."""
    n_train = kw.get("n_train", N_TRAIN)
    return [config(d, a, s, **kw) for d in datasets for a in archs for s in arch_seeds(a, seeds, n_train)]


def fitted(results: Iterable[TrainResult]) -> tuple[list[TrainResult], list[TrainResult]]:
    """``(kept, misfits)``: the models that reached their target training accuracy, and the others."""
    results = list(results)
    return [r for r in results if r.fitted], [r for r in results if not r.fitted]


def load(datasets: Iterable[str], archs: Iterable[str], seeds: Iterable[int], *,
         n_train: int | None = N_TRAIN, n_test: int | None = N_TEST,
         device: str | torch.device | None = None) -> tuple[list[TrainResult], list[TrainResult]]:
    """The one way every notebook gets the zoo: ``(fitted, misfits)``, trained or loaded from the cache.

    Taught in notebook 00; 01-05 load the same models through it (the cache key is the config).
    """
    configs = grid(datasets, archs, seeds, n_train=n_train, n_test=n_test)
    return fitted(train(c, device=device) for c in configs)


def untrained(config: TrainConfig, device: str | torch.device | None = None) -> nn.Module:
    """The network ``config`` starts training from (its epoch-0 weights), in eval mode.

    :func:`halfway_utils.train.train` seeds everything with ``config.seed`` and builds the model
    before any other draw, so this is the epoch-0 network; the global generators are left as
    they were (a forked RNG), so calling it changes no later draw.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(config)
    return model.to(pick_device(device)).eval()


def misfit_note(misfits: Iterable[TrainResult]) -> str:
    """One sentence naming the excluded models with their training accuracy ('' when none)."""
    names = [f"{r.config.label} (train acc {r.final['train_acc']:.3f} < {r.config.target_acc:g})"
             for r in misfits]
    return f"Excluded, not fitted: {', '.join(names)}." if names else ""
