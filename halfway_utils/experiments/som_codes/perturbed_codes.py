"""The codes of attacked inputs, and of random perturbations of the same L2 norm, per layer.

:func:`attack_codes` attacks the first inputs of each model's clean sample (:func:`adversarial`),
perturbs them at random by as much (:func:`halfway_utils.methods.perturb.matched_norm_noise`), and
reads both on the SOMs fitted to clean activations: per layer the share of codes changed
(:func:`layer_change_rates`) and per input the first layer whose code changed
(:func:`departure_shares`). S2 and its figures read these tables.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...methods import attacks
from ...methods.codes import code_change_rate, first_change
from ...methods.perturb import matched_norm_noise
from .zoo_codes import FittedModel, ModelKey


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

    Beside each attack, a random perturbation of the same L2 norm per input (:func:`matched_norm_noise`,
    seeded by the model's seed) is coded on the same SOMs. Returns, one row per (model, attack, eps,
    layer), the attack's ``change_rate``, the random ``random_change_rate``, their difference
    ``excess_change``, both accuracies and the mean L2 size; and the share of inputs by the first
    layer whose code the attack changes.
    """
    change_rows, departure_rows = [], []
    for (dataset, arch, seed), f in fitted.items():
        xs, ys = f.x[:n_attack], f.y[:n_attack]
        clean = OrderedDict((k, v[:n_attack]) for k, v in f.clean.items())
        for name in attacks_used:
            for eps in eps_values:
                x_adv = adversarial(f.model, xs, ys, name, eps, pgd_steps=pgd_steps, seed=seed)
                x_rnd = matched_norm_noise(xs, x_adv, seed=seed)
                (adv, adv_pred), (rnd, rnd_pred) = f.mapper.read(x_adv), f.mapper.read(x_rnd)
                run = {"dataset": dataset, "arch": arch, "seed": seed, "attack": name, "eps": eps}
                extra = {"adv_accuracy": float((adv_pred.cpu() == ys.cpu()).float().mean()),
                         "random_accuracy": float((rnd_pred.cpu() == ys.cpu()).float().mean()),
                         "l2": float((x_adv - xs).flatten(1).norm(dim=1).mean())}
                for a, r in zip(layer_change_rates(clean, adv), layer_change_rates(clean, rnd)):
                    change_rows.append({**run, **a, "random_change_rate": r["change_rate"],
                                        "excess_change": a["change_rate"] - r["change_rate"], **extra})
                departure_rows += [{**run, **r} for r in departure_shares(clean, adv)]
    return pd.DataFrame(change_rows), pd.DataFrame(departure_rows)

