"""The results file of notebook 05: the numbers behind its figures and both verdicts."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ...evidence.claims import Claim
from ...infra.store import save_results
from .parameters import NOTEBOOK

Rows = Sequence[Mapping[str, Any]]


def _reported(claim: Claim) -> dict[str, Any]:
    """The claim's measurements without its primary (the ledger adds the primary to them)."""
    return {name: m for name, m in claim.measurements.items() if name != claim.primary}


def write_results(summaries: pd.DataFrame, models: Rows, sizes: Rows, sweep: Rows, agreement: Rows,
                  c1: Claim, c2: Claim, c2_width: int | None, *, seconds: float,
                  parameters: Mapping[str, Any]) -> Path:
    """Write ``results/05_convex_hull.json``: the per-space summaries, the zoo's, the training-size
    sweep's and the width sweep's rows, and each claim's verdict, primary and measurements."""
    return save_results(NOTEBOOK, {
        "c1_summary": summaries.to_dict("records"), "models": list(models), "train_size_sweep": list(sizes),
        "width_sweep": list(sweep), "width_agreement": list(agreement),
        "c1": {"verdict": c1.verdict, "strata": c1.strata, "pooled": c1.measurements[c1.primary],
               "measurements": _reported(c1)},
        "c2": {"verdict": c2.verdict, "width": c2_width, "primary": c2.measurements[c2.primary],
               "measurements": _reported(c2)},
        "seconds": seconds}, dict(parameters))
