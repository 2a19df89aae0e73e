"""Notebook 02's results file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...infra.store import save_results
from .parameters import NOTEBOOK


def write_results(agree: pd.DataFrame, strata: pd.DataFrame, kappas: pd.DataFrame, random_table: pd.DataFrame,
                  widths_table: pd.DataFrame, measurements: dict[str, Any], parameters: dict[str, Any]) -> Path:
    """Write ``results/02_generalization.json``: the tables, the per-model kappas and the measurements."""
    return save_results(NOTEBOOK, {"agreement": agree.to_dict("records"), "strata": strata.to_dict("records"),
                                   "model_kappas": kappas.to_dict("records"),
                                   "random_labels": random_table.to_dict("records"),
                                   "width_sweep": widths_table.to_dict("records"),
                                   "measurements": measurements}, parameters)
