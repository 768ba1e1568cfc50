"""Write the instructors' answer key: every notebook with its solutions, and the model answers.

    python tools/answer_key.py                  # -> build/answer-key/   (`make answer-key`)
    python tools/answer_key.py --out DIR

It writes, from the committed notebooks (nothing is executed):
- `notebooks/*.ipynb`: the notebooks with their solution cells and outputs;
- `site/`: a Jupyter Book like the public site (`tools/build_site.py`), whose index lists every
  exercise of the series with the hint its check gives and the solution, with each notebook's page
  showing its solution cells (the public site hides them), the model answers to the discussion and
  "Try it yourself" questions (`docs/model_answers.md`) and the quizzes with their answers
  (`docs/quizzes.md`).
Keep it away from students: it is everything `make student-copy` leaves out.
"""

from __future__ import annotations

import argparse
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


INDEX = """# Answer key

```{{warning}}
For instructors: solutions and model answers. Do not project or hand out; students get `make student-copy`.
```

## Exercises, with solutions

{exercises}

## The rest of this key

Every notebook's page here shows its solution cells (the public site hides them); the model answers
to the discussion and "Try it yourself" questions, and the quizzes with their answers, are pages of
their own (in the sidebar).
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="build/answer-key", help="output folder")
    args = p.parse_args()
    out = Path(args.out)
    site, nb_dir = out / "site", out / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    answers_md = ROOT / "docs" / "model_answers.md"
    if not answers_md.is_file():
        print(f"answer_key: error: {answers_md} is missing; restore it from git", file=sys.stderr)
        return 2
    paths = report.notebook_paths()
    sections, pages, n = [], [], 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        shutil.copyfile(path, nb_dir / path.name)
        pages.append((path.stem, nb))
        items = exercises(nb)
        n += len(items)
        if items:
            rows = "\n\n".join(f"#### {e['id']}\n\n*Hint the check gives:* {e['hint'] or '(none)'}\n\n"
                                 f"```text\n{e['solution'].rstrip()}\n```" for e in items)
            sections.append(f"### {report.title_of(nb)}\n\n{rows}")
    docs = {"model_answers": answers_md}
    if (ROOT / "docs" / "quizzes.md").is_file():
        docs["quizzes"] = ROOT / "docs" / "quizzes.md"
    try:
        build_site.render_book(pages, site, INDEX.format(exercises="\n\n".join(sections)), docs=docs,
                               keep_solutions=True, title="Distillation, measured: answer key")
    except RuntimeError as e:
        print(f"answer_key: error: {e}", file=sys.stderr)
        return 1
    print(f"answer key: {n} exercises with solutions, {len(paths)} notebooks, model answers -> {site / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
