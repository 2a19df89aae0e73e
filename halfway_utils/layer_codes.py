"""SOM codes of every layer of a model, for clean and perturbed inputs.

A model's *layers* here are ``"input"`` (the pixels, flattened) followed by the
named stages of :meth:`halfway_utils.models.StagedNet.activations` (the last is
``logits``). :class:`LayerCodes` fits one :class:`~halfway_utils.som.SOM` per
layer, all with the same grid and seed, on the activations of a fixed sample;
the *code* of an input at a layer is its best-matching unit on that layer's SOM.
The SOMs stay fixed afterwards, so the codes of adversarial inputs are read on
the maps fitted to clean activations, and a change of code means the input moved
to another region of the clean representation.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from .som import SOM

__all__ = ["INPUT", "layer_activations", "LayerCodes", "first_change"]

INPUT = "input"


def layer_activations(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024
                      ) -> "OrderedDict[str, torch.Tensor]":
    """``{"input": pixels, stage: activations, ...}``, each ``(N, features)`` float32 on CPU.

    Batched, in eval mode and under ``no_grad``; the model's training flags are restored.
    """
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch, got shape {tuple(x.shape)}")
    device = next(model.parameters()).device
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    parts: dict[str, list[torch.Tensor]] = OrderedDict((name, []) for name in [INPUT, *model.layer_names])
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size]
                parts[INPUT].append(xb.flatten(1).float().cpu())
                for name, h in model.activations(xb.to(device)).items():
                    parts[name].append(h.float().cpu())
    finally:
        for m, training in modes:
            m.training = training
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
        self.soms: "OrderedDict[str, SOM]" = OrderedDict()

    @property
    def n_units(self) -> int:
        """Units per SOM (``rows * cols``)."""
        return self.rows * self.cols

    def _activations(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        acts = layer_activations(self.model, x)
        return OrderedDict((name, acts[name]) for name in self.layers)

    def fit(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Fit every layer's SOM on the activations of ``x``; return the codes of ``x``."""
        codes: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        for name, a in self._activations(x).items():
            som = SOM(self.rows, self.cols, a.shape[1], seed=self.seed, device=self.device)
            som.fit(a, epochs=self.epochs)
            self.soms[name] = som
            codes[name] = som.bmu(a)
        return codes

    def codes(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Codes (flat BMU indices, ``(N,)`` long) of ``x`` at every layer, on the fitted SOMs."""
        if len(self.soms) != len(self.layers):
            raise RuntimeError("call fit() before codes()")
        return OrderedDict((name, self.soms[name].bmu(a)) for name, a in self._activations(x).items())


def first_change(clean: "OrderedDict[str, torch.Tensor]", perturbed: "OrderedDict[str, torch.Tensor]"
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
