"""Execute every notebook headless and render the site.

    python tools/build_site.py --out build        # build/notebooks/*.ipynb + build/site/*.html
    python tools/build_site.py --inplace          # refresh the committed outputs in notebooks/
    python tools/build_site.py --smoke ...        # the same with DISTILL_SMOKE=1

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
            return title, (body[:300].rsplit(" ", 1)[0] + " ...") if len(body) > 300 else body
    return "(untitled)", ""


def render_html(nb, out: Path) -> None:
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
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
<ol>
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
    for path in paths:
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
        render_html(nb, site / f"{path.stem}.html")
        title, summary = title_and_summary(nb)
        items.append(f'<li><a href="{path.stem}.html">{html.escape(title)}</a><br>{html.escape(summary)}'
                     f'<br><span class="meta">{path.name} &middot; ran in {seconds:.0f} s</span></li>')

    if not args.inplace:
        import platform
        (site / "index.html").write_text(INDEX.format(
            items="\n".join(items), built=time.strftime("%Y-%m-%d %H:%M"),
            machine=html.escape(f"{platform.machine()}, {os.cpu_count()} CPU threads")), encoding="utf-8")
        (out / "timings.json").write_text(json.dumps({"smoke": args.smoke, "seconds": timings}, indent=2) + "\n")
        print(f"site: {site / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
