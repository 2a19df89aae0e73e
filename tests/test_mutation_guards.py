"""Tests written to kill the mutants that survived the mutation run of the decision path (scripts/mutation.sh):
each names what it guards. The audit's own survivors are in tests/test_science_guards.py."""
from __future__ import annotations

import numpy as np
import pytest

from halfway_utils.evidence import stats


def test_a_t_interval_needs_a_positive_df_and_a_finite_se():
    assert np.isnan(stats.t_estimate(1.0, 0.1, 0, 1, "m").low)
    assert np.isnan(stats.t_estimate(1.0, float("nan"), 4, 5, "m").high)
    est = stats.t_estimate(1.0, 0.1, 4, 5, "m")
    assert (est.se, est.df, est.level) == (0.1, 4.0, 0.95) and est.low == pytest.approx(1 - 0.27764, rel=1e-4)
