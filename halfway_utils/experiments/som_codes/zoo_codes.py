"""The zoo's clean SOM codes: one SOM per layer of every fitted model and of its untrained twin.

:func:`code_zoo` loads the zoo (:func:`halfway_utils.zoo.load`) and codes one fixed, class-balanced
test sample at every layer of every fitted model (:func:`fit_codes`, a :class:`FittedModel` each);
:func:`code_metrics_table` tabulates the code statistics of every code set, with the MI above a
shuffled-label null, which both claims and the figures read.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from ... import data, zoo
from ...infra.progress import stage
from ...methods.codes import INPUT, LayerCodes, code_metrics, layer_activations, shuffled_mi
from ...methods.som import SOM
from ...models import predict
from ...train import TrainResult

N_CLASSES = 10
ModelKey = tuple[str, str, int]  # (dataset, arch, seed)
TRAINED, UNTRAINED = "trained", "untrained"  # the network a code set comes from
MODEL_COLUMNS = ["dataset", "arch", "seed"]

# The code statistics the notebook tabulates and draws, per layer.
METRICS = ["units_used_frac", "normalized_entropy", "class_conditional_entropy_bits", "purity",
           "normalized_mi", "shared_units_frac"]



def grid_name(rows: int, cols: int) -> str:
    """``"10x10"``: how a SOM grid is named in tables and ledger entries."""
    return f"{int(rows)}x{int(cols)}"


def grid_units(name: str) -> int:
    """Units of a grid named by :func:`grid_name`."""
    rows, cols = name.split("x")
    return int(rows) * int(cols)


@dataclass
class FittedModel:
    """A model, its per-layer SOMs, its clean sample ``(x, y)`` and the sample's clean codes.

    ``mapper``/``clean``: the trained network's SOMs and codes at the main grid (S2 reads the
    adversarial codes on them). ``code_sets``: more codes of the same sample, keyed by
    ``(network, grid)``, e.g. the untrained network's (S1's null) and the other grid's.
    """

    model: nn.Module
    mapper: LayerCodes
    clean: OrderedDict[str, torch.Tensor]
    x: torch.Tensor
    y: torch.Tensor
    code_sets: dict[tuple[str, str], OrderedDict[str, torch.Tensor]] = field(default_factory=dict)
    predicted: torch.Tensor | None = None  # the model's classes of x, when known

    @property
    def grid(self) -> str:
        """The main grid's name."""
        return grid_name(self.mapper.rows, self.mapper.cols)

    def all_code_sets(self) -> dict[tuple[str, str], OrderedDict[str, torch.Tensor]]:
        """``{(network, grid): codes}``, the trained network at the main grid first."""
        return {(TRAINED, self.grid): self.clean, **self.code_sets}


def end_layers(layers: Sequence[str]) -> list[str]:
    """The first and the last hidden layer (the pixels and the logits excluded), deduplicated."""
    hidden = list(layers)[1:-1]
    if not hidden:
        raise ValueError(f"no hidden layer in {list(layers)}")
    return list(dict.fromkeys([hidden[0], hidden[-1]]))


def fit_codes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, rows: int, cols: int, seed: int,
              epochs: int, untrained: nn.Module | None = None, alt_grid: tuple[int, int] | None = None,
              given: dict[tuple[int, int], dict[str, SOM]] | None = None) -> FittedModel:
    """Fit one ``rows x cols`` SOM per layer of ``model`` on ``x`` (SOMs on the model's device).

    With ``untrained`` (the same architecture, not trained), its layers are coded too, at the
    main grid; with ``alt_grid``, both networks' first and last hidden layers are also coded
    at that grid. ``given`` holds pixel SOMs per grid to reuse (filled in as they are fitted).
    """
    device = next(model.parameters()).device
    given = {} if given is None else given
    acts = {TRAINED: layer_activations(model, x)}  # one forward pass per network, shared by its grids
    if untrained is not None:
        acts[UNTRAINED] = layer_activations(untrained, x)
    mapper = LayerCodes(model, rows, cols, seed=seed, epochs=epochs, device=device)
    fitted = FittedModel(model, mapper, mapper.fit(x, given=given.get((rows, cols)), activations=acts[TRAINED]),
                         x, y, predicted=next(reversed(acts[TRAINED].values())).argmax(1))
    given.setdefault((rows, cols), {INPUT: mapper.soms[INPUT]})
    if untrained is not None:
        twin = LayerCodes(untrained, rows, cols, seed=seed, epochs=epochs, device=device)
        fitted.code_sets[(UNTRAINED, fitted.grid)] = twin.fit(x, given=given[(rows, cols)],
                                                               activations=acts[UNTRAINED])
    if alt_grid is not None:
        ends = end_layers(mapper.layers)
        for network, net in [(TRAINED, model), (UNTRAINED, untrained)]:
            if net is not None:
                alt = LayerCodes(net, *alt_grid, seed=seed, epochs=epochs, layers=ends, device=device)
                fitted.code_sets[(network, grid_name(*alt_grid))] = alt.fit(x, activations=acts[network])
    return fitted



def code_zoo(datasets: Sequence[str], archs: Sequence[str], seeds: Sequence[int], *, n_train: int | None,
             n_test: int | None, n_samples: int, rows: int, cols: int, epochs: int,
             alt_grid: tuple[int, int] | None = None, device: str | None = None
             ) -> tuple[dict[ModelKey, FittedModel], list[TrainResult]]:
    """Load the zoo and code one test sample with SOMs at every layer of each fitted model and its twin.

    Returns ``(fitted, misfits)`` from :func:`halfway_utils.zoo.load`: a model that missed its
    target training accuracy is left out and returned in ``misfits`` (:func:`halfway_utils.zoo.misfit_note`
    names it). The sample is the first ``n_samples`` class-balanced test images (``seed=0``) of the
    data set; each model's SOMs use the model's seed, and its untrained twin
    (:func:`halfway_utils.zoo.untrained`) is coded beside it.
    """
    models, misfits = zoo.load(datasets, archs, seeds, n_train=n_train, n_test=n_test, device=device)
    fitted: dict[ModelKey, FittedModel] = {}
    samples: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    pixel_soms: dict[tuple[str, int], dict[tuple[int, int], dict[str, SOM]]] = {}
    for result in models:
        config, model = result.config, result.model.eval()
        if config.dataset not in samples:
            samples[config.dataset] = data.load(config.dataset, "test", n=n_samples, seed=0)
        x, y = samples[config.dataset]
        stage(f"SOM codes of every layer of {config.label} and its untrained twin")
        twin = zoo.untrained(config, next(model.parameters()).device)
        fitted[(config.dataset, config.arch, config.seed)] = fit_codes(
            model, x, y, rows=rows, cols=cols, seed=config.seed, epochs=epochs, untrained=twin,
            alt_grid=alt_grid, given=pixel_soms.setdefault((config.dataset, config.seed), {}))
    return fitted, misfits


def clean_accuracy(fitted: Mapping[ModelKey, FittedModel]) -> dict[ModelKey, float]:
    """Each model's accuracy on its clean sample (from its known predictions where it has them)."""
    return {key: float(((predict(f.model, f.x) if f.predicted is None else f.predicted).cpu() == f.y.cpu())
                       .float().mean()) for key, f in fitted.items()}


def code_metrics_table(fitted: Mapping[ModelKey, FittedModel], *, n_shuffles: int = 20, seed: int = 0
                       ) -> pd.DataFrame:
    """One row per (model, network, grid, layer): its :data:`METRICS`, the shuffled-label null and depth.

    ``normalized_mi_shuffled`` is :func:`shuffled_mi` of the same codes and ``excess_mi`` the
    normalized MI above it. Depth is the layer's position from 0 (pixels) to 1 (logits) among the
    model's layers, so that architectures with different numbers of layers share one axis.
    """
    rows = []
    for (dataset, arch, model_seed), f in fitted.items():
        layers = list(f.clean)
        last = len(layers) - 1
        for (network, grid), codes in f.all_code_sets().items():
            n_units = grid_units(grid)
            for layer, c in codes.items():
                m = code_metrics(c, f.y, n_units, N_CLASSES)
                null = shuffled_mi(c, f.y, n_units, N_CLASSES, n_shuffles=n_shuffles, seed=seed)
                index = layers.index(layer)
                rows.append({"dataset": dataset, "arch": arch, "seed": model_seed, "network": network,
                             "grid": grid, "layer": layer, "index": index, "depth": index / last,
                             **{k: m[k] for k in METRICS}, "normalized_mi_shuffled": null,
                             "excess_mi": m["normalized_mi"] - null})
    return pd.DataFrame(rows)

