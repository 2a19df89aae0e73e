"""Statistics of SOM codes (best-matching units) against class labels.

A *code* is the flat index ``r * cols + c`` of an input's best-matching unit on
a ``rows x cols`` SOM (see :mod:`halfway_utils.som`). Homogeneous codes (few
units, low entropy) are what the paper reports for shallow layers, diverse and
class-specific codes for deep ones.

All functions accept torch tensors, numpy arrays or sequences of integers and
compute in float64 numpy; scalar results are plain python floats. Entropies are
in bits, with ``0 log 0 = 0`` and the plug-in (empirical frequency) estimator.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["code_metrics", "code_change_rate", "occupancy", "joint_counts"]


def _as_int_array(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_range(arr: np.ndarray, upper: int, name: str, upper_name: str) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        raise ValueError(
            f"{name} must lie in [0, {upper_name}={upper}), got range [{arr.min()}, {arr.max()}]"
        )


def _entropy_bits(counts: np.ndarray) -> float:
    counts = np.asarray(counts, dtype=np.float64).ravel()
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(max(0.0, -(p * np.log2(p)).sum()))


def _codes_labels(codes, labels, n_units: int, n_classes: int | None):
    if isinstance(n_units, bool) or not isinstance(n_units, (int, np.integer)) or n_units < 1:
        raise ValueError(f"n_units must be a positive integer, got {n_units!r}")
    c = _as_int_array(codes, "codes")
    y = _as_int_array(labels, "labels")
    if c.shape != y.shape:
        raise ValueError(f"codes and labels differ in length: {c.shape[0]} vs {y.shape[0]}")
    if c.size == 0:
        raise ValueError("codes and labels are empty")
    if n_classes is None:
        if y.min() < 0:
            raise ValueError(f"labels must be >= 0, got min {y.min()}")
        n_classes = int(y.max()) + 1
    elif isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    _check_range(c, int(n_units), "codes", "n_units")
    _check_range(y, int(n_classes), "labels", "n_classes")
    return c, y, int(n_units), int(n_classes)


def joint_counts(codes, labels, n_units: int, n_classes: int | None = None) -> np.ndarray:
    """``(n_units, n_classes)`` int64 array of how many samples of each class hit each unit."""
    c, y, n_units, n_classes = _codes_labels(codes, labels, n_units, n_classes)
    return np.bincount(c * n_classes + y, minlength=n_units * n_classes).reshape(n_units, n_classes)


def code_metrics(codes, labels, n_units: int, n_classes: int | None = None) -> dict[str, float]:
    """Diversity and class structure of SOM codes.

    Parameters
    ----------
    codes:
        ``(N,)`` integer BMU indices in ``[0, n_units)``.
    labels:
        ``(N,)`` integer class labels in ``[0, n_classes)``.
    n_units:
        Number of SOM units (``rows * cols``).
    n_classes:
        Number of classes (default ``max(labels) + 1``).

    Returns
    -------
    dict of python floats; with ``p(u)`` the share of samples coded ``u``,
    ``p(y)`` the share of class ``y`` and ``n(u, y)`` the joint counts:

    ``units_used``
        Number of units that are the BMU of at least one sample.
    ``units_used_frac``
        ``units_used / n_units``.
    ``entropy_bits``
        ``H(code) = -sum_u p(u) log2 p(u)``.
    ``max_entropy_bits``
        ``log2(n_units)``, the entropy of a uniform use of every unit.
    ``normalized_entropy``
        ``H(code) / log2(n_units)`` in ``[0, 1]`` (0 when ``n_units == 1``).
    ``class_conditional_entropy_bits``
        ``H(code | label) = sum_y p(y) H(code | label = y)``: the code entropy
        within each class, averaged with the class frequencies as weights.
    ``purity``
        ``sum_u max_y n(u, y) / N``: share of samples whose unit's majority
        class is their own class (1 when no unit mixes classes).
    ``mutual_information_bits``
        ``I(code; label) = H(code) - H(code | label)``.
    ``label_entropy_bits``
        ``H(label)``.
    ``normalized_mi``
        ``I(code; label) / H(label)`` in ``[0, 1]``: 1 when the code determines
        the label. ``nan`` when ``H(label) = 0`` (a single class present).
    ``shared_units``
        Number of used units hit by samples of two or more classes.
    ``shared_units_frac``
        ``shared_units / units_used``.
    ``n_samples``
        ``N``.
    """
    c, y, n_units, n_classes = _codes_labels(codes, labels, n_units, n_classes)
    joint = np.bincount(c * n_classes + y, minlength=n_units * n_classes).reshape(n_units, n_classes)
    n = int(c.size)
    unit_counts = joint.sum(1)
    class_counts = joint.sum(0)
    used = unit_counts > 0
    units_used = int(used.sum())

    h_code = _entropy_bits(unit_counts)
    h_label = _entropy_bits(class_counts)
    h_joint = _entropy_bits(joint)
    h_code_given_label = max(0.0, h_joint - h_label)
    mi = max(0.0, h_code - h_code_given_label)
    max_h = math.log2(n_units)
    shared = int(((joint > 0).sum(1) >= 2).sum())

    return {
        "units_used": float(units_used),
        "units_used_frac": units_used / n_units,
        "entropy_bits": h_code,
        "max_entropy_bits": max_h,
        "normalized_entropy": h_code / max_h if max_h > 0 else 0.0,
        "class_conditional_entropy_bits": h_code_given_label,
        "purity": float(joint.max(1).sum() / n),
        "mutual_information_bits": mi,
        "label_entropy_bits": h_label,
        "normalized_mi": mi / h_label if h_label > 0 else float("nan"),
        "shared_units": float(shared),
        "shared_units_frac": shared / units_used,
        "n_samples": float(n),
    }


def code_change_rate(clean_codes, adv_codes) -> float:
    """Fraction of inputs whose code differs between clean and adversarial versions.

    Both arguments are ``(N,)`` integer codes of the same inputs in the same order.
    """
    a = _as_int_array(clean_codes, "clean_codes")
    b = _as_int_array(adv_codes, "adv_codes")
    if a.shape != b.shape:
        raise ValueError(f"clean_codes and adv_codes differ in length: {a.shape[0]} vs {b.shape[0]}")
    if a.size == 0:
        raise ValueError("codes are empty")
    return float(np.mean(a != b))


def occupancy(codes, labels, rows: int, cols: int, n_classes: int) -> torch.Tensor:
    """Unit-by-class hit counts as a ``(rows, cols, n_classes)`` int64 tensor.

    ``occupancy(...)[r, c, y]`` is the number of class-``y`` samples whose BMU is
    unit ``r * cols + c``; summing over the last axis gives the hit map, and the
    argmax over it the majority-class map.
    """
    for name, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    joint = joint_counts(codes, labels, int(rows) * int(cols), n_classes)
    return torch.from_numpy(np.ascontiguousarray(joint)).reshape(int(rows), int(cols), int(n_classes))
