"""Tests written to kill the mutants that survived the second mutation run of the decision path (the re-run after
the modules h1, intervals, rules and h4 changed; scripts/mutation.sh): each names what it guards. The first run's
are in tests/test_mutation_guards.py."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from halfway_utils.evidence import claims, intervals, rules, stats
from halfway_utils.evidence.claims import Condition, Rule
from halfway_utils.evidence.verdicts import INCONCLUSIVE, margin_curve
from halfway_utils.infra import outputs


def _t(value: float, se: float, n: int = 5) -> stats.Estimate:
    return stats.t_estimate(value, se, n - 1, n, "m")


# --- claims.py: every field of a ledger entry is what the run gave it -----------------------------------------

def _variant(tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    outputs.write_variant(tmp_path, "quick", {"n_boot": {"profile": 1000, "run": 50}}, notebook="01_halfway_boundaries")
    variant = outputs.describe(tmp_path)
    assert variant and variant["differs"]  # the fixture: a run with other parameters than its profile's
    return variant


def test_record_rule_keeps_the_variant_the_paper_no_notes_and_the_strata_in_its_sentence(tmp_path, monkeypatch):
    variant = _variant(tmp_path, monkeypatch)
    rule = Rule("p", ">", 0.5, "a null", null_value=0.0, band=0.1)
    entry = claims.record_rule("H1", rule, statement="s", pooled=_t(0.7, 0.05, 15),
                               strata={"a/b": _t(0.7, 0.05), "c/d": _t(0.2, 0.3)}, replicates=10,
                               figures=["figs/x.png"], notebook="01_halfway_boundaries", parameters={})
    assert entry.variant == variant and entry.paper == claims.CLAIMS["H1"]["paper"] and entry.notes == ""
    assert "by stratum" in entry.sentence


def test_the_older_record_keeps_every_field_the_run_gave_it(tmp_path, monkeypatch):
    import re

    variant = _variant(tmp_path, monkeypatch)
    entry = claims.record("H1", statement="s", measurements={"a": _t(0.5, 0.01)}, conditions=[Condition("a", ">", 0.1)],
                          figures=["figs/x.png", "y.png"], notebook="01_halfway_boundaries",
                          parameters={"profile": "full"})
    assert entry.figures == ["x.png", "y.png"] and entry.profile == "full" and entry.variant == variant
    assert entry.provenance and entry.provenance["torch"] == claims.provenance()["torch"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry.recorded_at)


def test_an_entry_with_an_op_but_no_margin_has_no_stored_rule():
    entry = claims.Claim(id="H1", paper="halfway", statement="s", measurements={}, rule="r", verdict=INCONCLUSIVE,
                         figures=[], notebook="n", parameters={}, profile="quick", primary="p", op=">", margin=None,
                         null_value=0.0)
    assert entry.stored_rule() is None


# --- intervals.py ------------------------------------------------------------------------------------------------

def test_no_interval_keeps_the_value_its_count_and_method_and_sets_no_standard_error():
    est = stats.percentile_interval(0.5, [np.nan], 3, "m")
    assert (est.value, est.n, est.method) == (0.5, 3, "m") and np.isnan(est.low) and np.isnan(est.high)
    est = intervals.replicate_interval(float("nan"), [0.1, 0.2, 0.4], 5, "m")  # replicates, but no value
    assert np.isnan(est.low) and np.isnan(est.se) and np.isnan(est.df)


# --- rules.py ----------------------------------------------------------------------------------------------------

def test_a_claim_after_an_unchanged_one_is_still_checked_against_the_previous_registry():
    a, b = Rule("p", ">", 0.5, "n", null_value=0.0), Rule("q", ">", 0.6, "n", null_value=0.0)
    moved = dataclasses.replace(b, margin=0.7)
    previous = rules.build({"H1": a, "H2": b})
    found = rules.problems({"H1": a, "H2": moved}, rules.build({"H1": a, "H2": moved}), previous)
    assert len(found) == 1 and found[0].startswith("H2:") and "did not grow" in found[0]


# --- stats.py ----------------------------------------------------------------------------------------------------

def test_partial_rank_correlation_is_nan_when_the_control_explains_a_large_sample():
    """x fully ranked by the control: its residual is rounding noise (~1e-11 at 2,000 points), not a signal."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=2000), rng.normal(size=2000)
    assert np.isnan(stats._partial_rank_corr(a, b, a[:, None]))
    assert np.isfinite(stats._partial_rank_corr(a, b, rng.normal(size=(2000, 1))))


def test_a_resample_of_only_non_finite_values_has_no_median():
    values = np.array([[1.0, np.inf, 3.0]])
    out = stats.resampled_medians(values, np.array([[1, 1, 1], [0, 1, 2], [0, 2, 2]]))
    assert np.isnan(out[0, 0]) and out[0, 1] == 2.0 and out[0, 2] == 3.0


# --- verdicts.py -------------------------------------------------------------------------------------------------

def test_the_margin_curve_merges_neighbouring_segments_with_the_same_verdict():
    """An interval over the null and past the band's edge: inconclusive at every margin, one segment to infinity."""
    rule = Rule("p", ">", 0.5, "n", null_value=0.0, band=0.1)
    assert margin_curve(stats.Estimate(0.1, -0.5, 0.3, 5, "m"), rule) == [
        {"from": 0.1, "to": math.inf, "verdict": INCONCLUSIVE}]


# --- h1.py: the rank correlation's clusters are the models, labelled dataset/arch/seed -------------------------

def test_zone_distance_correlation_resamples_models_labelled_dataset_arch_seed():
    """Names where one is a prefix of another ("a", "a1"): another separator would reorder the clusters."""
    from halfway_utils.experiments.boundaries import h1

    rng = np.random.default_rng(4)
    rows = [{"dataset": d, "arch": a, "seed": s, "distance": rng.uniform(5, 10), "zone": rng.uniform(0, 0.5)}
            for d in ("a", "a1") for a in ("c", "c1") for s in (0, 1) for _ in range(6)]
    claim = pd.DataFrame(rows)
    groups = (claim["dataset"] + "/" + claim["arch"] + "/" + claim["seed"].astype(str)).to_numpy()
    want = stats.partial_spearman(claim["distance"], claim["zone"], None, groups=groups, n_boot=h1.RHO_BOOT, seed=0)
    assert h1.zone_distance_correlation(claim) == want


# --- c1.py and s2.py: a primary with nothing to measure is NaN, bounds included ---------------------------------

def test_c1_effects_without_a_finite_ratio_are_nan_bounds_included():
    from halfway_utils.experiments.convex_hull import c1

    pooled, strata = c1.effects({("mnist", "pixel"): {"ratio_nn": np.full(6, np.nan)}}, ["mnist"], [], n_boot=20)
    assert pooled.n == 0 and all(np.isnan(v) for v in (pooled.value, pooled.low, pooled.high))
    assert np.isnan(strata["mnist/pixel"].value)


def test_s2_within_depth_of_no_points_is_nan_bounds_included():
    from halfway_utils.experiments.som_codes import s2

    est = s2.within_depth(pd.DataFrame(columns=["dataset", "arch", "seed", "index", "homogeneity", "excess_change"]))
    pooled = est.pooled[s2.PRIMARY]
    assert pooled.n == 0 and all(np.isnan(v) for v in (pooled.value, pooled.low, pooled.high)) and est.strata == {}


def test_s2_within_depth_draws_the_strata_in_their_order_of_appearance():
    """The first stratum met gets the generator's first draws: its interval is the one it has alone."""
    from halfway_utils.experiments.som_codes import s2

    rng = np.random.default_rng(7)
    strata = (("mnist", "mlp"), ("fashion_mnist", "cnn"))  # met first, sorted last
    rows = [{"dataset": d, "arch": a, "seed": s, "index": k, "homogeneity": rng.uniform(),
             "excess_change": rng.uniform()} for d, a in strata for s in range(5) for k in (1, 2, 3)]
    points = pd.DataFrame(rows)
    both = s2.within_depth(points, n_boot=200).strata["mnist/mlp"][s2.PRIMARY]
    alone = s2.within_depth(points[points["dataset"] == "mnist"], n_boot=200).strata["mnist/mlp"][s2.PRIMARY]
    assert both == alone and np.isfinite(both.low)


@pytest.mark.parametrize("n", [3, 17])
def test_integers_with_one_bound_draws_what_the_zero_lower_bound_draws(n):
    """The H3/H4 input draws: rng.integers(n, size) and rng.integers(0, n, size) are one stream (argued equivalent)."""
    a = np.random.default_rng(1).integers(0, n, size=(4, n))
    assert np.array_equal(a, np.random.default_rng(1).integers(n, size=(4, n)))
