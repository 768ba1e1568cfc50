"""Read the series' findings back out of the executed notebooks, for the overview (00).

Every number in a notebook's "What we saw" section is computed by that notebook and saved in its
outputs (the committed notebooks are full runs). The overview does not retype those numbers: it
loads them from the notebooks, together with each notebook's key figure (the code cell tagged
`key-figure`), so the two can never disagree.
"""

from __future__ import annotations

import base64
import re
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


def first_sentences(text: str, n: int | None) -> str:
    """The first `n` sentences of `text` (all if None); decimals and "95% CI 1.2 to 3.4" are not ends."""
    if n is None:
        return text
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z*(])", text)
    return " ".join(parts[:n])


def _finding_block(found: list[Findings], notebook: str, lead: str) -> tuple[str, list[str]] | str:
    """(the notebook's file stem, the lines of its finding that opens with the bold `lead`: a bullet with
    its indented sub-bullets, or a paragraph), or the one line saying why it is missing."""
    f = next((x for x in found if x.name.startswith(f"{notebook}_")), None)
    if f is None:
        return f"*(notebook {notebook} has not been run yet: `make run`)*"
    for block in f.conclusions:
        lines = block.split("\n")
        for i, line in enumerate(lines):
            if not (line.startswith(f"- **{lead}") or line.startswith(f"**{lead}")):
                continue
            rest = []
            for ln in lines[i + 1:]:
                if (line.startswith("- ") and not ln.startswith("  ")) or not ln.strip():
                    break
                rest.append(ln)
            return f.name, [line] + rest
    return f"*(notebook {notebook} has no finding \"{lead}\" in its last run: re-run it, `make run`)*"


def quote(found: list[Findings], notebook: str, lead: str, subs: int | None = None,
          sentences: int | None = None) -> str:
    """The finding of notebook `notebook` ("06") that opens with the bold `lead`, as its notebook
    computed it (a bullet with its first `subs` indented sub-bullets, all if None, or a paragraph;
    its first `sentences` sentences, all if None), followed by a link to the notebook. If that
    notebook or finding is missing: one line saying so, never a stale number."""
    got = _finding_block(found, notebook, lead)
    if isinstance(got, str):
        return got
    name, (line, *rest) = got
    link = f"([notebook {notebook}]({name}.ipynb))"
    if line.startswith("- "):
        return "\n".join([f"{first_sentences(line[2:], sentences)} {link}"] + rest[:subs])
    return first_sentences(" ".join([line] + rest), sentences) + f" {link}"


def cost_ledger(found: list[Findings], notebooks: tuple[str, ...] = ("06", "09"), lead: str = "What a copy cost") -> str:
    """The cost ledger per copier kind, as a Markdown table, from the ledger findings (`lead`) of
    `notebooks` (each written by `findings.copy_costs`, read back by `ledger.read_row`): formats of
    one copier with the same costs share a row. Opens with the headline, the cheapest copy of all
    (training compute plus the owner's compute to answer). A missing notebook or finding is a line
    saying so, never a stale number."""
    from .ledger import read_row

    rows, notes, teacher = [], [], None
    for nb in notebooks:
        got = _finding_block(found, nb, lead)
        if isinstance(got, str) or not got[1][0].startswith("- "):
            notes.append(got if isinstance(got, str) else f"*(notebook {nb}'s \"{lead}\" is not a ledger: re-run it)*")
            continue
        link, lines = f"[{nb}]({got[0]}.ipynb)", got[1]
        m = re.search(r"the teacher: ([\d.e+]+) FLOPs, ([\d,]+) labels", lines[0])
        teacher = teacher or (m and (m[1], m[2]))
        for ln in lines[1:]:
            r = read_row(ln)
            if r is None:
                continue
            kind, _, fmt = r["label"].rpartition(", ")
            r.update(kind=kind or r["label"], fmt=fmt if kind else "", link=link)
            same = next((x for x in rows if x["link"] == link and x["kind"] == r["kind"] and x["reached"] == r["reached"]
                         and all(x.get(k) == r.get(k) for k in ("compute", "queries", "owner", "labels"))), None)
            if same is None:
                r["fmts"], r["kepts"] = [r["fmt"]], [r.get("kept")]
                rows.append(r)
            else:
                same["fmts"].append(r["fmt"])
                same["kepts"].append(r.get("kept"))
    if not rows:
        return "\n\n".join(notes) or "*(no cost ledger in the last run: `make run`)*"
    reached = [r for r in rows if r["reached"]]
    out = []
    if reached:
        best = min(reached, key=lambda r: r["compute"] + r["owner"])
        out.append(f"**The headline.** A copy that kept {best['kept']}% of the teacher's accuracy cost {best['compute']:g}% "
                   f"of the teacher's training compute and {best['queries']:,} queries, with no labels of its own "
                   f"({best['kind']}, {best['fmt']} answers; notebook {best['link']}); answering those queries cost the "
                   f"teacher's owner {best['owner']:g}% of the teacher's training compute.")
    share = next((r["share"] for r in rows if not r["reached"]), None) or 90
    out.append(f"Per copier kind, at the smallest query budget tried where its mean test accuracy kept {share}% of the "
               "teacher's; the copy's training compute and the owner's compute to answer its queries, each as a share "
               "of the teacher's training compute"
               + (f" ({teacher[0]} FLOPs on {teacher[1]} labelled images)" if teacher else "") + ":")
    table = ["| copier | answers | kept | queries | copy's compute | owner's compute | notebook |", "|---" * 7 + "|"]
    for r in reached:
        lo, hi = min(r["kepts"]), max(r["kepts"])
        kept = f"{lo}%" if lo == hi else f"{lo}-{hi}%"
        fmts = ", ".join(f for f in r["fmts"] if f)
        table.append(f"| {r['kind']} | {fmts} | {kept} | {r['queries']:,} | {r['compute']:g}% | {r['owner']:g}% | {r['link']} |")
    missed = [r for r in rows if not r["reached"]]
    if missed:
        by_nb: dict[str, list[str]] = {}
        for r in missed:
            by_nb.setdefault(r["link"], []).append(f"{r['kind']} ({', '.join(f for f in r['fmts'] if f)})")
        table_note = (f"Under {share}% at every budget tried: "
                      + "; ".join(f"notebook {link}: {', '.join(kinds)}" for link, kinds in by_nb.items()) + ".")
    else:
        table_note = ""
    legend = {"06": "06: copies of two designs (`mlp`, `cnn`, with their size) sent images like the teacher's own",
              "09": "09: copiers choosing their queries (`random pool`: unlabelled images like the teacher's; `active`: "
                    "chosen from such a pool where the copy is least sure; `jacobian`: grown from a few seed images; "
                    "`random noise` and `generator`: no images at all)"}
    used = [legend[nb] for nb in notebooks if nb in legend and any(r["link"].startswith(f"[{nb}]") for r in rows)]
    return "\n\n".join(out + (["\n".join(table)] if reached else []) + [x for x in [table_note] if x]
                       + ([f"*Copiers*: {'; '.join(used)}."] if used else []) + notes)


# The brief's questions (what policy readers ask), each with a plain framing (no numbers: every number
# comes from the findings quoted after it, as the notebooks computed them).
BRIEF = [
    ("What does a copier need?",
     "Not the model's weights, code or training data: answers to queries, and queries of the right kind.",
     [("06", "Cheapest copy at 90% of the teacher", 0, 1), ("06", "Which images the copier sends matters", 0, 2),
      ("09", "No images at all", 0, 1)]),
    ("Does it matter what the API returns?",
     "An API can return full probabilities or only its top answer; here the difference was small.",
     [("02", "Probabilities vs. a label-only answer", 0, 1), ("06", "Why labels cost so little here", 0, 1)]),
    ("What does a copy keep, and what does it inherit?",
     "A copy can be much smaller than the original and keep most of its accuracy; it also picks up its habits.",
     [("03", "The smallest copy keeping 90%", 0, 1), ("03", "Mistakes.", 0, 1), ("05", "One class withheld", 0, 1)]),
    ("What does copying cost compared with building?",
     "Measured here in training compute, queries and labels, against what the teacher cost.",
     [cost_ledger]),
    ("Which defences work, and what do they cost honest users?",
     "A defence that changes what the API returns must still give users the right answer, and the right answer "
     "alone makes a good copy (notebook 09 tries each defence against copiers who choose their queries).",
     [("07", "Price for users.", 0, 2), ("07", "MLP copy, 10,000 queries.", 0, 2)]),
    ("Can copying be detected, or proven afterwards?",
     "Two tools were tried: watching each account's stream of queries, and planting deliberately wrong answers "
     "(a watermark).",
     [("09", "Spreading queries over accounts.", 0, 3), ("07", "Evidence after the fact.", 0, 2)]),
    ("And language models?",
     "A tiny language model shows the same mechanism, with one twist: a copy learns the form of answers before "
     "their substance.",
     [("08", "Showing the working.", 0, 1), ("08", "Outside the imitation data.", 0, 1)]),
]


def brief(found: list[Findings], questions=None) -> str:
    """The overview's questions and answers, in Markdown: each question, its framing, and the findings
    that answer it (`quote(found, notebook, lead, subs, sentences)`), as the executed notebooks
    computed them."""
    out = []
    for q, framing, sources in (BRIEF if questions is None else questions):
        bullets = "\n".join(f"- {quote(found, *s)}" for s in sources if not callable(s))
        blocks = [s(found) for s in sources if callable(s)]  # whole blocks (a table), after the bullets
        out.append("\n\n".join(x for x in [f"### {q}", framing, bullets, *blocks] if x))
    return "\n\n".join(out)


def source_line() -> str:
    """Which run the overview's numbers come from, in words."""
    import os
    if os.environ.get("DISTILL_RUN_DIR"):
        return f"the notebooks this `make run` just executed (`{os.environ['DISTILL_RUN_DIR']}`)"
    return "the committed full runs of the notebooks (`notebooks/`); `make run` re-executes them and rebuilds this page from that run"


def key_figure(found: list[Findings], notebook: str) -> bytes | None:
    """The key figure (PNG bytes) of notebook `notebook` ("06"), or None if it has not been run."""
    f = next((x for x in found if x.name.startswith(f"{notebook}_")), None)
    return None if f is None else f.figure_png
