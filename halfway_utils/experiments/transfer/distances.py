"""Distances from each input to each model's boundary, along three kinds of direction.

For the first ``n_boundary`` inputs every model classifies correctly: ``MD_d(f, x)`` along the
legitimate direction, along each source's PGD direction (searched for the source and its
partners), along one seeded random direction and along one seeded sign-noise direction of the
attack's L-inf size (H4's null: a random direction shaped like an L-inf attack), on points
clipped to [0, 1]; a boundary beyond the search's ``max_eps`` is censored (``inf``, counted at
``max_eps`` downstream).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ...infra.progress import stage
from ...methods.directions import (
    adversarial_directions,
    censor,
    legitimate_directions,
    min_distances,
    random_directions,
)
from ...models import predict
from .bundles import Bundle, orient

Model = Callable[[Tensor], Tensor]

DIRECTIONS = ("legitimate", "adversarial", "random")  # H3's strata
SIGN = "sign"  # H4's null direction: sign noise of L-inf size eps_ref, clipped to [0, 1]


def sign_directions(x: Tensor, eps: float, seed: int) -> Tensor:
    """Unit directions of seeded sign noise of L-inf size ``eps`` clipped to [0, 1] (NaN where it cannot move)."""
    x_sign = (x + eps * random_directions(x, seed + 1).sign()).clamp(0, 1)
    return adversarial_directions(x, x_sign)[0]


def boundary_inputs(models: Mapping[str, Model], x: Tensor, y: Tensor, n_boundary: int) -> np.ndarray:
    """Bool mask of the first ``n_boundary`` inputs that every model classifies correctly."""
    ok = np.all([(predict(m, x) == y).numpy() for m in models.values()], axis=0)
    return ok & (np.cumsum(ok) <= n_boundary)


def direction_searches(x: Tensor, y: Tensor, x_train: Tensor, y_train: Tensor, x_adv: Mapping[str, Tensor],
                       *, seed: int, max_eps_legitimate: float, max_eps_adversarial: float,
                       max_eps_random: float, eps_ref: float = 0.1
                       ) -> dict[str, list[tuple[str | None, Tensor, float, Tensor | None]]]:
    """Per direction kind, the searches to run: ``(source or None, unit directions, max_eps, length or None)``.

    ``x_adv`` holds each source's PGD points for the rows of ``x``. ``length`` is the L2
    distance to the legitimate direction's target (the segment the boundary positions are
    measured on), None for the other kinds.
    """
    d_legit, _, length = legitimate_directions(x, y, x_train, y_train)
    return {"legitimate": [(None, d_legit, max_eps_legitimate, length)],
            "random": [(None, random_directions(x, seed), max_eps_random, None)],
            SIGN: [(None, sign_directions(x, eps_ref, seed), max_eps_random, None)],
            "adversarial": [(k, adversarial_directions(x, xa)[0], max_eps_adversarial, None)
                            for k, xa in x_adv.items()]}


def _md_frame(name: str, kind: str, src: str, model: str, labels: np.ndarray, md: np.ndarray, cap: float,
              length: np.ndarray) -> pd.DataFrame:
    """One search's rows of the long MD table of :func:`boundary_distances`."""
    return pd.DataFrame({"dataset": name, "direction": kind, "source": src, "model": model,
                         "input": np.arange(len(md)), "label": labels, "md": md, "cap": cap, "length": length})


def boundary_distances(bundles: Mapping[str, Bundle], adv: Mapping[tuple, Tensor],
                       pairs: Mapping[str, Sequence[tuple[str, str]]], *, eps_ref: float, n_boundary: int,
                       max_eps_legitimate: float, max_eps_adversarial: float, max_eps_random: float,
                       grid: int, seed: int, judges: Sequence[str] | None = None) -> pd.DataFrame:
    """MD per (data set, direction, source, model, input) on points clipped to [0, 1].

    Columns: ``dataset, direction, source, model, input, label, md, cap, length``; ``md`` is
    ``inf`` where the boundary lies beyond ``cap`` (= the search's ``max_eps``; censored),
    ``length`` the legitimate segment's length (NaN for other kinds). Along a source's
    adversarial direction only the source and its partners (:func:`orient`) are searched.
    ``judges``: the models whose correct answers pick the inputs (default: every model; a
    control's source alone, so that a control model with unrelated classes keeps the same inputs).
    """
    frames = []
    for name, b in bundles.items():
        stage(f"{name}: boundary distances along legitimate, adversarial and random directions")
        chosen = b.models if judges is None else {k: b.models[k] for k in judges}
        ok = boundary_inputs(chosen, b.x, b.y, n_boundary)
        partners: dict[str, set[str]] = {}  # source -> the models searched along its PGD directions
        for src, other in orient(pairs[name]):
            partners.setdefault(src, {src}).add(other)
        searches = direction_searches(
            b.x[ok], b.y[ok], b.x_train, b.y_train, {k: adv[name, "pgd", eps_ref, k][ok] for k in b.models},
            seed=seed, max_eps_legitimate=max_eps_legitimate, max_eps_adversarial=max_eps_adversarial,
            max_eps_random=max_eps_random, eps_ref=eps_ref)
        labels, n = b.y[ok].numpy(), int(ok.sum())
        for kind in ("legitimate", "random", SIGN):
            (_, d, cap, length), = searches[kind]
            seg = np.full(n, np.nan) if length is None else length.numpy()
            md = min_distances(b.models, b.x[ok], d, max_eps=cap, grid=grid, clip=True)
            frames += [_md_frame(name, kind, "-", k, labels, v.numpy(), cap, seg) for k, v in md.items()]
        # Adversarial: each model searched once, along the directions of every source it is paired with.
        runs = {src: d for src, d, _, _ in searches["adversarial"]}
        for k, model in b.models.items():
            sources = [src for src in runs if k in partners.get(src, ())]
            if not sources:
                continue
            x_rep = b.x[ok].repeat(len(sources), *([1] * (b.x.dim() - 1)))
            md = min_distances({k: model}, x_rep, torch.cat([runs[src] for src in sources]),
                               max_eps=max_eps_adversarial, grid=grid, clip=True)[k].view(len(sources), n)
            frames += [_md_frame(name, "adversarial", src, k, labels, md[i].numpy(), max_eps_adversarial,
                                 np.full(n, np.nan)) for i, src in enumerate(sources)]
        print(f"{name}: {ok.sum()} inputs classified correctly by all {len(chosen)} models")
    return pd.concat(frames, ignore_index=True)


def boundary_summary(mds: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, direction): share of boundaries censored, median MD (censored at the cap),
    and the median over pairs and inputs of the observed and the null ID/MD."""
    capped = mds.assign(md=censor(mds["md"], mds["cap"]), censored=np.isinf(mds["md"]))
    summary = capped.groupby(["dataset", "direction"]).agg(censored=("censored", "mean"), median_md=("md", "median"))
    summary["median_id_over_md"] = rows.groupby(["dataset", "direction"])["obs"].median()
    summary["median_null_id_over_md"] = rows.groupby(["dataset", "direction"])["null"].median()
    return summary
