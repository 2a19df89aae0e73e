"""Notebook 02's results file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...infra.store import save_results
from .parameters import NOTEBOOK


def write_results(agree: pd.DataFrame, strata: pd.DataFrame, kappas: pd.DataFrame, random_table: pd.DataFrame,
                  widths_table: pd.DataFrame, measurements: dict[str, Any], parameters: dict[str, Any],
                  controls: pd.DataFrame | None = None, bandwidths: pd.DataFrame | None = None) -> Path:
    """Write ``results/02_generalization.json``: the tables, the per-model kappas, the controls and
    the kernel machine's bandwidth sweep (empty when not given) and the measurements."""
    def records(table: pd.DataFrame | None) -> list[dict[str, Any]]:
        return [] if table is None else table.to_dict("records")

    return save_results(NOTEBOOK, {"agreement": agree.to_dict("records"), "strata": strata.to_dict("records"),
                                   "model_kappas": kappas.to_dict("records"),
                                   "random_labels": random_table.to_dict("records"),
                                   "width_sweep": widths_table.to_dict("records"),
                                   "controls": records(controls),
                                   "kernel_bandwidths": records(bandwidths),
                                   "measurements": measurements}, parameters)
