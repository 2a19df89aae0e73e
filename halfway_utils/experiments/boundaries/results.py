"""Notebook 01's results file."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...evidence.stats import Estimate
from ...infra.store import save_results
from .history import History
from .parameters import NOTEBOOK
from .scan import ZooScan


def write_results(scan: ZooScan, strata: pd.DataFrame, history: History, values: Mapping[str, Estimate],
                  parameters: Mapping[str, Any], controls: Mapping[str, Estimate] | None = None) -> Path:
    """Write ``results/01_halfway_boundaries.json`` (``controls``: the primary of each control classifier)."""
    return save_results(NOTEBOOK, {"per_model_seed": scan.rows, "per_stratum": strata.reset_index(
        names="stratum").to_dict("records"), "history": history.rows, "measurements": values,
        "controls": dict(controls or {}), "excluded": [r.config.label for r in scan.misfits]}, dict(parameters))
