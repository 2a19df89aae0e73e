"""Device choice, seeding and quiet progress bars."""
from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: the argument, else ``HALFWAY_DEVICE``, else cuda, mps, cpu."""
    choice = device if device is not None else os.environ.get("HALFWAY_DEVICE") or None
    if choice is not None:
        try:
            return torch.device(choice)
        except RuntimeError as err:
            raise ValueError(f"unknown device {choice!r}; use cpu, cuda, cuda:N or mps") from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def interactive() -> bool:
    """True in a terminal or a live notebook, False under papermill, CI or a pipe."""
    if os.environ.get("HALFWAY_QUIET") or os.environ.get("CI") or "papermill" in sys.modules:
        return False
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def progress(iterable: Iterable[T], **kw) -> Iterable[T]:
    """A text tqdm bar when interactive, nothing otherwise (no widget spam in outputs)."""
    from tqdm.std import tqdm

    return tqdm(iterable, disable=not interactive(), mininterval=1.0, file=sys.stderr, **kw)
