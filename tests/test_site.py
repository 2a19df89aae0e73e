"""The static site, built from a small synthetic quick run (eight claims recorded through the ledger's
own API, two executed notebooks, two figures), then opened in headless Chromium from a file:// URL and
from a sub-path over HTTP: every page loads, every local link and image resolves, nothing is fetched
from the network, and the index shows all eight claims with their verdicts."""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urldefrag, urlparse
from urllib.request import url2pathname

import matplotlib.image
import nbformat
import numpy as np
import pytest
from bs4 import BeautifulSoup

from halfway_utils.evidence import claims, report
from halfway_utils.evidence.stats import Estimate
from halfway_utils.infra import site

SUP, WEAK, NOT, INC = claims.SUPPORTED, claims.WEAKER, claims.NO_EFFECT, claims.INCONCLUSIVE
# The verdict each synthetic claim must get, and the pooled interval that gives it (rule: effect > 0.5, band 0.05).
WANTED = {"H1": SUP, "H2": WEAK, "H3": INC, "H4": SUP, "S1": NOT, "S2": INC, "C1": WEAK, "C2": NOT}
INTERVALS = {SUP: (0.7, 0.6, 0.8), WEAK: (0.3, 0.2, 0.4), NOT: (0.0, -0.03, 0.03), INC: (0.3, -0.1, 0.7)}
EXECUTED = ("01_halfway_boundaries", "05_convex_hull", "99_report")
BROWSERS = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _png(path: Path, seed: int) -> Path:
    """A small real PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, np.random.default_rng(seed).random((24, 32)), cmap="viridis")
    return path


def _executed_notebook(stem: str, png: Path, inline: bool = True) -> nbformat.NotebookNode:
    """An executed notebook: a title, a code cell with text, and (``inline``) an image and a report-style link."""
    image = base64.b64encode(png.read_bytes()).decode()
    outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{stem} done\n")]
    if inline:
        outputs += [nbformat.v4.new_output("display_data", data={"image/png": image, "text/plain": "<Figure>"}),
                    nbformat.v4.new_output("display_data", data={"text/markdown": f"![figure]({png.name})",
                                                                 "text/plain": "<Markdown>"})]
    code = nbformat.v4.new_code_cell("print('done')", execution_count=1, outputs=outputs)
    title = f"# {stem[:2]} · Synthetic {stem}\n\nOur reading ([the papers](../docs/papers.md#paper-1))."
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(title), code])


def make_quick_run(root: Path) -> Path:
    """A quick run's outputs under ``root``: ledger, report, figures, executed notebooks, run summary."""
    figure = _png(root / "figures" / "01_synthetic.png", 0)
    _png(root / "figures" / "claims_overview.png", 1)
    _png(root / "figures" / "05_saved_only.png", 2)  # notebook 05's outputs carry no image (an Agg kernel)
    rule = claims.Rule("effect", ">", 0.5, null="a synthetic null", band=0.05, ideal=1.0,
                       margin_reason="half the way from the null to the ideal")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALFWAY_OUTPUT", str(root))
        for claim_id, verdict in WANTED.items():
            est = Estimate(*INTERVALS[verdict], 10, "synthetic")
            # H1's controls read as built; H2's negative control reads supported (a rule that misreads it)
            controls = [claims.Control("copy", claims.POSITIVE, Estimate(*INTERVALS[SUP], 3, "s"), "has it"),
                        claims.Control("scrambled", claims.NEGATIVE,
                                       Estimate(*INTERVALS[SUP if claim_id == "H2" else NOT], 3, "s"), "lacks it")]
            claims.record_rule(claim_id, rule, statement=f"reading of {claim_id}", pooled=est,
                               strata={"mnist/mlp": est}, replicates=5, notebook=claims.CLAIMS[claim_id]["notebook"],
                               figures=[figure.name] + (["02_never_drawn.png"] if claim_id == "H2" else []),
                               parameters={"profile": "quick"}, controls=controls if claim_id in ("H1", "H2") else ())
        report.write_report(report.claims_table())
    (root / "results" / "executed").mkdir(parents=True)
    for stem in EXECUTED:
        notebook = _executed_notebook(stem, figure, inline=not stem.startswith("05"))
        nbformat.write(notebook, root / "results" / "executed" / f"{stem}.ipynb")
        mp.setenv("HALFWAY_OUTPUT", str(root / "runs" / "full"))  # a larger profile's run beside it: H1 only
        claims.record_rule("H1", rule, statement="reading of H1", pooled=Estimate(*INTERVALS[NOT], 10, "s"),
                           strata={}, replicates=5, notebook="01_halfway_boundaries", figures=[],
                           parameters={"profile": "full"})
    rows = [{"notebook": stem, "status": "ok", "seconds": 1.5, "error": ""} for stem in EXECUTED]
    (root / "results" / "run_summary.json").write_text(json.dumps({"profile": "quick", "notebooks": rows}))
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The site built from the synthetic quick run; returns its index."""
    root = make_quick_run(tmp_path_factory.mktemp("run"))
    return site.build(root)


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


def test_the_index_shows_every_claim_with_its_verdict_null_effect_figure_and_notebook(built):
    rows = _soup(built).select("#claims-table tbody tr")
    assert [r["data-claim"] for r in rows] == list(claims.CLAIMS)
    assert {r["data-claim"]: r.select_one(".verdict")["data-verdict"] for r in rows} == WANTED
    h1 = rows[0]
    assert "effect = 0.7 [0.6, 0.8]" in h1.text and "a synthetic null" in h1.text
    assert "null 0 ± 0.05; margin 0.5; ideal 1" in h1.text and "half the way from the null" in h1.text
    assert "supported for a margin from 0.05 to 0.6" in h1.select_one(".curve").text
    assert [(c["data-kind"], c["data-as-built"]) for c in h1.select(".control")] == [("positive", "yes"),
                                                                                   ("negative", "yes")]
    assert h1.select_one(".control-flag") is None and rows[1].select_one(".control-flag") is not None
    assert rows[2].select(".control") == []
    assert h1.select_one('a[href="notebooks/01_halfway_boundaries.html"]') is not None
    assert h1.select_one('img[src="figures/01_synthetic.png"]') is not None
    h2 = rows[1]
    assert "02_never_drawn.png (missing)" in h2.text and not h2.select('[src$="02_never_drawn.png"]')
    assert "03_transfer (not executed)" in rows[2].text


def test_the_index_says_each_claim_in_plain_words(built):
    items = {li["data-claim"]: li.text for li in _soup(built).select("#sentences li")}
    assert list(items) == list(claims.CLAIMS)
    assert items["H2"].startswith("H2 (generalization): weaker than claimed pooled")
    assert "30% of the way from the null to the ideal" in items["H2"] and "CONTROLS READ WRONG" in items["H2"]
    assert "controls read as built" in items["H1"]


def test_the_index_shows_another_profile_s_verdicts_beside_these(built):
    index = _soup(built)
    assert "verdict (full)" in [th.text for th in index.select("#claims-table th")]
    rows = index.select("#claims-table tbody tr")
    beside = {r["data-claim"]: r.select_one('[data-profile="full"]').text for r in rows}
    assert beside == {claim_id: NOT if claim_id == "H1" else report.MISSING for claim_id in claims.CLAIMS}


def test_the_index_names_the_notebooks_that_were_not_executed(built):
    missing = _soup(built).select_one("#missing-notebooks").text
    expected = set(site.expected_notebooks()) - set(EXECUTED)
    assert expected and all(stem in missing for stem in expected)
    assert not any(stem in missing for stem in EXECUTED)
    statuses = {r["data-notebook"]: r.select("td")[2].text for r in _soup(built).select("#notebooks-table tbody tr")}
    assert statuses["01_halfway_boundaries"] == "ok" and all(statuses[s] == "missing" for s in expected)


def _local_targets(page: Path) -> list[str]:
    soup = _soup(page)
    return [el.get(attr) for tag, attr in (("a", "href"), ("img", "src"), ("script", "src"), ("link", "href"))
            for el in soup.find_all(tag) if el.get(attr)]


def test_pages_load_nothing_from_outside_and_every_local_link_resolves(built):
    pages = sorted(built.parent.rglob("*.html"))
    assert {p.relative_to(built.parent).as_posix() for p in pages} == {
        "index.html", "report.html", "papers.html", *(f"notebooks/{s}.html" for s in EXECUTED)}
    for page in pages:
        soup = _soup(page)
        assert not soup.select("script[src], link[href]"), f"{page.name} loads a script or stylesheet"
        # relink turns a dead link into text: the only one here is the figure H2 names but never drew
        unlinked = [el["title"] for el in soup.select('[title^="not in the site"]')]
        assert set(unlinked) <= {"not in the site: 02_never_drawn.png"}, f"{page.name}: dead links {unlinked}"
        dead_images = re.findall(r"\[figure not in the site: ([^\]]+)\]", soup.text)
        assert set(dead_images) <= {"02_never_drawn.png"}, f"{page.name}: dead images {dead_images}"
        for target in _local_targets(page):
            parsed = urlparse(target)
            if parsed.scheme or target.startswith("#"):
                assert parsed.scheme in ("", "data"), f"{page.name} links outside: {target}"
                continue
            assert not target.startswith("/"), f"{page.name}: absolute path {target} breaks a sub-path"
            assert (page.parent / urldefrag(target).url).exists(), f"{page.name}: {target} does not resolve"
    # a notebook's link to the papers brief in the repository opens the site's page of it
    assert _soup(built.parent / "notebooks" / "01_halfway_boundaries.html").select_one(
        'a[href="../papers.html#paper-1"]')
    assert "H1" in _soup(built.parent / "papers.html").text and "C2" in _soup(built.parent / "papers.html").text
    # the report-style bare figure link in a notebook's output now points at the site's copy
    assert _soup(built.parent / "notebooks" / "99_report.html").select_one('img[src="../figures/01_synthetic.png"]')


def test_a_run_with_other_parameters_says_so_on_its_index(tmp_path):
    from halfway_utils.infra import outputs

    root = make_quick_run(tmp_path / "runs" / "quick+0123abcd")
    outputs.write_variant(root, "quick", {"seeds": {"profile": [0, 1, 2, 3, 4], "run": [0]}})
    banner = _soup(site.build(root)).select_one(".variant")
    assert banner and "seeds=[0] (profile: [0, 1, 2, 3, 4])" in banner.text
    assert not _soup(site.build(make_quick_run(tmp_path / "record"))).select_one(".variant")


def test_a_notebook_page_without_inline_figures_shows_the_figures_that_notebook_saved(built):
    gallery = _soup(built.parent / "notebooks" / "05_convex_hull.html").select(".site-gallery img")
    assert [img["src"] for img in gallery] == ["../figures/05_saved_only.png"]
    assert not _soup(built.parent / "notebooks" / "01_halfway_boundaries.html").select(".site-gallery")


def test_relink_points_bare_figure_names_at_the_site_copy_and_unlinks_the_rest(tmp_path):
    _png(tmp_path / "figures" / "a.png", 0)
    (tmp_path / "notebooks").mkdir()
    html = '<a href="a.png">a</a><img src="a.png"><a href="gone.md">g</a><img src="gone.png"><a href="#x">x</a>'
    out, dead = site.relink(html, tmp_path / "notebooks" / "p.html", tmp_path)
    assert dead == ["gone.md", "gone.png"]
    soup = BeautifulSoup(out, "html.parser")
    assert [a.get("href") for a in soup.find_all("a")] == ["../figures/a.png", None, "#x"]
    assert [i["src"] for i in soup.find_all("img")] == ["../figures/a.png"]
    assert "[figure not in the site: gone.png]" in out


def test_an_empty_output_root_builds_a_site_that_says_everything_is_missing(tmp_path):
    (tmp_path / "empty" / "results" / "executed").mkdir(parents=True)
    (tmp_path / "empty" / "results" / "executed" / "03_transfer.ipynb").write_text("{truncated")
    index = site.build(tmp_path / "empty", tmp_path / "out")
    rows = _soup(index).select("#claims-table tbody tr")
    assert len(rows) == len(claims.CLAIMS) and {r.select_one(".verdict").text for r in rows} == {report.MISSING}
    assert all(s in _soup(index).select_one("#missing-notebooks").text for s in site.expected_notebooks())


def test_a_rebuild_replaces_the_old_site_and_a_foreign_folder_is_refused(tmp_path):
    root = tmp_path / "run"
    (root / "figures").mkdir(parents=True)
    index = site.build(root)
    (index.parent / "stale.html").write_text("old")
    assert site.main(["--output", str(root)]) == 0
    assert index.exists() and not (index.parent / "stale.html").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a site built here"):
        site.build(root, foreign)
    assert (foreign / "keep.txt").read_text() == "mine" and not list(tmp_path.glob(".mine.*"))


# --- in a real browser -------------------------------------------------------------------------------


def _browser() -> str:
    """Chromium (or Chrome) to drive; skips where there is none, except under CI, where it fails."""
    reason = ""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (it is in the dev extra: pip install -e .[dev])"
    names = (os.environ.get("HALFWAY_CHROMIUM", ""), *BROWSERS)
    found = next(filter(None, (shutil.which(n) for n in names if n)), None)
    if not reason and not found:
        reason = "no chromium on PATH: run scripts/install_browser.sh (Debian's chromium)"
    if reason:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"the site's browser test cannot run under CI: {reason}")
        pytest.skip(reason)
    return found


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_without_a_browser_the_test_skips_only_outside_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="chromium"):
        _browser()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium through playwright, never a downloaded browser."""
    executable = _browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def served(built: Path) -> Iterator[str]:
    """The site under a sub-path (``/halfway/``) on a loopback HTTP server, as GitHub Pages serves it."""
    top = built.parent.parent / "pages"
    shutil.copytree(built.parent, top / "halfway")
    handler = functools.partial(_QuietHandler, directory=str(top))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/halfway/index.html"
    server.shutdown()
    thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D102 - keep the test output clean
        pass


def _exists(url: str) -> bool:
    """Whether a local URL names a file of the site (file://) or answers 200 (http)."""
    if url.startswith("file:"):
        return Path(url2pathname(urlparse(url).path)).exists()
    from urllib.request import urlopen

    with urlopen(url, timeout=10) as response:  # the loopback server only
        return response.status == 200


def crawl(browser, start: str, screenshot: Path | None = None) -> dict[str, dict]:
    """Open every page reachable from ``start`` within the site; per page its images, links and any failure."""
    base = start.rsplit("/", 1)[0] + "/"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []
    escaping: list[str] = []
    context.route(lambda url: not url.startswith((base, "data:")),
                  lambda route: (outside.append(route.request.url), route.abort()))
    seen: dict[str, dict] = {}
    queue = [start]
    try:
        while queue:
            url = queue.pop(0)
            if url in seen:
                continue
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err, errors=errors: errors.append(str(err)))
            page.on("console", lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None)
            page.on("requestfailed", lambda req, errors=errors: errors.append(f"failed: {req.url}"))
            response = page.goto(url, wait_until="load")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth > 0])")
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            seen[url] = {"status": response.status if response else None, "errors": errors, "images": images,
                         "links": links, "title": page.title()}
            if url == start:
                seen[url]["claims"] = page.eval_on_selector_all(
                    "#claims-table tbody tr", "rows => rows.map(r => [r.dataset.claim, "
                    "r.querySelector('.verdict').textContent.trim()])")
                if screenshot is not None:
                    page.screenshot(path=str(screenshot), full_page=False)
            for link in links:
                target = urldefrag(link).url
                if urlparse(target).netloc == urlparse(base).netloc and not target.startswith(base):
                    escaping.append(f"{url} -> {link}")  # an absolute path or ../ out of the site
                elif target.startswith(base) and target.endswith(".html"):
                    queue.append(target)
                elif target.startswith(base):
                    seen.setdefault(target, {"exists": _exists(target)})
            page.close()
    finally:
        context.close()
    seen["outside"] = {"requests": outside, "escaping": escaping}
    return seen


def check_crawl(seen: dict[str, dict], start: str, pages: int) -> None:
    """Every page loaded without errors, every image rendered, every linked file exists, nothing from outside."""
    outside = seen.pop("outside")
    assert outside == {"requests": [], "escaping": []}
    html = {u: v for u, v in seen.items() if "images" in v}
    assert len(html) == pages, sorted(html)
    for url, info in html.items():
        assert info["status"] in (None, 200) and info["errors"] == [], (url, info["errors"])
        broken = [src for src, ok in info["images"] if not ok]
        assert not broken, (url, broken)
    assert all(v["exists"] for v in seen.values() if "exists" in v), [u for u, v in seen.items() if not v.get("exists")]
    assert dict(seen[start]["claims"]) == WANTED


def test_the_site_works_in_chromium_from_a_file_url(built, browser, tmp_path):
    shot = Path(os.environ.get("HALFWAY_SITE_SCREENSHOT", tmp_path / "index.png"))
    seen = crawl(browser, built.as_uri(), screenshot=shot)
    check_crawl(seen, built.as_uri(), pages=3 + len(EXECUTED))
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_the_site_works_in_chromium_from_a_sub_path(served, browser):
    seen = crawl(browser, served)
    check_crawl(seen, served, pages=3 + len(EXECUTED))
