"""A clone holds the whole record: every ledger, results file, run summary and figure that the README,
the report or the site reads for a committed profile is tracked by git, and was made by a clean tree
with the profile's own parameters."""
import json
import re
import subprocess

import pytest

from halfway_utils.evidence import report
from halfway_utils.evidence.claims import CLAIMS
from halfway_utils.infra import outputs, paths

ROOT = paths.REPO_ROOT
COMMITTED_PROFILES = {"quick": ROOT, "full": ROOT / "runs" / "full"}


def _tracked() -> set[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True)
    if out.returncode:
        pytest.skip("not a git checkout: nothing to check against")
    return {p for p in out.stdout.decode().split("\0") if p}


def _rel(path) -> str:
    return path.relative_to(ROOT).as_posix()


def records(root) -> list:
    """What the README, the report and the site read for one profile's run."""
    found = [root / "results" / "run_summary.json"]
    found += [root / "results" / "claims" / f"{claim_id}.json" for claim_id in CLAIMS]
    summary = json.loads((root / "results" / "run_summary.json").read_text())
    for row in summary["notebooks"]:
        result = root / "results" / f"{row['notebook']}.json"
        if result.exists() or row["notebook"] not in ("06_two_dimensions", "99_report"):
            found.append(result)
    for claim_id in CLAIMS:
        entry = json.loads((root / "results" / "claims" / f"{claim_id}.json").read_text())
        found += [root / "figures" / f for f in entry["figures"] if f.endswith(".png")]
    found += [root / "figures" / "claims_overview.png"] if root == ROOT else []
    return found


@pytest.mark.parametrize("profile", sorted(COMMITTED_PROFILES))
def test_every_record_a_reader_reads_is_tracked(profile):
    tracked, root = _tracked(), COMMITTED_PROFILES[profile]
    assert (root / "results" / "run_summary.json").exists(), f"{profile}: no run summary; run the profile and commit it"
    missing = [_rel(p) for p in records(root) if _rel(p) not in tracked]
    assert not missing, f"{profile}: read by the README/report/site but not committed: {missing}"


@pytest.mark.parametrize("profile", sorted(COMMITTED_PROFILES))
def test_the_committed_record_is_the_profile_s_own_run(profile):
    root = COMMITTED_PROFILES[profile]
    _tracked()
    assert outputs.describe(root) is None, f"{profile}: the record holds a run with other parameters"
    summary = json.loads((root / "results" / "run_summary.json").read_text())
    assert summary["profile"] == profile
    assert summary.get("differs") == {}, f"{profile}: the run summary records parameters that differ"
    for claim_id in CLAIMS:
        entry = json.loads((root / "results" / "claims" / f"{claim_id}.json").read_text())
        assert entry["profile"] == profile and not entry.get("variant"), f"{profile}/{claim_id}"
        assert entry["provenance"].get("git_dirty") is False, f"{profile}/{claim_id}: recorded from an edited tree"
        nb = entry["notebook"]
        differs = outputs.differences(nb, entry["parameters"])
        assert not differs, f"{profile}/{claim_id}: recorded with other parameters than the profile's: {differs}"


def test_the_readme_table_is_the_committed_quick_ledger_and_shows_full_beside_it():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(report.START):text.index(report.END)]
    table = report.claims_table(report.load_all(ROOT / "results" / "claims"))
    for _, row in table.iterrows():
        assert re.search(rf"\| {row['id']} \|[^\n]*\*\*{re.escape(row['verdict'])}\*\*", block), row["id"]
    assert "Quick and full side by side" in block


def test_every_committed_quick_claim_has_controls_that_read_as_built_and_both_references():
    """Issue 20's bar: each claim's positive control reads supported and its negative control no effect, by the
    claim's own rule, in the committed quick record; each entry carries its null, band, margin reason, sentence."""
    from halfway_utils.evidence.claims import EXPECTED, control_problems

    profile, root = "quick", COMMITTED_PROFILES["quick"]
    for claim_id in CLAIMS:
        entry = json.loads((root / "results" / "claims" / f"{claim_id}.json").read_text())
        assert entry.get("null_value") is not None and entry.get("margin_reason"), f"{profile}/{claim_id}"
        assert entry.get("sentence", "").startswith(claim_id), f"{profile}/{claim_id}: no plain sentence"
        kinds = sorted({c["kind"] for c in entry.get("controls", [])})
        assert kinds == sorted(EXPECTED), f"{profile}/{claim_id}: controls {kinds}"
        assert control_problems(entry["controls"]) == [], f"{profile}/{claim_id}"


def test_a_full_verdict_decided_by_an_older_rule_is_marked_so_in_the_readme():
    """Until the full profile is rerun under the current rules, the README never sets its old verdicts beside the
    quick ones as if they measured the same thing."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(report.START):text.index(report.END)]
    quick = report.load_all(ROOT / "results" / "claims")
    full = report.load_all(ROOT / "runs" / "full" / "results" / "claims")
    for claim_id in CLAIMS:
        if full[claim_id] is not None and full[claim_id].primary != quick[claim_id].primary:
            line = next(row for row in block.splitlines() if row.startswith(f"| {claim_id} ") and "older rule" in row)
            assert f"*(older rule: {full[claim_id].primary})*" in line
            assert f"{claim_id}: not compared, full measured another primary" in block
