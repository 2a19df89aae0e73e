"""Pins the exact text, tables, verdict boundaries and rules-registry messages of halfway_utils.evidence."""
import dataclasses
import hashlib
import json
import math

import pandas as pd
import pytest

from halfway_utils.evidence import claims, rules, verdicts
from halfway_utils.evidence.claims import Claim, Condition, Control, Rule
from halfway_utils.evidence.stats import Estimate, StratifiedEstimates

NAN = float("nan")
CMD = "python -m halfway_utils.evidence.rules --write"
DEFAULT_FAMILY = "Bonferroni over the claim's judged strata; pooled at 95%"
T = "bootstrap SE, t(models - 1)"


def E(value, low, high, n=5, method="t"):
    return Estimate(value, low, high, n, method)


# --------------------------------------------------------------------------- stats.StratifiedEstimates

@pytest.fixture
def strat():
    strata = {
        "mnist/mlp": {"acc": E(0.9, 0.85, 0.95), "gap": E(0.05, 0.01, 0.09), "flip": E(0.4, 0.3, 0.5)},
        "fashion/cnn": {"acc": E(0.8, 0.75, 0.85), "gap": E(0.12345, 0.1, 0.2), "flip": E(0.6, NAN, NAN)},
        "cifar/resnet": {"acc": E(0.55, 0.5, 0.6), "gap": E(0.2, 0.15, 0.25), "flip": E(0.45, 0.35, 0.55)},
    }
    pooled = {"acc": E(0.75, 0.6, 0.9), "gap": E(0.125, 0.05, 0.2), "flip": E(0.48, 0.4, 0.56)}
    return StratifiedEstimates(pooled, strata)


def test_table_has_strata_then_pooled_and_every_measurement(strat):
    expected = pd.DataFrame(
        [["0.9 [0.85, 0.95]", "0.05 [0.01, 0.09]", "0.4 [0.3, 0.5]"],
         ["0.8 [0.75, 0.85]", "0.123 [0.1, 0.2]", "0.6 [nan, nan]"],
         ["0.55 [0.5, 0.6]", "0.2 [0.15, 0.25]", "0.45 [0.35, 0.55]"],
         ["0.75 [0.6, 0.9]", "0.125 [0.05, 0.2]", "0.48 [0.4, 0.56]"]],
        index=["mnist/mlp", "fashion/cnn", "cifar/resnet", "pooled"], columns=["acc", "gap", "flip"], dtype=object)
    pd.testing.assert_frame_equal(strat.table(), expected)


def test_table_with_names_keeps_only_those_in_their_order(strat):
    expected = pd.DataFrame(
        [["0.4 [0.3, 0.5]", "0.9 [0.85, 0.95]"], ["0.6 [nan, nan]", "0.8 [0.75, 0.85]"],
         ["0.45 [0.35, 0.55]", "0.55 [0.5, 0.6]"], ["0.48 [0.4, 0.56]", "0.75 [0.6, 0.9]"]],
        index=["mnist/mlp", "fashion/cnn", "cifar/resnet", "pooled"], columns=["flip", "acc"], dtype=object)
    pd.testing.assert_frame_equal(strat.table(names=("flip", "acc")), expected)
    pd.testing.assert_frame_equal(strat.table(["gap"]), pd.DataFrame(
        [["0.05 [0.01, 0.09]"], ["0.123 [0.1, 0.2]"], ["0.2 [0.15, 0.25]"], ["0.125 [0.05, 0.2]"]],
        index=["mnist/mlp", "fashion/cnn", "cifar/resnet", "pooled"], columns=["gap"], dtype=object))


def test_line_and_of_give_one_measurement_per_stratum(strat):
    assert strat.line("gap") == \
        "mnist/mlp 0.05 [0.01, 0.09]; fashion/cnn 0.123 [0.1, 0.2]; cifar/resnet 0.2 [0.15, 0.25]"
    assert strat.line("flip") == "mnist/mlp 0.4 [0.3, 0.5]; fashion/cnn 0.6 [nan, nan]; cifar/resnet 0.45 [0.35, 0.55]"
    assert list(strat.of("acc")) == ["mnist/mlp", "fashion/cnn", "cifar/resnet"]
    assert strat.of("acc")["cifar/resnet"] == E(0.55, 0.5, 0.6)


# --------------------------------------------------------------------------- verdicts: margin curve text

def test_margin_curve_text_of_a_real_curve_in_each_direction():
    up = verdicts.margin_curve(E(0.3, 0.2, 0.4), Rule("p", ">", 0.5, "n", band=0.1))
    assert verdicts.margin_curve_text(up) == ("supported for a margin from 0.1 to 0.2; inconclusive from 0.2 to 0.4; "
                                              "weaker than claimed past 0.4")
    down = verdicts.margin_curve(E(-0.3, -0.4, -0.2), Rule("p", "<", -0.5, "n", band=0.1))
    assert verdicts.margin_curve_text(down) == ("supported for a margin from -0.1 to -0.2; inconclusive from -0.2 to "
                                                "-0.4; weaker than claimed past -0.4")


def test_margin_curve_text_without_an_interval_and_with_odd_numbers():
    rule_up, rule_down = Rule("p", ">", 0.5, "n"), Rule("p", "<", -0.5, "n")
    assert verdicts.margin_curve_text(verdicts.margin_curve(None, rule_up)) == "inconclusive for a margin past 0"
    assert verdicts.margin_curve_text(verdicts.margin_curve(None, rule_down)) == "inconclusive for a margin past 0"
    assert verdicts.margin_curve_text(verdicts.margin_curve(E(NAN, NAN, NAN), rule_up)) == \
        "inconclusive for a margin past 0"
    curve = [{"from": 0.12345, "to": 1234.5, "verdict": "no effect"}, {"from": 1234.5, "to": None, "verdict": "x"},
             {"from": "2", "to": "-inf", "verdict": "y"}]
    assert verdicts.margin_curve_text(curve) == \
        "no effect for a margin from 0.123 to 1.23e+03; x from 1.23e+03 to nan; y past 2"
    assert verdicts.margin_curve_text([]) == ""


# --------------------------------------------------------------------------- verdicts: Rule text and fingerprint

def test_rule_str_with_every_optional_part():
    rule = Rule("share_mid", ">", 0.25, "untrained", strata=("dataset", "arch", "width"), band=0.05,
                margin_reason="a quarter of the way", family="Holm", min_models=4, interval="percentile")
    assert str(rule) == ("share_mid > 0.25 (a quarter of the way) on the whole interval (percentile); null 0 ± 0.05; "
                         "per (dataset, arch, width) stratum (family: Holm; at least 4 models) and pooled")


def test_rule_str_without_a_reason_or_band():
    rule = Rule("gap", "<", 0.125, "the null", null_value=0.5)
    assert str(rule) == (f"gap < 0.125 on the whole interval ({T}); null 0.5; per (dataset, arch) stratum "
                         f"(family: {DEFAULT_FAMILY}; at least 3 models) and pooled")


FULL = Rule("alpha", ">", 0.5, "untrained ± noise", strata=("dataset", "arch", "depth"), null_value=0.0, band=0.1,
            ideal=1.0, margin_reason="halfway", scale="0 = untrained, 1 = ideal", changes=("2026-12-01: first",))


def test_decision_content_is_every_deciding_field_as_plain_json():
    content = FULL.decision_content()
    assert content == {"primary": "alpha", "op": ">", "margin": 0.5, "null": "untrained ± noise",
                       "strata": ["dataset", "arch", "depth"], "null_value": 0.0, "band": 0.1, "ideal": 1.0,
                       "margin_reason": "halfway", "scale": "0 = untrained, 1 = ideal", "family": DEFAULT_FAMILY,
                       "interval": T, "min_models": 3}
    ints = Rule("p", ">", 1, "n", null_value=0, band=0, ideal=2, min_models=3.0).decision_content()
    assert [type(ints[k]) for k in ("margin", "null_value", "band", "ideal", "min_models")] == \
        [float, float, float, float, int]
    assert type(ints["strata"]) is list and Rule("p", ">", 1, "n").decision_content()["ideal"] is None


def test_fingerprint_known_answers_and_number_types():
    text = json.dumps(FULL.decision_content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert FULL.fingerprint() == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert FULL.fingerprint() == "a53e75512e1ddd71"
    assert Rule("p", ">", 0.5, "a null").fingerprint() == "727fc3ec27e58d83"
    base = Rule("p", ">", 1.0, "n", null_value=0.0, band=0.0, ideal=2.0, min_models=3)
    assert Rule("p", ">", 1, "n", null_value=0, band=0, ideal=2, min_models=3.0).fingerprint() == base.fingerprint()


@pytest.mark.parametrize("changed", [
    dict(primary="beta"), dict(op="<", margin=-0.5), dict(margin=0.6), dict(null="another"),
    dict(strata=("dataset", "arch")), dict(strata=("arch", "dataset", "depth")), dict(null_value=-0.1),
    dict(band=0.2), dict(ideal=None), dict(ideal=0.9), dict(margin_reason="why"), dict(scale="s"),
    dict(family="Holm"), dict(interval="percentile bootstrap"), dict(min_models=4),
])
def test_each_deciding_field_changes_the_fingerprint(changed):
    assert dataclasses.replace(FULL, **changed).fingerprint() != FULL.fingerprint()


def test_changes_do_not_change_the_fingerprint():
    for changes in ((), ("2027-01-01: more",), (*FULL.changes, "undated note")):
        assert dataclasses.replace(FULL, changes=changes).fingerprint() == FULL.fingerprint()
        assert dataclasses.replace(FULL, changes=changes).decision_content() == FULL.decision_content()


# --------------------------------------------------------------------------- verdicts: Condition and Rule boundaries

def test_condition_str():
    assert str(Condition("share_mid", ">", 0.5)) == "share_mid > 0.5"
    assert str(Condition("m", "<", 1e-05)) == "m < 1e-05"


@pytest.mark.parametrize("op, low, high, verdict", [
    (">", 0.5, 0.7, "inconclusive"), (">", 0.50001, 0.7, "supported"),  # low exactly at the margin
    (">", 0.3, 0.5, "inconclusive"), (">", 0.3, 0.49999, "not supported"),  # high exactly at the margin
    ("<", 0.3, 0.5, "inconclusive"), ("<", 0.3, 0.49999, "supported"),
    ("<", 0.5, 0.7, "inconclusive"), ("<", 0.50001, 0.7, "not supported"),
])
def test_condition_at_the_margin(op, low, high, verdict):
    assert Condition("m", op, 0.5).judge(E((low + high) / 2, low, high)) == verdict


def test_condition_without_a_usable_interval():
    cond = Condition("m", ">", 0.5)
    assert cond.judge(None) == "inconclusive"
    assert cond.judge(E(NAN, 0.6, 0.7)) == "inconclusive"  # a NaN value alone
    assert cond.judge(E(0.65, NAN, 0.7)) == "inconclusive"
    assert cond.judge(E(0.65, 0.6, NAN)) == "inconclusive"


@pytest.mark.parametrize("low, high, verdict", [
    (0.5, 0.7, "inconclusive"), (0.51, 0.7, "supported"),  # low at the margin
    (0.2, 0.5, "inconclusive"), (0.2, 0.49, "weaker than claimed"),  # high at the margin
    (0.0, 0.3, "inconclusive"), (0.01, 0.3, "weaker than claimed"),  # low touching the null
    (-0.05, 0.1, "inconclusive"), (-0.05, 0.09, "no effect"),  # high touching the band's edge
    (-0.3, -0.1, "no effect"),  # the wrong side of the null
])
def test_rule_at_the_margin_and_touching_the_null(low, high, verdict):
    rule = Rule("p", ">", 0.5, "n", band=0.1)
    assert rule.judge(E((low + high) / 2, low, high)) == verdict
    # the same interval mirrored, under the mirrored rule
    mirrored = Rule("p", "<", -0.5, "n", band=0.1)
    assert mirrored.judge(E(-(low + high) / 2, -high, -low)) == verdict


@pytest.mark.parametrize("low, high, verdict", [
    (0.2, 0.5, "inconclusive"), (0.2, 0.49, "no effect"),  # null 0.25 + band 0.25 = 0.5
    (0.3, 0.5, "weaker than claimed"),
    (0.25, 0.6, "inconclusive"), (0.26, 0.6, "weaker than claimed"), (0.75, 0.8, "inconclusive"),
    (0.76, 0.8, "supported"),
])
def test_rule_with_a_null_away_from_zero(low, high, verdict):
    assert Rule("p", ">", 0.75, "n", null_value=0.25, band=0.25).judge(E((low + high) / 2, low, high)) == verdict


def test_rule_needs_its_fewest_models_and_a_usable_interval():
    rule = Rule("p", ">", 0.5, "n", min_models=3)
    assert [rule.judge(E(0.8, 0.7, 0.9, n=n)) for n in (0, 1, 2, 3, 4)] == \
        ["supported", "too few models", "too few models", "supported", "supported"]
    assert rule.judge(None) == "inconclusive"
    assert rule.judge(Estimate(None, 0.7, 0.9, 5, "t")) == "inconclusive"
    assert rule.judge(E(NAN, 0.7, 0.9)) == "inconclusive"
    assert rule.judge(E(0.8, 0.7, NAN)) == "inconclusive"


def test_judge_strata_judges_only_strata_with_enough_models():
    rule = Rule("p", ">", 0.5, "n", min_models=3)
    strata = {"a/x": Estimate(0.9, 0.8, 1.0, 3, "t", 0.02, 2.0), "b/y": Estimate(0.9, 0.8, 1.0, 2, "t", 0.02, 1.0),
              "c/z": Estimate(0.3, 0.2, 0.4, 4, "t", 0.02, 3.0)}
    rows = rule.judge_strata(strata)
    assert [(r["stratum"], r["verdict"], r["n"], r["family_level"]) for r in rows] == [
        ("a/x", "supported", 3, pytest.approx(0.975)), ("b/y", "too few models", 2, None),
        ("c/z", "weaker than claimed", 4, pytest.approx(0.975))]
    assert rows[1]["level"] is None and (rows[1]["low"], rows[1]["high"]) == (0.8, 1.0)
    assert rows[0]["level"] == pytest.approx(0.975) and rows[0]["low"] < 0.8 and rows[0]["low95"] == 0.8


# --------------------------------------------------------------------------- verdicts: controls

RULE = Rule("p", ">", 0.5, "n", band=0.1)


def test_control_rows_say_how_each_reads_against_how_it_was_built():
    planted = Control("planted", "positive", E(0.8, 0.6, 0.95, n=5, method="m"), built="a planted boundary")
    assert planted.row(RULE) == {"name": "planted", "kind": "positive", "built": "a planted boundary", "value": 0.8,
                                 "low": 0.6, "high": 0.95, "n": 5, "method": "m", "verdict": "supported",
                                 "expected": ["supported"], "as_built": True}
    biased = Control("biased", "negative", E(0.3, 0.2, 0.4, n=6))
    assert biased.row(RULE) == {"name": "biased", "kind": "negative", "built": "", "value": 0.3, "low": 0.2,
                                "high": 0.4, "n": 6, "method": "t", "verdict": "weaker than claimed",
                                "expected": ["no effect"], "as_built": False}
    shuffled = Control("shuffled", "negative", E(0.02, -0.05, 0.08))
    assert shuffled.row(RULE)["verdict"] == "no effect" and shuffled.row(RULE)["as_built"] is True
    few = Control("few", "positive", E(0.8, 0.7, 0.9, n=2)).row(RULE)
    assert (few["verdict"], few["as_built"]) == ("too few models", False)
    with pytest.raises(ValueError, match=r"^a control's kind is 'positive' or 'negative', got 'neutral'$"):
        Control("x", "neutral", E(0, 0, 0))


def test_control_problems_name_every_wrong_control_and_missing_kind():
    rows = [Control("planted", "positive", E(0.3, 0.2, 0.4)).row(RULE),
            Control("biased", "negative", E(0.8, 0.6, 0.95)).row(RULE),
            Control("shuffled", "negative", E(0.0, -0.05, 0.05)).row(RULE)]
    assert verdicts.control_problems(rows) == ["positive control 'planted' reads 'weaker than claimed', not supported",
                                               "negative control 'biased' reads 'supported', not no effect"]
    assert verdicts.control_problems(rows[2:]) == ["no positive control"]
    assert verdicts.control_problems([]) == ["no positive control", "no negative control"]
    odd = [{"kind": "negative", "name": "z", "verdict": "inconclusive", "expected": ["no effect", "weaker"]}]
    assert verdicts.control_problems(odd) == ["negative control 'z' reads 'inconclusive', not no effect or weaker",
                                              "no positive control"]


# --------------------------------------------------------------------------- claims: plain_sentence

ROWS = [{"stratum": "a/x", "verdict": "weaker than claimed", "n": 5},
        {"stratum": "b/y", "verdict": "too few models", "n": 2},
        {"stratum": "c/z", "verdict": "supported", "n": 4},
        {"stratum": "d/w", "verdict": "supported", "n": 3}]
GOOD = [Control("planted", "positive", E(0.8, 0.6, 0.95)).row(RULE),
        Control("shuffled", "negative", E(0.0, -0.05, 0.05)).row(RULE)]


def test_plain_sentence_with_every_part():
    rule = Rule("fraction", ">", 0.5, "untrained", band=0.1, ideal=1.0, scale="0 = untrained, 1 = 1-NN")
    assert claims.plain_sentence("H1", rule, E(0.65, 0.55, 0.75), ROWS, GOOD) == (
        "H1 (boundary location): supported pooled, fraction = 0.65 [0.55, 0.75] against the null 0 and the margin "
        "0.5, 65% of the way from the null to the ideal (0 = untrained, 1 = 1-NN); by stratum, supported for c/z, "
        "d/w; weaker than claimed for a/x; too few models for b/y (2 models); its controls read as built.")


def test_plain_sentence_with_a_null_away_from_zero_and_wrong_controls():
    rule = Rule("gap", ">", 0.4, "n", null_value=0.2, ideal=0.7)
    wrong = [Control("biased", "negative", E(0.3, 0.2, 0.4)).row(RULE)]
    assert claims.plain_sentence("S2", rule, E(0.45, 0.42, 0.48), [], wrong) == (
        "S2 (codes under attack): supported pooled, gap = 0.45 [0.42, 0.48] against the null 0.2 and the margin 0.4, "
        "50% of the way from the null to the ideal; CONTROLS READ WRONG: negative control 'biased' reads 'weaker than "
        "claimed', not no effect; no positive control.")


def test_plain_sentence_without_ideal_scale_rows_or_controls():
    assert claims.plain_sentence("C1", Rule("p", "<", -0.5, "n"), E(-0.2, -0.3, -0.1), []) == (
        "C1 (test samples outside the hull): weaker than claimed pooled, p = -0.2 [-0.3, -0.1] against the null 0 "
        "and the margin -0.5.")
    same = Rule("p", ">", 0.5, "n", ideal=0.0)  # an ideal at the null: no fraction
    assert claims.plain_sentence("Z9", same, E(0.6, 0.55, 0.65), [], []) == (
        "Z9 (Z9): supported pooled, p = 0.6 [0.55, 0.65] against the null 0 and the margin 0.5.")


def test_plain_sentence_when_nothing_was_measured():
    rule = Rule("p", ">", 0.5, "n")
    assert claims.plain_sentence("H2", rule, None, ROWS, GOOD) == \
        "H2 (generalization) could not be measured: inconclusive."
    assert claims.plain_sentence("Z9", rule, E(NAN, NAN, NAN, n=0), []) == \
        "Z9 (Z9) could not be measured: inconclusive."
    assert claims.plain_sentence("H3", rule, E(NAN, NAN, NAN, n=2), []) == \
        "H3 (shared boundaries) could not be measured: too few models."


# --------------------------------------------------------------------------- claims: Claim.summary and as_dict

def _claim(**kw):
    base = dict(id="S1", paper="som", statement="s", measurements={}, rule="R", verdict="supported", figures=[],
                notebook="04", parameters={}, profile="quick")
    return Claim(**{**base, **kw})


def test_summary_lists_sentence_strata_controls_measurements_and_notes():
    strata = [{"stratum": "mnist/mlp", "verdict": "supported", "value": 0.8, "low": 0.7, "high": 0.9, "n": 5},
              {"stratum": "fashion/cnn", "verdict": "weaker than claimed", "value": 0.4, "low": 0.3, "high": 0.45,
               "n": 4},
              {"stratum": "cifar/resnet", "verdict": "too few models", "value": 0.2, "low": NAN, "high": NAN, "n": 2}]
    controls = [{"kind": "positive", "name": "planted", "value": 0.9, "low": 0.8, "high": 1.0, "verdict": "supported",
                 "as_built": True},
                {"kind": "negative", "name": "biased", "value": 0.3, "low": 0.2, "high": 0.4,
                 "verdict": "weaker than claimed", "as_built": False}]
    measurements = {"purity": {"value": 0.8, "low": 0.7, "high": 0.9}, "count": {"value": 12.0, "low": None},
                    "ratio": {"value": "inf", "low": "-inf", "high": "inf"}, "half": {"value": 0.5, "low": NAN},
                    "missing": {"value": None}}
    claim = _claim(measurements=measurements, rule="purity > 0.5", sentence="S1 (codes): supported.",
                   null="shuffled codes", strata=strata, controls=controls, notes="a note\nover two lines")
    assert claim.summary().split("\n") == [
        "S1 verdict: supported   rule: purity > 0.5",
        "  S1 (codes): supported.",
        "  null: shuffled codes",
        "  by stratum: supported for mnist/mlp; weaker than claimed for fashion/cnn; too few models for cifar/resnet "
        "(2 models)",
        "    " + "mnist/mlp".ljust(30) + " 0.8 [0.7, 0.9]  supported",
        "    " + "fashion/cnn".ljust(30) + " 0.4 [0.3, 0.45]  weaker than claimed",
        "    " + "cifar/resnet".ljust(30) + " 0.2  too few models",
        "  control (positive) " + "planted".ljust(24) + " 0.9 [0.8, 1]  supported",
        "  control (negative) " + "biased".ljust(24) + " 0.3 [0.2, 0.4]  weaker than claimed  NOT AS BUILT",
        "  " + "purity".ljust(34) + " 0.8 [0.7, 0.9]",
        "  " + "count".ljust(34) + " 12",
        "  " + "ratio".ljust(34) + " inf [-inf, inf]",
        "  " + "half".ljust(34) + " 0.5",
        "  " + "missing".ljust(34) + " nan",
        "a note", "over two lines"]


def test_summary_of_a_bare_entry_is_one_line():
    assert _claim(verdict="inconclusive", rule="(a > 0.5) on the 95% intervals").summary() == \
        "S1 verdict: inconclusive   rule: (a > 0.5) on the 95% intervals"
    control = {"kind": "positive", "name": "p", "value": 1.0, "low": None, "verdict": "supported"}  # no as_built
    assert _claim(controls=[control]).summary().split("\n")[1] == \
        "  control (positive) " + "p".ljust(24) + " 1  supported  NOT AS BUILT"


def test_as_dict_is_every_field_in_order_as_a_copy():
    claim = _claim(measurements={"a": {"value": 1.0}}, margin=0.5, op=">", sentence="x")
    out = claim.as_dict()
    assert list(out) == [f.name for f in dataclasses.fields(Claim)]
    assert out == dataclasses.asdict(claim) and out["margin"] == 0.5 and out["op"] == ">"
    assert out["rule_hash"] == "" and out["null_value"] is None and out["controls"] == []
    out["id"] = "changed"
    assert claim.id == "S1"


# --------------------------------------------------------------------------- rules: the registry

RA = Rule("alpha", ">", 0.5, "untrained", band=0.1, ideal=1.0, changes=("2026-12-01: first", "moved later"))
RB = Rule("beta", "<", -0.2, "shuffled")
PAIR = {"H1": RA, "S1": RB}


def test_entry_records_hash_module_changes_and_rule():
    assert rules.entry("H2", RA) == {"hash": RA.fingerprint(), "module": "halfway_utils.experiments.generalization.h2",
                                     "changes": 2, "change_dates": ["2026-12-01", "undated"], "last_change": "undated",
                                     "rule": RA.decision_content()}
    assert rules.entry("X9", RB) == {"hash": RB.fingerprint(), "module": "halfway_utils.experiments.?", "changes": 0,
                                     "change_dates": [], "last_change": None, "rule": RB.decision_content()}
    dated = dataclasses.replace(RB, changes=("moved", "2027-01-05 (issue 3): moved back"))
    assert rules.entry("C2", dated)["last_change"] == "2027-01-05"


def test_change_dates_at_their_edges():
    assert rules.change_date("2026-12-01") == "2026-12-01"
    assert rules.change_date("  2026-12-01: x") == "2026-12-01"
    assert rules.change_date("2026-12-01(x)") == "2026-12-01"
    assert rules.change_date("2026-12-01x") == "undated"
    assert rules.change_date("2026-02-30: x") == "undated"


def test_build_orders_claims_as_the_ledger_then_the_rest_sorted():
    built = rules.build({"X9": RB, "S1": RA, "A0": RB, "H1": RA})
    assert list(built) == ["H1", "S1", "A0", "X9"] and built["S1"] == rules.entry("S1", RA)


def test_dumps_is_indented_unsorted_unescaped_and_ends_with_a_newline():
    assert rules.dumps({"b": {"x": "±", "n": 1}, "a": [1, None]}) == \
        '{\n  "b": {\n    "x": "±",\n    "n": 1\n  },\n  "a": [\n    1,\n    null\n  ]\n}\n'
    assert rules.dumps({}) == "{}\n"


def test_write_load_and_registered_hashes(tmp_path):
    path = tmp_path / "reg.json"
    assert rules.load(path) == {} and rules.registered_hashes(path) == {}
    assert rules.write(PAIR, str(path)) == path
    assert path.read_text() == rules.dumps(rules.build(PAIR))
    assert rules.load(str(path)) == rules.build(PAIR)
    assert rules.registered_hashes(path) == {"H1": RA.fingerprint(), "S1": RB.fingerprint()}
    path.write_text('{"H1": {"no hash": 1}}')
    assert rules.registered_hashes(path) == {}
    path.write_text('{"H1": 5}')
    assert rules.registered_hashes(path) == {}
    path.write_text("not json")
    assert rules.registered_hashes(path) == {}
    path.write_text("[1]")  # a registry that is not a mapping reads as none, as the docstring says
    assert rules.registered_hashes(path) == {}


def test_what_changed_lists_each_differing_field_sorted():
    assert rules._what_changed({"a": 1, "c": 3, "b": 2}, {"d": 4, "a": 1, "b": 5}) == \
        "b 2 -> 5; c 3 -> None; d None -> 4"
    assert rules._what_changed({"m": "x"}, {"m": "y"}) == "m 'x' -> 'y'"
    assert rules._what_changed({"a": 1}, {"a": 1}) == "its fields"
    assert rules._what_changed({}, {}) == "its fields"


def test_problems_none_when_rules_and_registry_agree():
    registry = rules.build(PAIR)
    assert rules.problems(PAIR, registry) == []
    assert rules.problems(PAIR, registry, previous=None) == []
    assert rules.problems(PAIR, registry, previous={}) == []
    assert rules.problems(PAIR, registry, previous=registry) == []


def test_problems_name_a_missing_a_changed_and_a_stale_entry():
    registry = rules.build(PAIR)
    assert rules.problems(PAIR, {"H1": registry["H1"]}) == [
        f"S1: not in the rules registry; regenerate it with `{CMD}`."]
    moved = dataclasses.replace(RA, margin=0.6)
    assert rules.problems({"H1": moved, "S1": RB}, registry) == [
        f"H1: its RULE (halfway_utils.experiments.boundaries.h1) is {moved.fingerprint()} but the registry holds "
        f"{RA.fingerprint()} (margin 0.5 -> 0.6). Add a dated entry to the rule's `changes` ('YYYY-MM-DD: what "
        f"changed and why') and regenerate the registry with `{CMD}`."]
    noted = dataclasses.replace(RA, changes=(*RA.changes, "2027-01-05: x"))
    assert rules.problems({"H1": noted, "S1": RB}, registry) == [
        f"H1: its RULE has 3 `changes` entries but the registry records 2; regenerate the registry with `{CMD}`."]
    redated = dataclasses.replace(RA, changes=("2026-12-02: first", "moved later"))  # same count, other dates
    assert rules.problems({"H1": redated, "S1": RB}, registry) == [
        f"H1: its RULE has 2 `changes` entries but the registry records 2; regenerate the registry with `{CMD}`."]
    assert rules.problems(PAIR, {**registry, "C1": registry["H1"]}) == [
        f"C1: in the registry but no claim module has its RULE; regenerate it with `{CMD}`."]


def test_problems_with_a_registry_entry_lacking_its_rule():
    content = RB.decision_content()
    diff = "; ".join(f"{k} None -> {content[k]!r}" for k in sorted(content) if content[k] is not None)
    assert diff.startswith("band None -> 0.0; family None -> ") and "ideal" not in diff
    assert rules.problems({"S1": RB}, {"S1": {"hash": "0" * 16}}) == [
        f"S1: its RULE (halfway_utils.experiments.som_codes.s1) is {RB.fingerprint()} but the registry holds "
        f"{'0' * 16} ({diff}). Add a dated entry to the rule's `changes` ('YYYY-MM-DD: what changed and why') and "
        f"regenerate the registry with `{CMD}`."]


def test_problems_against_the_previous_registry():
    previous = rules.build(PAIR)
    moved = {"H1": dataclasses.replace(RA, margin=0.6), "S1": RB}
    assert rules.problems(moved, rules.build(moved), previous) == [
        f"H1: the registry's rule hash changed since the last commit ({RA.fingerprint()} -> "
        f"{moved['H1'].fingerprint()}: margin 0.5 -> 0.6) but its `changes` did not grow (2 -> 2). Add a dated entry "
        f"to the rule's `changes` saying what changed and why, then regenerate with `{CMD}`."]
    shrunk = {"H1": dataclasses.replace(RA, margin=0.6, changes=RA.changes[:1]), "S1": RB}
    assert "did not grow (2 -> 1)" in rules.problems(shrunk, rules.build(shrunk), previous)[0]
    undated = {"H1": dataclasses.replace(RA, margin=0.6, changes=(*RA.changes, "raised")), "S1": RB}
    assert rules.problems(undated, rules.build(undated), previous) == [
        f"H1: the rule changed and its newest `changes` entry has no leading date; start it with 'YYYY-MM-DD:' and "
        f"regenerate with `{CMD}`."]
    dated = {"H1": dataclasses.replace(RA, margin=0.6, changes=(*RA.changes, "2027-01-05: raised")), "S1": RB}
    assert rules.problems(dated, rules.build(dated), previous) == []
    # same hash: no growth needed; a claim the previous registry lacks: not compared
    assert rules.problems(PAIR, rules.build(PAIR), {"H1": {**previous["H1"], "changes": 9}}) == []
    assert rules.problems(moved, rules.build(moved), {"S1": previous["S1"]}) == []


def test_problems_against_hand_made_previous_entries():
    registry = {"H1": {"hash": "b", "changes": 1, "last_change": None}}
    assert rules.problems({}, registry, {"H1": {"hash": "a", "changes": 0}}) == [
        f"H1: in the registry but no claim module has its RULE; regenerate it with `{CMD}`.",
        f"H1: the rule changed and its newest `changes` entry has no leading date; start it with 'YYYY-MM-DD:' and "
        f"regenerate with `{CMD}`."]
    assert rules.problems({}, {"H1": {"hash": "b", "changes": None}}, {"H1": {"hash": "a"}})[1] == (
        f"H1: the registry's rule hash changed since the last commit (a -> b: its fields) but its `changes` did not "
        f"grow (None -> None). Add a dated entry to the rule's `changes` saying what changed and why, then regenerate "
        f"with `{CMD}`.")


# --------------------------------------------------------------------------- rules: previous_registry

def _fake_git(root, answers, calls):
    def git(*args, root=None):
        calls.append(args)
        return answers.get(args) if root == expected_root else None
    expected_root = root
    return git


def test_previous_registry_without_git_or_outside_the_repository(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rules, "git", _fake_git(tmp_path, {}, calls))
    assert rules.previous_registry(tmp_path / "r.json", tmp_path) == (
        None, "git is not available or this is not a git checkout")
    assert calls == [("rev-parse", "--git-dir")]
    repo = tmp_path / "repo"
    monkeypatch.setattr(rules, "git", _fake_git(repo, {("rev-parse", "--git-dir"): ".git\n"}, []))
    outside = tmp_path / "other" / "r.json"
    assert rules.previous_registry(outside, repo) == (None, f"{outside} is not inside the repository")
    assert rules.previous_registry(repo / "lock" / "r.json", repo) == (None, "lock/r.json is not committed at HEAD yet")


def test_previous_registry_from_head_or_before_the_last_change(tmp_path, monkeypatch):
    path = tmp_path / "lock" / "r.json"
    path.parent.mkdir()
    path.write_text('{"H1": {"hash": "new"}}')
    base = {("rev-parse", "--git-dir"): ".git\n", ("show", "HEAD:lock/r.json"): '{"H1": {"hash": "old"}}'}
    monkeypatch.setattr(rules, "git", _fake_git(tmp_path, base, []))
    assert rules.previous_registry(path, tmp_path) == ({"H1": {"hash": "old"}}, "HEAD")

    same = {**base, ("show", "HEAD:lock/r.json"): '{"H1": {"hash": "new"}}'}
    monkeypatch.setattr(rules, "git", _fake_git(tmp_path, same, []))
    assert rules.previous_registry(path, tmp_path) == (
        None, "no committed version of lock/r.json before HEAD (first version, or a shallow clone)")
    log = ("log", "-n", "1", "--format=%H", "--", "lock/r.json")
    sha = "abcdef0123456789abcdef0123456789abcdef01"
    monkeypatch.setattr(rules, "git", _fake_git(tmp_path, {**same, log: sha + "\n"}, []))
    assert rules.previous_registry(path, tmp_path) == (
        None, "no committed version of lock/r.json before abcdef0123 (first version, or a shallow clone)")
    calls = []
    answers = {**same, log: sha + "\n", ("show", f"{sha}^:lock/r.json"): '{"H1": {"hash": "older"}}'}
    monkeypatch.setattr(rules, "git", _fake_git(tmp_path, answers, calls))
    assert rules.previous_registry(path, tmp_path) == ({"H1": {"hash": "older"}}, "abcdef0123^")
    assert calls == [("rev-parse", "--git-dir"), ("show", "HEAD:lock/r.json"), log, ("show", f"{sha}^:lock/r.json")]


# --------------------------------------------------------------------------- rules: the command

@pytest.fixture
def two_rules(monkeypatch, tmp_path):
    monkeypatch.setattr(rules, "current_rules", lambda: dict(PAIR))
    monkeypatch.setattr(rules, "REGISTRY", tmp_path / "default" / "rules.lock.json")  # never the committed file
    (tmp_path / "default").mkdir()
    return tmp_path / "rules.lock.json"


def test_main_writes_then_checks_a_registry_outside_the_repository(two_rules, capsys):
    path = two_rules
    assert rules.main(["--write", "--registry", str(path)]) == 0
    assert capsys.readouterr().out == f"wrote {path} (2 rules)\n"
    assert path.read_text() == rules.dumps(rules.build(PAIR))
    assert rules.main(["--check", "--registry", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == (f"(not compared with a committed registry: {path} is not inside the repository)\n"
                       "2 rules match rules.lock.json\n") and out.err == ""


def test_main_check_fails_naming_each_problem(two_rules, capsys):
    path = two_rules
    registry = rules.build(PAIR)
    registry["S1"]["hash"] = "0" * 16
    registry["C1"] = registry["H1"]
    path.write_text(json.dumps(registry))
    assert rules.main(["--check", "--registry", str(path)]) == 1
    out = capsys.readouterr()
    assert out.err == (
        "The rules registry does not hold:\n"
        f"- S1: its RULE (halfway_utils.experiments.som_codes.s1) is {RB.fingerprint()} but the registry holds "
        f"{'0' * 16} (its fields). Add a dated entry to the rule's `changes` ('YYYY-MM-DD: what changed and why') and "
        f"regenerate the registry with `{CMD}`.\n"
        f"- C1: in the registry but no claim module has its RULE; regenerate it with `{CMD}`.\n")
    assert out.out.startswith("(not compared with a committed registry:") and "match" not in out.out


def test_main_check_against_a_previous_registry(two_rules, capsys, monkeypatch):
    path = two_rules
    previous = rules.build({"H1": dataclasses.replace(RA, margin=0.6), "S1": RB})
    seen = []
    monkeypatch.setattr(rules, "previous_registry", lambda p: (seen.append(p), (previous, "HEAD"))[1])
    rules.write(PAIR, path)
    assert rules.main(["--check", "--registry", str(path)]) == 1
    out = capsys.readouterr()
    assert seen == [path] and out.out == ""
    assert out.err.startswith("The rules registry does not hold:\n- H1: the registry's rule hash changed since the "
                              "last commit") and out.err.count("\n- ") == 1
    monkeypatch.setattr(rules, "previous_registry", lambda p: (rules.build(PAIR), "HEAD"))
    assert rules.main(["--check", "--registry", str(path)]) == 0
    assert capsys.readouterr().out == "2 rules match rules.lock.json\n"


def test_main_defaults_to_the_registry_path_and_needs_one_mode(two_rules, capsys):
    assert rules.main(["--write"]) == 0
    default = rules.REGISTRY
    assert capsys.readouterr().out == f"wrote {default} (2 rules)\n" and rules.load(default) == rules.build(PAIR)
    assert rules.main(["--check"]) == 0
    assert capsys.readouterr().out.endswith("2 rules match rules.lock.json\n")
    for argv in ([], ["--write", "--check"]):
        with pytest.raises(SystemExit) as stop:
            rules.main(argv)
        assert stop.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        rules.main(["--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: python -m halfway_utils.evidence.rules [-h] (--write | --check)")
    assert ("The rules lock: every claim's registered rule, hashed, in a committed registry, so a rule cannot drift "
            "unseen.") in text and "--registry" not in text
    assert "--write regenerate rules.lock.json from the claims' RULEs" in text
    assert "--check exit 1 if a RULE differs from rules.lock.json" in text


def test_the_committed_registry_path_is_beside_the_module():
    assert rules.REGISTRY.name == "rules.lock.json" and rules.REGISTRY.parent.name == "evidence"
    assert math.isclose(verdicts.family_level(2), 0.975)
