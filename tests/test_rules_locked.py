"""Rules locked: every claim's RULE matches the committed registry, and a registry change comes with a new
dated ``changes`` entry. Fix a failure by adding the entry and running
``python -m halfway_utils.evidence.rules --write``."""
import dataclasses
import json
import subprocess

import pytest

from halfway_utils.evidence import claims, rules
from halfway_utils.evidence.claims import Rule


@pytest.fixture(scope="module")
def current():
    return rules.current_rules()


def test_the_fingerprint_is_a_stable_hash_of_what_decides_a_verdict():
    rule = Rule("p", ">", 0.5, "a null")
    assert rule.fingerprint() == "727fc3ec27e58d83"  # known answer: the same in every run and on every machine
    assert dataclasses.replace(rule, changes=("2026-12-01: note",)).fingerprint() == rule.fingerprint()
    assert Rule("p", ">", 0, "a null").fingerprint() == Rule("p", ">", 0.0, "a null").fingerprint()
    for changed in (dict(primary="q"), dict(op="<", margin=-0.5), dict(margin=0.6), dict(null="another"),
                    dict(strata=("a",)),
                    dict(null_value=0.1), dict(band=0.1), dict(ideal=1.0), dict(margin_reason="why"), dict(scale="s"),
                    dict(family="Holm"), dict(interval="percentile bootstrap"), dict(min_models=2)):
        assert dataclasses.replace(rule, **changed).fingerprint() != rule.fingerprint(), changed


def test_every_claim_s_rule_matches_the_registry(current):
    assert set(current) == set(claims.CLAIMS)
    found = rules.problems(current, rules.load())
    assert not found, ("\n".join(found) + f"\nAdd a dated entry to the rule's `changes` (what changed and why) and "
                       f"regenerate the registry with `{rules.COMMAND}`.")


def test_a_registry_change_since_the_last_commit_comes_with_a_new_changes_entry(current):
    previous, reason = rules.previous_registry()
    if previous is None:
        pytest.skip(f"no committed registry to compare with: {reason}")
    found = rules.problems(current, rules.load(), previous)
    assert not found, "\n".join(found)


def test_a_changed_margin_is_reported_until_a_dated_change_and_a_regenerated_registry(current):
    registry = rules.build(current)  # what the committed registry holds when the rules match it
    moved = dict(current, H1=dataclasses.replace(current["H1"], margin=current["H1"].margin + 0.05))
    found = rules.problems(moved, registry)
    old, new = current["H1"].margin, moved["H1"].margin
    assert len(found) == 1 and found[0].startswith("H1:") and f"margin {old!r} -> {new!r}" in found[0]
    assert "Add a dated entry" in found[0] and rules.COMMAND in found[0]

    # regenerating the registry without a new changes entry: caught against the previous registry
    found = rules.problems(moved, rules.build(moved), previous=registry)
    assert len(found) == 1 and found[0].startswith("H1:") and "did not grow" in found[0]

    # a new dated changes entry, registry not regenerated: still caught (the registry must always match)
    noted = dict(moved, H1=dataclasses.replace(moved["H1"], changes=(*moved["H1"].changes,
                                                                     "2027-01-05: margin 0.05 -> 0.1 because ...")))
    assert [p[:3] for p in rules.problems(noted, registry, previous=registry)] == ["H1:"]

    # both: passes
    regenerated = rules.build(noted)
    assert regenerated["H1"]["changes"] == len(current["H1"].changes) + 1
    assert regenerated["H1"]["last_change"] == "2027-01-05"
    assert rules.problems(noted, regenerated, previous=registry) == []

    # an undated new entry is not enough
    undated = dict(moved, H1=dataclasses.replace(moved["H1"], changes=(*moved["H1"].changes, "margin raised")))
    found = rules.problems(undated, rules.build(undated), previous=registry)
    assert len(found) == 1 and "no leading date" in found[0]


def test_a_new_changes_entry_alone_makes_the_registry_stale(current):
    registry = rules.build(current)
    noted = dict(current, C2=dataclasses.replace(current["C2"], changes=(*current["C2"].changes, "2027-01-05: x")))
    found = rules.problems(noted, registry)
    assert len(found) == 1 and found[0].startswith("C2:") and "regenerate" in found[0]


def test_change_dates_are_read_or_marked_undated():
    assert rules.change_date("2026-12-01: was X") == "2026-12-01"
    assert rules.change_date("2026-12-01 (issue 13): was X") == "2026-12-01"
    assert rules.change_date("was X, changed on 2026-12-01") == rules.UNDATED
    assert rules.change_date("2026-13-45: not a date") == rules.UNDATED


def test_the_command_writes_and_checks_a_registry(tmp_path, current, capsys):
    path = tmp_path / "rules.lock.json"
    assert rules.main(["--write", "--registry", str(path)]) == 0
    assert json.loads(path.read_text()) == rules.build(current)
    assert rules.main(["--check", "--registry", str(path)]) == 0
    stale = json.loads(path.read_text())
    stale["S1"]["hash"] = "0" * 16
    path.write_text(json.dumps(stale))
    assert rules.main(["--check", "--registry", str(path)]) == 1
    assert "S1:" in capsys.readouterr().err


def test_the_previous_registry_is_head_s_or_the_one_before_the_last_change(tmp_path, current):
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    if subprocess.run([*git, "init", "-q"], capture_output=True).returncode:
        pytest.skip("git is not available")
    path = tmp_path / "rules.lock.json"
    assert rules.previous_registry(path, tmp_path)[0] is None  # nothing committed yet
    first = rules.build(current)
    path.write_text(rules.dumps(first))
    subprocess.run([*git, "add", "rules.lock.json"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    assert rules.previous_registry(path, tmp_path)[0] is None  # the first version has none before it
    moved = dict(current, H1=dataclasses.replace(current["H1"], margin=current["H1"].margin + 0.1))
    rules.write(moved, path)
    previous, source = rules.previous_registry(path, tmp_path)
    assert previous == first and source == "HEAD"  # an uncommitted regeneration is compared with HEAD
    subprocess.run([*git, "commit", "-qam", "two"], check=True)
    previous, _ = rules.previous_registry(path, tmp_path)
    assert previous == first  # once committed, with the version before that commit
    assert "did not grow" in rules.problems(moved, rules.load(path), previous)[0]
