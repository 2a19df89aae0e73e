"""The claims report: missing claims show as missing; the README block is rewritten in place."""
import json

from halfway_utils.evidence import claims, report
from halfway_utils.evidence.claims import Condition
from halfway_utils.evidence.stats import Estimate


def test_missing_claims_are_never_supported(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    claims.record("C1", statement="outside", measurements={"share": Estimate(0.99, 0.98, 1.0, 50, "b")},
                  conditions=[Condition("share", ">", 0.9)], figures=["05_hull.png"],
                  notebook="05_convex_hull", parameters={"profile": "quick"})
    table = report.claims_table()
    verdicts = dict(zip(table["id"], table["verdict"]))
    assert verdicts["C1"] == "supported"
    assert all(v == report.MISSING for k, v in verdicts.items() if k != "C1")
    assert list(table["id"]) == list(claims.CLAIMS)
    text = report.full_markdown(table)
    assert "share = 0.99 [0.98, 1]" in text and "![05_hull.png](05_hull.png)" in text


def test_a_corrupt_ledger_entry_reads_as_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    (claims.ledger_dir() / "H1.json").write_text("{not json")
    assert claims.load_all()["H1"] is None


def test_update_readme_rewrites_only_the_block(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "output_root", lambda: report.REPO_ROOT)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START}\nold\n{report.END}\noutro\n")
    assert report.update_readme(report.claims_table({}), readme)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert "| H1 | boundary location | **missing** |" in text


def test_update_readme_is_skipped_for_other_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    readme = tmp_path / "README.md"
    readme.write_text(f"{report.START}\nold\n{report.END}\n")
    assert not report.update_readme(report.claims_table({}), readme)
    assert "old" in readme.read_text()


def test_the_report_shows_the_null_the_primary_and_the_verdict_per_stratum(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    rule = claims.Rule("effect", ">", 0.0, null="shuffled labels", changes=("was X; now Y because Z",))
    claims.record_rule("S1", rule, statement="s", pooled=Estimate(0.2, 0.1, 0.3, 10, "b"),
                       strata={"mnist/mlp": Estimate(0.2, 0.1, 0.3, 5, "b"),
                               "mnist/cnn": Estimate(0.0, -0.1, 0.1, 5, "b")},
                       replicates=10, figures=["04_a.png"], notebook="04_som_codes", parameters={"profile": "quick"})
    table = report.claims_table()
    row = table.set_index("id").loc["S1"]
    assert row["by_stratum"] == "supported for mnist/mlp; inconclusive for mnist/cnn"
    assert row["effect"] == "effect = 0.2 [0.1, 0.3]" and row["null"] == "shuffled labels"
    short = report.verdict_markdown(table)
    assert ("| S1 | homogeneous shallow codes | **supported** "
            "| supported for mnist/mlp; inconclusive for mnist/cnn |") in short
    text = report.full_markdown(table)
    assert "**Null:** shuffled labels" in text and "Rule changed after a run:** was X; now Y because Z" in text
    assert "  - mnist/cnn: **inconclusive**, 0 [-0.1, 0.1]" in text


def test_the_overview_has_a_row_per_stratum_and_pooled_and_draws(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    rule = claims.Rule("effect", ">", 0.05, null="n")
    claims.record_rule("H3", rule, statement="s", pooled=Estimate(0.2, 0.1, 0.3, 10, "b"),
                       strata={"mnist/mlp": Estimate(0.2, 0.1, 0.3, 5, "b"),
                               "mnist/cnn": Estimate(0.0, -0.1, 0.1, 5, "b")},
                       replicates=10, figures=[], notebook="03_transfer", parameters={"profile": "quick"})
    table = report.claims_table()
    rows = report.overview_rows(table)
    h3 = rows[rows["id"] == "H3"]
    assert list(h3["label"]) == ["pooled", "mnist/mlp", "mnist/cnn"]
    assert list(h3["verdict"]) == ["supported", "supported", "inconclusive"] and (h3["margin"] == 0.05).all()
    assert (rows[rows["id"] == "H1"]["verdict"] == report.MISSING).all()
    fig = report.overview_figure(table)
    assert len(fig.axes) == len(claims.CLAIMS)


def test_the_report_flags_a_verdict_decided_by_an_older_rule(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    rule = claims.Rule("effect", ">", 0.05, null="n")
    est = Estimate(0.2, 0.1, 0.3, 10, "b")
    entry = claims.record_rule("H3", rule, statement="s", pooled=est, strata={"mnist/mlp": est}, replicates=10,
                               figures=[], notebook="03_transfer", parameters={"profile": "quick"})
    assert entry.rule_hash == rule.fingerprint() and claims.load_all()["H3"].rule_hash == rule.fingerprint()
    old = entry.as_dict()
    del old["rule_hash"]  # a ledger entry written before rules were hashed still loads
    (claims.ledger_dir() / "H4.json").write_text(json.dumps({**old, "id": "H4"}))
    table = report.claims_table()
    newer = claims.Rule("effect", ">", 0.1, null="n").fingerprint()
    same = report.full_markdown(table, current_rules={"H3": rule.fingerprint(), "H4": rule.fingerprint(), "H1": newer})
    lines = [line for line in same.splitlines() if "Decided by an older rule" in line]
    assert lines == [f"- **Decided by an older rule:** this verdict was recorded under rule (none recorded); "
                     f"the rule is now `{rule.fingerprint()}` (see its changes); rerun the notebook."]
    assert "older rule" not in same.split("## H3")[1].split("## H4")[0]  # H3's hash matches; H1 is missing
    moved = report.full_markdown(table, current_rules={"H3": newer})
    h3 = moved.split("## H3")[1].split("## H4")[0]
    assert (f"- **Decided by an older rule:** this verdict was recorded under rule `{rule.fingerprint()}`; "
            f"the rule is now `{newer}` (see its changes); rerun the notebook.") in h3


def test_the_report_and_readme_show_both_references_the_margin_curve_controls_and_plain_words(tmp_path, monkeypatch):
    monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path))
    rule = claims.Rule("gap_closed", ">", 0.5, null="the untrained network", band=0.1, ideal=1.0,
                       margin_reason="half the way from the untrained network to the bisector",
                       scale="0 = the untrained network, 1 = the 1-NN bisector")
    controls = [claims.Control("1-NN rule", claims.POSITIVE, Estimate(0.95, 0.9, 1.0, 3, "b"), "is the bisector"),
                claims.Control("biased 1-NN", claims.NEGATIVE, Estimate(0.3, 0.2, 0.4, 3, "b"), "boundary near a")]
    claims.record_rule("H1", rule, statement="s", pooled=Estimate(0.3, 0.25, 0.35, 10, "b"),
                       strata={"mnist/mlp": Estimate(0.6, 0.55, 0.7, 5, "b"),
                               "mnist/cnn": Estimate(0.02, -0.05, 0.08, 5, "b")},
                       replicates=10, figures=[], notebook="01_halfway_boundaries", parameters={"profile": "quick"},
                       controls=controls)
    table = report.claims_table()
    row = table.set_index("id").loc["H1"]
    assert row["verdict"] == "weaker than claimed" and row["references"] == "null 0 ± 0.1; margin 0.5; ideal 1"
    assert row["control_problems"] == ["negative control 'biased 1-NN' reads 'weaker than claimed', not no effect"]
    short = report.verdict_markdown(table)
    assert "| null 0 ± 0.1; margin 0.5; ideal 1 | **read wrong** |" in short
    text = report.full_markdown(table)
    assert "- **Margin's reason:** half the way from the untrained network to the bisector" in text
    assert ("- **Verdict against the margin (pooled):** supported for a margin from 0.1 to 0.25; inconclusive from "
            "0.25 to 0.35; weaker than claimed past 0.35") in text
    assert ("  - mnist/mlp: **supported**, 0.6 [0.55, 0.7] (95%: no standard error to adjust for the family); "
            "against the margin: supported for a margin from 0.1 to 0.55") in text
    assert ("  - mnist/cnn: **no effect**, 0.02 [-0.05, 0.08] (95%: no standard error to adjust for the family); "
            "against the margin: no effect for a margin past 0.1") in text
    assert "reads **weaker than claimed** (**NOT AS BUILT**" in text and "- **Controls read wrong:**" in text
    assert "30% of the way from the null to the ideal" in text.split("## In plain words")[1]
    monkeypatch.setattr(report, "output_root", lambda: report.REPO_ROOT)
    readme = tmp_path / "README.md"
    readme.write_text(f"{report.START}\n{report.END}\n")
    assert report.update_readme(table, readme)
    assert "In plain words" in readme.read_text() and "Margin: half the way" in readme.read_text()
    rows = report.overview_rows(table)
    assert list(rows[rows["id"] == "H1"]["label"]) == ["pooled", "mnist/mlp", "mnist/cnn", "control +: 1-NN rule",
                                                       "control -: biased 1-NN"]
    assert len(report.overview_figure(table).axes) == len(claims.CLAIMS)


def test_the_overview_draws_no_other_profile_s_primary_on_a_claim_s_axis(tmp_path, monkeypatch):
    tables = {}
    for profile, primary in (("quick", "new_primary"), ("full", "old_primary")):
        monkeypatch.setenv("HALFWAY_OUTPUT", str(tmp_path / profile))
        rule = claims.Rule(primary, ">", 0.5, null="n", band=0.1)
        claims.record_rule("H3", rule, statement="s", pooled=Estimate(0.7, 0.6, 0.8, 5, "b"),
                           strata={"mnist/mlp": Estimate(0.7, 0.6, 0.8, 5, "b")}, replicates=5, figures=[],
                           notebook="03_transfer", parameters={"profile": profile})
        tables[profile] = report.claims_table()
    fig = report.overview_figure(tables)
    h3 = fig.axes[list(claims.CLAIMS).index("H3")]
    assert len(h3.lines) == 2 * 2 + 2  # quick's pooled and stratum (interval + point each), the null and the margin
