"""Segments between pairs of samples: drawing the pairs, scanning them, summarising the flips.

- :func:`sample_pairs` draws seeded index pairs of different-class or same-class samples;
- :func:`scan_model_pairs` scans the segments ``a -> b`` of those pairs with one model;
- :func:`flip_summary` turns a :class:`~halfway_utils.methods.boundary.PathScan` into
  per-path arrays and the H1 summary (distance of the first flip from t = 0.5, share of
  flips within [0.4, 0.6], share of paths with a flip, third-class crossings);
- :func:`pair_distance` is the pixel distance ``||a - b||`` of each pair.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .boundary import PathScan, scan_paths

KINDS = ("different", "same")
MID_LOW, MID_HIGH = 0.4, 0.6


def sample_pairs(labels_a: Tensor | np.ndarray, labels_b: Tensor | np.ndarray | None = None, *,
                 n: int, kind: str = "different", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``n`` index pairs (i in A, j in B) whose labels differ (or agree), never i == j when B is A."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    la = np.asarray(labels_a).ravel()
    same_set = labels_b is None
    lb = la if same_set else np.asarray(labels_b).ravel()
    rng = np.random.default_rng(seed)
    idx_a: list[np.ndarray] = []
    idx_b: list[np.ndarray] = []
    need = n
    for _ in range(100):
        m = max(2 * need, 64)
        i, j = rng.integers(0, len(la), m), rng.integers(0, len(lb), m)
        ok = (la[i] != lb[j]) if kind == "different" else (la[i] == lb[j])
        if same_set:
            ok &= i != j
        idx_a.append(i[ok][:need])
        idx_b.append(j[ok][:need])
        need -= len(idx_a[-1])
        if need == 0:
            break
    if need > 0:
        raise ValueError(f"cannot find {n} {kind}-class pairs in these labels")
    return np.concatenate(idx_a)[:n], np.concatenate(idx_b)[:n]


def flip_summary(scan: PathScan) -> dict[str, Any]:
    """Per-path arrays (``per_path``) and summary numbers of the flips found along each path."""
    first = scan.first_flip.numpy().astype(float)
    last = scan.last_flip.numpy().astype(float)
    n_flips = scan.n_flips.numpy()
    third = scan.passes_third_class.numpy()
    has = n_flips > 0
    dist = np.abs(first - 0.5)
    mid = (first >= MID_LOW) & (first <= MID_HIGH)
    per_path = {"first_flip": first, "last_flip": last, "n_flips": n_flips, "abs_first": dist,
                "first_mid": mid.astype(float), "has_flip": has.astype(float),
                "third_class": third.astype(float)}
    with np.errstate(all="ignore"):
        summary = {
            "n_paths": int(len(first)),
            "median_abs_first": float(np.nanmedian(dist)) if has.any() else float("nan"),
            "share_first_mid": float(mid[has].mean()) if has.any() else float("nan"),
            "share_flip": float(has.mean()) if len(has) else float("nan"),
            "mean_n_flips": float(n_flips.mean()) if len(n_flips) else float("nan"),
            "share_third_class": float(third.mean()) if len(third) else float("nan"),
            "median_first": float(np.nanmedian(first)) if has.any() else float("nan"),
            "median_last": float(np.nanmedian(last)) if has.any() else float("nan"),
        }
    return {"per_path": per_path, **summary}


def scan_model_pairs(model: Callable[[Tensor], Tensor], x_a: Tensor, x_b: Tensor,
                     idx_a: np.ndarray, idx_b: np.ndarray, **scan_kw: Any) -> PathScan:
    """Scan the segments ``x_a[idx_a] -> x_b[idx_b]`` with one model (eval mode, on its device)."""
    param = next(model.parameters(), None) if hasattr(model, "parameters") else None
    device = param.device if param is not None else torch.device("cpu")
    a = x_a[torch.as_tensor(idx_a)].to(device)
    b = x_b[torch.as_tensor(idx_b)].to(device)
    return scan_paths(model, a, b, **scan_kw)


def pair_distance(x_a: Tensor, x_b: Tensor, idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """L2 distance ||a - b|| in pixel space for each pair."""
    a, b = x_a[torch.as_tensor(idx_a)].flatten(1), x_b[torch.as_tensor(idx_b)].flatten(1)
    return (a - b).norm(dim=1).numpy()


def pair_flips(model: Callable[[Tensor], Tensor], x_a: Tensor, x_b: Tensor, idx_a: np.ndarray,
               idx_b: np.ndarray, **scan_kw: Any) -> dict[str, Any]:
    """:func:`flip_summary` of one model's scan of the segments ``x_a[idx_a] -> x_b[idx_b]``."""
    return flip_summary(scan_model_pairs(model, x_a, x_b, idx_a, idx_b, **scan_kw))
