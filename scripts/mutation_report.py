"""The last mutation run's score per module and every survivor with its changed line, from mutmut's results.

Reads ``mutants/`` (what ``scripts/mutation.sh`` leaves) and ``tests/mutation_equivalents.txt`` (survivors
argued equivalent: ``<mutant name> | <one-line reason>`` per line, or ``pattern: <regex> | <reason>`` for a
class of changes that cannot alter behaviour, matched against the mutant's ``old -> new`` line; and
``killed: <mutant name> | <test>`` for a survivor a test written after the run kills, which the score does
not count until the next run re-scores it), and writes
``docs/mutation.md``, the committed record of the last run that CONTRIBUTING cites:

    python scripts/mutation_report.py            # print the table
    python scripts/mutation_report.py --write    # and write docs/mutation.md
    scripts/mutation.sh $(python scripts/mutation_report.py --sample 0.2)   # check a random fifth of the rest

Where only part of the mutants is checked (a random sample of each module, ``--sample``), the score is an
estimate: its 95% Wilson interval is shown beside it.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import json
import math
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.txt"
RECORD = ROOT / "docs" / "mutation.md"
# mutmut's exit codes (mutmut/stats.py): 1 and 3 kill, 0 survives, None was not run; the rest as named.
KILLED, SURVIVED = {1, 3}, {0}
TIMEOUT = {-24, 24, 152, 255, 36}


def results(mutants: Path) -> dict[str, dict[str, int | None]]:
    """Module path -> {mutant name: exit code} from mutmut's ``.meta`` files."""
    return {str(p.relative_to(mutants))[:-len(".meta")]: json.loads(p.read_text())["exit_code_by_key"]
            for p in sorted(mutants.rglob("*.py.meta"))}


def _functions(source: str) -> dict[str, str]:
    """Every (method-level too) function of a mutated module by name, as source text."""
    lines = source.splitlines()
    return {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno]) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name}


def changed_line(functions: dict[str, str], name: str) -> str:
    """The mutant's first changed line as ```old` -> `new```."""
    func = name.rsplit(".", 1)[-1]
    orig_name = re.sub(r"__mutmut_\d+$", "__mutmut_orig", func)
    orig = functions.get(orig_name, "").replace(orig_name, "f").splitlines()  # the def line compared too
    new = functions.get(func, "").replace(func, "f").splitlines()
    diff = list(difflib.ndiff(orig, new))
    minus = [ln.strip() for ln in diff if ln.startswith("- ")]
    plus = [ln.strip() for ln in diff if ln.startswith("+ ")]
    return f"`{minus[0][2:].strip() if minus else ''}` -> `{plus[0][2:].strip() if plus else ''}`"


def equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Mutant name -> the one-line reason it is equivalent (blank lines and ``#`` comments skipped)."""
    if not path.is_file():
        return {}
    pairs = [ln.split("|", 1) for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {name.strip(): reason.strip() for name, reason in pairs}


def argued_reason(argued: dict[str, str], name: str, line: str) -> str | None:
    """Why a survivor is equivalent: its own entry, else the first ``pattern:`` entry its changed line matches."""
    if f"killed: {name}" in argued:
        return None
    if name in argued:
        return argued[name]
    return next((reason for key, reason in argued.items()
                 if key.startswith("pattern:") and re.search(key.removeprefix("pattern:").strip(), line)), None)


def report(mutants: Path, argued: dict[str, str]) -> str:
    """The markdown record: a score per module, the total, and every survivor with its line and status."""
    lines = ["| module | mutants | checked | killed | timed out | survived | argued equivalent | score |",
             "|---|---|---|---|---|---|---|---|"]
    total: Counter[str] = Counter()
    survivors: dict[str, list[str]] = defaultdict(list)
    for module, codes in results(mutants).items():
        c = Counter("killed" if v in KILLED else "survived" if v in SURVIVED else "timeout" if v in TIMEOUT
                    else "unchecked" if v is None else "other" for v in codes.values())
        alive = [k for k, v in codes.items() if v in SURVIVED]
        functions = _functions((mutants / module).read_text()) if alive else {}
        changes = {k: changed_line(functions, k) for k in alive}
        reasons = {k: argued_reason(argued, k, changes[k]) for k in alive}
        c["equivalent"] = sum(r is not None for r in reasons.values())
        c["mutants"] = len(codes)
        total.update(c)
        lines.append(_row(module.removeprefix("halfway_utils/").removesuffix(".py"), c))
        if alive:
            survivors[module] = [f"- `{k.rsplit('.', 1)[-1]}`: {changes[k]} — " + _status(argued, k, reasons[k])
                                 for k in alive]
    lines.append(_row("**all**", total))
    text = ["# Mutation testing: the last run", "",
            "Written by `python scripts/mutation_report.py --write` from `scripts/mutation.sh`'s results. Score = "
            "(killed + timed out + argued equivalent) / checked; where a module's mutants were only partly checked "
            "(a seeded random sample of each module), the score is an estimate with its 95% Wilson interval.",
            "", *lines, ""]
    for module, rows in survivors.items():
        text += [f"## Survivors in `{module}`", "", *rows, ""]
    return "\n".join(text)


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson interval of a proportion ``hits / n`` (NaN, NaN when n is 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def _status(argued: dict[str, str], name: str, reason: str | None) -> str:
    """A survivor's status: equivalent (why), killed by a test written after the run (which), or open."""
    if reason:
        return f"equivalent: {reason}"
    test = argued.get(f"killed: {name}")
    return f"killed by `{test}` (written after the run; re-scored by the next run)" if test else "open"


def _row(label: str, c: Counter[str]) -> str:
    checked = c["killed"] + c["survived"] + c["timeout"] + c["other"]
    hits = c["killed"] + c["timeout"] + c["equivalent"]
    score = f"{hits / checked:.1%}" if checked else "–"
    if 0 < checked < c["mutants"]:
        low, high = wilson(hits, checked)
        score += f" [{low:.1%}, {high:.1%}]"
    return (f"| {label} | {c['mutants']} | {checked} | {c['killed']} | {c['timeout']} | {c['survived']} | "
            f"{c['equivalent']} | {score} |")


def sample(mutants: Path, fraction: float, seed: int = 0) -> list[str]:
    """A seeded random ``fraction`` of each module's unchecked mutants (at least one per module that has any)."""
    rng = random.Random(seed)
    names: list[str] = []
    for codes in results(mutants).values():
        todo = sorted(k for k, v in codes.items() if v is None)
        names += rng.sample(todo, min(len(todo), max(1, round(fraction * len(todo))))) if todo else []
    return names


def main(argv: list[str] | None = None) -> int:
    """Print (and with ``--write`` record) the last run's report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's folder (default: mutants/)")
    parser.add_argument("--write", action="store_true", help=f"also write {RECORD.relative_to(ROOT)}")
    parser.add_argument("--sample", type=float, metavar="FRACTION",
                        help="print a seeded random FRACTION of each module's unchecked mutant names and stop")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default: 0)")
    args = parser.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"no mutation results in {args.mutants}: run scripts/mutation.sh first", file=sys.stderr)
        return 2
    if args.sample is not None:
        if not 0 < args.sample <= 1:
            parser.error("--sample takes a fraction in (0, 1]")
        print("\n".join(sample(args.mutants, args.sample, args.seed)))
        return 0
    text = report(args.mutants, equivalents())
    print(text.split("\n## ", 1)[0])
    if args.write:
        RECORD.parent.mkdir(exist_ok=True)
        RECORD.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
