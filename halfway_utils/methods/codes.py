"""SOM codes of a network's layers, and the statistics of codes against labels.

A model's *layers* here are ``"input"`` (the pixels, flattened) followed by the named
stages of :meth:`halfway_utils.models.StagedNet.activations` (the last is ``logits``).
:class:`LayerCodes` fits one :class:`~halfway_utils.methods.som.SOM` per layer, all with
the same grid and seed, on the activations of a fixed sample; the *code* of an input at a
layer is the flat index ``r * cols + c`` of its best-matching unit on that layer's SOM.
The SOMs stay fixed afterwards, so the codes of perturbed inputs are read on the maps
fitted to clean activations, and a change of code means the input moved to another
region of the clean representation.

- :func:`layer_activations`, :class:`LayerCodes`: the activations and codes per layer;
- :func:`first_change`: per input, the first layer whose code a perturbation changes;
- :func:`joint_counts`, :func:`code_metrics`, :func:`occupancy`: how codes and classes meet
  (diversity, purity, mutual information, unit-by-class hit counts);
- :func:`shuffled_mi`: the MI the same codes show with shuffled labels (the plug-in bias);
- :func:`code_change_rate`: the share of inputs whose code differs between two readings.

Code statistics accept torch tensors, numpy arrays or sequences of integers and compute in
float64 numpy; entropies are in bits, with ``0 log 0 = 0`` and the plug-in estimator.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..models import eval_mode
from .som import SOM

__all__ = ["INPUT", "LayerCodes", "code_change_rate", "code_metrics", "first_change", "joint_counts",
           "layer_activations", "occupancy", "shuffled_mi"]

IntCodes = torch.Tensor | np.ndarray | Sequence[int]  # 1-D integer codes or labels

INPUT = "input"


def layer_activations(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024
                      ) -> OrderedDict[str, torch.Tensor]:
    """``{"input": pixels, stage: activations, ...}``, each ``(N, features)`` float32 on CPU.

    Batched, in eval mode and under ``no_grad``; the model's training flags are restored.
    """
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch, got shape {tuple(x.shape)}")
    device = next(model.parameters()).device
    parts: dict[str, list[torch.Tensor]] = OrderedDict((name, []) for name in [INPUT, *model.layer_names])
    with eval_mode(model), torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            parts[INPUT].append(xb.flatten(1).float().cpu())
            for name, h in model.activations(xb.to(device)).items():
                parts[name].append(h.float().cpu())
    return OrderedDict((name, torch.cat(chunks)) for name, chunks in parts.items())


class LayerCodes:
    """One SOM per layer of a model, fitted on clean activations of a fixed sample.

    Parameters
    ----------
    model:
        A :class:`~halfway_utils.models.StagedNet`.
    rows, cols:
        The grid shared by every layer's SOM.
    seed:
        Seed of every SOM (the same for all layers).
    epochs:
        Batch-SOM epochs per layer.
    layers:
        Layers to code (default: ``"input"`` and every stage).
    device:
        Device of the SOMs (default CPU); the codes come back on it.
    """

    def __init__(self, model: nn.Module, rows: int, cols: int, *, seed: int = 0, epochs: int = 10,
                 layers: list[str] | None = None, device: torch.device | str | None = None) -> None:
        known = [INPUT, *model.layer_names]
        self.layers = known if layers is None else list(layers)
        unknown = [name for name in self.layers if name not in known]
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}; this model has {known}")
        if not self.layers:
            raise ValueError("need at least one layer")
        self.model, self.rows, self.cols = model, int(rows), int(cols)
        self.seed, self.epochs = int(seed), int(epochs)
        self.device = device
        self.soms: OrderedDict[str, SOM] = OrderedDict()

    @property
    def n_units(self) -> int:
        """Units per SOM (``rows * cols``)."""
        return self.rows * self.cols

    def _activations(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        acts = layer_activations(self.model, x)
        return OrderedDict((name, acts[name]) for name in self.layers)

    def fit(self, x: torch.Tensor, *, given: Mapping[str, SOM] | None = None,
            activations: Mapping[str, torch.Tensor] | None = None) -> OrderedDict[str, torch.Tensor]:
        """Fit every layer's SOM on the activations of ``x``; return the codes of ``x``.

        ``given`` maps layers to SOMs already fitted on the same activations (the pixel SOM,
        which every model of a data set shares for a given seed and grid): they are reused.
        ``activations``: :func:`layer_activations` of ``x``, when the caller has them already.
        """
        codes: OrderedDict[str, torch.Tensor] = OrderedDict()
        acts = self._activations(x) if activations is None else {name: activations[name] for name in self.layers}
        for name, a in acts.items():
            som = (given or {}).get(name)
            if som is None or (som.rows, som.cols, som.dim) != (self.rows, self.cols, a.shape[1]):
                som = SOM(self.rows, self.cols, a.shape[1], seed=self.seed, device=self.device)
                som.fit(a, epochs=self.epochs)
            self.soms[name] = som
            codes[name] = som.bmu(a)
        return codes

    def codes(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Codes (flat BMU indices, ``(N,)`` long) of ``x`` at every layer, on the fitted SOMs."""
        return self.read(x)[0]

    def read(self, x: torch.Tensor) -> tuple[OrderedDict[str, torch.Tensor], torch.Tensor]:
        """The codes of ``x`` (as :meth:`codes`) and the model's predicted classes, from one forward pass."""
        if len(self.soms) != len(self.layers):
            raise RuntimeError("call fit() before codes()")
        acts = layer_activations(self.model, x)
        codes = OrderedDict((name, self.soms[name].bmu(acts[name])) for name in self.layers)
        return codes, next(reversed(acts.values())).argmax(1)


def first_change(clean: OrderedDict[str, torch.Tensor], perturbed: OrderedDict[str, torch.Tensor]
                 ) -> np.ndarray:
    """Per input, the index of the first layer whose code differs; ``-1`` where none does.

    ``clean`` and ``perturbed`` map the same layers, in depth order, to ``(N,)`` codes.
    """
    if list(clean) != list(perturbed):
        raise ValueError(f"layers differ: {list(clean)} vs {list(perturbed)}")
    if not clean:
        raise ValueError("no layers")
    def arr(v: torch.Tensor | np.ndarray) -> np.ndarray:
        return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)

    changed = np.stack([arr(clean[k]) != arr(perturbed[k]) for k in clean], axis=1)
    return np.where(changed.any(1), changed.argmax(1), -1)


def _as_int_array(values: IntCodes, name: str) -> np.ndarray:
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


def _codes_labels(codes: IntCodes, labels: IntCodes, n_units: int, n_classes: int | None
                  ) -> tuple[np.ndarray, np.ndarray, int, int]:
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


def joint_counts(codes: IntCodes, labels: IntCodes, n_units: int, n_classes: int | None = None) -> np.ndarray:
    """``(n_units, n_classes)`` int64 array of how many samples of each class hit each unit."""
    c, y, n_units, n_classes = _codes_labels(codes, labels, n_units, n_classes)
    return np.bincount(c * n_classes + y, minlength=n_units * n_classes).reshape(n_units, n_classes)


def code_metrics(codes: IntCodes, labels: IntCodes, n_units: int, n_classes: int | None = None
                 ) -> dict[str, float]:
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


def code_change_rate(clean_codes: IntCodes, adv_codes: IntCodes) -> float:
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


def occupancy(codes: IntCodes, labels: IntCodes, rows: int, cols: int, n_classes: int) -> torch.Tensor:
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


def shuffled_mi(codes: IntCodes, labels: IntCodes, n_units: int, n_classes: int | None = None, *,
                n_shuffles: int = 20, seed: int = 0) -> float:
    """Mean normalized MI between ``codes`` and ``n_shuffles`` seeded permutations of ``labels``.

    The same codes with the labels shuffled carry no class information, so this is the MI that a
    code of this many used units shows by chance (the plug-in estimator's bias, which grows with
    the number of units); ``normalized_mi - shuffled_mi`` is the class information above it.
    """
    c, y, n_units, n_classes = _codes_labels(codes, labels, n_units, n_classes)
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, (int, np.integer)) or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive integer, got {n_shuffles!r}")
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(y) for _ in range(int(n_shuffles))])  # (K, N)
    cells = n_units * n_classes
    flat = (np.arange(len(perms))[:, None] * cells + c[None, :] * n_classes + perms).ravel()
    joint = np.bincount(flat, minlength=len(perms) * cells).reshape(len(perms), cells).astype(np.float64)
    n = float(c.size)
    p = joint / n
    with np.errstate(divide="ignore", invalid="ignore"):
        h_joint = -np.where(p > 0, p * np.log2(p), 0.0).sum(1)
    h_code = _entropy_bits(np.bincount(c, minlength=n_units))
    h_label = _entropy_bits(np.bincount(y, minlength=n_classes))
    if h_label <= 0:
        return float("nan")
    mi = np.maximum(0.0, h_code + h_label - h_joint)
    return float(np.mean(mi / h_label))

