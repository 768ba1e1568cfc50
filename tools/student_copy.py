"""Write the students' copy of the notebooks: every cell tagged `solution` becomes `answer_N = None`.

    python tools/student_copy.py                 # -> build/student/*.ipynb
    python tools/student_copy.py --out DIR NB... # chosen notebooks

The check cells stay, so a student sees when an answer is right. Outputs of the solution and
check cells are cleared (they would show the answers); all other outputs are kept to read.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from distill.checkpoints import atomic_write  # noqa: E402
from distill.report import notebook_paths  # noqa: E402


def placeholder(source: str) -> str:
    """`answer_1 = <solution>` -> `answer_1 = None  # your code here` (every name the solution assigns);
    a function the solution defines keeps its signature and docstring, and its body becomes
    `raise NotImplementedError`."""
    names, stubs = [], []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.FunctionDef):  # a function to write: its signature and docstring stay, its body goes
            doc = ast.get_docstring(node)
            stubs.append(f"def {node.name}({ast.unparse(node.args)}):\n"
                         + (f'    """{doc}"""\n' if doc else "")
                         + "    # your code here\n    raise NotImplementedError(\"write this function\")")
    answers = [f"{n} = None  # your code here" for n in dict.fromkeys(names) if n.startswith("answer")]
    if not answers and not stubs:
        raise SystemExit(f"student_copy: error: a solution cell assigns no answer variable and defines no function:\n{source}")
    return "\n\n".join(stubs + ["\n".join(answers)] if answers else stubs)


def strip_solutions(nb) -> int:
    """Replace solution cells in place; returns how many were replaced."""
    n = 0
    for i, cell in enumerate(nb.cells):
        if "solution" in cell.metadata.get("tags", []):
            cell.source = placeholder(cell.source)
            cell.outputs = []
            cell.execution_count = None
            n += 1
            nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            if nxt is not None and nxt.cell_type == "code" and "exercises.check" in nxt.source:
                nxt.outputs, nxt.execution_count = [], None
    return n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "build" / "student"))
    p.add_argument("notebooks", nargs="*")
    args = p.parse_args()
    paths = [Path(n) for n in args.notebooks] or notebook_paths()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        total += strip_solutions(nb)
        atomic_write(out / path.name, lambda tmp: nbformat.write(nb, str(tmp)))
    start = ROOT / "notebooks" / "START_HERE.md"
    if start.is_file():  # the page `make lab-student` opens on, saying whose copy this is
        text = start.read_text(encoding="utf-8").split("**Doing the exercises?**")[0].rstrip()
        text += ("\n\n**This is your copy without the solutions** (`build/student/`): where a solution was, a cell "
                 "says `answer_1 = None  # your code here` or a function raises `NotImplementedError`. Write yours "
                 "there and run the check cell below it.\n")
        atomic_write(out / start.name, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"student copy: {len(paths)} notebooks, {total} solutions removed -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
