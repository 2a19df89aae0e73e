"""The results writer of notebook 04: the numbers behind its figures and verdicts, in one JSON file."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...evidence.claims import Claim
from ...evidence.stats import Estimate, StratifiedEstimates
from ...infra.store import save_results
from .parameters import NOTEBOOK
from .zoo_codes import ModelKey


def write_results(*, accuracy: Mapping[ModelKey, float], misfit_note: str, metrics: pd.DataFrame,
                  s1_per_model: pd.DataFrame, s1_est: StratifiedEstimates, changes: pd.DataFrame,
                  departures: pd.DataFrame, s2_per_model: pd.DataFrame, s2_est: StratifiedEstimates,
                  s2_correlations: Mapping[str, Estimate], points: pd.DataFrame, eps: float, s1_claim: Claim,
                  s2_claim: Claim, seconds: float, parameters: Mapping[str, Any],
                  s1_control_per_model: pd.DataFrame | None = None, s2_control_points: pd.DataFrame | None = None
                  ) -> Path:
    """Write ``results/04_som_codes.json``: the code tables, both claims' measurements, controls and verdicts."""
    def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
        return [] if frame is None else frame.to_dict("records")

    return save_results(NOTEBOOK, {
        "clean_accuracy": [{"dataset": d, "arch": a, "seed": s, "accuracy": v} for (d, a, s), v in accuracy.items()],
        "excluded": misfit_note,
        "code_metrics": metrics.to_dict("records"),
        "s1_per_model": s1_per_model.to_dict("records"),
        "s1": {"pooled": s1_est.pooled, "strata": s1_est.strata},
        "change_rates": changes.to_dict("records"),
        "first_departure": departures.to_dict("records"),
        "s2_per_model": s2_per_model.to_dict("records"),
        "s2": {"eps": eps, "pooled": s2_est.pooled, "strata": s2_est.strata, "correlations": dict(s2_correlations)},
        "s2_points": points.to_dict("records"),
        "s1_control_per_model": records(s1_control_per_model),
        "s2_control_points": records(s2_control_points),
        "controls": {"S1": s1_claim.controls, "S2": s2_claim.controls},
        "verdicts": {"S1": s1_claim.verdict, "S2": s2_claim.verdict},
        "seconds": seconds,
    }, dict(parameters))
