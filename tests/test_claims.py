"""The claims ledger: verdicts come from the intervals and the stated rule."""
import json

import numpy as np
import pytest

from halfway_utils import claims, stats
from halfway_utils.claims import Condition, decide
from halfway_utils.stats import Estimate


def est(value, low, high):
    return Estimate(value, low, high, 10, "test")


@pytest.mark.parametrize("interval, op, verdict", [
    ((0.8, 0.7, 0.9), ">", "supported"),
    ((0.3, 0.2, 0.4), ">", "not supported"),
    ((0.5, 0.4, 0.6), ">", "inconclusive"),
    ((0.3, 0.2, 0.4), "<", "supported"),
    ((float("nan"),) * 3, ">", "inconclusive"),
])
def test_condition_judges_intervals(interval, op, verdict):
    assert decide([Condition("m", op, 0.5)], {"m": est(*interval)}) == verdict


def test_any_refuted_condition_refutes_the_claim():
    m = {"a": est(0.9, 0.8, 1.0), "b": est(0.1, 0.0, 0.2)}
    assert decide([Condition("a", ">", 0.5), Condition("b", ">", 0.5)], m) == "not supported"
    assert decide([Condition("a", ">", 0.5), Condition("b", "<", 0.5)], m) == "supported"


def test_missing_measurement_and_empty_rule_are_errors():
    with pytest.raises(KeyError):
        decide([Condition("zzz", ">", 0)], {})
    with pytest.raises(ValueError):
        decide([], {})
    with pytest.raises(ValueError):
        Condition("a", ">=", 0)


def test_record_writes_and_load_all_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    claim = claims.record("H1", statement="s", measurements={"share": est(0.8, 0.7, 0.9)},
                          conditions=[Condition("share", ">", 0.5)], figures=["f.png"],
                          notebook="01_halfway_boundaries", parameters={"profile": "quick", "n": 3})
    assert claim.verdict == "supported"
    stored = json.loads((tmp_path / "results" / "claims" / "H1.json").read_text())
    assert stored["verdict"] == "supported" and stored["parameters"]["n"] == 3
    ledger = claims.load_all()
    assert ledger["H1"].verdict == "supported" and ledger["H2"] is None
    with pytest.raises(ValueError, match="unknown claim"):
        claims.record("Z9", statement="", measurements={}, conditions=[], figures=[], notebook="",
                      parameters={})


def test_bootstrap_interval_covers_and_is_seeded():
    values = np.random.default_rng(0).normal(1.0, 1.0, 400)
    a = stats.bootstrap(values, np.mean, seed=1)
    b = stats.bootstrap(values, np.mean, seed=1)
    assert a == b and a.low < 1.0 < a.high and a.high - a.low < 0.3
    assert stats.bootstrap([], np.mean).n == 0


def test_across_seeds_and_spearman():
    e = stats.across_seeds([1.0, 1.1, 0.9])
    assert e.low < 1.0 < e.high
    assert np.isnan(stats.across_seeds([1.0]).low)
    rho = stats.spearman(np.arange(20), np.arange(20) ** 2)
    assert rho.value == pytest.approx(1.0)
