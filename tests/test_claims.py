"""The claims ledger: verdicts come from the intervals and the stated rule."""
import json

import numpy as np
import pytest

from halfway_utils.evidence import claims, stats
from halfway_utils.evidence.claims import Condition, decide
from halfway_utils.evidence.stats import Estimate


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


def test_partial_spearman_removes_a_shared_trend_and_resamples_clusters():
    rng = np.random.default_rng(0)
    depth = np.tile(np.linspace(0, 1, 6), 10)
    groups = np.repeat(np.arange(10), 6)
    x = depth + 0.3 * rng.normal(size=60)
    y = depth + 0.3 * rng.normal(size=60)  # related only through depth
    assert stats.spearman(x, y).low > 0
    e = stats.partial_spearman(x, y, depth, groups=groups, n_boot=400)
    assert e.low < 0 < e.high and abs(e.value) < 0.3
    assert e.n == 10 and "cluster" in e.method
    z = rng.normal(size=60)  # a real relation beyond depth survives
    e2 = stats.partial_spearman(depth + z, depth + z + 0.2 * rng.normal(size=60), depth, groups=groups,
                                n_boot=400)
    assert e2.low > 0.5
    # indicator columns act as strata: with one stratum per depth the partial equals the
    # within-depth correlation of ranks
    strata = (depth[:, None] == np.unique(depth)[None, :]).astype(float)
    assert np.isfinite(stats.partial_spearman(x, y, strata, groups=groups, n_boot=50).value)
    # the same seed gives the same interval; too few clusters gives NaN
    assert stats.partial_spearman(x, y, depth, groups=groups, n_boot=100, seed=3) == \
        stats.partial_spearman(x, y, depth, groups=groups, n_boot=100, seed=3)
    assert np.isnan(stats.partial_spearman(x, y, depth, groups=np.zeros(60), n_boot=10).value)
    # no control: the plain Spearman correlation, with the cluster interval
    plain = stats.partial_spearman(x, y, None, groups=groups, n_boot=50)
    assert plain.value == pytest.approx(stats.spearman(x, y).value)


def test_rank_residuals_match_the_partial_correlation():
    rng = np.random.default_rng(1)
    depth = np.tile(np.linspace(0, 1, 5), 8)
    x, y = depth + rng.normal(size=40), depth + rng.normal(size=40)
    rx, ry = stats.rank_residuals(x, depth), stats.rank_residuals(y, depth)
    assert abs(rx.mean()) < 1e-9 and abs(rx @ (depth - depth.mean())) < 1e-6  # no depth trend left
    assert np.corrcoef(rx, ry)[0, 1] == pytest.approx(stats.partial_spearman(x, y, depth, n_boot=10).value)


def test_a_claim_summary_lists_the_verdict_rule_and_every_interval(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    claim = claims.record("H1", statement="s", measurements={"a": est(0.8, 0.7, 0.9), "b": 0.25},
                          conditions=[Condition("a", ">", 0.5)], figures=[], notebook="01",
                          parameters={"profile": "quick"}, notes="a note")
    lines = claim.summary().splitlines()
    assert lines[0] == "H1 verdict: supported   rule: (a > 0.5) on the 95% intervals"
    assert lines[1].split() == ["a", "0.8", "[0.7,", "0.9]"] and lines[2].split() == ["b", "0.25"]
    assert lines[-1] == "a note"


@pytest.mark.parametrize("op, low, high, verdict", [
    (">", 0.6, 0.9, "supported"), (">", 0.5, 0.9, "inconclusive"),  # low at the threshold: not beyond it
    (">", 0.1, 0.4, "not supported"), (">", 0.1, 0.5, "inconclusive"),  # high at the threshold
    (">", 0.4, 0.6, "inconclusive"),
    ("<", 0.1, 0.4, "supported"), ("<", 0.1, 0.5, "inconclusive"),
    ("<", 0.6, 0.9, "not supported"), ("<", 0.5, 0.9, "inconclusive"),
    ("<", 0.4, 0.6, "inconclusive"),
])
def test_every_branch_of_a_condition_and_the_endpoints_at_the_threshold(op, low, high, verdict):
    assert Condition("m", op, 0.5).judge(est((low + high) / 2, low, high)) == verdict


def test_a_bare_number_is_no_interval_and_decides_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    claim = claims.record("H2", statement="s", measurements={"m": 0.99}, conditions=[Condition("m", ">", 0.5)],
                          figures=[], notebook="02", parameters={})
    assert claim.verdict == "inconclusive"


def test_a_rule_is_decided_per_stratum_and_pooled(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    rule = claims.Rule("effect", ">", 0.1, null="the untrained network on the same segments",
                       changes=("margin raised from 0.05 after run 1: why",))
    strata = {"mnist/mlp": est(0.3, 0.2, 0.4), "mnist/cnn": est(0.25, 0.15, 0.35),
              "fashion_mnist/resnet": est(0.0, -0.1, 0.05)}
    claim = claims.record_rule("H1", rule, statement="s", pooled=est(0.2, 0.12, 0.28), strata=strata,
                               measurements={"share": est(0.5, 0.4, 0.6)}, replicates=15, figures=["01_a.png"],
                               notebook="01", parameters={"profile": "quick"})
    assert claim.verdict == "supported"
    assert [row["verdict"] for row in claim.strata] == ["supported", "supported", "not supported"]
    assert claims.by_stratum(claim.strata) == ("supported for mnist/mlp, mnist/cnn; "
                                               "not supported for fashion_mnist/resnet")
    stored = json.loads((tmp_path / "results" / "claims" / "H1.json").read_text())
    assert stored["primary"] == "effect" and stored["primary"] in stored["measurements"]
    assert stored["null"].startswith("the untrained") and stored["margin"] == 0.1 and stored["replicates"] == 15
    assert stored["rule_changes"] == ["margin raised from 0.05 after run 1: why"]
    assert {"stratum", "verdict", "value", "low", "high"} <= set(stored["strata"][0])
    assert claims.load_all()["H1"].strata == stored["strata"]
    with pytest.raises(ValueError, match="op must be"):
        claims.Rule("effect", ">=", 0.1, null="n")


def test_a_summary_prints_infinite_and_missing_values_as_stored_in_json():
    """A ratio over a zero null is infinite; the ledger stores it as "inf" and the summary still prints."""
    from halfway_utils.evidence.claims import _interval

    assert _interval({"value": "inf", "low": 1.0, "high": "inf"}) == "inf [1, inf]"
    assert _interval({"value": "-inf", "low": None, "high": None}) == "-inf"
    assert _interval({"value": None}) == "nan"
