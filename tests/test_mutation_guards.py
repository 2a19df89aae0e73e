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


# --- intervals.py: exact answers the mutation run showed were unchecked --------------------------------------


def test_percentile_interval_is_the_level_s_quantiles_of_the_finite_replicates():
    boots = np.array([*np.linspace(0, 1, 101), np.nan, np.inf])
    est = stats.percentile_interval(0.5, boots, 3, "m", level=0.9)
    assert (est.low, est.high) == (pytest.approx(0.05), pytest.approx(0.95))
    assert (est.value, est.n, est.level, est.method) == (0.5, 3, 0.9, "m, percentile")
    assert np.isnan(stats.percentile_interval(float("nan"), boots, 3, "m").low)
    assert np.isnan(stats.percentile_interval(0.5, [np.nan], 3, "m").high)


def test_satterthwaite_df_by_hand():
    assert stats.satterthwaite([1.0, 1.0], [4, 4]) == pytest.approx(8.0)
    assert stats.satterthwaite([1.0, 3.0], [2, 6]) == pytest.approx(16 / (1 / 2 + 9 / 6))
    assert stats.satterthwaite([0.0, 0.0], [2, 3]) == 5.0  # no variance anywhere: every component's df
    assert stats.satterthwaite([1.0, np.nan, 0.0], [4, 9, 9]) == pytest.approx(4.0)
    assert np.isnan(stats.satterthwaite([], []))


def test_draw_dof_counts_models_within_groups():
    assert stats.draw_dof(["a", "a", "a", "b", "b", "c"]) == (3.0, 2.0)  # df 2 + 1; inflate max(3/2, 2/1)
    assert stats.draw_dof(["a", "a", "a", "b", "b", "c"], pairs=True) == (3.0, 4.0)
    assert stats.draw_dof(["a"] * 5) == (4.0, pytest.approx(1.25))
    df, inflate = stats.draw_dof(["a", "b"])
    assert np.isnan(df) and inflate == 1.0


def test_is_dyadic_tells_a_star_from_crossed_pairs():
    assert stats.is_dyadic([("s", "a"), ("s", "b"), ("s", "c")]) is False
    assert stats.is_dyadic([("a", "b"), ("a", "c"), ("b", "c")]) is True
    assert stats.is_dyadic([("a", "b")]) is False and stats.is_dyadic([]) is False


def test_replicate_interval_takes_df_and_inflation_when_given():
    boots = np.array([0.0, 1.0, 2.0, 3.0, np.nan])
    sd = np.std([0.0, 1.0, 2.0, 3.0], ddof=1)
    est = stats.replicate_interval(1.5, boots, 5, "m", df=10, inflate=4.0, level=0.9)
    assert (est.se, est.df, est.level) == (pytest.approx(2 * sd), 10, 0.9)
    assert est.high - est.value == pytest.approx(1.8124611 * 2 * sd)
    assert est.method == f"m; {stats.T_METHOD}"
    again = stats.replicate_interval(1.5, boots, 5, est.method)
    assert again.method == est.method and again.se == pytest.approx(sd * np.sqrt(5 / 4)) and again.df == 4
    assert np.isnan(stats.replicate_interval(1.5, boots, 1, "m").low)
    assert np.isnan(stats.replicate_interval(1.5, [1.0], 5, "m").low)
    assert np.isnan(stats.replicate_interval(float("nan"), boots, 5, "m").low)


def test_input_draws_are_one_seeded_index_matrix_per_pool():
    draws = stats.input_draws({"a": 7, "b": 3}, 50, np.random.default_rng(0))
    assert draws["a"].shape == (50, 7) and draws["b"].shape == (50, 3)
    assert draws["a"].min() >= 0 and draws["a"].max() == 6 and draws["b"].max() == 2
    again = stats.input_draws({"a": 7, "b": 3}, 50, np.random.default_rng(0))
    assert all((draws[k] == again[k]).all() for k in draws)


def _strata():
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 14.0, np.nan])
    rng = np.random.default_rng(0)
    replicates = values[:, None] + rng.normal(0, [[0.1]] * 4 + [[1.0]] * 3, (7, 400))
    return values, replicates, ["x"] * 4 + ["y"] * 3


def test_stratified_bootstrap_pools_models_or_strata_and_keeps_its_level():
    values, replicates, labels = _strata()
    pooled, strata = stats.stratified_bootstrap(values, replicates, labels, method="m", level=0.9)
    assert strata["x"].value == 2.5 and strata["y"].value == 12.0 and strata["y"].n == 2 and strata["x"].n == 4
    assert pooled.value == pytest.approx(34 / 6) and pooled.level == 0.9 and strata["x"].level == 0.9
    by_strata, _ = stats.stratified_bootstrap(values, replicates, labels, method="m", pool="strata")
    assert by_strata.value == pytest.approx(7.25) and by_strata.level == 0.95
    # the pool's df: Welch-Satterthwaite over the strata's weighted variances (weights M_s / M, or equal)
    assert 1.0 <= pooled.df <= 3.0 and by_strata.df != pooled.df
    # the default seed is 0 (same numbers for the same call) and another seed draws other models
    again, _ = stats.stratified_bootstrap(values, replicates, labels, method="m", seed=0, level=0.9)
    other, _ = stats.stratified_bootstrap(values, replicates, labels, method="m", seed=1, level=0.9)
    assert again.se == pooled.se and other.se != pooled.se


def test_stratified_bootstrap_units_override_a_fixed_stratum_s_count():
    values, replicates, labels = _strata()
    _, strata = stats.stratified_bootstrap(values, replicates, labels, method="m", units={"x": 100})
    _, plain = stats.stratified_bootstrap(values, replicates, labels, method="m")
    assert strata["x"].n == 100 and strata["x"].df == 99 and strata["y"].df == 1 and plain["x"].df == 3
    assert strata["x"].se == pytest.approx(plain["x"].se * np.sqrt((100 / 99) / (4 / 3)))


def test_stratified_bootstrap_replicates_redraw_models_within_strata():
    # identical replicates within a stratum: the stratum's se is its models' spread alone
    values = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    replicates = np.repeat(values[:, None], 2000, axis=1)
    pooled, strata = stats.stratified_bootstrap(values, replicates, ["s"] * 5, method="m")
    assert strata["s"].se == pytest.approx(np.std(values, ddof=1) / np.sqrt(5), rel=0.1)
    assert pooled.value == 2.0 and pooled.se == pytest.approx(strata["s"].se, rel=1e-9) and pooled.n == 5


def test_pooled_interval_uses_the_largest_inflation_and_the_given_dof():
    boots = np.linspace(-1, 1, 201)
    parts = {"a": (boots, 5, 0.5), "b": (boots * 2, 3, 0.5)}
    est = stats.pooled_interval(0.0, boots, parts, "m")
    assert est.se == pytest.approx(np.std(boots, ddof=1) * np.sqrt(3 / 2)) and est.n == 8
    comps = [0.25 * np.var(boots, ddof=1) * 5 / 4, 0.25 * np.var(2 * boots, ddof=1) * 3 / 2]
    assert est.df == pytest.approx(stats.satterthwaite(comps, [4, 2]))
    given = stats.pooled_interval(0.0, boots, parts, "m", dof={"a": (12.0, 1.1), "b": (6.0, 1.2)}, n=6, level=0.9)
    assert given.n == 6 and given.level == 0.9 and given.se == pytest.approx(np.std(boots, ddof=1) * np.sqrt(1.2))
    one = stats.pooled_interval(0.0, boots, {"a": (boots, 1, 1.0)}, "m")
    assert np.isnan(one.low) and one.n == 1


# --- verdicts.py -------------------------------------------------------------------------------------------------


def test_a_rule_refuses_a_bad_op_and_a_margin_inside_the_band():
    from halfway_utils.evidence.claims import Rule

    with pytest.raises(ValueError, match="op must be"):
        Rule("p", ">=", 0.5, "n")
    with pytest.raises(ValueError, match="band must be >= 0"):
        Rule("p", ">", 0.5, "n", band=-0.1)
    with pytest.raises(ValueError, match="must lie beyond the null"):
        Rule("p", ">", 0.05, "n", band=0.1)
    with pytest.raises(ValueError, match="must lie beyond the null"):
        Rule("p", "<", -0.05, "n", band=0.1)
    assert Rule("p", "<", -0.1, "n", band=0.1).margin == -0.1  # exactly at the band's edge is allowed


def test_control_problems_name_the_control_and_a_missing_kind():
    rows = [{"kind": "positive", "name": "k", "verdict": "inconclusive", "expected": ["supported"], "as_built": False},
            {"kind": "positive", "name": "ok", "verdict": "supported", "expected": ["supported"], "as_built": True}]
    assert stats_free_problems(rows) == ["positive control 'k' reads 'inconclusive', not supported",
                                         "no negative control"]


def stats_free_problems(rows):
    from halfway_utils.evidence.claims import control_problems

    return control_problems(rows)


def test_margin_curve_text_words_each_segment():
    from halfway_utils.evidence.claims import margin_curve_text

    curve = [{"from": 0.1, "to": 0.41, "verdict": "supported"}, {"from": 0.41, "to": 0.62, "verdict": "inconclusive"},
             {"from": 0.62, "to": float("inf"), "verdict": "weaker than claimed"}]
    assert margin_curve_text(curve) == ("supported for a margin from 0.1 to 0.41; inconclusive from 0.41 to 0.62; "
                                        "weaker than claimed past 0.62")
    assert margin_curve_text([{"from": "0.2", "to": None, "verdict": "no effect"}]) == \
        "no effect for a margin from 0.2 to nan"


def test_the_older_conditions_decide_on_every_condition():
    from halfway_utils.evidence.claims import Condition, decide

    up, down = Condition("a", ">", 0.5), Condition("b", "<", 0.5)
    hi, lo, mid = (stats.Estimate(v, v - 0.1, v + 0.1, 3, "m") for v in (0.8, 0.2, 0.5))
    assert (up.judge(hi), up.judge(lo), up.judge(mid)) == ("supported", "not supported", "inconclusive")
    assert (down.judge(lo), down.judge(hi), down.judge(mid)) == ("supported", "not supported", "inconclusive")
    assert decide([up, down], {"a": hi, "b": lo}) == "supported"
    assert decide([up, down], {"a": hi, "b": mid}) == "inconclusive"
    assert decide([up, down], {"a": mid, "b": hi}) == "not supported"
    with pytest.raises(KeyError):
        decide([up], {})
    assert str(up) == "a > 0.5"


# ------------------------------------------------------------------ survivors of the 2026-12-04 sampled run

def _t(value: float, se: float, n: int = 5) -> stats.Estimate:
    return stats.t_estimate(value, se, n - 1, n, "m")


def test_a_ledger_entry_gives_back_the_rule_that_decided_it(tmp_path, monkeypatch):
    """stored_rule rebuilds the rule exactly (its op, a band of 0, the ideal): same fingerprint as the one used."""
    import json

    from halfway_utils.evidence import claims
    from halfway_utils.evidence.claims import Rule

    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    for rule in (Rule("p", "<", -0.3, "a null", null_value=0.0, band=0.0, ideal=-1.0, margin_reason="r"),
                 Rule("p", ">", 0.5, "a null", null_value=0.2, band=0.1, ideal=1.0, margin_reason="r")):
        claims.record_rule("H1", rule, statement="s", pooled=_t(0.4, 0.05, 15), strata={"a/b": _t(0.4, 0.05)},
                           replicates=3, figures=[], notebook="01_halfway_boundaries", parameters={})
        entry = claims.load_all(tmp_path / "results" / "claims")["H1"]
        assert entry.stored_rule().fingerprint() == rule.fingerprint()
        assert entry.profile == "quick"  # parameters without a profile: the quick profile's record
    claims.record_rule("H1", rule, statement="s", pooled=_t(0.4, 0.05, 15), strata={"a/b": _t(0.4, 0.05)},
                       replicates=3, figures=[], notebook="01_halfway_boundaries", parameters={"profile": "full"})
    assert claims.load_all(tmp_path / "results" / "claims")["H1"].profile == "full"
    path = tmp_path / "results" / "claims" / "H1.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "verdict": "a verdict nobody writes"}))
    assert claims.load_all(tmp_path / "results" / "claims")["H1"] is None  # an unknown verdict is not read


def test_the_older_record_joins_its_conditions_and_keeps_empty_notes(tmp_path, monkeypatch):
    from halfway_utils.evidence import claims
    from halfway_utils.evidence.claims import Condition

    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    conditions = [Condition("a", ">", 0.1), Condition("b", "<", 0.9)]
    entry = claims.record("H1", statement="s", measurements={"a": _t(0.5, 0.01), "b": _t(0.2, 0.01)},
                          conditions=conditions, figures=[], notebook="01_halfway_boundaries", parameters={})
    assert entry.rule == f"({conditions[0]}) and ({conditions[1]}) on the 95% intervals"
    assert entry.notes == "" and entry.profile == "quick"


def test_spearman_skips_resamples_where_either_side_is_constant():
    """Three points with a tie in y: some resamples hold y constant; they are skipped, not made NaN bounds."""
    est = stats.spearman([1.0, 2.0, 3.0], [5.0, 5.0, 7.0], n_boot=300, seed=0)
    assert np.isfinite(est.low) and np.isfinite(est.high)


def test_the_registry_writes_the_current_rules_by_default(tmp_path):
    from halfway_utils.evidence import rules

    path = rules.write(path=tmp_path / "reg.json")
    assert path.read_text() == rules.dumps(rules.build(rules.current_rules()))


def test_far_near_orders_ties_stably_on_a_large_set():
    """Many tied hull distances: the far and near thirds keep the queries' order (a stable sort)."""
    from halfway_utils.experiments.convex_hull import c2

    h = np.repeat([0.0, 1.0, 2.0], [50, 20, 50])[np.random.default_rng(0).permutation(120)]  # ties across the cuts
    far, near = c2.far_near(h)
    assert far.sum() == near.sum() == 40
    np.testing.assert_array_equal(np.flatnonzero(near), np.flatnonzero(h == 0.0)[:40])  # the first 40 in order
    np.testing.assert_array_equal(np.flatnonzero(far), np.flatnonzero(h == 2.0)[-40:])  # the last 40 in order


def test_landing_table_without_hits_has_the_landing_columns():
    from halfway_utils.experiments.transfer import h4

    assert list(h4.landing_table({}, {}, eps_ref=0.1, grid=9).columns) == ["dataset", "source", "arch"]


def test_h1_fraction_defaults_to_seed_0():
    from halfway_utils.experiments.boundaries import h1

    rng = np.random.default_rng(3)
    models = [(rng.uniform(0, 0.3, 12), rng.uniform(0.3, 0.6, 12)) for _ in range(4)]
    assert h1.fraction(models, n_boot=50).as_dict() == h1.fraction(models, n_boot=50, seed=0).as_dict()
    assert h1.fraction(models, n_boot=50).se != h1.fraction(models, n_boot=50, seed=1).se


def test_a_stored_measurement_reads_back_field_by_field():
    """as_estimate(est.as_dict()) is the estimate itself: value, bounds, n, method, se, df and level."""
    from halfway_utils.evidence.verdicts import as_estimate

    est = stats.Estimate(0.4, 0.25, 0.61, 7, "a method", 0.07, 6.0, 0.99)
    assert as_estimate(est.as_dict()) == est
    assert as_estimate({"value": 0.4, "low": None, "high": None}).level == stats.LEVEL
    bare = as_estimate(0.3)  # a bare number: one value, no interval
    assert (bare.value, bare.n, bare.method) == (0.3, 1, "point value (no interval)") and np.isnan(bare.low)


def test_the_margin_curve_without_an_interval_runs_to_the_claim_s_side():
    from halfway_utils.evidence.claims import Rule
    from halfway_utils.evidence.verdicts import INCONCLUSIVE, margin_curve

    up = Rule("p", ">", 0.5, "n", null_value=0.0)
    down = Rule("p", "<", -0.5, "n", null_value=0.0)
    assert margin_curve(None, up) == [{"from": 0.0, "to": float("inf"), "verdict": INCONCLUSIVE}]
    assert margin_curve(None, down) == [{"from": 0.0, "to": -float("inf"), "verdict": INCONCLUSIVE}]


def test_record_rule_stamps_the_time_the_profile_and_no_variant(tmp_path, monkeypatch):
    import re

    from halfway_utils.evidence import claims
    from halfway_utils.evidence.claims import Rule

    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    rule = Rule("p", ">", 0.5, "a null", null_value=0.0, band=0.1)
    kw = dict(statement="s", pooled=_t(0.4, 0.05, 15), strata={"a/b": _t(0.4, 0.05)}, replicates=3, figures=[],
              notebook="01_halfway_boundaries")
    entry = claims.record_rule("H1", rule, parameters={}, **kw)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry.recorded_at)
    assert entry.profile == "quick" and entry.variant == {}
    assert claims.record_rule("H1", rule, parameters={"profile": "full"}, **kw).profile == "full"


def test_every_rule_with_a_problem_is_named_not_only_the_first():
    """problems() goes on past a claim missing from the registry (a `break` would stop there)."""
    from halfway_utils.evidence import rules
    from halfway_utils.evidence.claims import Rule

    a, b = Rule("p", ">", 0.5, "n", null_value=0.0), Rule("q", ">", 0.6, "n", null_value=0.0)
    out = rules.problems({"H1": a, "H2": b}, {"H2": {**rules.entry("H2", a), "hash": "stale"}})
    assert len(out) == 2 and out[0].startswith("H1:") and out[1].startswith("H2:")
