"""The rendered site in a real browser: Debian's chromium, headless, driven by Playwright.

The site (a Jupyter Book) is rendered from the committed notebooks without executing them
(`build_site.py --no-execute`), served over local HTTP, and every page must load, show all its images, make no
request outside the machine, and log no console error. A screenshot of the index is saved to
build/screenshots/index.png. Without a chromium binary the test is skipped, unless
DISTILL_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails.
"""

import functools
import re
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from distill.report import notebook_paths

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM") or next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-default-apps",
        "--disable-features=Translate,MediaRouter,OptimizationHints"]

if CHROMIUM is None:
    if os.environ.get("DISTILL_REQUIRE_BROWSER") == "1":
        pytest.fail("no chromium found: `apt-get install chromium`, or set CHROMIUM=/path/to/chrome", pytrace=False)
    pytest.skip("no chromium found (apt-get install chromium); set DISTILL_REQUIRE_BROWSER=1 to make this a failure",
                allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--no-execute", "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True)
    site = out / "site"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def visit(browser, url: str, base: str, screenshot: Path | None = None) -> tuple[list[str], list]:
    """Open `url`; return the problems seen (console errors, page errors, failed or outside requests)
    and, per <img>, whether it loaded."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))

    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith("data:"):
            return r.continue_()
        problems.append(f"request outside the machine: {r.request.url}")
        return r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems, images


def test_index_shows_learning_paths_and_links_every_notebook(site, browser):
    folder, base = site
    shot = ROOT / "build" / "screenshots" / "index.png"
    problems, _ = visit(browser, f"{base}/index.html", base, screenshot=shot)
    assert problems == []
    html = (folder / "index.html").read_text()
    for reader in ("Policy readers", "Students", "Instructors"):
        assert reader in html
    for nb in notebook_paths():
        assert f'href="{nb.stem}.html"' in html
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("nb", notebook_paths(), ids=lambda p: p.stem)
def test_page_loads_with_its_images_and_no_errors(site, browser, nb):
    _, base = site
    problems, images = visit(browser, f"{base}/{nb.stem}.html", base)
    assert problems == [], f"{nb.stem}: " + "; ".join(problems[:5])
    n_png = sum("image/png" in o.get("data", {}) for c in nbformat.read(nb, as_version=4).cells
                if c.cell_type == "code" for o in c.outputs)
    assert len(images) >= n_png > 0 or (n_png == 0 and not images)
    assert all(images), f"{nb.stem}: {images.count(False)} of {len(images)} images did not load"


def test_a_contributed_notebook_cannot_run_script_on_the_site(browser, tmp_path):
    """A notebook carrying <script>, an onerror handler and a javascript: link, built into the book like
    every page (sanitised), loads in Chromium without running any of them; its maths is still typeset."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Contributed\n\nSoft targets $p_i = e^{z_i/T}$.\n\n"
                                              "<script>window.pwned = 1</script>\n<a id='j' href=\"javascript:window.pwned=4\">x</a>"),
                nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("display_data", data={
                    "text/html": "<img id='bad' src='nope.png' onerror='window.pwned=2'><script>window.pwned=3</script>",
                    "text/plain": "x"})])]
    sys.path.insert(0, str(ROOT / "tools"))
    import build_site
    build_site.render_book([("zz_contributed", nb)], tmp_path / "site", "# Index\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/zz_contributed.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        page.wait_for_function("document.querySelectorAll('mjx-container').length >= 1", timeout=20_000)
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.evaluate("document.querySelector('#j') === null || !document.querySelector('#j').href.startsWith('javascript')")
        page.close()
    finally:
        server.shutdown()


def test_the_brief_prints_on_at_most_three_a4_pages(site, browser):
    """The overview is a brief a policy reader finishes in minutes: printed from the site (Chromium's
    print to PDF, A4), it fits on three pages. The evidence behind it is on its own page."""
    _, base = site
    page = browser.new_page()
    page.goto(f"{base}/00_overview.html", wait_until="load")
    page.wait_for_load_state("networkidle")
    pdf = page.pdf(format="A4", print_background=False)
    page.close()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    out = ROOT / "build" / "screenshots" / "00_overview.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)
    assert 1 <= pages <= 3, f"the brief prints on {pages} A4 pages (at most 3): shorten it ({out})"


def _open(browser, url: str, width: int = 1280, height: int = 900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page


def test_next_links_walk_the_whole_series_and_the_sidebar_lists_it(site, browser):
    """From the first page, following "next" visits every notebook once, in reading order; on a wide
    screen each page has a sidebar with every notebook and its own headings ("Contents")."""
    _, base = site
    stems = [nb.stem for nb in notebook_paths()]
    seen, url = [], f"{base}/{stems[0]}.html"
    while url and len(seen) <= len(stems):
        page = _open(browser, url, width=1400)
        seen.append(url.rsplit("/", 1)[1].removesuffix(".html"))
        side = page.locator("nav.bd-docs-nav")
        assert side.is_visible(), f"{seen[-1]}: no sidebar at 1400 px"
        listed = side.locator("li.toctree-l1 a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
        pages = [h.removesuffix(".html") if h != "#" else seen[-1] for h in listed if h != "index.html"]
        assert pages[:len(stems)] == stems, seen[-1]  # (then the instructors' guide)
        toc = page.locator(".bd-sidebar-secondary")
        assert toc.is_visible() and toc.locator("a[href^='#']").count() >= 2, f"{seen[-1]}: no contents of the page"
        nxt = page.locator("a.right-next").evaluate_all("as => as.map(a => a.href)")
        page.close()
        url = nxt[0] if nxt and not nxt[0].endswith("instructors.html") else None
    assert seen == stems


def _search(page, base: str, query: str) -> list[str]:
    page.goto(f"{base}/search.html?q={query}", wait_until="networkidle")
    page.wait_for_function("document.querySelector('#search-results') && "
                           "/Search finished|did not match/.test(document.querySelector('#search-results').textContent)",
                           timeout=20_000)
    return page.locator("#search-results ul.search li a").evaluate_all("as => as.map(a => a.getAttribute('href'))")


def test_search_finds_a_term_on_the_page_that_explains_it(site, browser):
    """Sphinx's full-text search, offline: every page has the search form; a query lists the pages
    that hold it, the one that explains it among the first."""
    _, base = site
    page = _open(browser, f"{base}/index.html")
    assert page.locator("form.bd-search[action$='search.html'] input[name=q]").count() >= 1
    hits = _search(page, base, "batchmean")
    assert hits and hits[0].startswith("02_soft_targets.html"), hits
    top3 = _search(page, base, "Jacobian+augmentation")[:3]
    assert any(h.startswith("09_without_the_data.html") for h in top3), top3  # (the evidence page quotes 09 too)
    assert _search(page, base, "zzzqqq") == [] and "did not match" in page.locator("#search-results").inner_text()
    page.close()


def test_formulas_are_typeset_and_a_phone_sees_no_sidebar_and_no_sideways_scroll(site, browser):
    _, base = site
    shots = ROOT / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page = _open(browser, f"{base}/02_soft_targets.html", width=1400)
    page.wait_for_function("document.querySelectorAll('mjx-container').length > 3", timeout=20_000)
    page.screenshot(path=str(shots / "02_desktop.png"))
    page.close()
    for stem in ("02_soft_targets", "07_defences", "00_overview"):
        page = _open(browser, f"{base}/{stem}.html", width=390, height=844)
        assert not page.locator("nav.bd-docs-nav").is_visible()  # behind the menu button
        assert page.locator("button[aria-label='Search']:visible, .search-button:visible").count() >= 1  # the search icon
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        figures = page.evaluate("Array.from(document.querySelectorAll('article img')).map(i => "
                                "[i.getBoundingClientRect().width, (i.closest('a') || {}).href || ''])")
        assert all(w <= 390 and href.endswith(".png") for w, href in figures), figures  # fits; a tap opens it to zoom
        page.screenshot(path=str(shots / f"{stem}_phone.png"), full_page=stem == "07_defences")
        page.close()
        assert overflow <= 2, f"at 390 px {stem} scrolls sideways by {overflow} px (build/screenshots/{stem}_phone.png)"


def test_slides_build_and_open_offline_without_solutions(browser, tmp_path):
    """`make slides`: a reveal.js deck per notebook; it opens in Chromium with every script from the
    folder (no request leaves the machine), typesets formulas and shows no solution cell."""
    nb = ROOT / "notebooks" / "02_soft_targets.ipynb"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "slides.py"), "--out", str(tmp_path), str(nb)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    deck = (tmp_path / "02_soft_targets.slides.html").read_text()
    for c in nbformat.read(nb, as_version=4).cells:
        if "solution" in c.metadata.get("tags", []):
            assert c.source.strip().splitlines()[-1] not in deck, "a solution cell reached the slides"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        problems, _ = visit(browser, f"{base}/02_soft_targets.slides.html", base)
        assert problems == [], "; ".join(problems[:5])
        page = _open(browser, f"{base}/02_soft_targets.slides.html", width=1280, height=720)
        page.wait_for_selector(".reveal.ready", timeout=20_000)  # reveal.js (an AMD module here) initialised
        assert page.evaluate("document.querySelectorAll('.reveal .slides > section').length") >= 8
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(800)
        page.screenshot(path=str(ROOT / "build" / "screenshots" / "02_slides.png"))
        assert page.evaluate("Array.from(document.querySelectorAll('.reveal .slides > section'))"
                             ".findIndex(s => s.classList.contains('present'))") == 1
        assert page.evaluate("document.querySelectorAll('.MathJax_CHTML, mjx-container').length") >= 1
        page.close()
    finally:
        server.shutdown()


def test_the_instructors_guide_is_on_the_site_without_the_answers(site, browser):
    folder, base = site
    assert 'href="instructors.html"' in (folder / "index.html").read_text()
    problems, _ = visit(browser, f"{base}/instructors.html", base)
    assert problems == []
    page = (folder / "instructors.html").read_text()
    assert "Lesson plans" in page and "90 minutes" in page and "<table" in page
    assert "Model answers" not in page and "## Answers" not in page  # those are in `make answer-key` only
