"""What the benchmarks share: the machine record written beside every result, and a plain
Adam training loop for the small models some benchmarks measure on."""
from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

import torch
from torch import nn


def version(name: str) -> str:
    """Installed version of a distribution, or 'missing'."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as handle:
            names = [ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")]
        return names[0] if names else None
    except OSError:
        return None


def machine(**extra: Any) -> dict[str, Any]:
    """Where the numbers were measured (platform, CPU, threads, load, torch), plus ``extra``."""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "loadavg_1_5_15": load}
    info.update(extra)
    return info


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 1, seed: int = 0) -> nn.Module:
    """Adam (lr 1e-3), batch 64, seeded; returned in eval mode."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()
