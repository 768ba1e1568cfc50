"""Project files agree with each other; notebooks follow the series' conventions."""
import json
import re
from pathlib import Path

import pytest

from distill.report import notebook_paths

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths()
CONDA_NAMES = {"torch": "pytorch"}  # scikit-learn is scikit-learn on both  # PyPI name -> conda-forge name, where they differ


def _names(specs):
    return {re.split(r"[<>=!~ \[]", s.strip(), maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    import yaml
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda_names = _names(d for d in deps if isinstance(d, str)) - {"python", "pip"}
    assert {CONDA_NAMES.get(n, n) for n in pip_names} == conda_names


def test_readme_quick_start_shows_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_conventions(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in code]
    params = [s for c, s in zip(code, sources) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    assert "SMOKE = settings.smoke()" in params[0], "the smoke switch (distill.settings.smoke) lives in the parameters cell"
    assert code.index(next(c for c in code if "parameters" in c.get("metadata", {}).get("tags", []))) <= 1
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert outputs, "commit notebooks with outputs from a full run (make notebooks)"
    assert not [o for o in outputs if o["output_type"] == "error"], "error output committed"
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure in the outputs"
    assert [c.get("execution_count") for c in code] == list(range(1, len(code) + 1)), \
        "outputs must come from one clean top-to-bottom run (make notebooks)"
    assert not any("!pip" in s or "%pip" in s for s in sources), "no installs inside notebooks"
    shown = " ".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert not re.search(r"<(function|bound method|class) [^>]* at 0x", shown), "an object's repr was printed as prose"
    assert "widgets" not in nb["metadata"] and not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                                                       for o in outputs), \
        "widget state committed (progress bars): the site would load a script from the internet; commit outputs " \
        "through `make notebooks`, which strips it"
    smoke_outputs = [o for o in outputs if "SMOKE MODE" in "".join(o.get("text", ""))]
    assert not smoke_outputs, "committed outputs must come from a full run, not smoke mode"


def _code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def test_notebooks_stay_thin():
    """Notebooks hold parameters, calls into `distill`, results and prose: their code is under a fifth
    of the project's executable lines, and no function or lambda is defined outside the exercises
    (logic a notebook needs lives in `distill`, with tests)."""
    nb_lines, defined = 0, []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            nb_lines += _code_lines(src)
            exercise = "solution" in cell.get("metadata", {}).get("tags", []) or "exercises.check(" in src
            if not exercise:
                defined += [f"{path.stem}: {line.strip()[:60]}" for line in src.splitlines()
                            if re.search(r"^\s*def \w+\(|\blambda\b", line)]
    lib = sum(_code_lines(f.read_text()) for d in ("distill", "tools", "bench") for f in (ROOT / d).glob("**/*.py"))
    assert not defined, f"functions defined in notebooks (move them into distill, with tests): {defined}"
    assert nb_lines / (nb_lines + lib) < 0.20, f"notebooks hold {nb_lines / (nb_lines + lib):.0%} of the executable lines"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00_")], ids=lambda p: p.stem)
def test_each_lesson_opens_with_what_the_reader_will_be_able_to_do(path):
    cells = json.loads(path.read_text())["cells"]
    second = "".join(cells[1]["source"]) if len(cells) > 1 else ""
    assert cells[1]["cell_type"] == "markdown" and second.startswith("**After this notebook you can**"), \
        "the cell after the title lists the learning objectives"
    assert second.count("\n- ") >= 2


def test_every_measured_number_in_the_readme_findings_is_in_an_output():
    """The README's "What they show" types its numbers (a reader of the repository sees them first), so
    each one with a decimal point or a thousands comma must appear in a notebook's committed outputs
    (or, for the benchmark's, in bench/results*.json): re-running the series without updating the README
    fails here."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("What they show"):text.index("## The library")]
    section = re.sub(r"\(\d\d(, \d+ seeds)?\)|`[^`]*`", "", section)  # notebook tags and code are not measurements
    numbers = set(re.findall(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])\d+\.\d+", section))
    sources = " ".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", ""))
                       + "".join(o.get("data", {}).get("text/plain", ""))
                       for p in NOTEBOOKS for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code"
                       for o in c.get("outputs", []))
    sources += " ".join(p.read_text() for p in (ROOT / "bench").glob("results*.json"))
    missing = sorted(n for n in numbers if n not in sources)
    assert not missing, f"README numbers found in no notebook output: {missing}"
