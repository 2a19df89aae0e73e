"""A claim's strata are one family (Bonferroni), the pooled verdict has its own 95% level, and a stratum
with fewer than three fitted models reads "too few models" and is never listed as a change with the scale."""
from __future__ import annotations

import json

import pytest

from halfway_utils.evidence import claims, report, stats
from halfway_utils.evidence.claims import INCONCLUSIVE, SUPPORTED, TOO_FEW, WEAKER, Rule

RULE = Rule("p", ">", 0.5, "a null", null_value=0.0, band=0.1, ideal=1.0, margin_reason="half way")


def t(value: float, se: float, n: int = 5) -> stats.Estimate:
    return stats.t_estimate(value, se, n - 1, n, "t")


def test_the_family_level_is_bonferroni_over_the_judged_strata():
    assert claims.family_level(1) == pytest.approx(0.95) and claims.family_level(4) == pytest.approx(0.9875)
    assert claims.family_level(0) == pytest.approx(0.95)


def test_a_stratum_beyond_the_margin_at_95_percent_but_not_at_the_family_level_is_not_supported():
    # 0.5 + 2.776 * 0.05 = 0.639 < 0.66: beyond the margin at 95%; at 1 - 0.05/3 (t(4) = 3.96) it reaches 0.46.
    strata = {"a": t(0.66, 0.05), "b": t(0.9, 0.01), "c": t(0.3, 0.02)}
    assert RULE.judge(strata["a"]) == SUPPORTED
    rows = {r["stratum"]: r for r in RULE.judge_strata(strata)}
    assert rows["a"]["verdict"] == INCONCLUSIVE and rows["a"]["level"] == pytest.approx(1 - 0.05 / 3)
    assert rows["a"]["low"] < 0.5 < rows["a"]["low95"] and rows["b"]["verdict"] == SUPPORTED
    assert rows["c"]["verdict"] == WEAKER and rows["a"]["family_level"] == pytest.approx(1 - 0.05 / 3)


def test_a_stratum_of_too_few_models_is_shown_with_its_count_and_not_counted_in_the_family():
    strata = {"mnist/resnet": stats.Estimate(0.9, float("nan"), float("nan"), 1, "single seed"),
              "mnist/cnn": t(0.66, 0.05), "mnist/mlp": t(0.62, 0.04, n=2)}
    rows = {r["stratum"]: r for r in RULE.judge_strata(strata)}
    assert rows["mnist/resnet"]["verdict"] == TOO_FEW and rows["mnist/mlp"]["verdict"] == TOO_FEW
    assert rows["mnist/cnn"]["verdict"] == SUPPORTED and rows["mnist/cnn"]["level"] == pytest.approx(0.95)  # k = 1
    text = claims.by_stratum(list(rows.values()))
    assert "too few models for mnist/resnet (1 models), mnist/mlp (2 models)" in text
    assert RULE.judge(stats.Estimate(0.9, 0.8, 1.0, 2, "t")) == TOO_FEW  # a pooled estimate of two models too


def test_the_ledger_stores_both_intervals_and_the_report_says_the_family_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    entry = claims.record_rule("H1", RULE, statement="s", pooled=t(0.7, 0.05, 15),
                               strata={"mnist/mlp": t(0.66, 0.05), "mnist/cnn": t(0.9, 0.01),
                                       "mnist/resnet": stats.Estimate(0.8, float("nan"), float("nan"), 1, "one")},
                               replicates=11, figures=[], notebook="01_halfway_boundaries",
                               parameters={"profile": "quick"})
    stored = json.loads((tmp_path / "results" / "claims" / "H1.json").read_text())
    rows = {r["stratum"]: r for r in stored["strata"]}
    assert rows["mnist/mlp"]["level"] == pytest.approx(0.975) and rows["mnist/mlp"]["verdict"] == INCONCLUSIVE
    assert rows["mnist/mlp"]["low95"] > 0.5 > rows["mnist/mlp"]["low"] and rows["mnist/resnet"]["verdict"] == TOO_FEW
    assert entry.verdict == SUPPORTED  # the pooled estimate keeps its own 95% level
    assert stored["measurements"]["p"]["se"] == pytest.approx(0.05) and stored["measurements"]["p"]["df"] == 14
    assert "Bonferroni" in stored["rule"] and "at least 3 models" in stored["rule"]
    text = report.full_markdown(report.claims_table(claims.load_all(tmp_path / "results" / "claims")), {}, {})
    assert text.count("**Multiplicity:**") == 1 and "1 - 0.05/k" in text
    assert "  - mnist/resnet: **too few models** (1 fitted; a verdict needs 3)" in text
    assert "  - mnist/mlp: **inconclusive**, 0.66 [" in text and "at 97.5% (Bonferroni)" in text


def _entry(root, profile: str, strata: list[dict]) -> None:
    folder = root / ("results" if profile == "quick" else f"runs/{profile}/results") / "claims"
    folder.mkdir(parents=True, exist_ok=True)
    claim = {"id": "H1", "paper": "halfway", "statement": "s", "measurements": {"m": {"value": 1.0}}, "rule": "r",
             "verdict": SUPPORTED, "figures": [], "notebook": "01_halfway_boundaries",
             "parameters": {"n_train": 1000, "seeds": [0, 1, 2]}, "profile": profile, "primary": "m",
             "strata": strata, "replicates": 3}
    (folder / "H1.json").write_text(json.dumps(claim))


def test_a_stratum_of_too_few_models_is_never_listed_as_a_change_with_the_scale(tmp_path):
    _entry(tmp_path, "quick", [{"stratum": "mnist/resnet", "verdict": SUPPORTED, "n": 5},
                               {"stratum": "mnist/mlp", "verdict": SUPPORTED, "n": 5}])
    _entry(tmp_path, "full", [{"stratum": "mnist/resnet", "verdict": TOO_FEW, "n": 1},
                              {"stratum": "mnist/mlp", "verdict": WEAKER, "n": 3}])
    changes = report.scale_changes(report.profile_tables(tmp_path))
    assert changes == ["H1 mnist/mlp: supported (quick) -> weaker than claimed (full)"]
    _entry(tmp_path, "full", [{"stratum": "mnist/resnet", "verdict": TOO_FEW, "n": 1}])  # a pooled "too few" too
    entry = json.loads((tmp_path / "runs/full/results/claims/H1.json").read_text())
    (tmp_path / "runs/full/results/claims/H1.json").write_text(json.dumps({**entry, "verdict": TOO_FEW}))
    assert report.scale_changes(report.profile_tables(tmp_path)) == []


def test_a_pool_of_strata_that_all_have_too_few_models_is_not_judged(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    rule = Rule("p", ">", 0.5, "a null", band=0.1, min_models=5)  # e.g. S2: a correlation across models
    entry = claims.record_rule("S2", rule, statement="s", pooled=t(0.9, 0.01, 12),
                               strata={"mnist/mlp": t(0.9, 0.01, 3), "mnist/cnn": t(0.9, 0.01, 3)},
                               replicates=6, figures=[], notebook="04_som_codes", parameters={"profile": "full"})
    assert entry.verdict == TOO_FEW and {r["verdict"] for r in entry.strata} == {TOO_FEW}
    assert claims.load_all(tmp_path / "results" / "claims")["S2"].verdict == TOO_FEW  # read back, not "missing"
