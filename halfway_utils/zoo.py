"""The standard model configurations shared by all notebooks.

Notebooks build their models through :func:`config`, so the same (dataset, arch,
seed, size) gives the same cache key everywhere: a model trained by one notebook is
loaded, not retrained, by the next.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .train import TrainConfig

# Architecture options and epochs of the zoo (the quick profile trains small subsets).
ARCH_KW: dict[str, dict[str, Any]] = {
    "mlp": {"width": 256, "depth": 2},
    "cnn": {"width": 16, "hidden": 128},
    "resnet": {"width": 8, "blocks": 1},
}
EPOCHS: dict[str, int] = {"mlp": 10, "cnn": 8, "resnet": 8}
# Adam with cosine decay; the ResNet (batch norm, small subsets) needs smaller batches to settle.
LR: dict[str, float] = {"mlp": 1e-3, "cnn": 3e-3, "resnet": 3e-3}
BATCH: dict[str, int] = {"mlp": 128, "cnn": 128, "resnet": 64}


def config(dataset: str, arch: str, seed: int = 0, *, n_train: int | None = 2000,
           n_test: int | None = 2000, epochs: int | None = None, labels: str = "true",
           data_seed: int = 0, lr: float | None = None, batch_size: int | None = None,
           **arch_kw: Any) -> TrainConfig:
    """The zoo's config for one model; ``arch_kw`` overrides the architecture options."""
    if arch not in ARCH_KW:
        raise ValueError(f"unknown arch {arch!r}; the zoo has {list(ARCH_KW)}")
    options = {**ARCH_KW[arch], **arch_kw}
    return TrainConfig(dataset=dataset, arch=arch, arch_kw=options, n_train=n_train, n_test=n_test,
                       epochs=EPOCHS[arch] if epochs is None else epochs, labels=labels,
                       data_seed=data_seed, seed=seed, lr=LR[arch] if lr is None else lr,
                       batch_size=BATCH[arch] if batch_size is None else batch_size)


def grid(datasets: Iterable[str], archs: Iterable[str], seeds: Iterable[int], **kw: Any
         ) -> list[TrainConfig]:
    """Configs for every (dataset, arch, seed) combination."""
    return [config(d, a, s, **kw) for d in datasets for a in archs for s in seeds]
