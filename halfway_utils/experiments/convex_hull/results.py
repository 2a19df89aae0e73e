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
                  c1: Claim, c2: Claim, c2_widths: Sequence[int | None], *, seconds: float,
                  parameters: Mapping[str, Any], dims: Rows = (), control_seconds: float | None = None) -> Path:
    """Write ``results/05_convex_hull.json``: the per-space summaries, the zoo's, the training-size,
    dimension and width sweeps' rows, and each claim's verdict, primary, controls and measurements
    (``c2_widths``: the narrowest and widest width that decided C2)."""
    return save_results(NOTEBOOK, {
        "c1_summary": summaries.to_dict("records"), "models": list(models), "train_size_sweep": list(sizes),
        "dimension_sweep": list(dims), "width_sweep": list(sweep), "width_agreement": list(agreement),
        "c1": {"verdict": c1.verdict, "strata": c1.strata, "pooled": c1.measurements[c1.primary],
               "controls": c1.controls, "measurements": _reported(c1)},
        "c2": {"verdict": c2.verdict, "widths": list(c2_widths), "primary": c2.measurements[c2.primary],
               "controls": c2.controls, "measurements": _reported(c2)},
        "seconds": seconds, "control_seconds": control_seconds}, dict(parameters))
