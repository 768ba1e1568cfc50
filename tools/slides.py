"""Slides for class: one reveal.js deck per notebook, from its committed outputs, offline.

    python tools/slides.py                     # -> build/slides/NN_*.slides.html   (`make slides`)
    python tools/slides.py --out DIR NB...     # chosen notebooks

nbconvert's reveal.js exporter does the work; this script only decides what is a slide, from the
notebook's own structure (no cell needs slide metadata): a `#`/`##` heading starts a slide, a `###`
heading a sub-slide (below it, reached with the down arrow), a code cell with a figure becomes a
slide showing the figure only, other code is left out, and so are exercise solutions (a projector is
public). Long slides scroll. reveal.js, jQuery, require.js and MathJax are copied from the npm
registry into the folder once (`build/npm/` cache), so the decks open with no network.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402
from distill import report  # noqa: E402
from distill.checkpoints import atomic_write  # noqa: E402

SLIDE_ASSETS = {
    "reveal.js": ("reveal.js", "4.0.2", ("dist/", "plugin/notes/", "LICENSE"), "reveal.js"),  # nbconvert's version
    "jquery": ("jquery", "3.7.1", ("dist/jquery.min.js", "LICENSE.txt"), "jquery/dist/jquery.min.js"),
    **build_site.ASSETS,
}
SLIDE_CDN = {"reveal.js": "https://unpkg.com/reveal.js@4.0.2",
             "jquery": "https://code.jquery.com/jquery-3.7.1.min.js", **build_site.CDN}


def as_slides(nb):
    """A copy of the notebook with reveal.js slide types set from its structure (see the module doc)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        text = cell.source.lstrip()
        if cell.cell_type == "markdown":
            kind = "slide" if text.startswith(("# ", "## ")) else "subslide" if text.startswith("### ") else "-"
        elif cell.cell_type == "code" and "solution" not in tags and any(
                "image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            kind = "slide"
            cell.metadata.setdefault("tags", []).append("remove-input")
            cell.outputs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        else:
            kind = "skip"
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def render_slides(nb, out: Path, urls: dict[str, str]) -> str:
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    exporter = SlidesExporter(template_name="distill_slides",
                              extra_template_basedirs=[str(ROOT / "tools" / "slides_template")],
                              reveal_url_prefix=urls["reveal.js"], reveal_scroll=True, reveal_number="c/t",
                              reveal_theme="white",  # its fonts are in the package ("simple" asks Google Fonts)
                              mathjax_url=urls["mathjax"], require_js_url=urls["requirejs"], jquery_url=urls["jquery"])
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove-input"},
                                                         remove_cell_tags={"solution"}), enabled=True)
    body, _ = exporter.from_notebook_node(as_slides(nb), resources={"metadata": {"name": report.title_of(nb)}})
    body = build_site.sanitize_page(body, frozenset({"section"}))  # no notebook script runs, as on the site
    atomic_write(out, lambda tmp: tmp.write_text(body, encoding="utf-8"))
    return body


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "build" / "slides"))
    p.add_argument("notebooks", nargs="*")
    args = p.parse_args()
    paths = [Path(n) for n in args.notebooks] or report.notebook_paths()
    missing = [str(q) for q in paths if not q.is_file()]
    if missing:
        print(f"slides: error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    urls = {name: build_site.bundle(name, out, SLIDE_ASSETS, SLIDE_CDN) for name in SLIDE_ASSETS}
    for path in paths:
        render_slides(nbformat.read(path, as_version=4), out / f"{path.stem}.slides.html", urls)
    print(f"slides: {len(paths)} decks -> {out}/ (open NN_*.slides.html; arrows to move, S for speaker notes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
