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

import hashlib
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

SUPPORTED, WEAKER, NO_EFFECT, INCONCLUSIVE = "supported", "weaker than claimed", "no effect", "inconclusive"
NOT_SUPPORTED = "not supported"  # the older three-word scale (Condition, record); rules use the four words
VERDICTS = (SUPPORTED, WEAKER, NO_EFFECT, INCONCLUSIVE)
OLD_VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
POSITIVE, NEGATIVE = "positive", "negative"
# What a control must read under its claim's rule to be read as built.
EXPECTED = {POSITIVE: (SUPPORTED,), NEGATIVE: (NO_EFFECT,)}

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


@dataclass(frozen=True)
class Condition:
    """``measurement op threshold`` that the claim needs, e.g. ``Condition("share_mid", ">", 0.5)``."""

    measurement: str
    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in (">", "<"):
            raise ValueError(f"op must be '>' or '<', got {self.op!r}")

    def __str__(self) -> str:
        return f"{self.measurement} {self.op} {self.threshold:g}"

    def judge(self, estimate: Estimate | None) -> str:
        """Verdict of this one condition from an interval."""
        if estimate is None or any(math.isnan(v) for v in (estimate.value, estimate.low, estimate.high)):
            return INCONCLUSIVE
        lo, hi = estimate.low, estimate.high
        if self.op == ">":
            return SUPPORTED if lo > self.threshold else NOT_SUPPORTED if hi < self.threshold else INCONCLUSIVE
        return SUPPORTED if hi < self.threshold else NOT_SUPPORTED if lo > self.threshold else INCONCLUSIVE


def decide(conditions: list[Condition], measurements: Mapping[str, Estimate]) -> str:
    """Combine the conditions' verdicts: all supported, any refuted, else inconclusive."""
    if not conditions:
        raise ValueError("a claim needs at least one condition to decide its verdict")
    missing = [c.measurement for c in conditions if c.measurement not in measurements]
    if missing:
        raise KeyError(f"conditions name measurements that were not given: {missing}")
    verdicts = [c.judge(measurements[c.measurement]) for c in conditions]
    if NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


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


def judge_interval(estimate: Estimate | None, *, op: str, null_value: float, band: float, margin: float) -> str:
    """The four-word verdict of one 95% interval against the null (with its band) and the margin."""
    if estimate is None or any(v is None or math.isnan(v) for v in (estimate.value, estimate.low, estimate.high)):
        return INCONCLUSIVE
    d = 1.0 if op == ">" else -1.0  # work in the claim's direction: larger is more of the effect
    lo, hi = sorted((d * estimate.low, d * estimate.high))
    null, beyond = d * null_value, d * margin
    if lo > beyond:
        return SUPPORTED
    if hi < null + band:
        return NO_EFFECT
    if lo > null and hi < beyond:
        return WEAKER
    return INCONCLUSIVE


@dataclass(frozen=True)
class Rule:
    """A claim's registered decision rule, declared beside its experiment before any run.

    One primary statistic, on a scale where ``null_value`` is the null (usually 0) and, where the
    claim has one, ``ideal`` its ideal (usually 1); the null in one sentence; the direction
    ``op`` and the ``margin`` the whole 95% interval must clear, with ``margin_reason`` (a
    fraction of the way from the null to the ideal, or of what replicate networks reach, never a
    value read off results); the equivalence ``band`` around the null within which an interval
    reads "no effect"; ``scale`` says what the primary's 0 and 1 are; the strata it is decided in
    before pooling. ``changes`` lists every change made after results were seen, each dated.
    :meth:`fingerprint` hashes what decides a verdict; ``rules.lock.json`` holds each claim's
    (``python -m halfway_utils.evidence.rules --write``), so a changed rule is seen.
    """

    primary: str
    op: str
    margin: float
    null: str
    strata: tuple[str, ...] = ("dataset", "arch")
    changes: tuple[str, ...] = ()
    null_value: float = 0.0
    band: float = 0.0
    ideal: float | None = None
    margin_reason: str = ""
    scale: str = ""

    def __post_init__(self) -> None:
        Condition(self.primary, self.op, self.margin)  # validates op
        if self.band < 0:
            raise ValueError(f"{self.primary}: band must be >= 0, got {self.band}")
        d = 1.0 if self.op == ">" else -1.0
        if d * (self.margin - self.null_value) < self.band:
            raise ValueError(f"{self.primary}: the margin {self.margin:g} must lie beyond the null "
                             f"{self.null_value:g} and its band {self.band:g} on the claim's side ({self.op})")

    def decision_content(self) -> dict[str, Any]:
        """What decides a verdict: primary, op, margin and its reason, null and its value and band, ideal, strata
        (not ``changes``, which documents the rule; the interval comes from the notebook's estimate)."""
        return {"primary": self.primary, "op": self.op, "margin": float(self.margin), "null": self.null,
                "strata": list(self.strata), "null_value": float(self.null_value), "band": float(self.band),
                "ideal": None if self.ideal is None else float(self.ideal), "margin_reason": self.margin_reason,
                "scale": self.scale}

    def fingerprint(self) -> str:
        """16 hex digits of sha256 over :meth:`decision_content` as key-sorted JSON, the same in every run."""
        text = json.dumps(self.decision_content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def judge(self, estimate: Estimate | None) -> str:
        """The four-word verdict of ``estimate`` (the primary's 95% interval) under this rule."""
        return judge_interval(estimate, op=self.op, null_value=self.null_value, band=self.band, margin=self.margin)

    @property
    def condition(self) -> Condition:
        """The rule's margin as an older three-word condition on the primary's interval."""
        return Condition(self.primary, self.op, self.margin)

    def __str__(self) -> str:
        reason = f" ({self.margin_reason})" if self.margin_reason else ""
        band = f" ± {self.band:g}" if self.band else ""
        return (f"{self.primary} {self.op} {self.margin:g}{reason} on the whole 95% interval; null "
                f"{self.null_value:g}{band}; per ({', '.join(self.strata)}) stratum and pooled")


@dataclass(frozen=True)
class Control:
    """A real system built to have (``positive``) or lack (``negative``) a claim's property, measured by the
    claim's own code; ``estimate`` is its primary, decided by the claim's rule like the zoo's."""

    name: str
    kind: str
    estimate: Estimate
    built: str = ""  # how the system is built to have or lack the property, one sentence

    def __post_init__(self) -> None:
        if self.kind not in EXPECTED:
            raise ValueError(f"a control's kind is {POSITIVE!r} or {NEGATIVE!r}, got {self.kind!r}")

    def row(self, rule: Rule) -> dict[str, Any]:
        """The ledger's row: the control's interval, its verdict under ``rule`` and whether that is as built."""
        verdict = rule.judge(self.estimate)
        return {"name": self.name, "kind": self.kind, "built": self.built, "value": self.estimate.value,
                "low": self.estimate.low, "high": self.estimate.high, "n": self.estimate.n,
                "method": self.estimate.method, "verdict": verdict, "expected": list(EXPECTED[self.kind]),
                "as_built": verdict in EXPECTED[self.kind]}


def control_problems(controls: Sequence[Mapping[str, Any]]) -> list[str]:
    """One sentence per control that reads against how it was built, and when a kind is missing."""
    out = [f"{c['kind']} control {c['name']!r} reads {c['verdict']!r}, not {' or '.join(c['expected'])}"
           for c in controls if not c.get("as_built")]
    kinds = {c["kind"] for c in controls}
    out += [f"no {kind} control" for kind in EXPECTED if kind not in kinds]
    return out


def margin_curve(estimate: Estimate | Mapping[str, Any] | None, rule: Rule) -> list[dict[str, Any]]:
    """The verdict as a function of the margin, from the interval's bounds: segments ``{from, to, verdict}``
    of margins on the claim's side of the null's band (``to`` may be infinite), in the primary's units."""
    est = _as_estimate(estimate) if estimate is not None else None
    if est is None or any(math.isnan(v) for v in (est.low, est.high)):
        return [{"from": rule.null_value, "to": math.inf if rule.op == ">" else -math.inf, "verdict": INCONCLUSIVE}]
    d = 1.0 if rule.op == ">" else -1.0
    start = d * rule.null_value + rule.band
    cuts = sorted({start, *[c for c in (d * est.low, d * est.high) if c > start]})
    edges = [*cuts, math.inf]
    out: list[dict[str, Any]] = []
    for a, b in zip(edges[:-1], edges[1:]):
        probe = a + 1.0 if math.isinf(b) else (a + b) / 2
        verdict = judge_interval(est, op=rule.op, null_value=rule.null_value, band=rule.band, margin=d * probe)
        if out and out[-1]["verdict"] == verdict:
            out[-1]["to"] = d * b
        else:
            out.append({"from": d * a, "to": d * b, "verdict": verdict})
    return out


def margin_curve_text(curve: Sequence[Mapping[str, Any]]) -> str:
    """``supported for a margin from 0.1 to 0.41; inconclusive from 0.41 to 0.62; weaker than claimed past 0.62``
    (margins counted from the edge of the null's band outward, in the primary's units)."""
    parts = []
    for k, seg in enumerate(curve):
        a, b = _num(seg["from"]), _num(seg["to"])
        where = f"past {a:.3g}" if math.isinf(b) else f"from {a:.3g} to {b:.3g}"
        parts.append(f"{seg['verdict']} {'for a margin ' if k == 0 else ''}{where}")
    return "; ".join(parts)


def _num(v: Any) -> float:
    return float(v) if v is not None else float("nan")


def by_stratum(strata: Sequence[Mapping[str, Any]]) -> str:
    """``supported for a, b; not supported for c``: which strata give which verdict."""
    groups: dict[str, list[str]] = {}
    for row in strata:
        groups.setdefault(row["verdict"], []).append(str(row["stratum"]))
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
    rows = [{"stratum": name, "verdict": rule.judge(est), "value": est.value, "low": est.low,
             "high": est.high, "n": est.n} for name, est in strata.items()]
    reported = {name: _as_estimate(v) for name, v in (measurements or {}).items()}
    reported[rule.primary] = pooled
    control_rows = [c.row(rule) for c in controls]
    claim = Claim(
        id=claim_id, paper=CLAIMS[claim_id]["paper"], statement=statement,
        measurements={k: e.as_dict() for k, e in reported.items()}, rule=str(rule),
        verdict=rule.judge(pooled), figures=[Path(f).name for f in figures], notebook=notebook,
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


def _as_estimate(value: Estimate | Mapping[str, Any] | float) -> Estimate:
    if isinstance(value, Estimate):
        return value
    if isinstance(value, Mapping):
        return Estimate(_num(value.get("value")), _num(value.get("low")), _num(value.get("high")),
                        int(value.get("n") or 0), str(value.get("method", "")))
    return Estimate(float(value), float("nan"), float("nan"), 1, "point value (no interval)")


def record(claim_id: str, *, statement: str, measurements: Mapping[str, Estimate | Mapping | float],
           conditions: list[Condition], figures: list[str], notebook: str,
           parameters: Mapping[str, Any], notes: str = "") -> Claim:
    """Decide a claim's verdict from its measurements and write it to the ledger."""
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; the ledger knows {list(CLAIMS)}")
    estimates = {name: _as_estimate(v) for name, v in measurements.items()}
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
            out[claim_id] = entry if entry.verdict in VERDICTS + OLD_VERDICTS else None
        except (OSError, ValueError, TypeError):
            out[claim_id] = None
    return out
