"""Train a model from a config, with the weights cached on disk by the config's hash.

``train(TrainConfig(...))`` returns a :class:`TrainResult`: the model in eval mode,
its per-epoch metrics, the training labels it really saw (random-label runs need
them) and optional checkpoints. The whole subset lives on the device and batches are
index slices of it (no DataLoader, no per-sample Python). A second call with the
same config loads the cached entry instead of training; a corrupt entry is rebuilt.
Same config and seed give the same weights and metrics on the same machine.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn

from . import data, models
from .infra import store
from .infra.device import pick_device, progress, seed_everything
from .infra.progress import stage

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # bump when training code changes what a config produces (2: labels per seed, targets;
# 3: conv nets train in channels_last, evaluation in batches of 256)
LABEL_MODES = ("true", "random", "noisy")
EPOCH_LINES_FROM = 10_000  # training sets larger than this report every epoch as a stage line
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model; its hash is the cache key."""

    dataset: str = "mnist"
    arch: str = "mlp"
    arch_kw: tuple[tuple[str, Any], ...] = ()
    n_train: int | None = 2000
    n_test: int | None = 2000
    data_seed: int = 0
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    labels: str = "true"
    noise: float = 0.0
    seed: int = 0
    target_acc: float | None = None  # stop after the first epoch whose training accuracy reaches it

    def __post_init__(self) -> None:
        if isinstance(self.arch_kw, dict):
            object.__setattr__(self, "arch_kw", tuple(sorted(self.arch_kw.items())))
        data.info(self.dataset)
        _check(self.arch in models.MODELS, f"unknown arch {self.arch!r}; valid: {list(models.MODELS)}")
        _check(self.labels in LABEL_MODES, f"labels must be one of {LABEL_MODES}, got {self.labels!r}")
        _check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}")
        _check(self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        _check(_is_int(self.epochs) and self.epochs >= 0, f"epochs must be an int >= 0, got {self.epochs!r}")
        _check(_is_int(self.batch_size) and self.batch_size >= 1, "batch_size must be an int >= 1")
        _check(isinstance(self.lr, (int, float)) and self.lr > 0, f"lr must be > 0, got {self.lr!r}")
        _check(0.0 <= self.noise <= 1.0, f"noise must be in [0, 1], got {self.noise!r}")
        _check(self.target_acc is None or 0.0 < self.target_acc <= 1.0,
               f"target_acc must be None or in (0, 1], got {self.target_acc!r}")
        _check(self.labels != "noisy" or self.noise > 0, "labels='noisy' needs noise > 0")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (arch_kw as a dict), for JSON and the ledger."""
        out = asdict(self)
        out["arch_kw"] = dict(self.arch_kw)
        return out

    @property
    def key(self) -> str:
        """Cache key: a hash of the config and the cache version."""
        return store.config_key({"config": self.as_dict(), "version": CACHE_VERSION})

    @property
    def label(self) -> str:
        """Short human name, e.g. ``cnn/mnist/seed1``."""
        extra = "" if self.labels == "true" else f"/{self.labels}"
        return f"{self.arch}/{self.dataset}{extra}/seed{self.seed}"

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return TrainConfig(**values)


@dataclass
class TrainResult:
    """A trained model (eval mode) and what its training measured."""

    model: models.StagedNet
    config: TrainConfig
    history: dict[str, list[float]]
    train_labels: torch.Tensor
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    cache_hit: bool = False
    seconds: float = 0.0

    @property
    def fitted(self) -> bool:
        """True when the model reached its config's target training accuracy (or has none)."""
        target = self.config.target_acc
        return target is None or self.final["train_acc"] >= target

    @property
    def final(self) -> dict[str, float]:
        """Metrics after the last epoch."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def model_at(self, epoch: int) -> models.StagedNet:
        """A copy of the model with the weights of a stored checkpoint."""
        if epoch not in self.checkpoints:
            raise KeyError(f"no checkpoint at epoch {epoch}; stored: {sorted(self.checkpoints)}")
        model = build_model(self.config).to(next(self.model.parameters()).device)
        model.load_state_dict(self.checkpoints[epoch])
        return model.eval()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def build_model(config: TrainConfig) -> models.StagedNet:
    """The untrained model a config describes."""
    meta = data.info(config.dataset)
    return models.build(config.arch, in_shape=meta.shape, num_classes=len(meta.classes),
                        **dict(config.arch_kw))


def training_labels(config: TrainConfig, labels: torch.Tensor) -> torch.Tensor:
    """The labels the model is trained on: true, all random, or a random fraction."""
    if config.labels == "true":
        return labels
    # A fresh labeling per model seed (and per data subset): random-label runs replicate over labelings.
    generator = torch.Generator().manual_seed(10_000 + 1_000 * config.data_seed + config.seed)
    random_labels = torch.randint(0, int(labels.max()) + 1, labels.shape, generator=generator)
    if config.labels == "random":
        return random_labels
    flip = torch.rand(labels.shape, generator=generator) < config.noise
    return torch.where(flip, random_labels, labels)


def load_split(config: TrainConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The subset of a split that a config trains or tests on (labels as given)."""
    n = config.n_train if split == "train" else config.n_test
    return data.load(config.dataset, split, n=n, seed=config.data_seed)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = models.EVAL_BATCH
             ) -> tuple[float, float]:
    """Accuracy and mean cross-entropy, batched, in eval mode."""
    correct, loss = 0, 0.0
    with models.eval_mode(model):
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size])
            target = y[start:start + batch_size]
            loss += nn.functional.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    return correct / len(x), loss / len(x)


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay)


EpochHook = Callable[[int, dict[str, list[float]]], None]


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                batch_size: int, generator: torch.Generator,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> None:
    """One pass over the whole set held as one tensor, in shuffled index-slice batches."""
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def _fit(config: TrainConfig, device: torch.device, checkpoint_epochs: tuple[int, ...],
         on_epoch: EpochHook | None = None) -> dict[str, Any]:
    """Train from scratch; return the payload that the cache stores."""
    seed_everything(config.seed)
    x_train, y_true = load_split(config, "train")
    y_train = training_labels(config, y_true)
    x_test, y_test = load_split(config, "test")
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))
    model = models.fast_layout(build_model(config).to(device))
    x_train, x_test = models.fast_inputs(model, x_train), models.fast_inputs(model, x_test)
    optimizer = _optimizer(config, model)
    steps = config.epochs * -(-len(x_train) // config.batch_size)
    # Cosine decay per step: a stable end point for small-batch Adam on small subsets.
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
                 if config.schedule == "cosine" else None)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    history: dict[str, list[float]] = {k: [] for k in
                                       ("epoch", "train_acc", "train_loss", "test_acc", "test_loss")}
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}

    def record(epoch: int) -> None:
        train_acc, train_loss = evaluate(model, x_train, y_train)
        test_acc, test_loss = evaluate(model, x_test, y_test)
        for key, value in zip(history, (epoch, train_acc, train_loss, test_acc, test_loss)):
            history[key].append(value)
        if epoch in checkpoint_epochs:
            checkpoints[epoch] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    record(0)
    for epoch in progress(range(1, config.epochs + 1), desc=config.label, leave=False):
        train_epoch(model, optimizer, x_train, y_train, config.batch_size, generator, scheduler)
        record(epoch)
        if len(x_train) > EPOCH_LINES_FROM:
            stage(f"{config.label} epoch {epoch}/{config.epochs}: train acc {history['train_acc'][-1]:.4f}")
        if on_epoch is not None:
            on_epoch(epoch, history)
        if config.target_acc is not None and history["train_acc"][-1] >= config.target_acc:
            break  # fitted: ``epochs`` is a cap
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"version": CACHE_VERSION, "config": config.as_dict(), "state_dict": state,
            "history": history, "checkpoints": checkpoints, "train_labels": y_train.cpu()}


def train(config: TrainConfig, *, checkpoints: tuple[int, ...] | list[int] = (),
          device: str | torch.device | None = None, use_cache: bool = True,
          on_epoch: EpochHook | None = None) -> TrainResult:
    """Train (or load from the cache) the model a config describes.

    ``on_epoch(epoch, history)`` is called after each trained epoch (not on a cache hit).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train() takes a TrainConfig, got {type(config).__name__}")
    wanted = tuple(sorted({int(e) for e in checkpoints}))
    bad = [e for e in wanted if not 0 <= e <= config.epochs]
    _check(not bad, f"checkpoint epochs {bad} are outside 0..{config.epochs}")
    device = pick_device(device)
    key = config.key + ("" if not wanted else "-ckpt" + store.config_key(list(wanted))[:8])
    path = store.entry_path("models", key)
    start = time.perf_counter()
    payload, hit = store.load_or_build(path, lambda: _fit(config, device, wanted, on_epoch), use_cache=use_cache)
    if not hit:
        stage(f"trained {config.label} (n_train={config.n_train}) in {time.perf_counter() - start:.0f} s: "
              f"{len(payload['history']['epoch']) - 1} epochs, train acc {payload['history']['train_acc'][-1]:.4f}")
    if payload.get("config") != config.as_dict():
        log.warning("cache entry %s holds another config; retraining", path)
        payload = _fit(config, device, wanted, on_epoch)
        store.save(payload, path)
        hit = False
    model = build_model(config)
    model.load_state_dict(payload["state_dict"])
    model = models.fast_layout(model.to(device)).eval()
    return TrainResult(model=model, config=config, history=payload["history"],
                       train_labels=payload["train_labels"], checkpoints=payload["checkpoints"],
                       cache_hit=hit, seconds=time.perf_counter() - start)


def train_many(configs: list[TrainConfig], **kw: Any) -> list[TrainResult]:
    """Train (or load) several configs in order."""
    return [train(config, **kw) for config in configs]
