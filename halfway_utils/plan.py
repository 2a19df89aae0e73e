"""What a run will train and how long it should take, before it starts.

``./run_all.sh --profile full`` (or paper) prints :func:`describe` first: every model of
the zoo the profile asks for, its size, whether the cache already holds it, and an
estimate from the training speed measured here and now (a few batches per
architecture) times the epochs a model needs (the last run's, from its
``results/00_data_and_models.json``, else the epoch cap, an upper bound).
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import data, models, zoo
from .infra import store
from .infra.device import pick_device
from .train import CACHE_VERSION, TrainConfig, build_model, train_epoch

EVAL_SPEEDUP = 3.0  # a forward pass in eval mode costs about a third of a training step


@dataclass(frozen=True)
class PlannedModel:
    """One model of the plan: its config, whether it is cached, its epochs and estimated seconds."""

    config: TrainConfig
    cached: bool
    epochs: int
    epochs_source: str  # "last run", "cap" or "cached"
    seconds: float


def images_per_second(config: TrainConfig, device: torch.device, steps: int = 8) -> float:
    """Training images per second of the config's model and batch size, measured on ``device``."""
    meta = data.info(config.dataset)
    model = models.fast_layout(build_model(config).to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x = models.fast_inputs(model, torch.rand(steps * config.batch_size, *meta.shape, device=device))
    y = torch.randint(0, len(meta.classes), (len(x),), device=device)
    generator = torch.Generator().manual_seed(0)
    # warm-up (first-call allocations and kernel choice): two steps of the zoo's own epoch loop
    train_epoch(model, optimizer, x[:2 * config.batch_size], y[:2 * config.batch_size], config.batch_size, generator)
    start = time.perf_counter()
    train_epoch(model, optimizer, x, y, config.batch_size, generator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(x) / (time.perf_counter() - start)


def last_epochs(results_file: Path) -> dict[tuple[str, str, int], int]:
    """Epochs each (dataset, arch, seed) model needed in the last run (empty when there is none)."""
    try:
        models_run = json.loads(Path(results_file).read_text())["results"]["models"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {(m["dataset"], m["arch"], int(m["seed"])): int(m["epochs"]) for m in models_run if "epochs" in m}


def sizes(config: TrainConfig) -> tuple[int, int]:
    """(training, test) samples the config uses."""
    full = data.info(config.dataset).sizes
    return (config.n_train or full["train"], config.n_test or full["test"])


def plan(configs: Iterable[TrainConfig], *, results_file: Path | None = None,
         device: str | torch.device | None = None) -> list[PlannedModel]:
    """Each config with its cache status and estimated training seconds on ``device``."""
    device = pick_device(device)
    known = last_epochs(results_file) if results_file else {}
    speed: dict[tuple[Any, ...], float] = {}
    out = []
    for config in configs:
        if store.entry_path("models", config.key).exists():
            out.append(PlannedModel(config, True, 0, "cached", 0.0))
            continue
        epochs = known.get((config.dataset, config.arch, config.seed))
        source = "last run" if epochs is not None else "cap"
        epochs = config.epochs if epochs is None else min(epochs, config.epochs)
        probe = (data.info(config.dataset).shape, config.arch, config.batch_size)
        if probe not in speed:
            speed[probe] = images_per_second(config, device)
        n_train, n_test = sizes(config)
        per_epoch = n_train / speed[probe] + (n_train + n_test) / (EVAL_SPEEDUP * speed[probe])
        out.append(PlannedModel(config, False, epochs, source, epochs * per_epoch))
    return out


def describe(planned: list[PlannedModel], notebook_seconds: Mapping[str, float] | None = None,
             device: str | torch.device | None = None) -> str:
    """The plan as text: one line per model, then the totals and the notebooks' last timings."""
    device = pick_device(device)
    lines = [f"plan on {device.type} ({torch.get_num_threads()} torch threads), cache version {CACHE_VERSION}:"]
    for item in planned:
        n_train, n_test = sizes(item.config)
        what = ("cached" if item.cached else
                f"train ~{item.seconds / 60:5.1f} min ({item.epochs} epochs, {item.epochs_source})")
        lines.append(f"  {item.config.label:<28} n_train={n_train:<6} n_test={n_test:<6} "
                     f"target {item.config.target_acc}  {what}")
    todo = [p for p in planned if not p.cached]
    total = sum(p.seconds for p in todo)
    lines.append(f"  {len(planned)} zoo models, {len(todo)} to train: ~{total / 60:.0f} min of training"
                 + (" (an upper bound: epoch caps)" if any(p.epochs_source == "cap" for p in todo) else ""))
    if notebook_seconds:
        last = sum(notebook_seconds.values())
        lines.append(f"  last run of these notebooks with this profile: {last / 60:.0f} min in all "
                     f"({', '.join(f'{k[:2]} {v / 60:.1f}' for k, v in notebook_seconds.items())} min)")
    return "\n".join(lines)


def run_configs(plan_values: Iterable[Mapping[str, Any]]) -> list[TrainConfig]:
    """The zoo models a run of several notebooks trains, each once, in the order the notebooks ask for them."""
    configs: list[TrainConfig] = []
    for values in plan_values:
        configs += [c for c in zoo_configs(values) if c not in configs]
    return configs


def zoo_configs(values: Mapping[str, Any]) -> list[TrainConfig]:
    """The zoo models a notebook's parameters ask for (``datasets`` x ``archs`` x ``seeds`` at its sizes)."""
    if not all(k in values for k in ("datasets", "archs", "seeds")):
        return []
    return zoo.grid(values["datasets"], values["archs"], values["seeds"],
                    n_train=values.get("n_train", zoo.N_TRAIN), n_test=values.get("n_test", zoo.N_TEST))
