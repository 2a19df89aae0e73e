"""C2 · over-parameterized networks fit random labels, and their test accuracy stays at chance.

The primary (:data:`RULE`, :func:`widest_fitted`) is the random-label test accuracy minus chance
at the widest width whose random-label models fit, across labelings (one model each): a model that
generalized fails it. True-label test accuracy against width and the 1-NN agreement outside the
hull are reported (:func:`measurements`); the sweep itself is measured in :mod:`.sweep`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ... import data, zoo
from ...evidence import claims, stats
from ...evidence.claims import Claim, Rule
from ...evidence.stats import Estimate
from .parameters import NOTEBOOK

STATEMENT = ("Over-parameterized networks fit random labels, and then their test accuracy stays at chance: "
             "what they do outside the training hull is set by the training regime, not by the data alone.")
PRIMARY = "test_acc_random_minus_chance_widest_fitted"
MARGIN = 0.05  # five points above chance (0.1) already means the random-label net generalized
RULE = Rule(
    PRIMARY, "<", MARGIN,
    null=("a random-label net that generalized: test accuracy above chance by the margin or more (the "
          "claim says it stays at chance; the interval is across labelings, one model each)"),
    strata=("dataset", "arch"),
    changes=("2026-12-01: was an AND of random-label train acc > 0.95, random-label test acc < 0.2 and "
             "true-label test acc of the widest minus the next width > -0.03, on one seed (one labeling) "
             "with samples pooled as independent, 300 training samples (fewer than the 784 input "
             "dimensions) and fixed epochs; now one primary, the random-label test accuracy minus chance "
             "at the widest width whose random-label models reach the target training accuracy, < 0.05 "
             "on the t interval across labelings, 1000 training samples (issue 13)",))
FIGURES = ("05_width_sweep",)
MIN_LABELINGS = 3  # random-label models that must fit at a width before it can decide C2


def chance_level(dataset: str) -> float:
    """Test accuracy of a labelling independent of the image: one over the number of classes
    (the test subsets are class-balanced)."""
    return 1.0 / len(data.info(dataset).classes)


def widest_fitted(rows: Sequence[Mapping[str, Any]], chance: float, *, min_models: int = MIN_LABELINGS
                  ) -> tuple[int | None, Estimate]:
    """The widest width with at least ``min_models`` fitted random-label models, and the t interval
    across those models (labelings) of their test accuracy minus ``chance``; ``(None, NaN)`` when no
    width qualifies. Misfits at that width are left out (the notes name them)."""
    fitted = [r for r in rows if r["labels"] == "random" and r["fitted"]]
    counts = pd.Series([r["width"] for r in fitted], dtype=int).value_counts()
    widths = sorted(int(w) for w, c in counts.items() if c >= min_models)
    if not widths:
        return None, Estimate(float("nan"), float("nan"), float("nan"), 0, "t across seeds")
    width = widths[-1]
    return width, stats.across_seeds([r["test_acc"] - chance for r in fitted if r["width"] == width])


def measurements(rows: Sequence[Mapping[str, Any]],
                 per_sample: Mapping[tuple[str, int, int], Mapping[str, np.ndarray]], outside: np.ndarray,
                 widths: Sequence[int], width: int | None, n_boot: int) -> dict[str, Estimate]:
    """What C2 reports, not judges; intervals across seeds (one model each) unless said otherwise.

    Per width: true- and random-label test accuracy and the share of models fitted; at the deciding
    ``width`` the fitted random-label models' training accuracy; the true-label test accuracy of the
    widest minus the next width (paired per seed); the 1-NN agreement outside the hull at the widest
    width; the share of queries outside the sweep's hull (bootstrap over queries).
    """
    frame = pd.DataFrame(list(rows))
    out: dict[str, Estimate] = {}
    for w in sorted(widths):
        for labels in ("true", "random"):
            group = frame[(frame["labels"] == labels) & (frame["width"] == w)]
            out[f"test_acc_{labels}_w{w}"] = stats.across_seeds(group["test_acc"])
            out[f"fitted_{labels}_w{w}"] = stats.across_seeds(group["fitted"].astype(float))
    if width is not None:
        chosen = frame[(frame["labels"] == "random") & (frame["width"] == width) & frame["fitted"]]
        out["train_acc_random_widest_fitted"] = stats.across_seeds(chosen["train_acc"])
    big, second = sorted(widths)[-1], sorted(widths)[-2]
    true = frame[frame["labels"] == "true"].pivot_table(index="seed", columns="width", values="test_acc")
    out["test_acc_true_widest_minus_next"] = stats.across_seeds(true[big] - true[second])
    for labels in ("true", "random"):
        out[f"agree_1nn_outside_{labels}_widest"] = stats.across_seeds(
            [v["agree"].mean() for (lab, _, w), v in per_sample.items() if lab == labels and w == big])
    out["share_outside_sweep_hull"] = stats.share(outside, n_boot)
    return out


def notes(parameters: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], width: int | None) -> str:
    """What the C2 entry rests on, and every sweep model that missed its target."""
    name, n_train = parameters["sweep_dataset"], parameters["sweep_n_train"]
    dim = int(np.prod(data.info(name).shape))
    missed = [f"{r['labels']} w{r['width']} seed{r['seed']} ({r['train_acc']:.3f})" for r in rows if not r["fitted"]]
    decided = (f"decided at width {width}, the widest with at least {MIN_LABELINGS} fitted random-label models"
               if width is not None else f"no width has {MIN_LABELINGS} fitted random-label models: inconclusive")
    return (f"mlp widths {list(parameters['widths'])} on {n_train} {name} samples "
            f"({'more' if n_train > dim else 'NOT more'} than the {dim} input dimensions), labelings = seeds "
            f"{list(parameters['sweep_seeds'])}, each model trained to train acc {zoo.TARGET_ACC:g} with caps of "
            f"{parameters['sweep_epochs_true']} (true) / {parameters['sweep_epochs_random']} (random) epochs; "
            f"{decided}. Not fitted (reported, not used at the deciding width): "
            f"{', '.join(missed) if missed else 'none'}. agree_1nn_* = prediction on outside-hull queries "
            "equals the trained-on label of the pixel-space nearest training sample.")


def record(primary: Estimate, measurements: Mapping[str, Estimate], *, parameters: Mapping[str, Any],
           notes: str = "", figures: Sequence[str] | None = None) -> Claim:
    """Decide C2 by :data:`RULE` (one stratum, the sweep's data set and the mlp) and write it
    (``figures``: the PNG paths behind it, by default those of :data:`FIGURES`)."""
    figures = [f"figures/{stem}.png" for stem in FIGURES] if figures is None else list(figures)
    return claims.record_rule(
        "C2", RULE, statement=STATEMENT, pooled=primary,
        strata={f"{parameters['sweep_dataset']}/mlp": primary}, measurements=dict(measurements),
        replicates=primary.n, figures=figures, notebook=NOTEBOOK, parameters=parameters, notes=notes)
