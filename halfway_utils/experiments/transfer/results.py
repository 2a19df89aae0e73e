"""The results file of notebook 03: the numbers behind its figures and its claims."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ...evidence import claims
from ...infra.store import save_results
from .h4 import landing_bound, landing_medians
from .parameters import NOTEBOOK


def write_results(rates: pd.DataFrame, summary: pd.DataFrame, pairs: pd.DataFrame, landing: pd.DataFrame,
                  recorded: Sequence[claims.Claim], seconds: float, parameters: Mapping[str, Any],
                  controls: pd.DataFrame | None = None) -> Path:
    """Write the numbers behind the figures and the claims to ``results/03_transfer.json``."""
    return save_results(NOTEBOOK, {
        "transfer": rates.to_dict("records"),
        "boundary_summary": summary.reset_index().to_dict("records"),
        "pairs": pairs.to_dict("records"),
        "landing_median": landing_medians(landing).reset_index().to_dict("records"),
        "landing_bound": landing_bound(landing).reset_index().to_dict("records"),
        "controls": [] if controls is None else controls.to_dict("records"),
        "claims": {c.id: {"verdict": c.verdict, "measurements": c.measurements, "rule": c.rule,
                          "strata": c.strata, "controls": c.controls} for c in recorded},
        "seconds": seconds,
    }, dict(parameters))
