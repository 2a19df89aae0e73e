"""The claims ledger: each tested claim, its measurement, its rule and its verdict.

A notebook calls its claim module's ``record`` once per claim, which calls :func:`record_rule`.
The verdict is never typed in: :meth:`Rule.judge` computes it from the primary's 95% interval and
two references, the null (``null_value``, with an equivalence ``band`` around it) and the claim's
``margin`` (with its reason, a fraction of the way from the null to the claim's ideal or to what
replicate networks reach):

- ``supported``: the whole interval lies beyond the margin;
- ``weaker than claimed``: the whole interval lies beyond the null, short of the margin;
- ``no effect``: the whole interval lies within the band around the null or on its wrong side;
- ``inconclusive``: otherwise (an interval straddles a reference, or a value is missing).

Beside the zoo each claim measures a positive and a negative :class:`Control` (a real system
built to have, or to lack, the property), decided by the same rule; :func:`control_problems`
says when one reads wrong. :func:`margin_curve` gives the verdict as a function of the margin and
:func:`plain_sentence` one sentence from the numbers. (:func:`record` and :class:`Condition`
are the older many-condition form, kept for the tests of that logic.)

Entries are written to ``results/claims/<id>.json``; ``load_all`` reads them back.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..infra import outputs
from ..infra.paths import results_dir
from ..infra.store import provenance, to_jsonable, write_json
from .stats import Estimate
from .verdicts import (
    EXPECTED,
    FAMILY,
    INCONCLUSIVE,
    INTERVALS_CHANGE,
    MIN_MODELS,
    NEGATIVE,
    NO_EFFECT,
    NOT_SUPPORTED,
    OLD_VERDICTS,
    POSITIVE,
    SUPPORTED,
    TOO_FEW,
    VERDICTS,
    WEAKER,
    Condition,
    Control,
    Rule,
    as_estimate,
    control_problems,
    decide,
    family_level,
    judge_interval,
    margin_curve,
    margin_curve_text,
)

__all__ = ["CLAIMS", "EXPECTED", "FAMILY", "INCONCLUSIVE", "INTERVALS_CHANGE", "MIN_MODELS", "NEGATIVE", "NO_EFFECT",
           "NOT_SUPPORTED", "OLD_VERDICTS", "PAPERS", "POSITIVE", "SUPPORTED", "TOO_FEW", "VERDICTS", "WEAKER", "Claim",
           "Condition", "Control", "Rule", "by_stratum", "control_problems", "decide", "family_level", "judge_interval",
           "ledger_dir", "load_all", "margin_curve", "margin_curve_text", "plain_sentence", "record", "record_rule"]

PAPERS = {
    "halfway": "BenShmuel 2022, Meet You Halfway (arXiv 2206.04463)",
    "som": "Lee & Vijayan, Two sides of the same coin (arXiv 2205.10952)",
    "hull": "Yousefzadeh, Generalization, extrapolation and over-parameterization (arXiv 2203.10366)",
}

# Every claim the project tests, with the paper it comes from and its notebook.
CLAIMS: dict[str, dict[str, str]] = {
    "H1": {"paper": "halfway", "notebook": "01_halfway_boundaries", "title": "boundary location"},
    "H2": {"paper": "halfway", "notebook": "02_generalization", "title": "generalization"},
    "H3": {"paper": "halfway", "notebook": "03_transfer", "title": "shared boundaries"},
    "H4": {"paper": "halfway", "notebook": "03_transfer", "title": "transfer"},
    "S1": {"paper": "som", "notebook": "04_som_codes", "title": "homogeneous shallow codes"},
    "S2": {"paper": "som", "notebook": "04_som_codes", "title": "codes under attack"},
    "C1": {"paper": "hull", "notebook": "05_convex_hull", "title": "test samples outside the hull"},
    "C2": {"paper": "hull", "notebook": "05_convex_hull", "title": "over-parameterization"},
}


@dataclass
class Claim:
    """One ledger entry."""

    id: str
    paper: str
    statement: str
    measurements: dict[str, dict[str, Any]]
    rule: str
    verdict: str
    figures: list[str]
    notebook: str
    parameters: dict[str, Any]
    profile: str
    notes: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""
    primary: str = ""
    null: str = ""
    margin: float | None = None
    strata: list[dict[str, Any]] = field(default_factory=list)
    replicates: int = 0
    rule_changes: list[str] = field(default_factory=list)
    variant: dict[str, Any] = field(default_factory=dict)  # parameters that differ from the profile's, if any
    rule_hash: str = ""  # Rule.fingerprint() of the rule that decided it ("" before rules were hashed)
    null_value: float | None = None  # the primary at the null (entries before the four-word verdicts: None)
    band: float | None = None  # the equivalence band around the null ("no effect" within it)
    ideal: float | None = None  # the primary at the claim's ideal, where it has one
    margin_reason: str = ""
    scale: str = ""  # what the primary's 0 and 1 are
    controls: list[dict[str, Any]] = field(default_factory=list)  # Control.row(rule) of each control
    margin_curve: list[dict[str, Any]] = field(default_factory=list)  # the pooled verdict against the margin
    sentence: str = ""  # plain_sentence(): what holds, where, how far from the ideal
    op: str = ""  # the rule's direction, ">" or "<"

    def stored_rule(self) -> Rule | None:
        """The rule as recorded in this entry (None for an entry made before the four-word verdicts)."""
        if not self.primary or self.op not in (">", "<") or self.margin is None or self.null_value is None:
            return None
        try:
            return Rule(self.primary, self.op, float(self.margin), self.null, null_value=float(self.null_value),
                        band=float(self.band or 0.0), ideal=self.ideal, margin_reason=self.margin_reason,
                        scale=self.scale)
        except ValueError:
            return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """The verdict, its rule and every measurement with its interval, one per line."""
        lines = [f"{self.id} verdict: {self.verdict}   rule: {self.rule}"]
        if self.sentence:
            lines.append(f"  {self.sentence}")
        if self.strata:
            lines += [f"  null: {self.null}", f"  by stratum: {by_stratum(self.strata)}"]
            lines += [f"    {row['stratum']:30s} {_interval(row)}  {row['verdict']}" for row in self.strata]
        lines += [f"  control ({c['kind']}) {c['name']:24s} {_interval(c)}  {c['verdict']}"
                  + ("" if c.get("as_built") else "  NOT AS BUILT") for c in self.controls]
        lines += [f"  {name:34s} {_interval(m)}" for name, m in self.measurements.items()]
        return "\n".join(lines + ([self.notes] if self.notes else []))


def _interval(m: Mapping[str, Any]) -> str:
    """``value [low, high]`` of a stored measurement (no interval when it has none)."""
    def fmt(v: Any) -> str:
        if isinstance(v, str):  # JSON keeps infinities as "inf" / "-inf" (store.to_jsonable)
            v = float(v)
        return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"
    if m.get("low") is None or fmt(m.get("low")) == "nan":
        return fmt(m.get("value"))
    return f"{fmt(m.get('value'))} [{fmt(m.get('low'))}, {fmt(m.get('high'))}]"


def by_stratum(strata: Sequence[Mapping[str, Any]]) -> str:
    """``supported for a, b; not supported for c``: which strata give which verdict."""
    groups: dict[str, list[str]] = {}
    for row in strata:
        count = f" ({row.get('n')} models)" if row["verdict"] == TOO_FEW else ""
        groups.setdefault(row["verdict"], []).append(f"{row['stratum']}{count}")
    order = [*VERDICTS, NOT_SUPPORTED, *sorted(v for v in groups if v not in VERDICTS and v != NOT_SUPPORTED)]
    return "; ".join(f"{v} for {', '.join(names)}" for v in order for names in [groups.get(v)] if names)


def plain_sentence(claim_id: str, rule: Rule, pooled: Estimate | None, rows: Sequence[Mapping[str, Any]],
                   controls: Sequence[Mapping[str, Any]] = ()) -> str:
    """One plain sentence from the numbers: the pooled verdict and interval on the claim's scale, how far from
    the ideal, which strata read what, and whether the controls read as built."""
    title = CLAIMS.get(claim_id, {}).get("title", claim_id)
    verdict = rule.judge(pooled)
    if pooled is None or math.isnan(pooled.value):
        return f"{claim_id} ({title}) could not be measured: {verdict}."
    text = (f"{claim_id} ({title}): {verdict} pooled, {rule.primary} = {pooled.value:.3g} "
            f"[{pooled.low:.3g}, {pooled.high:.3g}] against the null {rule.null_value:g} and the margin "
            f"{rule.margin:g}")
    if rule.ideal is not None and rule.ideal != rule.null_value:
        frac = (pooled.value - rule.null_value) / (rule.ideal - rule.null_value)
        text += f", {frac:.0%} of the way from the null to the ideal"
    if rule.scale:
        text += f" ({rule.scale})"
    if rows:
        text += f"; by stratum, {by_stratum(rows)}"
    if controls:
        wrong = control_problems(controls)
        text += ("; its controls read as built" if not wrong else "; CONTROLS READ WRONG: " + "; ".join(wrong))
    return text + "."


def record_rule(claim_id: str, rule: Rule, *, statement: str, pooled: Estimate,
                strata: Mapping[str, Estimate], measurements: Mapping[str, Estimate | Mapping | float] | None = None,
                replicates: int, figures: list[str], notebook: str, parameters: Mapping[str, Any],
                notes: str = "", controls: Sequence[Control] = ()) -> Claim:
    """Decide a claim by its registered rule, per stratum and pooled, and write it to the ledger.

    ``pooled`` and each of ``strata`` are estimates of ``rule.primary``; ``measurements``
    are reported, not judged; each of ``controls`` is decided by the same rule and recorded with
    whether it reads as built. ``replicates`` is the number of independently trained
    models (or model pairs) behind the primary.
    """
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; the ledger knows {list(CLAIMS)}")
    rows = rule.judge_strata(strata)
    reported = {name: as_estimate(v) for name, v in (measurements or {}).items()}
    reported[rule.primary] = pooled
    control_rows = [c.row(rule) for c in controls]
    claim = Claim(
        id=claim_id, paper=CLAIMS[claim_id]["paper"], statement=statement,
        measurements={k: e.as_dict() for k, e in reported.items()}, rule=str(rule),
        verdict=TOO_FEW if rows and all(r["verdict"] == TOO_FEW for r in rows) else rule.judge(pooled),
        figures=[Path(f).name for f in figures], notebook=notebook,
        parameters=to_jsonable(dict(parameters)), profile=str(parameters.get("profile", "quick")),
        notes=notes, provenance=provenance(), recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        primary=rule.primary, null=rule.null, margin=rule.margin, strata=to_jsonable(rows),
        replicates=int(replicates), rule_changes=list(rule.changes), variant=outputs.describe() or {},
        rule_hash=rule.fingerprint(), null_value=rule.null_value, band=rule.band, ideal=rule.ideal,
        margin_reason=rule.margin_reason, scale=rule.scale, controls=to_jsonable(control_rows),
        margin_curve=to_jsonable(margin_curve(pooled, rule)),
        sentence=plain_sentence(claim_id, rule, pooled, rows, control_rows), op=rule.op)
    write_json(claim.as_dict(), ledger_dir() / f"{claim_id}.json")
    return claim


def record(claim_id: str, *, statement: str, measurements: Mapping[str, Estimate | Mapping | float],
           conditions: list[Condition], figures: list[str], notebook: str,
           parameters: Mapping[str, Any], notes: str = "") -> Claim:
    """Decide a claim's verdict from its measurements and write it to the ledger."""
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; the ledger knows {list(CLAIMS)}")
    estimates = {name: as_estimate(v) for name, v in measurements.items()}
    verdict = decide(conditions, estimates)
    claim = Claim(
        id=claim_id, paper=CLAIMS[claim_id]["paper"], statement=statement,
        measurements={k: e.as_dict() for k, e in estimates.items()},
        rule=" and ".join(f"({c})" for c in conditions) + " on the 95% intervals",
        verdict=verdict, figures=[Path(f).name for f in figures], notebook=notebook,
        parameters=to_jsonable(dict(parameters)), profile=str(parameters.get("profile", "quick")),
        notes=notes, provenance=provenance(), recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        variant=outputs.describe() or {})
    write_json(claim.as_dict(), ledger_dir() / f"{claim_id}.json")
    return claim


def ledger_dir() -> Path:
    """``results/claims``."""
    return results_dir("claims")


def load_all(directory: Path | None = None) -> dict[str, Claim | None]:
    """Every known claim's entry (from ``directory``, default this run's ledger), ``None`` where
    none was recorded or it cannot be read."""
    directory = ledger_dir() if directory is None else Path(directory)
    out: dict[str, Claim | None] = {}
    for claim_id in CLAIMS:
        path = directory / f"{claim_id}.json"
        try:
            entry = Claim(**json.loads(path.read_text()))
            out[claim_id] = entry if entry.verdict in (*VERDICTS, *OLD_VERDICTS, TOO_FEW) else None
        except (OSError, ValueError, TypeError):
            out[claim_id] = None
    return out
