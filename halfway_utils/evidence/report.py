"""The claims report: one table of every claim, its reading, measurement, rule and verdict.

A claim with no ledger entry is shown as ``missing``, never as supported.
:func:`write_report` writes ``figures/claims.md``; :func:`update_readme` rewrites the
block between ``<!-- claims:start -->`` and ``<!-- claims:end -->`` in the README.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..infra import outputs
from ..infra.paths import REPO_ROOT, figures_dir, output_root
from ..infra.store import atomic_write
from . import rules
from .claims import (
    CLAIMS,
    MIN_MODELS,
    PAPERS,
    TOO_FEW,
    Claim,
    Rule,
    by_stratum,
    control_problems,
    load_all,
    margin_curve,
    margin_curve_text,
)

MISSING = "missing"
FAMILY_LINE = (f"**Multiplicity:** each claim's strata are one family: a stratum is decided on its interval at "
               f"1 - 0.05/k for the claim's k judged strata (Bonferroni); the pooled verdict on its own 95% interval. "
               f"Intervals are t intervals from bootstrap standard errors with models as the unit (df = models - 1); "
               f"a stratum with fewer than {MIN_MODELS} fitted models reads *{TOO_FEW}* with its count and is not "
               f"judged.")
START, END = "<!-- claims:start -->", "<!-- claims:end -->"


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.3g}" if isinstance(x, (int, float)) else str(x)


def format_measurements(measurements: dict[str, dict[str, Any]]) -> str:
    """``name = value [low, high]`` for each measurement, joined by semicolons."""
    parts = []
    for name, m in measurements.items():
        interval = "" if m.get("low") is None or _fmt(m.get("low")) == "nan" \
            else f" [{_fmt(m['low'])}, {_fmt(m['high'])}]"
        parts.append(f"{name} = {_fmt(m.get('value'))}{interval}")
    return "; ".join(parts)


def claims_table(ledger: dict[str, Claim | None] | None = None) -> pd.DataFrame:
    """One row per known claim, in ledger order; missing entries say so."""
    ledger = load_all() if ledger is None else ledger
    rows = []
    for claim_id, meta in CLAIMS.items():
        entry = ledger.get(claim_id)
        base = {"id": claim_id, "paper": PAPERS[meta["paper"]], "title": meta["title"]}
        if entry is None:
            rows.append({**base, "reading": "", "measurement": "", "rule": "", "verdict": MISSING,
                         "figures": "", "notebook": meta["notebook"], "profile": "", "primary": "",
                         "null": "", "effect": "", "by_stratum": "", "strata": [], "replicates": 0,
                         "rule_changes": [], "margin": float("nan"), "pooled": {}, "sizes": "",
                         "rule_hash": "", "references": "", "margin_reason": "", "scale": "", "controls": [],
                         "controls_text": "", "control_problems": [], "sentence": "", "curve": "",
                         "null_value": float("nan"), "band": float("nan"), "stored_rule": None})
            continue
        primary = entry.measurements.get(entry.primary) if entry.primary else None
        rows.append({**base, "reading": entry.statement,
                     "measurement": format_measurements(entry.measurements), "rule": entry.rule,
                     "verdict": entry.verdict, "figures": ", ".join(entry.figures),
                     "notebook": entry.notebook, "profile": entry.profile, "primary": entry.primary,
                     "null": entry.null, "effect": format_measurements({entry.primary: primary}) if primary else "",
                     "by_stratum": by_stratum(entry.strata), "strata": entry.strata,
                     "replicates": entry.replicates, "rule_changes": list(entry.rule_changes),
                     "margin": float("nan") if entry.margin is None else entry.margin,
                     "pooled": dict(primary or {}), "sizes": sizes(entry.parameters),
                     "rule_hash": entry.rule_hash, **_references(entry, primary)})
    return pd.DataFrame(rows)


def _references(entry: Claim, primary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entry's two references, controls, margin curve and plain sentence, as the table's columns."""
    rule = entry.stored_rule()
    refs = "" if rule is None else (f"null {rule.null_value:g}" + (f" ± {rule.band:g}" if rule.band else "")
                                    + f"; margin {rule.margin:g}"
                                    + (f"; ideal {rule.ideal:g}" if rule.ideal is not None else ""))
    controls = list(entry.controls or [])
    text = "; ".join(f"{c['kind']}: {c['name']} reads {c['verdict']}" + ("" if c.get("as_built") else " (NOT AS BUILT)")
                     for c in controls)
    curve = margin_curve_text(entry.margin_curve or (margin_curve(primary, rule) if rule and primary else []))
    return {"references": refs, "margin_reason": entry.margin_reason, "scale": entry.scale, "controls": controls,
            "controls_text": text, "control_problems": control_problems(controls) if rule else [],
            "sentence": entry.sentence, "curve": curve,
            "null_value": float("nan") if entry.null_value is None else float(entry.null_value),
            "band": float("nan") if entry.band is None else float(entry.band), "stored_rule": rule}


# The parameters that say how much data a claim's measurement stands on, in the order shown.
SIZE_KEYS = ("n_train", "n_test", "n_pairs", "n_inputs", "n_samples", "n_attack", "n_queries",
             "random_n_train", "width_n_train", "sweep_n_train")


def sizes(parameters: dict[str, Any]) -> str:
    """The data sizes behind a ledger entry, e.g. ``n_train=60000 (full), n_test=10000 (full), seeds 0-2``."""
    parts = []
    for key in SIZE_KEYS:
        if key in parameters:
            value = parameters[key]
            parts.append(f"{key}={'full' if value is None else value}")
    seeds = parameters.get("seeds")
    if seeds:
        parts.append(f"seeds {min(seeds)}-{max(seeds)}" if len(seeds) > 1 else f"seed {seeds[0]}")
    return ", ".join(parts)


def profile_ledgers(root: Path | None = None) -> dict[str, Path]:
    """The ledgers a report can show: this output root's (quick), and ``runs/<profile>/`` ones beside it."""
    root = output_root() if root is None else Path(root)
    found = {"quick": root / "results" / "claims"}
    for profile in ("full", "paper"):
        ledger = root / "runs" / profile / "results" / "claims"
        if ledger.is_dir() and any(ledger.glob("*.json")):
            found[profile] = ledger
    return found


def profile_tables(root: Path | None = None) -> dict[str, pd.DataFrame]:
    """One claims table per profile with a ledger (quick first)."""
    return {profile: claims_table(load_all(ledger)) for profile, ledger in profile_ledgers(root).items()}


def scale_changes(tables: dict[str, pd.DataFrame], base: str = "quick") -> list[str]:
    """One sentence per claim (or stratum) whose verdict differs between ``base`` and another profile."""
    out = []
    if base not in tables:  # e.g. a paper run's report, which has only its own ledger
        return out
    ref = tables[base].set_index("id")
    for profile, table in tables.items():
        if profile == base:
            continue
        for _, r in table.iterrows():
            before = ref.loc[r["id"]]
            if r["primary"] != before["primary"] and MISSING not in (r["verdict"], before["verdict"]):
                out.append(f"{r['id']}: not compared, {profile} measured another primary ({r['primary'] or '-'}, an "
                           f"older rule) than {base} ({before['primary'] or '-'}); rerun the {profile} profile")
                continue
            if r["verdict"] != before["verdict"] and TOO_FEW not in (r["verdict"], before["verdict"]):
                out.append(f"{r['id']}: {before['verdict']} ({base}) -> {r['verdict']} ({profile})")
            old = {s["stratum"]: s["verdict"] for s in before["strata"]}
            for stratum in r["strata"]:
                was = old.get(stratum["stratum"])
                if TOO_FEW in (was, stratum["verdict"]):  # a cost of the budget, not a finding
                    continue
                if was is not None and was != stratum["verdict"]:
                    out.append(f"{r['id']} {stratum['stratum']}: {was} ({base}) -> {stratum['verdict']} ({profile})")
    return out


def compare(claim_ids: list[str], root: Path | None = None) -> pd.DataFrame:
    """The named claims' verdict, strata, models and sizes in every profile with a ledger, and what changed.

    A notebook's last cell shows this for its own claims: the quick run beside the committed full run.
    """
    tables = profile_tables(root)
    rows = [{"claim": r["id"], "profile": profile, "verdict": r["verdict"], "primary": r["effect"],
             "by stratum": r["by_stratum"], "models": r["replicates"], "sizes": r["sizes"]}
            for profile, table in tables.items() for _, r in table.iterrows() if r["id"] in claim_ids]
    frame = pd.DataFrame(rows)
    changes = [c for c in scale_changes(tables) if c.split(":")[0].split(" ")[0] in claim_ids]
    frame.attrs["changes"] = changes
    return frame


def side_by_side_markdown(tables: dict[str, pd.DataFrame], link_prefix: str = "") -> str:
    """Each claim's verdict, by stratum, for every profile with a ledger, with the sizes behind it."""
    names = list(tables)
    head = "| claim | " + " | ".join(f"{p}: verdict (by stratum) | {p}: models, sizes" for p in names) + " |"
    lines = [head, "|---|" + "---|---|" * len(names)]
    by_id = {p: t.set_index("id") for p, t in tables.items()}
    for claim_id in CLAIMS:
        cells = []
        for p in names:
            r = by_id[p].loc[claim_id]
            strata = f" ({_cell(r['by_stratum'])})" if r["by_stratum"] else ""
            first = by_id[names[0]].loc[claim_id]
            older = (f" *(older rule: {r['primary']})*" if p != names[0] and r["primary"] != first["primary"]
                     and r["verdict"] != MISSING else "")
            cells += [f"**{r['verdict']}**{older}{strata}",
                      f"{r['replicates'] or '-'} models; {_cell(r['sizes']) or '-'}"]
        lines.append(f"| {claim_id} {CLAIMS[claim_id]['title']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict_markdown(table: pd.DataFrame, link_prefix: str = "") -> str:
    """Short table: id, claim, verdict, by stratum, primary effect, its null and margin, controls, models, figures."""
    lines = ["| claim | what we test | verdict | by stratum | primary [95% CI] | null; margin | controls | models "
             "| profile | figures |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        figs = ", ".join(f"[{f}]({link_prefix}{f})" for f in r["figures"].split(", ") if f)
        controls = ("as built" if r["controls"] and not r["control_problems"]
                    else "**read wrong**" if r["control_problems"] and r["controls"] else "-")
        lines.append(f"| {r['id']} | {_cell(r['title'])} | **{r['verdict']}** | {_cell(r['by_stratum']) or '-'} "
                     f"| {_cell(r['effect']) or '-'} | {_cell(r['references']) or '-'} | {controls} "
                     f"| {r['replicates'] or '-'} | {r['profile'] or '-'} | {figs} |")
    return "\n".join(lines)


def sentences_markdown(table: pd.DataFrame) -> str:
    """One bullet per claim: its plain sentence, then its margin's reason and the margin curve."""
    out = []
    for _, r in table.iterrows():
        if not r["sentence"]:
            out.append(f"- {r['id']} {r['title']}: {r['verdict']} (no plain sentence: recorded before the four-word "
                       "verdicts)" if r["verdict"] != MISSING else f"- {r['id']} {r['title']}: missing.")
            continue
        reason = f" Margin: {r['margin_reason']}." if r["margin_reason"] else ""
        out.append(f"- {_cell(r['sentence'])}{_cell(reason)} Verdict against the margin: {_cell(r['curve'])}.")
    return "\n".join(out)


def _strata_lines(strata: list[dict[str, Any]], rule: Rule | None = None) -> list[str]:
    """One line per stratum: its verdict, the primary's interval there and (with ``rule``) its margin curve."""
    out = []
    for row in strata:
        curve = f"; against the margin: {margin_curve_text(margin_curve(row, rule))}" if rule is not None else ""
        if row["verdict"] == TOO_FEW:
            out.append(f"  - {row['stratum']}: **{TOO_FEW}** ({row.get('n')} fitted; a verdict needs {MIN_MODELS}), "
                       f"{_fmt(row.get('value'))}")
            continue
        level, family = row.get("level"), row.get("family_level")
        level = ("" if not family or family <= 0.95 else f" at {100 * level:.1f}% (Bonferroni)"
                 if level and level >= family - 1e-9 else " (95%: no standard error to adjust for the family)")
        out.append(f"  - {row['stratum']}: **{row['verdict']}**, {_fmt(row.get('value'))} "
                   f"[{_fmt(row.get('low'))}, {_fmt(row.get('high'))}]{level}{curve}")
    return out


def _control_lines(controls: list[dict[str, Any]]) -> list[str]:
    """One line per control: what it is, how it is built, its interval and verdict, as built or not."""
    return [f"  - {c['kind']}: {c['name']} ({_cell(c.get('built', '')) or 'no description'}): "
            f"{_fmt(c.get('value'))} [{_fmt(c.get('low'))}, {_fmt(c.get('high'))}] reads **{c['verdict']}**"
            + (" (as built)" if c.get("as_built") else " (**NOT AS BUILT**: the rule misreads it)")
            for c in controls]


def scale_section(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Markdown lines comparing the profiles (empty with a single profile)."""
    if len(tables) < 2:
        return (["## Quick and full side by side", "",
                 "No larger profile's ledger beside this run (`runs/full/results/claims/` is missing or empty): "
                 "`./run_all.sh --profile full` writes it.", ""] if list(tables) == ["quick"] else [])
    changes = scale_changes(tables)
    others = ", ".join(f"`runs/{p}/`" for p in tables if p != "quick")
    return ["## Quick and full side by side", "",
            f"The same rules on the quick subsets and on the larger profile(s) ({others}); "
            "sizes are the parameters the measurement stands on (full = the whole split).", "",
            side_by_side_markdown(tables), "",
            "Verdicts that change with the scale: " + ("; ".join(changes) if changes else "none") + ".", ""]


def older_rule_line(row: Mapping[str, Any], current: Mapping[str, str]) -> list[str]:
    """One line when a recorded verdict's rule hash (``""`` before hashing) is not the claim's current rule's."""
    now = current.get(row["id"])
    if row["verdict"] == MISSING or not now or row.get("rule_hash") == now:
        return []
    was = f"`{row['rule_hash']}`" if row.get("rule_hash") else "(none recorded)"
    return [f"- **Decided by an older rule:** this verdict was recorded under rule {was}; the rule is now "
            f"`{now}` (see its changes); rerun the notebook."]


def full_markdown(table: pd.DataFrame, tables: dict[str, pd.DataFrame] | None = None,
                  current_rules: Mapping[str, str] | None = None) -> str:
    """The whole report as Markdown: verdict table, the profiles side by side, then each claim in detail.

    ``current_rules`` (claim id -> rule hash; default the committed ``rules.lock.json``) flags verdicts
    that an older rule decided.
    """
    current = rules.registered_hashes() if current_rules is None else current_rules
    variant = outputs.sentence(outputs.describe())
    profiles = sorted({p for p in table["profile"] if p})
    out = ["# Claims report", "",
           f"Generated by `notebooks/99_report.ipynb` from the claims ledger (`results/claims/`); "
           f"profile(s): {', '.join(profiles) or 'none'}. A claim with no ledger entry is *missing*.",
           "", "![Every claim's primary effect against its margin, per stratum](claims_overview.png)", "",
           *([f"> **{variant}**", ""] if variant else []),
           verdict_markdown(table), "", FAMILY_LINE, "", "## In plain words", "", sentences_markdown(table), "",
           *scale_section(tables or {})]
    for _, r in table.iterrows():
        out += [f"## {r['id']} · {r['title']} ({r['paper']})", "",
                f"- **Our reading:** {_cell(r['reading']) or '-'}",
                f"- **Measured:** {_cell(r['measurement']) or '-'}",
                *([f"- **In plain words:** {_cell(r['sentence'])}"] if r["sentence"] else []),
                f"- **Rule:** {_cell(r['rule']) or '-'}",
                f"- **Null:** {_cell(r['null']) or '-'}",
                *([f"- **References:** {_cell(r['references'])}" + (f" ({_cell(r['scale'])})" if r["scale"] else "")]
                  if r["references"] else []),
                *([f"- **Margin's reason:** {_cell(r['margin_reason'])}"] if r["margin_reason"] else []),
                f"- **Primary:** {_cell(r['effect']) or '-'} ({r['replicates'] or '?'} models)",
                f"- **Verdict:** **{r['verdict']}**" + (f"; by stratum: {r['by_stratum']}" if r["by_stratum"] else ""),
                *([f"- **Verdict against the margin (pooled):** {_cell(r['curve'])}"] if r["curve"] else []),
                *_strata_lines(r["strata"], r["stored_rule"]),
                *(["- **Controls** (decided by the same rule):"] + _control_lines(r["controls"])
                  if r["controls"] else []),
                *([f"- **Controls read wrong:** {'; '.join(r['control_problems'])}; the rule misreads systems built "
                   "to have or lack the property, so its verdict on the zoo is not to be trusted."]
                  if r["control_problems"] and r["verdict"] != MISSING else []),
                *[f"- **Rule changed after a run:** {_cell(c)}" for c in r["rule_changes"]],
                *older_rule_line(r, current),
                f"- **Notebook:** `notebooks/{r['notebook']}.ipynb` ({r['profile'] or 'not run'})", ""]
        out += [f"![{f}]({f})" for f in r["figures"].split(", ") if f.endswith(".png")]
        out.append("")
    return "\n".join(out)


def write_report(table: pd.DataFrame, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write ``figures/claims.md`` (with the profiles side by side when ``tables`` holds several)."""
    path = figures_dir() / "claims.md"
    return atomic_write(path, full_markdown(table, tables))


def update_readme(table: pd.DataFrame, readme: Path = REPO_ROOT / "README.md",
                  tables: dict[str, pd.DataFrame] | None = None) -> bool:
    """Rewrite the README's verdict block; only when writing into the repository itself."""
    if output_root() != REPO_ROOT or outputs.is_variant() or not readme.exists():
        return False
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    profiles = sorted({p for p in table["profile"] if p}) or ["none"]
    block = (f"{START}\n![Every claim's primary effect against its margin, per stratum]"
             f"(figures/claims_overview.png)\n\n"
             f"Verdicts from the last `./run_all.sh` (profile: {', '.join(profiles)}); "
             f"details in [figures/claims.md](figures/claims.md).\n\n"
             f"{verdict_markdown(table, link_prefix='figures/')}\n\n"
             f"In plain words (each sentence is generated from the numbers):\n\n{sentences_markdown(table)}\n"
             + ("\n" + "\n".join(scale_section(tables)).replace("## ", "### ") if tables and len(tables) > 1
                else "") + f"\n{END}")
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    if new != text:
        atomic_write(readme, new)
    return True


VERDICT_COLORS = {TOO_FEW: "#bbbbbb", "supported": "#1b9e77", "weaker than claimed": "#e6ab02", "no effect": "#d95f02",
                  "inconclusive": "#7570b3", "not supported": "#a6761d", MISSING: "#999999"}


def overview_rows(table: pd.DataFrame, profile: str = "") -> pd.DataFrame:
    """Long table for the overview: per claim, its pooled primary and each stratum's, with verdicts."""
    rows = []
    for _, r in table.iterrows():
        base = {"id": r["id"], "profile": profile or r["profile"], "primary": r["primary"],
                "margin": r["margin"], "null_value": r["null_value"], "band": r["band"], "control": False}
        if r["verdict"] == MISSING or not r["primary"]:
            rows.append({**base, "label": "(not recorded with a rule)", "value": float("nan"),
                         "low": float("nan"), "high": float("nan"), "verdict": r["verdict"], "pooled": True})
            continue
        pooled = r["pooled"] or {}
        rows.append({**base, "label": "pooled", "value": pooled.get("value"), "low": pooled.get("low"),
                     "high": pooled.get("high"), "verdict": r["verdict"], "pooled": True})
        for stratum in r["strata"]:
            rows.append({**base, "label": str(stratum["stratum"]), "value": stratum.get("value"),
                         "low": stratum.get("low"), "high": stratum.get("high"), "verdict": stratum["verdict"],
                         "pooled": False})
        for c in r["controls"]:
            rows.append({**base, "label": f"control {'+' if c['kind'] == 'positive' else '-'}: {c['name']}",
                         "value": c.get("value"), "low": c.get("low"), "high": c.get("high"),
                         "verdict": c["verdict"], "pooled": False, "control": True})
    return pd.DataFrame(rows)


PROFILE_MARKERS = {"quick": ("o", "D"), "full": ("s", "P"), "paper": ("^", "*")}  # (stratum, pooled)


def overview_figure(tables: pd.DataFrame | dict[str, pd.DataFrame]):
    """A forest plot per claim: each stratum's primary effect and the pooled one, with its 95%
    interval, against the rule's margin (dashed), coloured by verdict; one marker shape per profile
    (quick and full side by side on the same row, offset)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    tables = {"quick": tables} if isinstance(tables, pd.DataFrame) else dict(tables)
    rows = pd.concat([overview_rows(t, p) for p, t in tables.items()], ignore_index=True)
    # one axis per claim: a profile whose entry measured another primary (an older rule) is not drawn on it
    first = rows.drop_duplicates("id").set_index("id")["primary"]
    rows = rows[(rows["primary"] == rows["id"].map(first)) | ~rows["primary"].astype(bool)].reset_index(drop=True)
    profiles = list(tables)
    offset = {p: (len(profiles) - 1) / 2 * 0.3 - i * 0.3 for i, p in enumerate(profiles)}
    ids = list(dict.fromkeys(rows["id"]))
    labels = {i: list(dict.fromkeys(rows.loc[rows["id"] == i, "label"])) for i in ids}
    heights = [max(1, len(labels[i])) * (0.3 + 0.12 * len(profiles)) + 0.7 for i in ids]
    fig, axes = plt.subplots(len(ids), 1, figsize=(8, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, claim_id in zip(axes[:, 0], ids):
        sub = rows[rows["id"] == claim_id]
        ypos = {lab: len(labels[claim_id]) - 1 - k for k, lab in enumerate(labels[claim_id])}
        for _, r in sub.iterrows():
            if pd.isna(r["value"]):
                continue
            yi = ypos[r["label"]] + offset[r["profile"]]
            color = VERDICT_COLORS.get(r["verdict"], "#999999")
            low, high = (r["low"], r["high"]) if pd.notna(r["low"]) else (r["value"], r["value"])
            marker = PROFILE_MARKERS.get(r["profile"], ("o", "D"))[1 if r["pooled"] else 0]
            ax.plot([low, high], [yi, yi], color=color, lw=2.2 if r["pooled"] else 1.4,
                    ls=":" if r["control"] else "-")
            ax.plot([r["value"]], [yi], marker=marker, color=color, ms=7 if r["pooled"] else 5,
                    mfc="white" if r["control"] else color)
        nulls, bands = sub["null_value"].dropna(), sub["band"].dropna()
        if len(nulls):
            ax.axvline(nulls.iloc[0], color="0.35", ls="-", lw=0.9)
            if len(bands) and bands.iloc[0] > 0:
                ax.axvspan(nulls.iloc[0] - bands.iloc[0], nulls.iloc[0] + bands.iloc[0], color="0.85", zorder=0)
        margins = sub["margin"].dropna()
        if len(margins):
            ax.axvline(margins.iloc[0], color="k", ls="--", lw=0.8)
        ax.set_yticks(list(ypos.values()), list(ypos), fontsize=7)
        ax.set_ylim(-0.6, len(ypos) - 0.4)
        primary = next((p for p in sub["primary"] if p), "-")
        ax.set_title(f"{claim_id} · {CLAIMS[claim_id]['title']}: {primary}", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([0], [0], color=c, marker="o", lw=2, label=v) for v, c in VERDICT_COLORS.items()]
    if len(profiles) > 1:
        handles += [Line2D([0], [0], color="k", marker=PROFILE_MARKERS.get(p, ("o",))[0], lw=0, label=p)
                    for p in profiles]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    shown = " and ".join(profiles)
    fig.suptitle(f"Every claim's primary effect per stratum and pooled ({shown}), and its controls (hollow, "
                 "dotted), 95% intervals; grey line and band: the null and its no-effect band; dashed: the margin",
                 fontsize=8, y=1.02)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig
