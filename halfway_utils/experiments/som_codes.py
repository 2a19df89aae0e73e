"""SOM codes across depth, clean and under attack: the experiment of notebook 04 (S1, S2).

Paper 2 (Lee & Vijayan) says shallow layers map inputs onto homogeneous codes and deep
layers onto diverse ones (S1), and that homogeneous codes may underlie the vulnerability
to adversarial perturbations (S2). For every model of the zoo we fit one SOM per layer on
a fixed clean test sample (:func:`fit_zoo`), measure the codes per layer
(:func:`code_metrics_table`), decide S1 on the last minus the first hidden layer per model
(:func:`s1_deltas`, :func:`record_s1`), attack the sample with FGSM and PGD and read the
adversarial codes on the clean SOMs (:func:`attack_codes`), and decide S2 on the partial
Spearman correlation, given depth, between a layer's homogeneity and its code change rate
(:func:`homogeneity_points`, :func:`s2_estimates`, :func:`record_s2`).

A model's *layers* here are ``"input"`` (the pixels, flattened) followed by the named
stages of :meth:`halfway_utils.models.StagedNet.activations` (the last is ``logits``).
:class:`LayerCodes` fits one :class:`~halfway_utils.methods.som.SOM` per layer, all with
the same grid and seed, on the activations of a fixed sample; the *code* of an input at a
layer is the flat index ``r * cols + c`` of its best-matching unit on that layer's SOM.
The SOMs stay fixed afterwards, so the codes of adversarial inputs are read on the maps
fitted to clean activations, and a change of code means the input moved to another
region of the clean representation.

Code statistics (:func:`code_metrics`, :func:`code_change_rate`, :func:`occupancy`)
accept torch tensors, numpy arrays or sequences of integers and compute in float64
numpy; entropies are in bits, with ``0 log 0 = 0`` and the plug-in estimator.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import nn

from .. import data, zoo
from ..evidence import claims, stats
from ..evidence.stats import Estimate
from ..infra import params as p
from ..methods import attacks
from ..methods.som import SOM
from ..models import eval_mode, predict
from ..train import train
from . import common

__all__ = ["INPUT", "LayerCodes", "code_change_rate", "code_metrics", "first_change",
           "joint_counts", "layer_activations", "occupancy",
           "PARAMETERS", "METRICS", "FittedModel", "fit_codes", "fit_zoo", "code_metrics_table",
           "clean_accuracy", "s1_deltas", "s1_estimates", "record_s1", "adversarial",
           "layer_change_rates", "departure_shares", "attack_codes", "middle_eps",
           "homogeneity_points", "s2_estimates", "record_s2", "figure_code_metrics_depth",
           "figure_occupancy", "figure_change_rate_depth", "figure_first_departure",
           "figure_homogeneity"]

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
                 layers: list[str] | None = None, device=None) -> None:
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

    def fit(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Fit every layer's SOM on the activations of ``x``; return the codes of ``x``."""
        codes: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, a in self._activations(x).items():
            som = SOM(self.rows, self.cols, a.shape[1], seed=self.seed, device=self.device)
            som.fit(a, epochs=self.epochs)
            self.soms[name] = som
            codes[name] = som.bmu(a)
        return codes

    def codes(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Codes (flat BMU indices, ``(N,)`` long) of ``x`` at every layer, on the fitted SOMs."""
        if len(self.soms) != len(self.layers):
            raise RuntimeError("call fit() before codes()")
        return OrderedDict((name, self.soms[name].bmu(a)) for name, a in self._activations(x).items())


def first_change(clean: OrderedDict[str, torch.Tensor], perturbed: OrderedDict[str, torch.Tensor]
                 ) -> np.ndarray:
    """Per input, the index of the first layer whose code differs; ``-1`` where none does.

    ``clean`` and ``perturbed`` map the same layers, in depth order, to ``(N,)`` codes.
    """
    if list(clean) != list(perturbed):
        raise ValueError(f"layers differ: {list(clean)} vs {list(perturbed)}")
    if not clean:
        raise ValueError("no layers")
    def arr(v) -> np.ndarray:
        return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)

    changed = np.stack([arr(clean[k]) != arr(perturbed[k]) for k in clean], axis=1)
    return np.where(changed.any(1), changed.argmax(1), -1)


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


# ---------------------------------------------------------------------------------------------
# The experiment of notebook 04
# ---------------------------------------------------------------------------------------------

PARAMETERS = common.rules(
    "datasets", "archs", "n_train", "n_test",
    seeds=p.list_of(p.integer(0), min_len=2),
    n_samples=p.integer(100, 10000),
    n_attack=p.integer(20, 10000),
    som_rows=p.integer(2, 100),
    som_cols=p.integer(2, 100),
    som_epochs=p.integer(1, 200),
    attacks_used=p.list_of(p.one_of("fgsm", "pgd")),
    eps_values=p.list_of(p.number(0.001, 1.0), min_len=3),
    pgd_steps=p.integer(1, 1000),
)

N_CLASSES = 10
ModelKey = tuple[str, str, int]  # (dataset, arch, seed)

# The code statistics the notebook tabulates and draws, per layer.
METRICS = ["units_used_frac", "normalized_entropy", "class_conditional_entropy_bits", "purity",
           "normalized_mi", "shared_units_frac"]
METRIC_LABELS = {"units_used_frac": "units used (share)", "normalized_entropy": "code entropy / log2(units)",
                 "class_conditional_entropy_bits": "entropy within class (bits)", "purity": "class purity",
                 "normalized_mi": "MI(code; label) / H(label)", "shared_units_frac": "units shared by classes"}


@dataclass
class FittedModel:
    """A model, its per-layer SOMs, its clean sample ``(x, y)`` and the sample's clean codes."""

    model: nn.Module
    mapper: LayerCodes
    clean: OrderedDict[str, torch.Tensor]
    x: torch.Tensor
    y: torch.Tensor


def fit_codes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, rows: int, cols: int, seed: int,
              epochs: int) -> FittedModel:
    """Fit one ``rows x cols`` SOM per layer of ``model`` on ``x`` (SOMs on the model's device)."""
    mapper = LayerCodes(model, rows, cols, seed=seed, epochs=epochs, device=next(model.parameters()).device)
    return FittedModel(model, mapper, mapper.fit(x), x, y)


def fit_zoo(datasets: Sequence[str], archs: Sequence[str], seeds: Sequence[int], *, n_train: int | None,
            n_test: int | None, n_samples: int, rows: int, cols: int, epochs: int,
            device: str | None = None) -> dict[ModelKey, FittedModel]:
    """Every zoo model (trained or loaded from the cache) with SOMs fitted on the same test sample.

    The sample is the first ``n_samples`` class-balanced test images (``seed=0``) of the data
    set; each model's SOMs use the model's seed.
    """
    fitted: dict[ModelKey, FittedModel] = {}
    for config in zoo.grid(datasets, archs, seeds, n_train=n_train, n_test=n_test):
        model = train(config, device=device).model.eval()
        x, y = data.load(config.dataset, "test", n=n_samples, seed=0)
        fitted[(config.dataset, config.arch, config.seed)] = fit_codes(model, x, y, rows=rows, cols=cols,
                                                                       seed=config.seed, epochs=epochs)
    return fitted


def clean_accuracy(fitted: Mapping[ModelKey, FittedModel]) -> dict[ModelKey, float]:
    """Each model's accuracy on its clean sample."""
    return {key: float((predict(f.model, f.x) == f.y).float().mean()) for key, f in fitted.items()}


def code_metrics_table(fitted: Mapping[ModelKey, FittedModel]) -> pd.DataFrame:
    """One row per (model, layer): its :data:`METRICS` on the clean codes and its depth.

    Depth is the layer's position from 0 (pixels) to 1 (logits), so that architectures with
    different numbers of layers share one axis.
    """
    rows = []
    for (dataset, arch, seed), f in fitted.items():
        last = len(f.clean) - 1
        for index, (layer, c) in enumerate(f.clean.items()):
            m = code_metrics(c, f.y, f.mapper.n_units, N_CLASSES)
            rows.append({"dataset": dataset, "arch": arch, "seed": seed, "layer": layer, "index": index,
                         "depth": index / last, **{k: m[k] for k in METRICS}})
    return pd.DataFrame(rows)


# S1: per model, the last hidden layer minus the first hidden layer. ---------------------------

S1_DELTAS = ("normalized_entropy", "normalized_mi", "purity", "units_used_frac")
S1_STATEMENT = ("Deep layers give more diverse SOM codes than shallow ones: last hidden layer minus "
                "first hidden layer > 0 for the normalized code entropy and for the normalized MI "
                "between code and label (our reading of 'homogeneous shallow, diverse deep codes').")
S1_CONDITIONS = [claims.Condition("delta_normalized_entropy", ">", 0.0),
                 claims.Condition("delta_normalized_mi", ">", 0.0)]


def s1_deltas(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per model, ``delta_<m>`` = m(last hidden layer) - m(first hidden layer) for :data:`S1_DELTAS`.

    The first hidden layer is index 1 (index 0 is the pixels), the last hidden one the layer
    before the logits; models keep their order of appearance in ``metrics``.
    """
    rows = []
    for (dataset, arch, seed), sel in metrics.groupby(["dataset", "arch", "seed"], sort=False):
        sel = sel.sort_values("index")
        shallow, deep = sel.iloc[1], sel.iloc[-2]
        rows.append({"dataset": dataset, "arch": arch, "seed": int(seed), "shallow": shallow["layer"],
                     "deep": deep["layer"], **{f"delta_{k}": deep[k] - shallow[k] for k in S1_DELTAS}})
    return pd.DataFrame(rows)


def s1_estimates(s1: pd.DataFrame) -> dict[str, Estimate]:
    """Mean and 95 % t-interval across models of every ``delta_*`` column."""
    return {k: stats.across_seeds(s1[k]) for k in s1.columns if k.startswith("delta_")}


def record_s1(s1_est: Mapping[str, Estimate], parameters: Mapping[str, Any], *, figures: list[str],
              n_models: int) -> claims.Claim:
    """Decide S1 from :data:`S1_CONDITIONS` and write it to the ledger."""
    P = parameters
    return claims.record(
        "S1", statement=S1_STATEMENT,
        measurements={f"delta_{k}": s1_est[f"delta_{k}"] for k in S1_DELTAS},
        conditions=S1_CONDITIONS, figures=figures, notebook="04_som_codes", parameters=P,
        notes=(f"{n_models} models ({', '.join(P['archs'])} x {', '.join(P['datasets'])} x seeds {P['seeds']}); "
               f"one {P['som_rows']}x{P['som_cols']} SOM per layer on {P['n_samples']} test images; "
               "t-interval across models. A SOM spreads its units over the data, so code entropy is near "
               "its maximum at every layer; purity and MI measure the class sense of 'diverse'."))


# S2: attack the sample and read the codes on the clean SOMs. ----------------------------------

def adversarial(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: str, eps: float, *,
                pgd_steps: int, seed: int) -> torch.Tensor:
    """FGSM, or L-inf PGD with random start seeded by ``seed``, at budget ``eps``."""
    if attack == "fgsm":
        return attacks.fgsm(model, x, y, eps)
    if attack == "pgd":
        return attacks.pgd(model, x, y, eps, steps=pgd_steps, norm="linf", seed=seed)
    raise ValueError(f"unknown attack {attack!r}; expected 'fgsm' or 'pgd'")


def layer_change_rates(clean: Mapping[str, torch.Tensor], adv: Mapping[str, torch.Tensor]
                       ) -> list[dict[str, Any]]:
    """Per layer (in depth order): its index, depth in [0, 1] and share of inputs whose code changed."""
    last = len(clean) - 1
    return [{"layer": layer, "index": index, "depth": index / last,
             "change_rate": code_change_rate(clean[layer], adv[layer])} for index, layer in enumerate(clean)]


def departure_shares(clean: OrderedDict[str, torch.Tensor], adv: OrderedDict[str, torch.Tensor]
                     ) -> list[dict[str, Any]]:
    """Share of inputs whose code first changes at each layer; ``"never"`` (index -1) first."""
    first = first_change(clean, adv)
    return [{"first_layer": layer, "index": index, "share": float(np.mean(first == index))}
            for index, layer in [(-1, "never"), *enumerate(clean)]]


def attack_codes(fitted: Mapping[ModelKey, FittedModel], attacks_used: Sequence[str],
                 eps_values: Sequence[float], *, n_attack: int, pgd_steps: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attack the first ``n_attack`` inputs of every model's sample at every (attack, eps).

    Returns the code change rate per layer (with the adversarial accuracy) and the share of
    inputs by first layer whose code changes, one row per (model, attack, eps, layer).
    """
    change_rows, departure_rows = [], []
    for (dataset, arch, seed), f in fitted.items():
        xs, ys = f.x[:n_attack], f.y[:n_attack]
        clean = OrderedDict((k, v[:n_attack]) for k, v in f.clean.items())
        for name in attacks_used:
            for eps in eps_values:
                x_adv = adversarial(f.model, xs, ys, name, eps, pgd_steps=pgd_steps, seed=seed)
                adv = f.mapper.codes(x_adv)
                run = {"dataset": dataset, "arch": arch, "seed": seed, "attack": name, "eps": eps}
                adv_accuracy = float((predict(f.model, x_adv) == ys).float().mean())
                change_rows += [{**run, **r, "adv_accuracy": adv_accuracy} for r in layer_change_rates(clean, adv)]
                departure_rows += [{**run, **r} for r in departure_shares(clean, adv)]
    return pd.DataFrame(change_rows), pd.DataFrame(departure_rows)


def middle_eps(eps_values: Sequence[float]) -> float:
    """The middle of the sorted budgets (the upper middle for an even count): S2 decides at it."""
    return sorted(eps_values)[len(eps_values) // 2]


S2_DECIDED = "partial_spearman_homogeneity_change_given_depth"
S2_STATEMENT = ("Layers with homogeneous (low-entropy) clean codes are the ones whose codes adversarial "
                "perturbations change, beyond what depth explains: partial Spearman(1 - normalized "
                "entropy, code change rate under PGD | depth) > 0 over all (model, layer) pairs, on a "
                "bootstrap that resamples whole models.")
S2_CONDITIONS = [claims.Condition(S2_DECIDED, ">", 0.0)]
S2_POINT_COLUMNS = ["dataset", "arch", "seed", "layer", "depth", "homogeneity", "purity", "change_rate",
                    "homogeneity_resid", "change_resid"]


def homogeneity_points(changes: pd.DataFrame, metrics: pd.DataFrame, eps: float) -> pd.DataFrame:
    """One row per (model, layer): clean code metrics beside the change rate under PGD at ``eps``.

    Adds ``homogeneity`` = 1 - normalized code entropy, and the ranks of homogeneity and of
    change rate with their linear fit on the rank of depth removed (what S2 correlates).
    """
    ref = changes[(changes.attack == "pgd") & (changes.eps == eps)]
    points = ref.merge(metrics, on=["dataset", "arch", "seed", "layer", "index", "depth"])
    points["homogeneity"] = 1 - points["normalized_entropy"]
    points["homogeneity_resid"] = stats.rank_residuals(points["homogeneity"], points["depth"])
    points["change_resid"] = stats.rank_residuals(points["change_rate"], points["depth"])
    return points


def s2_estimates(points: pd.DataFrame, *, n_boot: int = 2000) -> dict[str, Estimate]:
    """S2's correlations over (model, layer) points, each with a bootstrap that resamples models.

    The decided one is the partial Spearman of homogeneity and change rate given depth; the
    others are reported: raw, within position (strata = arch x layer index), purity given
    depth, and both correlations with depth. ``n_boot`` resamples (seed 0) per interval.
    """
    model_id = points["dataset"] + "/" + points["arch"] + "/" + points["seed"].astype(str)  # the clusters
    position = pd.get_dummies(points["arch"] + ":" + points["index"].astype(str)).to_numpy(float)
    h, c, d = points["homogeneity"], points["change_rate"], points["depth"]
    kw = {"groups": model_id, "n_boot": n_boot}
    return {
        S2_DECIDED: stats.partial_spearman(h, c, d, **kw),
        "spearman_homogeneity_change": stats.partial_spearman(h, c, None, **kw),
        "within_position_spearman_homogeneity_change": stats.partial_spearman(h, c, position, **kw),
        "partial_spearman_purity_change_given_depth": stats.partial_spearman(points["purity"], c, d, **kw),
        "spearman_depth_homogeneity": stats.partial_spearman(d, h, None, **kw),
        "spearman_depth_change": stats.partial_spearman(d, c, None, **kw),
    }


def record_s2(s2_est: Mapping[str, Estimate], parameters: Mapping[str, Any], *, figures: list[str],
              eps: float, n_points: int) -> claims.Claim:
    """Decide S2 from :data:`S2_CONDITIONS` and write it to the ledger."""
    P = parameters
    return claims.record(
        "S2", statement=S2_STATEMENT, measurements=dict(s2_est), conditions=S2_CONDITIONS, figures=figures,
        notebook="04_som_codes", parameters=P,
        notes=(f"PGD L-inf, eps={eps}, {P['pgd_steps']} steps, on {P['n_attack']} test inputs per model; codes "
               "read on SOMs fitted to clean activations. Partial Spearman: ranks of homogeneity and change "
               "rate residualized on the rank of depth (0 = pixels, 1 = logits), residuals correlated. Every "
               f"interval is a percentile bootstrap over the {s2_est[S2_DECIDED].n} models (clusters; "
               f"{n_points} points), so with few models it is coarse. Depth: Spearman(depth, homogeneity) = "
               f"{s2_est['spearman_depth_homogeneity']}, Spearman(depth, change rate) = "
               f"{s2_est['spearman_depth_change']}; raw Spearman(homogeneity, change) = "
               f"{s2_est['spearman_homogeneity_change']}; within position (arch x layer strata) = "
               f"{s2_est['within_position_spearman_homogeneity_change']}. The partial correlation is linear "
               "in the rank of depth; the within-position one makes no such assumption but uses only the "
               "variation across data sets and seeds."))


# Figures. ---------------------------------------------------------------------------------------

def figure_code_metrics_depth(metrics: pd.DataFrame, *, title: str) -> plt.Figure:
    """One panel per code statistic against depth; lines = mean over seeds, bands span the seeds."""
    long = metrics.melt(id_vars=["dataset", "arch", "seed", "layer", "depth"], value_vars=METRICS,
                        var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(METRIC_LABELS)
    grid = sns.relplot(data=long, x="depth", y="value", hue="arch", style="dataset", col="metric",
                       col_wrap=3, kind="line", markers=True, errorbar=("pi", 100), height=2.7, aspect=1.25,
                       facet_kws={"sharey": False})
    grid.set_titles("{col_name}")
    grid.set_axis_labels("depth (0 = pixels, 1 = logits)", "")
    grid.figure.suptitle(title, y=1.03)
    return grid.figure


def figure_occupancy(fitted: Mapping[ModelKey, FittedModel], datasets: Sequence[str], arch: str,
                     seed: int) -> plt.Figure:
    """Per data set, the majority class of each SOM unit at the first and last hidden layer.

    Opacity = the unit's purity, white = unused, the digit = the majority class index.
    """
    palette = np.array(sns.color_palette("tab10", N_CLASSES))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(7.2, 3.5 * len(datasets)), squeeze=False)
    for row, dataset in enumerate(datasets):
        f = fitted[(dataset, arch, seed)]
        for col, layer in enumerate([f.mapper.layers[1], f.mapper.layers[-2]]):
            occ = occupancy(f.clean[layer], f.y, f.mapper.rows, f.mapper.cols, N_CLASSES).numpy()
            hits = occ.sum(-1)
            purity = np.where(hits > 0, occ.max(-1) / np.maximum(hits, 1), 0.0)
            rgba = np.concatenate([palette[occ.argmax(-1)], purity[..., None]], axis=-1)
            ax = axes[row, col]
            ax.imshow(rgba, interpolation="nearest")
            for (r, c), n in np.ndenumerate(hits):
                if n:
                    ax.text(c, r, str(occ[r, c].argmax()), ha="center", va="center", fontsize=6)
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            m = code_metrics(f.clean[layer], f.y, f.mapper.n_units, N_CLASSES)
            ax.set_title(f"{dataset} · {layer}\npurity {m['purity']:.2f}, "
                         f"norm. entropy {m['normalized_entropy']:.2f}", fontsize=9)
    fig.suptitle(f"S1: majority class per SOM unit ({arch}, seed {seed}; digit = class index)")
    fig.tight_layout()
    return fig


def figure_change_rate_depth(changes: pd.DataFrame) -> plt.Figure:
    """Code change rate against depth; rows = attack, columns = data set, hue = eps."""
    grid = sns.relplot(data=changes, x="depth", y="change_rate", hue="eps", style="arch", row="attack",
                       col="dataset", kind="line", markers=True, errorbar=("pi", 100),
                       palette="viridis", height=2.8, aspect=1.3)
    grid.set_axis_labels("depth (0 = pixels, 1 = logits)", "share of codes changed")
    grid.set(ylim=(-0.02, 1.02))
    grid.figure.suptitle("S2: code change rate per layer under attack (SOMs fitted on clean activations)", y=1.02)
    return grid.figure


def figure_first_departure(departures: pd.DataFrame, layers: Mapping[str, Sequence[str]], eps: float
                           ) -> plt.Figure:
    """Per architecture, the share of inputs by first layer whose code changes under PGD at ``eps``.

    ``layers`` maps each architecture to its layer names (the bar order after ``"never"``).
    """
    dep = departures[(departures.attack == "pgd") & (departures.eps == eps)]
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.4), squeeze=False)
    for ax, (arch, names) in zip(axes[0], layers.items()):
        sns.barplot(data=dep[dep.arch == arch], x="first_layer", y="share", hue="dataset",
                    order=["never", *names], errorbar=None, ax=ax)
        ax.set_title(f"{arch}, PGD eps={eps}")
        ax.set_xlabel("first layer whose code changes")
        ax.set_ylabel("share of inputs")
        ax.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def figure_homogeneity(points: pd.DataFrame, s2_est: Mapping[str, Estimate], eps: float) -> plt.Figure:
    """Homogeneity against change rate: raw (left) and with depth removed from both ranks (right)."""
    rho, rho_partial = s2_est["spearman_homogeneity_change"], s2_est[S2_DECIDED]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, x_col, y_col, x_name, y_name in [
            (axes[0], "homogeneity", "change_rate", "1 − normalized code entropy",
             f"code change rate (PGD, eps={eps})"),
            (axes[1], "homogeneity_resid", "change_resid", "rank of homogeneity, depth removed",
             "rank of change rate, depth removed")]:
        sns.scatterplot(data=points, x=x_col, y=y_col, hue="depth", style="arch", palette="viridis",
                        s=55, ax=ax, legend=ax is axes[1])
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
    axes[0].set_title(f"raw: Spearman rho = {rho}", fontsize=9)
    axes[1].set_title(f"given depth: partial rho = {rho_partial}", fontsize=9)
    axes[1].axhline(0, color="0.6", lw=0.8), axes[1].axvline(0, color="0.6", lw=0.8)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle("S2: are homogeneous layers the sensitive ones? (one point per model and layer; "
                 "intervals resample models)", fontsize=10)
    fig.tight_layout()
    return fig
