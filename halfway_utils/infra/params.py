"""Validating a notebook's parameters, with one clear message for every bad value.

A notebook's parameters cell is followed by::

    P = params.validate(locals(), SPEC)

where ``SPEC`` maps each parameter to a rule such as ``one_of("mnist", "fashion_mnist")``,
``integer(1, 60000)`` or ``list_of(integer(0))``. Papermill injects values as they
come from YAML or the command line, so the checks are strict about types.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROFILES = ("quick", "full", "paper")  # quick: the notebooks' own defaults; others: notebooks/params/<profile>/

Check = Callable[[Any], "str | None"]  # returns an error message, or None if the value is fine


class ParameterError(ValueError):
    """One or more notebook parameters are invalid."""


@dataclass(frozen=True)
class Rule:
    """A named check on one parameter value."""

    describe: str
    check: Check


def integer(low: int | None = None, high: int | None = None, *, none: bool = False) -> Rule:
    """An int (not a bool) in [low, high]; ``none=True`` also accepts None."""
    def check(v: Any) -> str | None:
        if v is None and none:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            return f"must be an integer, got {type(v).__name__} {v!r}"
        if (low is not None and v < low) or (high is not None and v > high):
            return f"must be in [{low}, {high}], got {v}"
        return None
    return Rule(f"integer in [{low}, {high}]" + (" or None" if none else ""), check)


def number(low: float | None = None, high: float | None = None) -> Rule:
    """An int or float in [low, high]."""
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"must be a number, got {type(v).__name__} {v!r}"
        if (low is not None and v < low) or (high is not None and v > high):
            return f"must be in [{low}, {high}], got {v}"
        return None
    return Rule(f"number in [{low}, {high}]", check)


def one_of(*options: Any) -> Rule:
    """One of the given values."""
    def check(v: Any) -> str | None:
        return None if v in options else f"must be one of {list(options)}, got {v!r}"
    return Rule(f"one of {list(options)}", check)


def boolean() -> Rule:
    """True or False."""
    return Rule("bool", lambda v: None if isinstance(v, bool) else f"must be True or False, got {v!r}")


def list_of(item: Rule, *, min_len: int = 1) -> Rule:
    """A non-empty list (or tuple) whose items each pass ``item``."""
    def check(v: Any) -> str | None:
        if not isinstance(v, (list, tuple)):
            return f"must be a list, got {type(v).__name__} {v!r}"
        if len(v) < min_len:
            return f"must hold at least {min_len} item(s)"
        for i, x in enumerate(v):
            err = item.check(x)
            if err:
                return f"item {i} {err}"
        return None
    return Rule(f"list of {item.describe}", check)


def validate(values: Mapping[str, Any], spec: Mapping[str, Rule]) -> dict[str, Any]:
    """Check every parameter in ``spec``; raise one ParameterError listing all problems."""
    problems = []
    for name, rule in spec.items():
        if name not in values:
            problems.append(f"  {name}: missing (expected {rule.describe})")
            continue
        err = rule.check(values[name])
        if err:
            problems.append(f"  {name}: {err}")
    if problems:
        raise ParameterError("invalid notebook parameters:\n" + "\n".join(problems))
    return {name: values[name] for name in spec}


def profile() -> Rule:
    """One of the known profiles."""
    return one_of(*PROFILES)
