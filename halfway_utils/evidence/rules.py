"""The rules lock: every claim's registered rule, hashed, in a committed registry, so a rule cannot drift unseen.

``rules.lock.json`` (beside this module) holds, per claim, :meth:`Rule.fingerprint` of its ``RULE``,
the number of ``changes`` entries and the date of the last one, and a readable copy of the rule.
``python -m halfway_utils.evidence.rules --write`` regenerates it; ``--check`` exits 1 when a rule
differs from it, or when the registry changed since the last commit without a new ``changes`` entry.
Every check is a function of explicit arguments (:func:`problems`), so tests can feed modified rules.

This module is the one place the evidence package reaches up into the experiments: :func:`current_rules`
imports the eight claim modules, inside the function, never at import time.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..infra.paths import REPO_ROOT
from ..infra.store import git
from .claims import CLAIMS, Rule

REGISTRY = Path(__file__).with_name("rules.lock.json")
COMMAND = "python -m halfway_utils.evidence.rules --write"
UNDATED = "undated"

# Each claim's module under halfway_utils.experiments, the one that holds its RULE.
MODULES = {"H1": "boundaries.h1", "H2": "generalization.h2", "H3": "transfer.h3", "H4": "transfer.h4",
           "S1": "som_codes.s1", "S2": "som_codes.s2", "C1": "convex_hull.c1", "C2": "convex_hull.c2"}

_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?=[:\s(]|$)")


def current_rules() -> dict[str, Rule]:
    """Every claim's ``RULE``, imported from its experiment module now (the evidence package's one reach
    up into the experiments, kept inside this function)."""
    out = {}
    for claim_id in CLAIMS:
        module = importlib.import_module(f"halfway_utils.experiments.{MODULES[claim_id]}")
        out[claim_id] = module.RULE
    return out


def change_date(change: str) -> str:
    """The leading ``YYYY-MM-DD`` of a ``changes`` entry (followed by ``:``, a space or ``(``), else ``undated``."""
    match = _DATE.match(change)
    if not match:
        return UNDATED
    try:
        return datetime.date.fromisoformat(match.group(1)).isoformat()
    except ValueError:
        return UNDATED


def entry(claim_id: str, rule: Rule) -> dict[str, Any]:
    """One claim's registry entry: hash, number of changes, their dates, the last one, and the rule's fields."""
    dates = [change_date(c) for c in rule.changes]
    return {"hash": rule.fingerprint(), "module": f"halfway_utils.experiments.{MODULES.get(claim_id, '?')}",
            "changes": len(rule.changes), "change_dates": dates, "last_change": dates[-1] if dates else None,
            "rule": rule.decision_content()}


def build(rules: Mapping[str, Rule]) -> dict[str, dict[str, Any]]:
    """The registry for ``rules`` (claim id -> :func:`entry`), in ledger order."""
    order = [c for c in CLAIMS if c in rules] + sorted(c for c in rules if c not in CLAIMS)
    return {claim_id: entry(claim_id, rules[claim_id]) for claim_id in order}


def dumps(registry: Mapping[str, Any]) -> str:
    """The registry as the committed file's text (indented, claims in ledger order)."""
    return json.dumps(registry, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def load(path: Path = REGISTRY) -> dict[str, dict[str, Any]]:
    """The registry at ``path`` (empty when there is none)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def registered_hashes(path: Path = REGISTRY) -> dict[str, str]:
    """Claim id -> the rule hash the committed registry holds (what the report compares a ledger entry with)."""
    try:
        return {claim_id: e["hash"] for claim_id, e in load(path).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # AttributeError: a registry not a mapping
        return {}


def write(rules: Mapping[str, Rule] | None = None, path: Path = REGISTRY) -> Path:
    """Regenerate the registry from ``rules`` (default: :func:`current_rules`)."""
    rules = current_rules() if rules is None else rules
    Path(path).write_text(dumps(build(rules)))
    return Path(path)


def _what_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    diffs = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(diffs) or "its fields"


def problems(rules: Mapping[str, Rule], registry: Mapping[str, Mapping[str, Any]],
             previous: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """Why ``rules`` and ``registry`` do not hold, one sentence per claim (empty when they do).

    - a rule whose hash is not the registry's (it changed, or the registry is stale): add a dated entry to
      its ``changes`` and regenerate;
    - a registry whose ``changes`` count or dates are not the rule's: regenerate;
    - with ``previous`` (the last committed registry): a claim whose registered hash differs from it without
      its ``changes`` count having grown, or whose newest entry has no leading date.
    """
    out = []
    for claim_id, rule in rules.items():
        reg = registry.get(claim_id)
        if reg is None:
            out.append(f"{claim_id}: not in the rules registry; regenerate it with `{COMMAND}`.")
            continue
        now = entry(claim_id, rule)
        if now["hash"] != reg.get("hash"):
            out.append(f"{claim_id}: its RULE ({now['module']}) is {now['hash']} but the registry holds "
                       f"{reg.get('hash')} ({_what_changed(reg.get('rule', {}), now['rule'])}). Add a dated entry "
                       f"to the rule's `changes` ('YYYY-MM-DD: what changed and why') and regenerate the registry "
                       f"with `{COMMAND}`.")
        elif (now["changes"], now["change_dates"]) != (reg.get("changes"), reg.get("change_dates")):
            out.append(f"{claim_id}: its RULE has {now['changes']} `changes` entries but the registry records "
                       f"{reg.get('changes')}; regenerate the registry with `{COMMAND}`.")
    out += [f"{claim_id}: in the registry but no claim module has its RULE; regenerate it with `{COMMAND}`."
            for claim_id in registry if claim_id not in rules]
    for claim_id, reg in registry.items():
        old = (previous or {}).get(claim_id)
        if old is None or old.get("hash") == reg.get("hash"):
            continue
        if int(reg.get("changes") or 0) <= int(old.get("changes") or 0):
            out.append(f"{claim_id}: the registry's rule hash changed since the last commit ({old.get('hash')} -> "
                       f"{reg.get('hash')}: {_what_changed(old.get('rule', {}), reg.get('rule', {}))}) but its "
                       f"`changes` did not grow ({old.get('changes')} -> {reg.get('changes')}). Add a dated entry "
                       f"to the rule's `changes` saying what changed and why, then regenerate with `{COMMAND}`.")
        elif reg.get("last_change") in (None, UNDATED):
            out.append(f"{claim_id}: the rule changed and its newest `changes` entry has no leading date; start it "
                       f"with 'YYYY-MM-DD:' and regenerate with `{COMMAND}`.")
    return out


def previous_registry(path: Path = REGISTRY, root: Path = REPO_ROOT) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """The last committed registry that differs from the file at ``path``, and where it came from.

    ``HEAD``'s when the file differs from it (an uncommitted regeneration); else the version before the
    last commit that changed the file (so the check still bites once that commit is made). ``None`` with
    the reason when git, the file's history or that version is unavailable (e.g. a shallow clone).
    ``root`` is the git checkout the file lies in.
    """
    if git("rev-parse", "--git-dir", root=root) is None:
        return None, "git is not available or this is not a git checkout"
    try:
        rel = Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None, f"{path} is not inside the repository"
    current = load(path)
    head = git("show", f"HEAD:{rel}", root=root)
    if head is None:
        return None, f"{rel} is not committed at HEAD yet"
    if json.loads(head) != current:
        return json.loads(head), "HEAD"
    last = (git("log", "-n", "1", "--format=%H", "--", rel, root=root) or "").strip()
    before = git("show", f"{last}^:{rel}", root=root) if last else None
    if before is None:
        return None, f"no committed version of {rel} before {last[:10] or 'HEAD'} (first version, or a shallow clone)"
    return json.loads(before), f"{last[:10]}^"


def main(argv: Sequence[str] | None = None) -> int:
    """``--write`` regenerates the registry; ``--check`` exits 1 naming each claim that breaks it."""
    parser = argparse.ArgumentParser(prog="python -m halfway_utils.evidence.rules", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate rules.lock.json from the claims' RULEs")
    group.add_argument("--check", action="store_true", help="exit 1 if a RULE differs from rules.lock.json")
    parser.add_argument("--registry", type=Path, default=REGISTRY, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rules = current_rules()
    if args.write:
        path = write(rules, args.registry)
        print(f"wrote {path} ({len(rules)} rules)")
        return 0
    previous, source = previous_registry(args.registry)
    found = problems(rules, load(args.registry), previous)
    if previous is None:
        print(f"(not compared with a committed registry: {source})")
    if found:
        print("The rules registry does not hold:\n" + "\n".join(f"- {p}" for p in found), file=sys.stderr)
        return 1
    print(f"{len(rules)} rules match {args.registry.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
