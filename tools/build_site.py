"""Execute every notebook headless and render the site; resumable, and one failure costs one page.

The site is a Jupyter Book (1.x), built from the executed notebooks without executing them again:
sidebar, previous/next, each page's contents, full-text search and a phone layout come from it;
MathJax is bundled from npm and the live-code scripts are left out, so no request leaves the machine.

    python tools/build_site.py --out build        # `make run`: build/notebooks/*.ipynb + build/site/*.html
    python tools/build_site.py --no-execute       # `make site`: render the committed outputs (no execution)
    python tools/build_site.py --inplace          # `make notebooks`: refresh the committed outputs in notebooks/
    python tools/build_site.py --smoke ...        # the same with DISTILL_SMOKE=1
    python tools/build_site.py notebooks/03_student_size.ipynb   # chosen notebooks only

- **Cached and resumable.** An executed notebook is kept in `build/cache/executed/`, under a key made of
  the notebook's cells (not its outputs), every source file of `distill/`, the committed teachers,
  the dataset files, smoke or full mode and the torch version. A second run with nothing changed
  re-renders from the cache; after a failure, the next run starts at the notebook that failed.
- **No per-cell timeout a healthy run can hit.** Each notebook gets a limit of `--limit-factor`
  (default 5) times its longest benchmarked time in `bench/results*.json` (at least 10 minutes; none
  when it was never benchmarked). Hitting it names the notebook, the cell and the elapsed time.
- **One failure costs one page.** The other notebooks still run and the site is still built; the
  failed notebook's page shows what failed and how to re-run it above the outputs committed from
  the last full run. The build then exits with status 1 after a one-screen summary.
- **Summaries last.** The overview (00) reads the other notebooks' outputs, so it runs after them,
  reading this run's notebooks (`DISTILL_RUN_DIR`), and it says so.

Executed notebooks are normalised (execution counts 1..N, no timing metadata, no progress-bar
widgets), so a re-run changes only what the computation changed. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from distill import report, settings  # noqa: E402
from distill.checkpoints import atomic_write, file_sha256  # noqa: E402

WIDGET = "application/vnd.jupyter.widget-view+json"
BENCH = ROOT / "bench" / "results.json"
MIN_LIMIT = 600  # seconds: the least any notebook is given


def strip_volatile(nb) -> None:
    """Make an executed notebook depend only on what the computation produced.

    - per-cell timing metadata goes;
    - execution counts become 1..N in cell order, exactly what a clean top-to-bottom run
      gives (nbval needs counts on cells that have outputs, so they are kept, not blanked);
    - widget outputs (progress bars) go: their saved text is the state at first display,
      "0%", which would mislead a reader of the page.
    """
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = count
    nb.metadata.pop("widgets", None)


# ---- what a run depends on ------------------------------------------------------------------

def _digest_files(h, paths) -> None:
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p).encode())
        h.update(file_sha256(p).encode() if p.is_file() else b"missing")


def inputs_digest() -> str:
    """Digest of everything a notebook's results depend on besides its own cells: the library's
    sources, the committed teachers, the dataset files, and the torch and Python versions."""
    import torch
    h = hashlib.sha256(f"torch {torch.__version__} python {platform.python_version()}".encode())
    _digest_files(h, (ROOT / "distill").glob("*.py"))
    _digest_files(h, list((ROOT / "data").glob("*.safetensors")) + list((ROOT / "data").glob("*.json")))
    _digest_files(h, (settings.data_dir() / "FashionMNIST" / "raw").glob("*-ubyte"))
    return h.hexdigest()


def cells_digest(nb) -> str:
    """Digest of a notebook's cells as written (sources, types, tags), not of its outputs."""
    cells = [(c.cell_type, c.source, sorted(c.metadata.get("tags", []))) for c in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def cache_key(nb, inputs: str, smoke: bool, upstream: str = "") -> str:
    return hashlib.sha256(f"{cells_digest(nb)} {inputs} smoke={smoke} {upstream}".encode()).hexdigest()[:20]


def read_cached(path: Path):
    """A cached executed notebook, or None if it is missing or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception:  # corrupt or from another nbformat: recompute, never show a wrong page
        path.unlink(missing_ok=True)
        return None
    return nb


def write_notebook(nb, path: Path) -> None:
    atomic_write(path, lambda tmp: nbformat.write(nb, str(tmp)))


# ---- executing one notebook ------------------------------------------------------------------

@dataclass
class Result:
    name: str
    status: str = "pending"     # executed | cached | committed | failed
    seconds: float | None = None
    error: str = ""             # one line: which cell, what, after how long
    slowest: str = ""           # which cell took longest (a stalled start or cell shows here)
    nb: object = None


def benchmarked_seconds(smoke: bool, folder: Path | None = None) -> dict[str, float]:
    """Each notebook's time as benchmarked, for estimates and limits: the longest recorded in any full
    results file of bench/ (`results*.json`, not the quick or partial ones), so a limit follows the
    slowest machine and the heaviest version of the series on record."""
    mode, out = "smoke" if smoke else "full", {}
    for path in sorted((folder or BENCH.parent).glob("results*.json")):
        if path.stem in ("results-quick", "results-partial"):
            continue
        try:
            notebooks = json.loads(path.read_text()).get("notebooks", {})
            for k, v in notebooks.items():
                if v.get(mode, {}).get("ok"):
                    out[k] = max(out.get(k, 0.0), float(v[mode]["seconds"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # an unreadable file gives no estimate, never a wrong one
    return out


def execute(path: Path, limit: float | None) -> Result:
    """Run a notebook top to bottom in a fresh kernel, within `limit` seconds in all (None: no limit)."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    where = {"cell": None}

    def remaining(cell):  # nbclient asks before each cell: the cell may use what is left of the limit
        return None if limit is None else max(1, int(limit - (time.perf_counter() - start)))

    cell_start: dict = {}

    def cell_done(cell, cell_index, **_):  # the slowest cell, for the progress line (a stall shows where)
        took = time.perf_counter() - cell_start.get(cell_index, time.perf_counter())
        if took > where.get("slowest", (0, None))[0]:
            where["slowest"] = (took, cell_index)

    # the kernel listens on localhost only; its warning about unencrypted TCP (one per notebook) would
    # break the one-line-per-notebook progress, so the kernel logs errors only (the IPC transport would
    # avoid it, but nbclient then leaves the kernel running after the notebook ends)
    client = NotebookClient(nb, timeout_func=remaining, kernel_name="python3", startup_timeout=300,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=lambda cell, cell_index: (where.update(cell=cell_index),
                                                                    cell_start.update({cell_index: time.perf_counter()})),
                            on_cell_executed=cell_done)
    result = Result(path.stem)
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError, TimeoutError, RuntimeError) as e:
        seconds = time.perf_counter() - start
        code_no = sum(1 for c in nb.cells[:(where["cell"] or 0) + 1] if c.cell_type == "code")
        if isinstance(e, (CellTimeoutError, TimeoutError)):
            what = f"hit its limit of {limit:.0f} s (raise it with --limit-factor, or --no-limit)"
        else:
            lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
            what = lines[-1][:300] if lines else type(e).__name__
        result.status, result.seconds, result.nb = "failed", seconds, nb
        result.error = f"code cell {code_no} (cell {(where['cell'] or 0) + 1}) after {seconds:.0f} s: {what}"
        return result
    result.seconds = time.perf_counter() - start
    if "slowest" in where:
        took, index = where["slowest"]
        code_no = sum(1 for c in nb.cells[:index + 1] if c.cell_type == "code")
        result.slowest = f"slowest: code cell {code_no}, {took:.0f} s; kernel start and the rest {result.seconds - took:.0f} s"
    strip_volatile(nb)
    result.status, result.nb = "executed", nb
    return result


# ---- rendering --------------------------------------------------------------------------------

# Pages load their scripts from the site itself, so they render offline: files copied from npm
# packages (the registry, cached in build/npm/). name -> (package, version, files kept, URL in the page).
# These serve the slides (nbconvert's reveal.js pages, tools/slides.py); the site and the answer key
# are Jupyter Books (`render_book`, below), with MathJax 3 (`BOOK_ASSETS`).
ASSETS = {
    "mathjax": ("mathjax", "2.7.9",  # nbconvert's lab template configures MathJax 2
                ("MathJax.js", "config/", "extensions/", "jax/input/TeX/", "jax/output/CommonHTML/", "jax/element/",
                 "fonts/HTML-CSS/TeX/woff/", "localization/en/", "LICENSE"),
                "mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"),
    "requirejs": ("requirejs", "2.3.7", ("require.js", "LICENSE"), "requirejs/require.js"),
}
CDN = {"mathjax": "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.9/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
       "requirejs": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.7/require.min.js"}


def bundle(name: str, site: Path, assets: dict | None = None, cdn: dict | None = None) -> str:
    """Copy an npm package's files into site/<name>/ and return the page URL for it; the CDN URL
    (with a warning) if npm is missing or the registry unreachable. `assets`/`cdn`: other tables
    than the site's (the slides bundle reveal.js and jQuery)."""
    import shutil
    import subprocess
    import tarfile

    assets, CDN_ = assets or ASSETS, cdn or CDN
    package, version, keep, url = assets[name]
    dest = site / name
    if dest.exists():
        return url
    cache = ROOT / "build" / "npm"
    tarball = cache / f"{package}-{version}.tgz"
    if not tarball.exists():
        if shutil.which("npm") is None:
            print(f"build_site: warning: npm not found; pages load {package} from a CDN (needs the internet)",
                  file=sys.stderr)
            return CDN_[name]
        cache.mkdir(parents=True, exist_ok=True)
        try:  # --prefer-offline: the npm cache first; a registry that does not answer costs 60 s, not minutes
            r = subprocess.run(["npm", "pack", f"{package}@{version}", "--silent", "--prefer-offline",
                                "--fetch-timeout=20000", "--fetch-retries=1", "--pack-destination", str(cache)],
                               capture_output=True, text=True, timeout=60)
            failed = r.returncode != 0 or not tarball.exists()
            why = r.stderr.strip()[-200:]
        except subprocess.TimeoutExpired:
            failed, why = True, "no answer from the registry in 60 s"
        if failed:
            print(f"build_site: warning: `npm pack {package}@{version}` failed ({why}); "
                  f"pages load {package} from a CDN", file=sys.stderr)
            return CDN_[name]
    tmp = dest.with_name(name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/")
                   and m.name[len("package/"):].startswith(keep)]
        for m in members:
            m.name = m.name[len("package/"):]
        try:
            tar.extractall(tmp, members=members, filter="data")
        except TypeError:  # Python without extraction filters (before 3.10.12 / 3.11.4)
            tar.extractall(tmp, members=members)
    tmp.replace(dest)
    return url


# What notebook content may put on a page: text, tables, figures, links, code; no scripts, no event
# handlers, no styles or frames. The page's own scripts live outside the content (<main> in the
# slides, the article in the book).
SAFE_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
             "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "main", "ol", "p", "pre", "s",
             "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
             "tr", "u", "ul"}
SAFE_ATTRIBUTES = {"*": ["class", "id", "title", "tabindex", "data-mime-type", "data-type", "align"],
                   "a": ["href", "title", "class", "id"], "img": ["src", "alt", "width", "height", "class"],
                   "td": ["colspan", "rowspan", "align", "class"], "th": ["colspan", "rowspan", "align", "class"]}


def sanitize_page(page: str, extra_tags: frozenset = frozenset()) -> str:
    """Clean what notebook content put inside <main> (bleach, an allowlist): `<script>`, `onerror=`,
    `javascript:` links and the like never reach the page; the page's own scripts are outside <main>."""
    import bleach
    start, end = page.find("<main>"), page.rfind("</main>")
    if start < 0 or end < 0:
        raise RuntimeError("the HTML template has no <main> element to sanitise; check nbconvert's lab template")
    body = bleach.clean(page[start:end + len("</main>")], tags=SAFE_TAGS | extra_tags, attributes=SAFE_ATTRIBUTES,
                        protocols={"http", "https", "mailto", "data"}, strip=True, strip_comments=True)
    return page[:start] + body + page[end + len("</main>"):]


def failure_page(committed, result: Result, path: Path):
    """The committed notebook with a banner on top saying what failed in this run and how to re-run it."""
    nb = copy.deepcopy(committed)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    banner = (f"<div class='distill-failed'>\n\n"
              f"**This notebook failed in this run of `make run`.** {html.escape(result.error)}\n\n"
              f"Below are the outputs committed from the last full run, not from this machine. "
              f"To re-run: `make run` again (notebooks that finished are reused from the cache) or "
              f"`python tools/build_site.py {rel}`; the failed run's notebook, with its error, is in "
              f"`build/failed/{path.name}`.\n\n</div>")
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
    return nb


def summary_of(nb) -> str:
    """The index's one-paragraph summary of a notebook: its opening paragraph, plain text."""
    import re
    first = next((c for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith("#")), None)
    if first is None:
        return ""
    body = " ".join(ln.strip() for ln in first.source.strip().splitlines()[1:] if ln.strip() and not ln.startswith("#"))
    body = re.sub(r"[*`]", "", body).removeprefix("In plain words. ")
    return (body[:300].rsplit(" ", 1)[0] + " ...") if len(body) > 300 else body


INDEX = """# Distillation, measured

A student network learns from the outputs of a more capable teacher. These notebooks run that
mechanism on public toy data (Fashion-MNIST) and measure how much capability moves across.
{how}

## Where to start

- **Policy readers** (no code): read [00 · Overview](00_overview.ipynb). It answers the questions policy
  readers ask in plain words, each with the measured number and a link to its evidence.
- **Students**: work through 01 to 09 in order (about 50 minutes each) in JupyterLab (`make lab`),
  changing the parameters cell and answering the checked exercises at the end of each notebook.
- **Instructors**: the [instructors' guide](instructors.md) has learning objectives, a 50- and a
  90-minute plan per notebook, discussion questions, the exercises and what each check rejects;
  `make student-copy` writes the notebooks without the solutions, `make answer-key` the solutions,
  model answers and quizzes (kept off this site), `make slides` the slides.

## The notebooks

{items}

*Built {built} on {machine}; rendered with Jupyter Book.*
"""

STATUS_TEXT = {"executed": "ran in {s:.0f} s", "cached": "ran in {s:.0f} s (reused from the cache)",
               "committed": "committed outputs", "failed": "**FAILED in this run: showing the committed outputs**"}


def index_item(result: Result, nb) -> str:
    s = result.seconds or 0
    meta = STATUS_TEXT[result.status].format(s=s)
    return (f"- [{report.title_of(nb)}]({result.name}.ipynb)\\\n  {summary_of(nb)}\\\n"  # titles carry their number
            f"  <small>{result.name}.ipynb · {meta}</small>")


# The site is a Jupyter Book (1.x: Sphinx with the book theme): sidebar, previous/next, the page's
# own contents, full-text search and a layout for phones come from it; every script, style and font
# is served from the site itself (MathJax from npm, like the slides), so no request leaves the machine.
BOOK_ASSETS = {"mathjax3": ("mathjax", "3.2.2", ("es5/tex-chtml-full.js", "es5/output/chtml/fonts/", "LICENSE"),
                            "mathjax3/es5/tex-chtml-full.js")}
BOOK_CDN = {"mathjax3": "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-chtml-full.js"}
BOOK_TITLE = "Distillation, measured"
BOOK_CSS = """/* the project's additions to the book theme */
.distill-failed, div.admonition.error { border-left: 4px solid #b00; }
@media print {
  @page { size: A4; margin: 11mm 12mm; }
  #jb-print-toc { display: none !important; }
  #jb-print-docs-body h1 { font-size: 15pt !important; text-align: left !important; margin: 0 0 0.5em !important; }
  .bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer, .bd-footer-article, .prev-next-area,
  .header-article, .bd-header-article, .headerlink { display: none !important; }
  .bd-main .bd-content .bd-article-container, .bd-page-width { max-width: 100% !important; }
  .bd-article { font-size: 8.9pt !important; line-height: 1.25 !important; padding: 0 !important; }
  .bd-article h1 { font-size: 15pt !important; } .bd-article h2 { font-size: 12pt !important; margin-top: 0.8em !important; }
  .bd-article h3 { font-size: 10.5pt !important; margin-top: 0.6em !important; }
  .bd-article p, .bd-article li { margin-bottom: 0.25em !important; }
  .bd-article table { font-size: 8pt !important; margin: 0.3em 0 !important; }
  .bd-article th, .bd-article td { padding: 1px 5px !important; line-height: 1.2 !important; }
  .cell, .cell_output, .output { margin: 0 !important; padding: 0 !important; break-inside: auto !important; }
  img { max-height: 4.6cm; width: auto !important; break-inside: avoid; }
}
"""
# What notebook content may put on a page (the article): text, tables, figures, links, code; no
# scripts, no event handlers, no styles or frames (bleach, an allowlist). The theme's own markup
# and scripts live outside the article.
BOOK_TAGS = frozenset({"section", "article", "figure", "figcaption", "colgroup", "col", "cite", "caption", "label",
                       "button"})
BOOK_ATTRIBUTES = {**SAFE_ATTRIBUTES, "*": SAFE_ATTRIBUTES["*"] + ["role", "aria-label", "aria-hidden", "style"],
                   "col": ["style", "span"]}


def page_notebook(nb, keep_solutions: bool = False):
    """The notebook as a page shows it: cells tagged `solution` left out (they belong in the answer
    key, not on a projector); cells tagged `remove-input` keep only their outputs (the theme does it)."""
    nb = copy.deepcopy(nb)
    if not keep_solutions:
        nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    for c in nb.cells:
        if c.cell_type == "code":  # no notebook script on the site: javascript outputs go before Sphinx sees them
            c.outputs = [o for o in c.outputs if "application/javascript" not in o.get("data", {})]
    return nb


def sanitize_article(page: str) -> str:
    """Clean the page's article (what notebooks and Markdown put there) with bleach's allowlist."""
    import bleach
    from bleach.css_sanitizer import CSSSanitizer
    m = re.search(r'<article class="bd-article"[^>]*>', page)
    end = page.rfind("</article>")
    if m is None or end < 0:
        raise RuntimeError("the book page has no <article class=\"bd-article\">; check the sphinx-book-theme version")
    body = re.sub(r"<(script|style)\b[^>]*>.*?</\1\s*>", "", page[m.end():end], flags=re.S | re.I)  # with their text
    body = bleach.clean(body, tags=SAFE_TAGS | BOOK_TAGS, attributes=BOOK_ATTRIBUTES,
                        protocols={"http", "https", "mailto", "data"}, strip=True, strip_comments=True,
                        css_sanitizer=CSSSanitizer())
    return page[:m.end()] + body + page[end:]


THEBE = re.compile(r'\s*<script>const THEBE_JS_URL[^<]*</script>|\s*<script[^>]*sphinx-thebe\.js[^>]*></script>'
                   r'|\s*<link[^>]*sphinx-thebe\.css[^>]*/?>')


def tidy_page(page: str) -> str:
    """What the book theme adds that this site does not use: the live-code (thebe) scripts, which name
    a CDN and are included twice; and the browser's request for /favicon.ico (no icon: an empty one)."""
    page = THEBE.sub("", page)
    return page.replace("<head>", '<head>\n    <link rel="icon" href="data:,">', 1)


def zoomable_figures(page: str) -> str:
    """Each figure links to its own image: on a phone, where a wide figure's legend is too small to
    read, a tap opens it alone, to zoom."""
    return re.sub(r'(<img [^>]*src="(_images/[^"]+\.(?:png|jpg|jpeg|svg))"[^>]*>)',
                  r'<a class="distill-zoom" href="\2" title="open the figure alone (to zoom)">\1</a>', page)


def jupyter_book() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.is_file():
        return [str(exe)]
    import shutil
    found = shutil.which("jupyter-book")
    if found is None:
        raise RuntimeError("jupyter-book is not installed; run `make setup` (it installs the project's dev tools)")
    return [found]


def render_book(pages: list[tuple[str, object]], site: Path, index_md: str, docs: dict[str, Path] | None = None,
                keep_solutions: bool = False, title: str = BOOK_TITLE) -> None:
    """Build the site in `site` as a Jupyter Book from `pages` ((stem, executed notebook), in reading
    order), an index page (Markdown) and Markdown `docs` ({page name: file}), without executing
    anything. The book's sources go to `<site>-book/`; the site replaces `site` only once it is built."""
    import shutil
    import subprocess
    book = site.with_name(site.name + "-book")
    shutil.rmtree(book, ignore_errors=True)
    for d in ("_static", "assets"):  # _static: the book includes every .js/.css there on every page; assets: copied
        (book / d).mkdir(parents=True)
    for stem, nb in pages:
        write_notebook(page_notebook(nb, keep_solutions), book / f"{stem}.ipynb")
    (book / "index.md").write_text(index_md, encoding="utf-8")
    docs = docs or {}
    for name, path in docs.items():
        shutil.copyfile(path, book / f"{name}.md")
    mathjax = bundle("mathjax3", book / "assets", BOOK_ASSETS, BOOK_CDN)  # copied to the site's root
    if "://" not in mathjax:  # the book includes every script under its static paths; MathJax only once, from here
        mathjax = "../" + mathjax  # (Sphinx reads a relative mathjax_path from _static/)
    (book / "_static" / "distill.css").write_text(BOOK_CSS, encoding="utf-8")
    config = {  # JSON is YAML
        "title": title, "author": "", "copyright": "", "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence", "html_image"]},
        "html": {"use_repository_button": False, "use_issues_button": False, "use_edit_page_button": False,
                 "use_download_button": False, "home_page_in_navbar": True, "extra_footer": ""},
        "launch_buttons": {"notebook_interface": "", "binderhub_url": "", "colab_url": "", "jupyterhub_url": "",
                           "thebe": False},
        "sphinx": {"config": {"mathjax_path": mathjax, "html_extra_path": ["assets"], "html_show_copyright": False,
                              "html_context": {"default_mode": "light"},
                              "html_show_sphinx": False, "myst_heading_anchors": 3, "nb_render_markdown_format": "myst",
                              "suppress_warnings": ["myst.header", "misc.highlighting_failure", "myst.xref_missing"]}},
    }
    (book / "_config.yml").write_text(json.dumps(config, indent=1), encoding="utf-8")
    toc = {"format": "jb-book", "root": "index",
           "parts": [{"caption": "The series", "chapters": [{"file": stem} for stem, _ in pages]}]
           + ([{"caption": "For instructors", "chapters": [{"file": name} for name in docs]}] if docs else [])}
    (book / "_toc.yml").write_text(json.dumps(toc, indent=1), encoding="utf-8")
    r = subprocess.run(jupyter_book() + ["build", str(book), "--builder", "html"], capture_output=True, text=True)
    html_dir = book / "_build" / "html"
    if r.returncode != 0 or not (html_dir / "index.html").is_file():
        log = book / "build.log"
        log.write_text(r.stdout + r.stderr, encoding="utf-8")
        last = next((ln for ln in reversed((r.stderr or r.stdout).strip().splitlines()) if ln.strip()), "no output")
        raise RuntimeError(f"jupyter-book build failed ({last.strip()[:200]}); the whole log is in {log}")
    for page in html_dir.glob("*.html"):
        text = tidy_page(page.read_text(encoding="utf-8"))
        if '<article class="bd-article"' in text:
            text = zoomable_figures(sanitize_article(text))
        page.write_text(text, encoding="utf-8")
    tmp = site.with_name(site.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(html_dir, tmp)
    shutil.rmtree(site, ignore_errors=True)
    tmp.replace(site)


# ---- the run ----------------------------------------------------------------------------------

def plan(paths: list[Path]) -> list[Path]:
    """Reading order, except that summaries (the overview) run after the notebooks they read."""
    return ([p for p in paths if not p.name.startswith(report.SUMMARIES)]
            + [p for p in paths if p.name.startswith(report.SUMMARIES)])


def minutes(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="build", help="output folder (notebooks/ and site/ go inside)")
    p.add_argument("--inplace", action="store_true", help="write executed notebooks back into notebooks/")
    p.add_argument("--smoke", action="store_true", help="run with DISTILL_SMOKE=1")
    p.add_argument("--no-execute", action="store_true",
                   help="render the notebooks' committed outputs without running them (`make site`)")
    p.add_argument("--no-cache", action="store_true", help="execute even when a cached result exists")
    p.add_argument("--limit-factor", type=float, default=5.0,
                   help="a notebook may take this many times its benchmarked time (at least 10 minutes)")
    p.add_argument("--no-limit", action="store_true", help="no time limit at all")
    p.add_argument("notebooks", nargs="*", help="notebook paths (default: notebooks/NN_*.ipynb)")
    args = p.parse_args()
    if not args.limit_factor > 0:
        p.error(f"--limit-factor must be > 0, got {args.limit_factor}")

    os.environ["DISTILL_SMOKE"] = "1" if args.smoke else "0"
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are for live sessions, not pages (library bars)
    paths = [Path(n).resolve() for n in args.notebooks] or report.notebook_paths()
    missing = [str(q) for q in paths if not q.is_file()]
    if missing:
        print(f"build_site: error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    nb_dir, site, cache, failed_dir = out / "notebooks", out / "site", out / "cache" / "executed", out / "failed"
    for d in (nb_dir, site, cache):
        d.mkdir(parents=True, exist_ok=True)
    # the overview reads the notebooks this run executed (committed ones when nothing executes)
    if not args.no_execute and not args.inplace:
        os.environ["DISTILL_RUN_DIR"] = str(nb_dir.resolve())

    order = plan(paths)
    bench = benchmarked_seconds(args.smoke)
    inputs = "" if args.no_execute else inputs_digest()
    results: dict[str, Result] = {}
    shown_pages: dict[str, object] = {}
    keys: dict[str, str] = {}
    t0 = time.perf_counter()
    for i, path in enumerate(order, start=1):
        committed = nbformat.read(path, as_version=4)
        tag = f"[{i}/{len(order)}] {path.stem}"
        if args.no_execute:
            result = Result(path.stem, "committed", None, nb=committed)
        else:
            upstream = " ".join(keys.values()) if path.name.startswith(report.SUMMARIES) else ""
            key = keys[path.stem] = cache_key(committed, inputs, args.smoke, upstream)
            cached = None if args.no_cache else read_cached(cache / f"{path.stem}-{key}.ipynb")
            if cached is not None:
                result = Result(path.stem, "cached", cached.metadata.get("distill", {}).get("seconds"), nb=cached)
                print(f"{tag}: reused from the cache", flush=True)
            else:
                est = bench.get(path.stem)
                limit = None if args.no_limit or est is None else max(MIN_LIMIT, args.limit_factor * est)
                left = sum(bench.get(q.stem, 0) for q in order[i - 1:])
                print(f"{tag}: started" + (f" (about {minutes(est)} when benchmarked; about {minutes(left)} "
                                           f"left in this run)" if est else "")
                      + (f", limit {minutes(limit)}" if limit else ", no time limit"), flush=True)
                result = execute(path, limit)
                if result.status == "executed":
                    result.nb.metadata["distill"] = {"seconds": round(result.seconds, 1), "smoke": args.smoke}
                    write_notebook(result.nb, cache / f"{path.stem}-{key}.ipynb")
                    print(f"{tag}: done in {minutes(result.seconds)} (run so far {minutes(time.perf_counter() - t0)}; "
                          f"{result.slowest})",
                          flush=True)
                else:
                    write_notebook(result.nb, failed_dir / path.name)
                    print(f"{tag}: FAILED at {result.error}", flush=True)
        results[path.stem] = result
        if args.inplace:
            if result.status in ("executed", "cached"):
                result.nb.metadata.pop("distill", None)
                write_notebook(result.nb, path)
            continue
        shown_pages[path.stem] = failure_page(committed, result, path) if result.status == "failed" else result.nb
        if result.status != "failed":
            write_notebook(result.nb, nb_dir / path.name)

    if not args.inplace:
        items = [index_item(results[q.stem], results[q.stem].nb if results[q.stem].status != "failed"
                            else nbformat.read(q, as_version=4)) for q in paths]
        how = ("The pages show the outputs committed from the last full run (`make site`)."
               if args.no_execute else "Each page was executed headless by `make run`; every number in it was "
               "computed there.")
        index = INDEX.format(items="\n".join(items), how=how, built=time.strftime("%Y-%m-%d %H:%M"),
                             machine=f"{platform.machine()}, {os.cpu_count()} CPU threads")
        guide = ROOT / "docs" / "instructors.md"
        print(f"rendering the site with Jupyter Book ({len(paths)} pages) ...", flush=True)
        try:
            render_book([(q.stem, shown_pages[q.stem]) for q in paths], site, index,
                        docs={"instructors": guide} if guide.is_file() else {})
        except RuntimeError as e:
            print(f"build_site: error: {e}", file=sys.stderr)
            return 1
        timings = {k: round(r.seconds, 1) for k, r in results.items() if r.seconds is not None}
        if timings:
            atomic_write(out / "timings.json", lambda tmp: tmp.write_text(
                json.dumps({"smoke": args.smoke, "seconds": timings}, indent=2) + "\n"))

    failed = [r for r in results.values() if r.status == "failed"]
    total = time.perf_counter() - t0
    print(f"\n{'notebook':<24} {'status':<10} {'seconds':>8}")
    for r in results.values():
        print(f"{r.name:<24} {r.status:<10} {'' if r.seconds is None else f'{r.seconds:.0f}':>8}")
    print(f"{len(results) - len(failed)} of {len(results)} notebooks ok in {minutes(total)}"
          + ("" if args.inplace else f"; site: {site / 'index.html'}"))
    for r in failed:
        print(f"build_site: error: {r.name} failed at {r.error}. Its page shows the committed outputs; "
              f"fix it and run the same command again (finished notebooks come from the cache).", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
