"""The claims ledger: each tested claim, its measurement, its rule and its verdict.

A notebook calls :func:`record` once per claim. The verdict is never typed in: it is
computed by :func:`decide` from the measured intervals and the stated conditions.
Each condition compares one measurement's interval with a threshold:

- ``supported`` when every condition's whole interval lies on the claim's side,
- ``not supported`` when some condition's whole interval lies on the other side,
- ``inconclusive`` otherwise (an interval straddles a threshold, or a value is missing).

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

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)

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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """The verdict, its rule and every measurement with its interval, one per line."""
        lines = [f"{self.id} verdict: {self.verdict}   rule: {self.rule}"]
        if self.strata:
            lines += [f"  null: {self.null}", f"  by stratum: {by_stratum(self.strata)}"]
            lines += [f"    {row['stratum']:30s} {_interval(row)}  {row['verdict']}" for row in self.strata]
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


@dataclass(frozen=True)
class Rule:
    """A claim's registered decision rule, declared beside its experiment before any run.

    One primary statistic (a measurement, usually an effect against a null), the null it
    is compared with (one sentence), the direction and margin it must clear on its whole
    95% interval, and the strata it is decided in before pooling. ``changes`` lists every
    change made after results were seen: what changed and why (the report shows them).
    :meth:`fingerprint` hashes what decides a verdict; ``rules.lock.json`` holds each claim's
    (``python -m halfway_utils.evidence.rules --write``), so a changed rule is seen.
    """

    primary: str
    op: str
    margin: float
    null: str
    strata: tuple[str, ...] = ("dataset", "arch")
    changes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        Condition(self.primary, self.op, self.margin)  # validates op

    def decision_content(self) -> dict[str, Any]:
        """What decides a verdict: primary, op, margin, null and strata (not ``changes``, which documents the
        rule; the Rule has no interval-method field, the interval comes from the notebook's estimate)."""
        return {"primary": self.primary, "op": self.op, "margin": float(self.margin), "null": self.null,
                "strata": list(self.strata)}

    def fingerprint(self) -> str:
        """16 hex digits of sha256 over :meth:`decision_content` as key-sorted JSON, the same in every run."""
        text = json.dumps(self.decision_content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def condition(self) -> Condition:
        """The rule as a condition on the primary's interval."""
        return Condition(self.primary, self.op, self.margin)

    def __str__(self) -> str:
        return (f"{self.primary} {self.op} {self.margin:g} on the whole 95% interval, "
                f"per ({', '.join(self.strata)}) stratum and pooled")


def by_stratum(strata: Sequence[Mapping[str, Any]]) -> str:
    """``supported for a, b; not supported for c``: which strata give which verdict."""
    groups: dict[str, list[str]] = {}
    for row in strata:
        groups.setdefault(row["verdict"], []).append(str(row["stratum"]))
    return "; ".join(f"{v} for {', '.join(names)}" for v in VERDICTS for names in [groups.get(v)] if names)


def record_rule(claim_id: str, rule: Rule, *, statement: str, pooled: Estimate,
                strata: Mapping[str, Estimate], measurements: Mapping[str, Estimate | Mapping | float] | None = None,
                replicates: int, figures: list[str], notebook: str, parameters: Mapping[str, Any],
                notes: str = "") -> Claim:
    """Decide a claim by its registered rule, per stratum and pooled, and write it to the ledger.

    ``pooled`` and each of ``strata`` are estimates of ``rule.primary``; ``measurements``
    are reported, not judged. ``replicates`` is the number of independently trained
    models (or model pairs) behind the primary.
    """
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim {claim_id!r}; the ledger knows {list(CLAIMS)}")
    condition = rule.condition
    rows = [{"stratum": name, "verdict": condition.judge(est), "value": est.value, "low": est.low,
             "high": est.high, "n": est.n} for name, est in strata.items()]
    reported = {name: _as_estimate(v) for name, v in (measurements or {}).items()}
    reported[rule.primary] = pooled
    claim = Claim(
        id=claim_id, paper=CLAIMS[claim_id]["paper"], statement=statement,
        measurements={k: e.as_dict() for k, e in reported.items()}, rule=str(rule),
        verdict=condition.judge(pooled), figures=[Path(f).name for f in figures], notebook=notebook,
        parameters=to_jsonable(dict(parameters)), profile=str(parameters.get("profile", "quick")),
        notes=notes, provenance=provenance(), recorded_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        primary=rule.primary, null=rule.null, margin=rule.margin, strata=to_jsonable(rows),
        replicates=int(replicates), rule_changes=list(rule.changes), variant=outputs.describe() or {},
        rule_hash=rule.fingerprint())
    write_json(claim.as_dict(), ledger_dir() / f"{claim_id}.json")
    return claim


def _as_estimate(value: Estimate | Mapping[str, Any] | float) -> Estimate:
    if isinstance(value, Estimate):
        return value
    if isinstance(value, Mapping):
        return Estimate(float(value["value"]), float(value["low"]), float(value["high"]),
                        int(value.get("n", 0)), str(value.get("method", "")))
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
            out[claim_id] = entry if entry.verdict in VERDICTS else None
        except (OSError, ValueError, TypeError):
            out[claim_id] = None
    return out
