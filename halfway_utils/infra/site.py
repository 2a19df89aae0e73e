"""The static site: every executed notebook with its outputs, the claims report and an index.

``python -m halfway_utils.infra.site [--output DIR] [--site DIR]`` (``./run_all.sh`` calls
:func:`build` at its end) writes ``<output>/site/``:

- ``index.html``: every claim with its verdict, its null, its primary effect [95% CI] and its
  figures, linked to the executed notebook page that produced it; every notebook's status (one
  not in ``results/executed/`` is named as missing); the verdicts of other profiles' runs under
  ``runs/<profile>/`` (as the report finds them) beside this one's, where there are any;
- ``notebooks/<name>.html``: each executed notebook, outputs included (nbconvert's lab template);
- ``report.html``: ``figures/claims.md`` rendered; ``papers.html``: ``docs/papers.md`` rendered (what each
  paper claims and our readings H1-C2); ``figures/``: the PNGs.

The build is offline and the pages load nothing from the network: the template's CDN scripts
(require.js, MathJax, mermaid, widgets) are left out and its CSS is inlined. Every link is
relative, so the site works from a ``file://`` URL and from a sub-path (GitHub Pages). Like the
runner, this is an entry point, so it reads the ledger through ``evidence``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import jinja2
import markupsafe

from ..evidence import claims, report
from . import outputs, paths, store
from .paths import REPO_ROOT

PAPERS = REPO_ROOT / "docs" / "papers.md"  # the papers brief, rendered as papers.html
RENDERED = {"papers.md": "papers.html", "claims.md": "report.html"}  # Markdown files the site has as pages

MARKER = ".halfway-site"  # marks a folder this module wrote, so a rebuild may replace it

CSS = """
body.site { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  margin: 0 auto; max-width: 1500px; padding: 0 1.2em 3em; color: #222; }
.site h1 { font-size: 1.6em; margin: .8em 0 .2em; } .site h2 { margin-top: 1.6em; }
.site-nav { font: 14px system-ui, sans-serif; padding: .6em 0; border-bottom: 1px solid #ddd; margin-bottom: 1em; }
.site-nav a { margin-right: 1.2em; color: #1a55a0; text-decoration: underline; }
.site table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
.site th, .site td { border: 1px solid #ddd; padding: .35em .5em; vertical-align: top; text-align: left; }
.site th { background: #f4f4f4; }
.verdict { display: inline-block; padding: .1em .5em; border-radius: .8em; color: #fff; font-weight: 600;
  white-space: nowrap; font-size: 12.5px; }
.thumbs { display: flex; flex-wrap: wrap; gap: 4px; min-width: 204px; }
.thumbs img { width: 96px; border: 1px solid #ccc; }
td.null { min-width: 220px; } td.stratum { min-width: 150px; } td.primary { overflow-wrap: anywhere; min-width: 140px; }
.scroll { overflow-x: auto; }
.site-gallery { margin: 0 0 1.5em; } .site-gallery img { width: 180px; }
.overview img { max-width: 640px; width: 100%; } .report img { max-width: 900px; width: 100%; }
.missing { color: #a00; } .muted { color: #666; font-size: 12.5px; } code { font-size: 12.5px; }
"""

NAV = """<nav class="site-nav"><a href="{up}index.html">halfway: every claim</a><a href="{up}report.html">claims
report</a><a href="{up}papers.html">the papers and our readings</a>{extra}</nav>"""

# The lab template without anything it would fetch when the page opens; the site's nav on top.
NOTEBOOK_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<style>{{ resources.site_css }}</style>{%- endblock html_head_css -%}
{%- block body_header -%}{{ super() }}{{ resources.site_nav }}{%- endblock body_header -%}
"""

PAGE = jinja2.Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ css }}</style></head>
<body class="site">{{ nav }}{{ body }}</body></html>
""", autoescape=True)

INDEX = jinja2.Template("""
<h1>halfway: what the numbers say about each claim</h1>
{% if variant %}<p class="variant"><strong>{{ variant }}</strong></p>{% endif %}
<p class="muted">Built {{ built }} from <code>{{ root }}</code>; profile(s) {{ profiles }}{% if commits %};
commit {{ commits }}{% endif %}. Each verdict is computed
from the claim's registered rule (its primary effect against the null, on the whole 95% interval, per stratum and
pooled); the notebook that produced it is linked, with all its outputs.</p>
{% if overview %}
<h2 id="overview">Every claim's primary effect, per stratum</h2>
<p class="overview"><a href="figures/{{ overview }}">
  <img src="figures/{{ overview }}" alt="Every claim's primary effect against its margin, per stratum"></a></p>
{% endif %}
<h2 id="claims">Claims</h2>
<div class="scroll"><table id="claims-table">
<thead><tr><th>claim</th><th>what we test</th><th>verdict ({{ profiles }})</th>
  {% for label in others %}<th>verdict ({{ label }})</th>{% endfor %}
  <th>notebook</th><th>by stratum</th><th>primary [95% CI]</th><th>null; margin (its reason)</th><th>controls</th>
  <th>models</th><th>figures</th></tr></thead>
<tbody>
{% for c in claims %}
<tr data-claim="{{ c.id }}" id="{{ c.id }}">
  <td><b>{{ c.id }}</b></td>
  <td>{{ c.title }}<br><span class="muted">{{ c.paper }}</span></td>
  <td><span class="verdict" data-verdict="{{ c.verdict }}" style="background: {{ c.color }}">{{ c.verdict }}</span></td>
  {% for label in others %}{% set v = c.others.get(label, "missing") %}
  <td><span class="verdict" data-profile="{{ label }}"
    style="background: {{ colors.get(v, "#999") }}">{{ v }}</span></td>
  {% endfor %}
  <td>{% if c.page %}<a href="{{ c.page }}">{{ c.notebook }}</a>
      {% else %}<span class="missing">{{ c.notebook or "-" }} (not executed)</span>{% endif %}</td>
  <td class="stratum">{{ c.by_stratum or "-" }}</td><td class="primary">{{ c.effect or "-" }}</td>
  <td class="null">{{ c.null or "-" }}{% if c.references %}<br><b>{{ c.references }}</b>{% endif %}
    {% if c.margin_reason %}<br><span class="muted">margin: {{ c.margin_reason }}</span>{% endif %}
    {% if c.curve %}<br><span class="curve">against the margin: {{ c.curve }}</span>{% endif %}</td>
  <td class="controls">{% for k in c.controls %}<span class="control" data-kind="{{ k.kind }}"
    data-as-built="{{ 'yes' if k.as_built else 'no' }}">{{ k.kind }}: {{ k.name }}: <b>{{ k.verdict }}</b>{% if not
    k.as_built %} <span class="missing">(not as built)</span>{% endif %}</span><br>{% else %}-{% endfor %}
    {% if c.control_problems %}<span class="missing control-flag">controls read wrong: the rule misreads
    them</span>{% endif %}</td>
  <td>{{ c.replicates or "-" }}</td>
  <td><div class="thumbs">
  {% for f in c.figures %}
    {% if f.present %}
    <a href="figures/{{ f.name }}" title="{{ f.name }}"><img src="figures/{{ f.name }}" alt="{{ f.name }}"></a>
    {% else %}<span class="missing">{{ f.name }} (missing)</span>{% endif %}
  {% endfor %}
  </div></td>
</tr>
{% endfor %}
</tbody></table></div>
<h2 id="plain">In plain words</h2>
<ul id="sentences">{% for c in claims %}<li data-claim="{{ c.id }}">{{ c.sentence or (c.id ~ ": " ~ c.verdict) }}</li>
{% endfor %}</ul>
<p class="muted">Verdicts: <i>supported</i> (the whole 95% interval beyond the margin), <i>weaker than claimed</i>
(beyond the null, short of the margin), <i>no effect</i> (within the null's band or on its wrong side),
<i>inconclusive</i> (otherwise).
A claim with no ledger entry shows as <i>missing</i>, never as supported. The full report with every
measurement and rule: <a href="report.html">report.html</a>.</p>
<h2 id="notebooks">Notebooks</h2>
{% if missing %}
<p class="missing" id="missing-notebooks">Not executed in this run (no copy in <code>results/executed/</code>):
  {{ missing | join(", ") }}.</p>
{% endif %}
<table id="notebooks-table">
<thead><tr><th>notebook</th><th>title</th><th>status</th><th>seconds</th></tr></thead>
<tbody>
{% for n in notebooks %}
<tr data-notebook="{{ n.stem }}">
  <td>{% if n.page %}<a href="{{ n.page }}">{{ n.stem }}</a>{% else %}{{ n.stem }}{% endif %}</td>
  <td>{{ n.title }}</td><td class="{{ 'missing' if n.status != 'ok' else '' }}">{{ n.status }}</td>
  <td>{{ n.seconds }}</td>
</tr>
{% endfor %}
</tbody></table>
""", autoescape=True)


def expected_notebooks(folder: Path = REPO_ROOT / "notebooks") -> list[str]:
    """The stems of the project's notebooks, in run order."""
    return [p.stem for p in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))]


def load_ledger(root: Path) -> dict[str, Any]:
    """Every known claim's ledger entry under ``root/results/claims``, ``None`` where absent or unreadable."""
    return claims.load_all(root / "results" / "claims")


def other_runs(root: Path) -> dict[str, Path]:
    """The ledgers of other profiles' runs beside this one (``runs/<profile>/`` under ``root``), by profile."""
    return {profile: ledger for profile, ledger in report.profile_ledgers(root).items() if profile != "quick"}


def run_summary(root: Path) -> dict[str, dict[str, Any]]:
    """The runner's last summary by notebook (empty when there is none)."""
    try:
        rows = json.loads((root / "results" / "run_summary.json").read_text())["notebooks"]
        return {row["notebook"]: row for row in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def notebook_title(nb: Any) -> str:
    """The first Markdown heading of a notebook, without its '#'."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def _exporter() -> Any:
    """nbconvert's HTML exporter with the lab template, stripped of what it would fetch."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file="halfway_site.html.j2",
                            extra_loaders=[jinja2.DictLoader({"halfway_site.html.j2": NOTEBOOK_TEMPLATE})])
    exporter.log.setLevel("ERROR")  # it warns about every figure without alt text
    return exporter


def _nav(up: str, extra: str = "") -> markupsafe.Markup:
    return markupsafe.Markup(NAV.format(up=up, extra=extra))


def _is_external(target: str) -> bool:
    """True for a link that leaves the site (a scheme, or protocol-relative) or is only an anchor."""
    return bool(urlparse(target).scheme) or target.startswith(("//", "#"))


def relink(html: str, page: Path, site: Path) -> tuple[str, list[str]]:
    """Point local links that do not resolve from ``page`` at the site's figure of that name; unlink the rest.

    Returns the page and the targets that could not be resolved (their links become plain text).
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    dead = []
    for tag, attr in (("a", "href"), ("img", "src")):
        for element in soup.find_all(tag, attrs={attr: True}):
            target = element[attr]
            local = unquote(target.split("#")[0].split("?")[0])
            if _is_external(target) or not local or (page.parent / local).exists():
                continue
            page_of = RENDERED.get(Path(local).name)
            if page_of and (site / page_of).is_file():  # a Markdown file the site renders as a page
                anchor = "#" + target.split("#", 1)[1] if "#" in target else ""
                element[attr] = Path(os.path.relpath(site / page_of, page.parent)).as_posix() + anchor
                continue
            figure = site / "figures" / Path(local).name
            if figure.is_file():
                element[attr] = Path(os.path.relpath(figure, page.parent)).as_posix()
                continue
            dead.append(target)
            if tag == "img":
                element.replace_with(soup.new_string(f"[figure not in the site: {target}]"))
            else:
                del element[attr]
                element["class"] = "missing"
                element["title"] = f"not in the site: {target}"
    return str(soup), dead


def has_inline_images(nb: Any) -> bool:
    """Whether any output of a notebook carries an image (a kernel on the Agg backend shows none)."""
    return any(key.startswith("image/") for cell in nb.cells for out in cell.get("outputs", [])
               for key in out.get("data", {}))


def gallery(stem: str, figures: set[str]) -> str:
    """The figures a notebook saved (``figures/NN_*.png``), for a page whose outputs carry none."""
    names = sorted(f for f in figures if f.startswith(stem.split("_")[0] + "_"))
    if not names:
        return ""
    items = "".join(f'<a href="../figures/{n}" title="{n}"><img src="../figures/{n}" alt="{n}"></a>' for n in names)
    return (f'<section class="site-gallery"><p class="muted">This executed notebook carries no inline figures '
            f"(its kernel drew without an inline backend); the figures it saved:</p>"
            f'<div class="thumbs">{items}</div></section>')


def render_notebook(path: Path, exporter: Any, nav: str, figures: set[str] = frozenset()) -> tuple[str, str]:
    """One executed notebook as an HTML page (its saved figures on top where its outputs have none) and its title."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    top = str(nav) + ("" if has_inline_images(nb) else gallery(path.stem, figures))
    html, _ = exporter.from_notebook_node(nb, resources={"site_css": markupsafe.Markup(CSS),
                                                         "site_nav": markupsafe.Markup(top),
                                                         "metadata": {"name": path.stem}})
    return html, notebook_title(nb)


def render_papers(path: Path = PAPERS) -> str:
    """``docs/papers.md`` (the papers, their claims and our readings) as a page of the site."""
    import mistune

    body = mistune.create_markdown(plugins=["table"], escape=False)(path.read_text())
    return PAGE.render(title="halfway: the papers and our readings", css=markupsafe.Markup(CSS), nav=_nav(""),
                       body=markupsafe.Markup(f'<div class="report">{body}</div>'))


def render_report(root: Path, ledger: dict[str, Any]) -> str:
    """``figures/claims.md`` as HTML (regenerated from the ledger when the report file is absent)."""
    import mistune

    path = root / "figures" / "claims.md"
    text = path.read_text() if path.is_file() else report.full_markdown(report.claims_table(ledger))
    body = mistune.create_markdown(plugins=["table"], escape=False)(text)
    return PAGE.render(title="halfway: claims report", css=markupsafe.Markup(CSS), nav=_nav(""),
                       body=markupsafe.Markup(f'<div class="report">{body}</div>'))


def claim_rows(root: Path, ledger: dict[str, Any], pages: dict[str, str], figures: set[str]) -> list[dict[str, Any]]:
    """One row per claim for the index: verdict, effect, null, figures, the notebook page."""
    others = {label: claims.load_all(path) for label, path in other_runs(root).items()}
    rows = []
    for _, r in report.claims_table(ledger).iterrows():
        rows.append({
            "id": r["id"], "title": r["title"], "paper": r["paper"], "verdict": r["verdict"],
            "color": report.VERDICT_COLORS.get(r["verdict"], "#999"), "by_stratum": r["by_stratum"],
            "effect": r["effect"], "null": r["null"], "replicates": r["replicates"], "notebook": r["notebook"],
            "references": r["references"], "margin_reason": r["margin_reason"], "curve": r["curve"],
            "controls": r["controls"], "control_problems": r["control_problems"], "sentence": r["sentence"],
            "page": pages.get(r["notebook"], ""),
            "figures": [{"name": f, "present": f in figures} for f in r["figures"].split(", ") if f],
            "others": {label: (e[r["id"]].verdict if e.get(r["id"]) else report.MISSING)
                       for label, e in others.items()}})
    return rows


def _write_notebooks(root: Path, tmp: Path, figures: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Render every executed notebook into ``tmp/notebooks``; return pages and titles by stem."""
    executed = sorted((root / "results" / "executed").glob("*.ipynb"))
    stems = [p.stem for p in executed]
    exporter, pages, titles = _exporter(), {}, {}
    for i, path in enumerate(executed):
        neighbours = "".join(f'<a href="{stems[j]}.html">{label}: {stems[j]}</a>'
                             for j, label in ((i - 1, "previous"), (i + 1, "next")) if 0 <= j < len(stems))
        try:
            html, titles[path.stem] = render_notebook(path, exporter, _nav("../", neighbours), figures)
        except Exception as err:  # noqa: BLE001 - one unreadable notebook must not cost the whole site
            print(f"[site] {path.name} not rendered ({type(err).__name__}: {err}); listed as missing", file=sys.stderr)
            continue
        (tmp / "notebooks" / f"{path.stem}.html").write_text(html)
        pages[path.stem] = f"notebooks/{path.stem}.html"
    return pages, titles


def relink_all(site: Path) -> dict[str, list[str]]:
    """Run :func:`relink` over every page of a built site; return the unresolved targets by page."""
    dead = {}
    for page in sorted(site.rglob("*.html")):
        html, missing = relink(page.read_text(), page, site)
        page.write_text(html)
        if missing:
            dead[page.relative_to(site).as_posix()] = missing
            print(f"[site] {page.relative_to(site)}: links to files not in the site, left as text: {missing}",
                  file=sys.stderr)
    return dead


def _replace(tmp: Path, site_dir: Path) -> None:
    """Swap the freshly built ``tmp`` in for ``site_dir``, refusing to replace a folder it did not write."""
    if site_dir.exists() and any(site_dir.iterdir()) and not (site_dir / MARKER).exists():
        raise FileExistsError(f"{site_dir} exists and is not a site built here ({MARKER} missing): not replacing it")
    old = site_dir.with_name(f".{site_dir.name}.old-{os.getpid()}")
    if site_dir.exists():
        site_dir.rename(old)
    tmp.rename(site_dir)
    shutil.rmtree(old, ignore_errors=True)


def build(output_root: Path | None = None, site_dir: Path | None = None) -> Path:
    """Build the static site from an output root's executed notebooks, figures and ledger; return the index.

    The site is built in a hidden sibling folder and swapped in at the end; an interrupted build
    (Ctrl-C or SIGTERM) removes that folder, and one killed outright is removed by the next build.
    """
    with store.terminated_as_exit():
        return _build(output_root, site_dir)


def _build(output_root: Path | None, site_dir: Path | None) -> Path:
    root = Path(output_root if output_root is not None else paths.output_root()).resolve()
    site_dir = Path(site_dir if site_dir is not None else root / "site").resolve()
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = site_dir.with_name(f".{site_dir.name}{store.BUILDING}{os.getpid()}")
    store.sweep_temporaries(site_dir.parent)  # an interrupted build's folder, a killed writer's temp file
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "figures").mkdir(parents=True)
        (tmp / "notebooks").mkdir()
        (tmp / MARKER).write_text("built by halfway_utils.infra.site; replaced by every build\n")
        for png in sorted((root / "figures").glob("*.png")):
            shutil.copy2(png, tmp / "figures" / png.name)
        figures = {p.name for p in (tmp / "figures").iterdir()}
        pages, titles = _write_notebooks(root, tmp, figures)
        ledger = load_ledger(root)
        (tmp / "report.html").write_text(render_report(root, ledger))
        (tmp / "papers.html").write_text(render_papers())
        (tmp / "index.html").write_text(index_page(root, ledger, pages, titles, figures))
        relink_all(tmp)
        _replace(tmp, site_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return site_dir / "index.html"


def index_page(root: Path, ledger: dict[str, Any], pages: dict[str, str], titles: dict[str, str],
               figures: set[str]) -> str:
    """The index: every claim's row, then every notebook's status."""
    summary = run_summary(root)
    stems = list(dict.fromkeys([*expected_notebooks(), *pages]))
    missing = [s for s in stems if s not in pages]
    notebooks = [{"stem": s, "page": pages.get(s, ""), "title": titles.get(s, ""),
                  "status": summary.get(s, {}).get("status", "executed") if s in pages else "missing",
                  "seconds": summary.get(s, {}).get("seconds", "")} for s in stems]
    for n in notebooks:
        error = summary.get(n["stem"], {}).get("error")
        if n["status"] == "FAILED" and error:
            n["status"] = f"FAILED: {error}"
    profiles = ", ".join(sorted({e.profile for e in ledger.values() if e is not None})) or "none recorded"
    rows = claim_rows(root, ledger, pages, figures)
    commits = ", ".join(sorted({str(e.provenance.get("git_commit")) for e in ledger.values()
                                if e is not None and e.provenance.get("git_commit")}))
    body = INDEX.render(built=time.strftime("%Y-%m-%d %H:%M"), root=str(root), profiles=profiles, claims=rows,
                        others=list(rows[0]["others"]) if rows else [], colors=report.VERDICT_COLORS,
                        overview="claims_overview.png" if "claims_overview.png" in figures else "",
                        missing=missing, notebooks=notebooks, commits=commits,
                        variant=outputs.sentence(outputs.describe(root)))
    return PAGE.render(title="halfway: every claim and its verdict", css=markupsafe.Markup(CSS),
                       nav=_nav("", '<a href="#notebooks">notebooks</a><a href="#overview">overview</a>'),
                       body=markupsafe.Markup(body))


def main(argv: list[str] | None = None) -> int:
    """Build the site and print where its index is."""
    parser = argparse.ArgumentParser(prog="python -m halfway_utils.infra.site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=None, help="output root (default: $HALFWAY_OUTPUT or the repo)")
    parser.add_argument("--site", type=Path, default=None, help="where to write the site (default: <output>/site)")
    args = parser.parse_args(argv)
    index = build(args.output, args.site)
    print(f"[site] {index.as_uri()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
