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
    rule = claims.Rule("effect", ">", 0.1, null="the untrained network on the same segments", band=0.02,
                       changes=("margin raised from 0.05 after run 1: why",))
    strata = {"mnist/mlp": est(0.3, 0.2, 0.4), "mnist/cnn": est(0.06, 0.03, 0.09),
              "fashion_mnist/resnet": est(0.0, -0.1, 0.01), "fashion_mnist/mlp": est(0.1, 0.05, 0.15)}
    controls = [claims.Control("copy", claims.POSITIVE, est(0.5, 0.4, 0.6), "has it"),
                claims.Control("scrambled", claims.NEGATIVE, est(0.0, -0.01, 0.01), "lacks it")]
    claim = claims.record_rule("H1", rule, statement="s", pooled=est(0.2, 0.12, 0.28), strata=strata,
                               measurements={"share": est(0.5, 0.4, 0.6)}, replicates=15, figures=["01_a.png"],
                               notebook="01", parameters={"profile": "quick"}, controls=controls)
    assert claim.verdict == "supported"
    assert [row["verdict"] for row in claim.strata] == ["supported", "weaker than claimed", "no effect",
                                                        "inconclusive"]
    assert claims.by_stratum(claim.strata) == ("supported for mnist/mlp; weaker than claimed for mnist/cnn; "
                                               "no effect for fashion_mnist/resnet; inconclusive for fashion_mnist/mlp")
    stored = json.loads((tmp_path / "results" / "claims" / "H1.json").read_text())
    assert stored["primary"] == "effect" and stored["primary"] in stored["measurements"]
    assert stored["null"].startswith("the untrained") and stored["margin"] == 0.1 and stored["replicates"] == 15
    assert stored["null_value"] == 0.0 and stored["band"] == 0.02
    assert stored["rule_changes"] == ["margin raised from 0.05 after run 1: why"]
    assert {"stratum", "verdict", "value", "low", "high"} <= set(stored["strata"][0])
    assert [(c["name"], c["verdict"], c["as_built"]) for c in stored["controls"]] == [
        ("copy", "supported", True), ("scrambled", "no effect", True)]
    assert claims.control_problems(stored["controls"]) == []
    curve = stored["margin_curve"]
    assert curve[0]["verdict"] == "supported" and curve[-1]["verdict"] == "weaker than claimed"
    assert "supported pooled" in stored["sentence"] and "controls read as built" in stored["sentence"]
    assert claims.load_all()["H1"].strata == stored["strata"]
    with pytest.raises(ValueError, match="op must be"):
        claims.Rule("effect", ">=", 0.1, null="n")


@pytest.mark.parametrize("op, low, high, verdict", [
    (">", 0.55, 0.9, "supported"), (">", 0.2, 0.45, "weaker than claimed"), (">", 0.01, 0.09, "no effect"),
    (">", -0.3, -0.1, "no effect"), (">", -0.05, 0.3, "inconclusive"), (">", 0.3, 0.7, "inconclusive"),
    (">", 0.05, 0.3, "weaker than claimed"), (">", 0.5, 0.9, "inconclusive"),
    ("<", -0.9, -0.55, "supported"), ("<", -0.45, -0.2, "weaker than claimed"), ("<", -0.09, -0.01, "no effect"),
    ("<", 0.1, 0.3, "no effect"), ("<", -0.7, -0.3, "inconclusive"),
])
def test_the_four_words_follow_the_interval_against_the_null_band_and_margin(op, low, high, verdict):
    margin = 0.5 if op == ">" else -0.5
    rule = claims.Rule("m", op, margin, null="n", band=0.1, ideal=1.0 if op == ">" else -1.0)
    assert rule.judge(est((low + high) / 2, low, high)) == verdict
    assert rule.judge(est(float("nan"), float("nan"), float("nan"))) == "inconclusive"


def test_a_rule_whose_margin_is_not_beyond_its_band_is_refused():
    with pytest.raises(ValueError, match="beyond the null"):
        claims.Rule("m", ">", 0.05, null="n", band=0.1)
    claims.Rule("m", ">", 0.0, null="n")  # a margin at the null with no band is allowed (no "weaker")
    with pytest.raises(ValueError, match="beyond the null"):
        claims.Rule("m", "<", 1.2, null="n", null_value=1.0)
    with pytest.raises(ValueError, match="band"):
        claims.Rule("m", ">", 0.5, null="n", band=-0.1)


def test_the_margin_curve_reads_the_verdict_off_the_interval_bounds():
    rule = claims.Rule("m", ">", 0.5, null="n", band=0.1)
    curve = claims.margin_curve(est(0.45, 0.3, 0.6), rule)
    assert [(c["from"], c["to"], c["verdict"]) for c in curve] == [
        (0.1, 0.3, "supported"), (0.3, 0.6, "inconclusive"), (0.6, float("inf"), "weaker than claimed")]
    # every margin in a segment gives that verdict under the rule itself
    for seg, m in zip(curve, (0.2, 0.45, 0.9)):
        assert claims.Rule("m", ">", m, null="n", band=0.1).judge(est(0.45, 0.3, 0.6)) == seg["verdict"]
    down = claims.margin_curve(est(0.7, 0.6, 0.8), claims.Rule("m", "<", 0.5, null="n", null_value=1.0, band=0.05))
    assert [(round(c["from"], 6), c["to"], c["verdict"]) for c in down] == [
        (0.95, 0.8, "supported"), (0.8, 0.6, "inconclusive"), (0.6, float("-inf"), "weaker than claimed")]
    assert claims.margin_curve_text(curve).startswith("supported for a margin from 0.1 to 0.3; inconclusive")
    assert [c["verdict"] for c in claims.margin_curve(est(0.0, -0.05, 0.05), rule)] == ["no effect"]


def test_controls_that_read_against_how_they_were_built_are_named():
    rule = claims.Rule("m", ">", 0.5, null="n", band=0.1, ideal=1.0)
    rows = [claims.Control("bisector", claims.POSITIVE, est(0.3, 0.2, 0.4)).row(rule),
            claims.Control("biased", claims.NEGATIVE, est(0.7, 0.6, 0.8)).row(rule)]
    assert [r["as_built"] for r in rows] == [False, False]
    problems = claims.control_problems(rows)
    assert len(problems) == 2 and "'weaker than claimed'" in problems[0] and "'supported'" in problems[1]
    assert claims.control_problems(rows[:1])[-1] == "no negative control"
    with pytest.raises(ValueError, match="positive"):
        claims.Control("x", "neutral", est(0, 0, 0))
    sentence = claims.plain_sentence("H1", rule, est(0.3, 0.2, 0.4), [], rows)
    assert "30% of the way from the null to the ideal" in sentence and "CONTROLS READ WRONG" in sentence


def test_a_summary_prints_infinite_and_missing_values_as_stored_in_json():
    """A ratio over a zero null is infinite; the ledger stores it as "inf" and the summary still prints."""
    from halfway_utils.evidence.claims import _interval

    assert _interval({"value": "inf", "low": 1.0, "high": "inf"}) == "inf [1, inf]"
    assert _interval({"value": "-inf", "low": None, "high": None}) == "-inf"
    assert _interval({"value": None}) == "nan"


def test_a_stored_interval_with_missing_bounds_reads_inconclusive_and_draws_its_curve():
    """JSON stores NaN as null: a stratum of one model has no interval; its margin curve still reads."""
    rule = claims.Rule("m", ">", 0.5, null="n", band=0.1)
    row = {"stratum": "mnist/resnet", "value": 0.3, "low": None, "high": None, "n": 1, "verdict": "inconclusive"}
    assert [c["verdict"] for c in claims.margin_curve(row, rule)] == ["inconclusive"]
    assert claims.margin_curve({"value": None, "low": None, "high": None}, rule)[0]["verdict"] == "inconclusive"
