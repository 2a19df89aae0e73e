"""Adversarial sets crafted on each source model and how they transfer to each target.

FGSM and PGD (L-inf) over eps, one cached attack per (data set, attack, eps, source); success
counted only on the inputs that source and target both classify correctly; random sign noise
of the same L-inf size as the control.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ...infra.progress import stage
from ...methods import attacks
from ...models import predict
from .bundles import Bundle, pair_kind

Model = Callable[[Tensor], Tensor]


def attack_kw(name: str, pgd_steps: int, seed: int) -> dict[str, int]:
    """Keyword arguments of one attack: PGD takes ``pgd_steps`` steps from a seeded random start."""
    return {"steps": pgd_steps, "seed": seed} if name == "pgd" else {}


def adversarial_sets(bundles: Mapping[str, Bundle], attack_names: Sequence[str], eps_list: Sequence[float], *,
                     pgd_steps: int, seed: int) -> tuple[dict[tuple, Tensor], list[bool]]:
    """One cached attack per (data set, attack, eps, source): ``{(name, atk, eps, source): x_adv}``, hits."""
    adv, hits = {}, []
    for name, b in bundles.items():
        data_key = f"{name}/test/zoo-subset/first{len(b.x)}"
        for atk in attack_names:
            for eps in eps_list:
                stage(f"{name}: {atk} at eps {eps} from each of {len(b.models)} models")
                for key, model in b.models.items():
                    xa, hit = attacks.adversarial_set(model, b.keys[key], b.x, b.y, attack=atk, eps=eps,
                                                      data_key=data_key, **attack_kw(atk, pgd_steps, seed))
                    adv[name, atk, eps, key] = xa
                    hits.append(hit)
    return adv, hits


def transfer_outcomes(models: Mapping[str, Model], x: Tensor, y: Tensor,
                      x_adv: Mapping[str, Tensor]) -> np.ndarray:
    """Array (S, T, N): 1 where target T misclassifies source S's adversarial input, else 0.

    NaN where source or target misclassifies the clean input (only inputs both classify
    correctly count). Sources follow ``x_adv``'s order, targets ``models``' order.
    """
    clean_ok = {name: (predict(m, x) == y).numpy() for name, m in models.items()}
    out = np.full((len(x_adv), len(models), len(x)), np.nan)
    if not x_adv:
        return out
    stacked = torch.cat(list(x_adv.values()))  # every source's set at once: one call per target
    for j, (tgt, model) in enumerate(models.items()):
        fooled = (predict(model, stacked).view(len(x_adv), len(x)) != y).numpy().astype(float)
        for i, src in enumerate(x_adv):
            out[i, j] = np.where(clean_ok[src] & clean_ok[tgt], fooled[i], np.nan)
    return out


def transfer_matrix(outcomes: np.ndarray, sources: list[str], targets: list[str]) -> pd.DataFrame:
    """Success rates (sources x targets) from :func:`transfer_outcomes`, NaN where nothing counts."""
    with np.errstate(invalid="ignore"):
        n = np.isfinite(outcomes).sum(2)
        rates = np.where(n > 0, np.nansum(outcomes, 2) / np.maximum(n, 1), np.nan)
    return pd.DataFrame(rates, index=pd.Index(sources, name="source"),
                        columns=pd.Index(targets, name="target"))


def transfer_rates(bundles: Mapping[str, Bundle], adv: Mapping[tuple, Tensor], attack_names: Sequence[str],
                   eps_list: Sequence[float]) -> tuple[dict[tuple, np.ndarray], pd.DataFrame]:
    """Transfer outcomes ``{(name, atk, eps): (S, T, N)}`` and the long table of success per (source, target)."""
    outcomes, long = {}, []
    for name, b in bundles.items():
        names = list(b.models)
        for atk in attack_names:
            for eps in eps_list:
                out = transfer_outcomes(b.models, b.x, b.y, {k: adv[name, atk, eps, k] for k in names})
                outcomes[name, atk, eps] = out
                m = transfer_matrix(out, names, names)
                long += [{"dataset": name, "attack": atk, "eps": eps, "source": s, "target": t,
                          "kind": pair_kind(s, t), "success": m.loc[s, t]} for s in m.index for t in m.columns]
    return outcomes, pd.DataFrame(long)


def sign_noise(bundles: Mapping[str, Bundle], eps_list: Sequence[float], seed: int
               ) -> tuple[dict[tuple, np.ndarray], pd.DataFrame]:
    """The control: random sign noise of L-inf size eps on every target.

    Returns ``{(name, eps): (targets, inputs)}`` (1 fooled, 0 not, NaN where the target
    misclassifies the clean input) and its rows for the long table of :func:`transfer_rates`.
    One generator draws every data set's noise in turn.
    """
    gen = torch.Generator().manual_seed(seed)
    noise, rows = {}, []
    for name, b in bundles.items():
        for eps in eps_list:
            xn = (b.x + eps * torch.randn(b.x.shape, generator=gen).sign()).clamp(0, 1)
            fooled = np.stack([(predict(m, xn) != b.y).numpy().astype(float) for m in b.models.values()])
            correct = np.stack([(predict(m, b.x) == b.y).numpy() for m in b.models.values()])
            noise[name, eps] = np.where(correct, fooled, np.nan)
            rows += [{"dataset": name, "attack": "sign noise", "eps": eps, "source": "-", "target": k,
                      "kind": "noise", "success": rate}
                     for k, rate in zip(b.models, np.nanmean(noise[name, eps], 1))]
    return noise, pd.DataFrame(rows)
