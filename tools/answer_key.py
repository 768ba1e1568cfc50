"""Write the instructors' answer key: every notebook with its solutions, and the model answers.

    python tools/answer_key.py                  # -> build/answer-key/   (`make answer-key`)
    python tools/answer_key.py --out DIR

It writes, from the committed notebooks (nothing is executed):
- `notebooks/*.ipynb`: the notebooks with their solution cells and outputs;
- `site/index.html`: every exercise of the series with the hint its check gives and the solution,
  then the model answers to the discussion and "Try it yourself" questions (`docs/model_answers.md`)
  and the quizzes with their answers (`docs/quizzes.md`);
- `site/NN_*.html`: each notebook's page with its solution cells shown (the public site hides them).
Keep it away from students: it is everything `make student-copy` leaves out.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402
from distill import report  # noqa: E402
from distill.answer_key import ANSWERS  # noqa: E402
from distill.checkpoints import atomic_write  # noqa: E402

CHECK = re.compile(r'check_answer\("([^"]+)"')
FUNCTION_CHECK = re.compile(r"exercises\.(check_\w+)\((\w+)")


def exercises(nb) -> list[dict]:
    """The notebook's exercises in order: each solution cell with the check that follows it (the check
    id and its hint for "Check yourself" answers, the checking function for code the student writes)."""
    out = []
    cells = nb.cells
    for i, c in enumerate(cells):
        if c.cell_type != "code" or "solution" not in c.metadata.get("tags", []):
            continue
        check = next((d.source for d in cells[i + 1:] if d.cell_type == "code"
                      and "solution" not in d.metadata.get("tags", []) and "exercises.check" in d.source), "")
        m = CHECK.search(check)
        if m:
            entry = ANSWERS[m.group(1)]
            out.append({"id": m.group(1), "hint": entry.hint, "solution": c.source, "check": check.strip()})
        else:
            f = FUNCTION_CHECK.search(check)
            out.append({"id": f"{f.group(2)}" if f else "code", "hint": f"checked by exercises.{f.group(1)}" if f else "",
                        "solution": c.source, "check": check.strip()})
    return out


def markdown_html(text: str) -> str:
    import mistune  # nbconvert's markdown renderer
    return mistune.html(text)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Answer key · Distillation, measured</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }} .hint {{ color: #555; }}
.warning {{ border: 2px solid #b60; padding: 0.6em; background: #fff8ef; }}
</style></head><body>
<h1>Answer key</h1>
<p class="warning">For instructors: solutions and model answers. Do not project or hand out;
students get <code>make student-copy</code>.</p>
<h2>Exercises, with solutions</h2>
{exercises}
<h2>Notebooks with their solutions shown</h2>
<ul>{pages}</ul>
{answers}
</body></html>
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="build/answer-key", help="output folder")
    args = p.parse_args()
    out = Path(args.out)
    site, nb_dir = out / "site", out / "notebooks"
    for d in (site, nb_dir):
        d.mkdir(parents=True, exist_ok=True)
    answers_md = ROOT / "docs" / "model_answers.md"
    if not answers_md.is_file():
        print(f"answer_key: error: {answers_md} is missing; restore it from git", file=sys.stderr)
        return 2
    paths = report.notebook_paths()
    pages = [(q.stem, report.title_of(nbformat.read(q, as_version=4))) for q in paths]
    urls = {name: build_site.bundle(name, site) for name in build_site.ASSETS}
    sections, links, n = [], [], 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        shutil.copyfile(path, nb_dir / path.name)
        nav = re.sub(r'<form action="search.html".*?</form>', "", build_site.nav_html(pages, path.stem))  # no search here
        build_site.render_html(nb, site / f"{path.stem}.html", urls, nav=nav, keep_solutions=True)
        links.append(f'<li><a href="{path.stem}.html">{html.escape(report.title_of(nb))}</a></li>')
        items = exercises(nb)
        n += len(items)
        if items:
            rows = "".join(f"<h4>{html.escape(e['id'])}</h4><p class='hint'>Hint the check gives: {html.escape(e['hint'])}</p>"
                           f"<pre><code>{html.escape(e['solution'])}</code></pre>" for e in items)
            sections.append(f"<h3>{html.escape(report.title_of(nb))}</h3>{rows}")
    docs = [answers_md] + [d for d in (ROOT / "docs" / "quizzes.md",) if d.is_file()]
    answers = "\n".join(markdown_html(d.read_text(encoding="utf-8")).replace("<h1>", "<h2>").replace("</h1>", "</h2>")
                        for d in docs)
    page = PAGE.format(exercises="\n".join(sections), pages="".join(links), answers=answers)
    atomic_write(site / "index.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))
    print(f"answer key: {n} exercises with solutions, {len(paths)} notebooks, model answers -> {site / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
