"""Execute every notebook headless and render the site.

    python tools/build_site.py --out build        # build/notebooks/*.ipynb + build/site/*.html
    python tools/build_site.py --inplace          # refresh the committed outputs in notebooks/
    python tools/build_site.py --smoke ...        # the same with DISTILL_SMOKE=1
    python tools/build_site.py --no-execute       # render the committed outputs as they are (fast)

Executed notebooks are normalised (execution counts 1..N, no timing metadata, no
progress-bar widgets), so a re-run changes only what the computation changed. A failing cell stops the build
with one line naming the notebook and the error.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


WIDGET = "application/vnd.jupyter.widget-view+json"


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


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    strip_volatile(nb)
    return nb, seconds


def title_and_summary(nb) -> tuple[str, str]:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            lines = cell.source.strip().splitlines()
            title = lines[0].lstrip("# ").strip()
            body = " ".join(l.strip() for l in lines[1:] if l.strip() and not l.startswith("#"))
            body = re.sub(r"[*`]", "", body)  # plain text for the index: no markdown emphasis or code marks
            body = body.removeprefix("In plain words. ")
            return title, (body[:300].rsplit(" ", 1)[0] + " ...") if len(body) > 300 else body
    return "(untitled)", ""


# Pages load their scripts from the site itself, so they render offline: files copied from npm
# packages (the registry, cached in build/npm/). name -> (package, version, files kept, URL in the page)
ASSETS = {
    "mathjax": ("mathjax", "2.7.9",  # nbconvert's lab template configures MathJax 2
                ("MathJax.js", "config/", "extensions/", "jax/input/TeX/", "jax/output/CommonHTML/", "jax/element/",
                 "fonts/HTML-CSS/TeX/woff/", "localization/en/", "LICENSE"),
                "mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"),
    "requirejs": ("requirejs", "2.3.7", ("require.js", "LICENSE"), "requirejs/require.js"),
}
CDN = {"mathjax": "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.9/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
       "requirejs": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.7/require.min.js"}


def bundle(name: str, site: Path) -> str:
    """Copy an npm package's files into site/<name>/ and return the page URL for it; the CDN URL
    (with a warning) if npm is missing or the registry unreachable."""
    import shutil
    import subprocess
    import tarfile

    package, version, keep, url = ASSETS[name]
    dest = site / name
    if dest.exists():
        return url
    cache = ROOT / "build" / "npm"
    tarball = cache / f"{package}-{version}.tgz"
    if not tarball.exists():
        if shutil.which("npm") is None:
            print(f"build_site: warning: npm not found; pages load {package} from a CDN (needs the internet)",
                  file=sys.stderr)
            return CDN[name]
        cache.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", str(cache)],
                           capture_output=True, text=True)
        if r.returncode != 0 or not tarball.exists():
            print(f"build_site: warning: `npm pack {package}@{version}` failed ({r.stderr.strip()[-200:]}); "
                  f"pages load {package} from a CDN", file=sys.stderr)
            return CDN[name]
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


def render_html(nb, out: Path, urls: dict[str, str] = CDN) -> None:
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter(template_name="lab", mathjax_url=urls["mathjax"],
                           require_js_url=urls["requirejs"]).from_notebook_node(nb)
    out.write_text(body, encoding="utf-8")


INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Distillation, measured</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }}
li {{ margin-bottom: 1rem; }} .meta {{ color: #666; font-size: 0.9em; }}
</style></head><body>
<h1>Distillation, measured</h1>
<p>A student network learns from the outputs of a more capable teacher. These notebooks run
that mechanism on public toy data (Fashion-MNIST) and measure how much capability moves across.
Each page below was executed headless by <code>make run</code>; every number in it was computed there.</p>
<h2>Where to start</h2>
<ul class="paths">
<li><b>Policy readers</b> (no code): read <a href="00_overview.html">00 · Overview</a>. It explains
distillation in plain words and shows every notebook's findings and key figure. For the detail behind
one finding, read the "What we saw" section at the end of that notebook's page.</li>
<li><b>Students</b>: work through 01 to 08 in order (about 50 minutes each) in JupyterLab
(<code>make lab</code>), changing the parameters cell and answering the checked exercises at the end
of each notebook.</li>
<li><b>Instructors</b>: <code>docs/instructors.md</code> has a lesson plan per notebook with timings and
discussion questions; <code>make student-copy</code> writes the notebooks without the solutions.</li>
</ul>
<h2>The notebooks</h2>
<ol start="0">
{items}
</ol>
<p class="meta">Built {built} on {machine}.</p>
</body></html>
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="build", help="output folder (notebooks/ and site/ go inside)")
    p.add_argument("--inplace", action="store_true", help="write executed notebooks back into notebooks/")
    p.add_argument("--smoke", action="store_true", help="run with DISTILL_SMOKE=1")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.add_argument("--no-execute", action="store_true",
                   help="render the notebooks' saved outputs without running them (for checking the site)")
    p.add_argument("notebooks", nargs="*", help="notebook paths (default: notebooks/*.ipynb)")
    args = p.parse_args()

    os.environ["DISTILL_SMOKE"] = "1" if args.smoke else "0"
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are for live sessions, not pages (library bars)
    paths = [Path(n) for n in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    out = Path(args.out)
    nb_dir, site = out / "notebooks", out / "site"
    if not args.inplace:
        nb_dir.mkdir(parents=True, exist_ok=True)
        site.mkdir(parents=True, exist_ok=True)

    items, timings = [], {}
    urls = CDN if args.inplace else {name: bundle(name, site) for name in ASSETS}
    for path in paths:
        if args.no_execute:
            nb, seconds = nbformat.read(path, as_version=4), None
        else:
            print(f"executing {path.name} ...", end=" ", flush=True)
            try:
                nb, seconds = execute(path, args.timeout)
            except CellExecutionError as e:
                last = [l for l in str(e).strip().splitlines() if l.strip()][-1]
                print(f"\nbuild_site: error: {path.name} failed: {last}", file=sys.stderr)
                return 1
            timings[path.stem] = round(seconds, 1)
            print(f"{seconds:.0f} s", flush=True)
        if args.inplace:
            nbformat.write(nb, path)
            continue
        nbformat.write(nb, nb_dir / path.name)
        render_html(nb, site / f"{path.stem}.html", urls)
        title, summary = title_and_summary(nb)
        ran = f" &middot; ran in {seconds:.0f} s" if seconds is not None else " &middot; committed outputs"
        items.append(f'<li><a href="{path.stem}.html">{html.escape(title)}</a><br>{html.escape(summary)}'
                     f'<br><span class="meta">{path.name}{ran}</span></li>')

    if not args.inplace:
        import platform
        (site / "index.html").write_text(INDEX.format(
            items="\n".join(items), built=time.strftime("%Y-%m-%d %H:%M"),
            machine=html.escape(f"{platform.machine()}, {os.cpu_count()} CPU threads")), encoding="utf-8")
        if timings:
            (out / "timings.json").write_text(json.dumps({"smoke": args.smoke, "seconds": timings}, indent=2) + "\n")
        print(f"site: {site / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
