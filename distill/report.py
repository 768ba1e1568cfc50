"""Read the series' findings back out of the executed notebooks, for the overview (00).

Every number in a notebook's "What we saw" section is computed by that notebook and saved in its
outputs (the committed notebooks are full runs). The overview does not retype those numbers: it
loads them from the notebooks, together with each notebook's key figure (the code cell tagged
`key-figure`), so the two can never disagree.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DistillError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CONCLUSIONS = "## What we saw"
SUMMARIES = ("00_",)  # notebooks that read the others' outputs: executed last, skipped by `series`


def notebook_paths(folder: str | Path = NOTEBOOKS) -> list[Path]:
    """The series' notebooks in reading order: `NN_topic.ipynb` in `folder`."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def run_folder() -> Path:
    """Where the overview reads the series from: `DISTILL_RUN_DIR` (set by `make run` to the
    notebooks it just executed), else the committed notebooks."""
    import os
    raw = os.environ.get("DISTILL_RUN_DIR")
    return Path(raw) if raw else NOTEBOOKS


def title_of(nb) -> str:
    """The notebook's title: the first line of its first Markdown cell, without the #."""
    first = next((c for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith("#")), None)
    return first.source.strip().splitlines()[0].lstrip("# ").strip() if first is not None else "(untitled)"


@dataclass
class Findings:
    name: str                      # "03_student_size"
    title: str                     # "03 · Student size: how small can the copy be?"
    plain_words: str               # the notebook's opening paragraph for non-programmers
    conclusions: list[str] = field(default_factory=list)  # Markdown, computed by the notebook
    figure_png: bytes | None = None


def _plain_words(source: str) -> str:
    for para in source.split("\n\n"):
        if para.lstrip().startswith("**In plain words.**"):
            return para.replace("**In plain words.**", "").strip()
    paras = [p for p in source.split("\n\n")[1:] if p.strip()]
    return paras[0].strip() if paras else ""


def notebook_findings(path: str | Path) -> Findings:
    """The title, opening paragraph, computed conclusions and key figure of one executed notebook."""
    import nbformat

    path = Path(path)
    if not path.exists():
        raise DistillError(f"notebook {path} not found; run from the project folder (notebooks/ beside distill/)")
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    first = next((c for c in cells if c.cell_type == "markdown"), None)
    if first is None:
        raise DistillError(f"{path.name} has no Markdown title cell")
    f = Findings(path.stem, title_of(nb), _plain_words(first.source))
    if not any(c.get("outputs") for c in cells if c.cell_type == "code"):
        raise DistillError(f"{path.name} has no saved outputs; run `make notebooks` to execute the series in full mode")
    start = next((i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith(CONCLUSIONS)), None)
    if start is None:
        raise DistillError(f"{path.name} has no '{CONCLUSIONS}' section to summarise")
    for c in cells[start + 1:]:
        if c.cell_type == "markdown":
            if c.source.startswith("## "):
                break  # the next section ("Try it yourself")
            head, _, rest = ("\n" + c.source).partition("\n## ")
            if head.strip():
                f.conclusions.append(head.strip())
            if rest:
                break  # a cell that goes on into the next section: only the part before its heading
        elif c.cell_type == "code":
            f.conclusions += [o["data"]["text/markdown"] for o in c.get("outputs", [])
                              if "text/markdown" in o.get("data", {})]
    for c in cells:
        if c.cell_type == "code" and "key-figure" in c.metadata.get("tags", []):
            png = [o["data"]["image/png"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
            if png:
                f.figure_png = base64.b64decode(png[-1])
                break
    return f


def series(folder: str | Path | None = None, skip: tuple[str, ...] = SUMMARIES) -> list[Findings]:
    """Findings of every numbered notebook in `folder` (default `run_folder()`), in order, the
    overview itself skipped."""
    folder = run_folder() if folder is None else folder
    paths = [p for p in notebook_paths(folder) if not p.name.startswith(skip)]
    if not paths:
        raise DistillError(f"no notebooks found in {folder}")
    return [notebook_findings(p) for p in paths]
