"""How a verdict is decided: the verdict words, a claim's registered :class:`Rule`, its controls and margin curve.

:meth:`Rule.judge` reads the four-word verdict off the primary's interval against two references, the
null (``null_value`` with its equivalence ``band``) and the ``margin``; :meth:`Rule.judge_strata` decides
the strata as one family (Bonferroni, :func:`family_level`) and marks a stratum below ``min_models``
models :data:`TOO_FEW`. :class:`Control` is a system built to have (or lack) the property, decided by
the same rule. :mod:`.claims` writes the decisions to the ledger and re-exports these names.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .intervals import LEVEL, T_METHOD, Estimate, at_level

SUPPORTED, WEAKER, NO_EFFECT, INCONCLUSIVE = "supported", "weaker than claimed", "no effect", "inconclusive"
NOT_SUPPORTED = "not supported"  # the older three-word scale (Condition, record); rules use the four words
VERDICTS = (SUPPORTED, WEAKER, NO_EFFECT, INCONCLUSIVE)
OLD_VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
TOO_FEW = "too few models"  # a stratum below MIN_MODELS fitted models: shown with its count, never judged
MIN_MODELS = 3
# The family of a claim: its per-stratum decisions, Bonferroni-corrected (each stratum's t interval at
# 1 - 0.05 / k for k judged strata); the pooled verdict has its own 95% level. Bonferroni rather than
# Holm: the decision is read off an interval, and Holm's step-down has no interval that reads the same.
FAMILY = "Bonferroni over the claim's judged strata; pooled at 95%"
# The part of every rule's issue-21 ``changes`` entry that is the same for all claims; each rule adds its own.
INTERVALS_CHANGE = ("2026-12-04: intervals are t intervals from a bootstrap standard error (df = models - 1, the SE "
                    "scaled by M/(M-1)), because the percentile bootstrap covered about 84% at five models "
                    "(tests/test_coverage.py); the strata form a Bonferroni family (each stratum's interval at 1 - "
                    "0.05/k), the pooled verdict keeps 95%; a stratum below 3 fitted models reads 'too few models'; "
                    "the family, the interval method and the minimum are now part of the rule's hash; ")
POSITIVE, NEGATIVE = "positive", "negative"
# What a control must read under its claim's rule to be read as built.
EXPECTED = {POSITIVE: (SUPPORTED,), NEGATIVE: (NO_EFFECT,)}


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


def family_level(k: int, level: float = LEVEL) -> float:
    """The Bonferroni level of each of ``k`` decisions that together keep ``level`` (``level`` for k <= 1)."""
    return 1 - (1 - level) / max(k, 1)


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
    family: str = FAMILY
    interval: str = T_METHOD
    min_models: int = MIN_MODELS

    def __post_init__(self) -> None:
        Condition(self.primary, self.op, self.margin)  # validates op
        if self.band < 0:
            raise ValueError(f"{self.primary}: band must be >= 0, got {self.band}")
        d = 1.0 if self.op == ">" else -1.0
        if d * (self.margin - self.null_value) < self.band:
            raise ValueError(f"{self.primary}: the margin {self.margin:g} must lie beyond the null "
                             f"{self.null_value:g} and its band {self.band:g} on the claim's side ({self.op})")

    def decision_content(self) -> dict[str, Any]:
        """What decides a verdict: primary, op, margin and its reason, null and its value and band, ideal, strata,
        the family, the interval method and the fewest models a stratum needs (not ``changes``, which documents
        the rule)."""
        return {"primary": self.primary, "op": self.op, "margin": float(self.margin), "null": self.null,
                "strata": list(self.strata), "null_value": float(self.null_value), "band": float(self.band),
                "ideal": None if self.ideal is None else float(self.ideal), "margin_reason": self.margin_reason,
                "scale": self.scale, "family": self.family, "interval": self.interval,
                "min_models": int(self.min_models)}

    def fingerprint(self) -> str:
        """16 hex digits of sha256 over :meth:`decision_content` as key-sorted JSON, the same in every run."""
        text = json.dumps(self.decision_content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def judge(self, estimate: Estimate | None) -> str:
        """The four-word verdict of ``estimate`` (the primary's interval) under this rule, or
        :data:`TOO_FEW` below ``min_models`` models."""
        if estimate is not None and 0 < estimate.n < self.min_models:
            return TOO_FEW
        return judge_interval(estimate, op=self.op, null_value=self.null_value, band=self.band, margin=self.margin)

    def judge_strata(self, strata: Mapping[str, Estimate]) -> list[dict[str, Any]]:
        """One row per stratum: its verdict read off its interval at the family's level (Bonferroni over the
        strata with at least ``min_models`` models), the interval at that level and the 95% one."""
        judged = [k for k, e in strata.items() if e.n >= self.min_models]
        level = family_level(len(judged))
        rows = []
        for name, est in strata.items():
            wide = at_level(est, level) if name in judged else est
            rows.append({"stratum": name, "verdict": self.judge(wide), "value": est.value, "low": wide.low,
                         "high": wide.high, "n": est.n, "level": wide.level if name in judged else None,
                         "family_level": level if name in judged else None, "low95": est.low, "high95": est.high})
        return rows

    @property
    def condition(self) -> Condition:
        """The rule's margin as an older three-word condition on the primary's interval."""
        return Condition(self.primary, self.op, self.margin)

    def __str__(self) -> str:
        reason = f" ({self.margin_reason})" if self.margin_reason else ""
        band = f" ± {self.band:g}" if self.band else ""
        return (f"{self.primary} {self.op} {self.margin:g}{reason} on the whole interval ({self.interval}); null "
                f"{self.null_value:g}{band}; per ({', '.join(self.strata)}) stratum (family: {self.family}; "
                f"at least {self.min_models} models) and pooled")


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
    est = as_estimate(estimate) if estimate is not None else None
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


def as_estimate(value: Estimate | Mapping[str, Any] | float) -> Estimate:
    """An Estimate from itself, a stored measurement (JSON null bounds read NaN) or a bare number."""
    if isinstance(value, Estimate):
        return value
    if isinstance(value, Mapping):
        return Estimate(_num(value.get("value")), _num(value.get("low")), _num(value.get("high")),
                        int(value.get("n") or 0), str(value.get("method", "")), _num(value.get("se")),
                        _num(value.get("df")), _num(value.get("level", LEVEL)))
    return Estimate(float(value), float("nan"), float("nan"), 1, "point value (no interval)")
