"""`make run`'s builder: cached and resumable, one failed notebook costs one page, clear messages."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, load_script

bs = load_script("tools/build_site.py")


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}\n\nA test notebook.")] + [
        nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def _build(tmp_path, *paths, extra=()):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out", str(tmp_path / "out"),
                           *extra, *map(str, paths)], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_a_failed_notebook_costs_only_its_page_then_the_run_resumes(tmp_path):
    good = _notebook(tmp_path / "01_good.ipynb", "x = 6 * 7\nprint(x)")
    bad = _notebook(tmp_path / "02_bad.ipynb", "y = 1", "raise ValueError('the data went missing')")
    r = _build(tmp_path, good, bad)
    assert r.returncode == 1
    assert "02_bad failed at code cell 2 (cell 3)" in r.stderr and "the data went missing" in r.stderr
    assert "1 of 2 notebooks ok" in r.stdout
    site = tmp_path / "out" / "site"
    page = (site / "02_bad.html").read_text()
    assert "This notebook failed in this run" in page and "the data went missing" in page
    assert "42" in (site / "01_good.html").read_text()
    assert "FAILED in this run" in (site / "index.html").read_text()
    assert (tmp_path / "out" / "failed" / "02_bad.ipynb").is_file()
    # fixed: the next run reuses the good notebook from the cache and executes only the failed one
    _notebook(bad, "y = 1", "print('fixed')")
    r = _build(tmp_path, good, bad)
    assert r.returncode == 0, r.stderr
    assert "[1/2] 01_good: reused from the cache" in r.stdout and "[2/2] 02_bad: started" in r.stdout
    assert "fixed" in (site / "02_bad.html").read_text()


def test_the_time_limit_names_notebook_cell_and_time(tmp_path, monkeypatch):
    slow = _notebook(tmp_path / "03_slow.ipynb", "import time", "time.sleep(30)")
    monkeypatch.setattr(bs, "MIN_LIMIT", 0)
    result = bs.execute(slow, limit=3)
    assert result.status == "failed"
    assert result.error.startswith("code cell 2 (cell 3) after ") and "hit its limit of 3 s" in result.error


def test_cache_key_changes_with_cells_library_teacher_and_mode(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "distill").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "distill" / "losses.py").write_text("T = 4\n")
    (root / "data" / "teacher.safetensors").write_bytes(b"weights")
    monkeypatch.setattr(bs, "ROOT", root)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    base = bs.cache_key(nb, bs.inputs_digest(), smoke=False)
    assert bs.cache_key(nb, bs.inputs_digest(), smoke=False) == base            # nothing changed
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]
    assert bs.cache_key(nb, bs.inputs_digest(), smoke=False) == base            # outputs do not count
    assert bs.cache_key(nb, bs.inputs_digest(), smoke=True) != base             # smoke mode
    nb.cells[0].source = "print(2)"
    assert bs.cache_key(nb, bs.inputs_digest(), smoke=False) != base            # a cell
    nb.cells[0].source = "print(1)"
    (root / "distill" / "losses.py").write_text("T = 2\n")
    assert bs.cache_key(nb, bs.inputs_digest(), smoke=False) != base            # a library file
    (root / "distill" / "losses.py").write_text("T = 4\n")
    (root / "data" / "teacher.safetensors").write_bytes(b"other weights")
    assert bs.cache_key(nb, bs.inputs_digest(), smoke=False) != base            # the teacher


def test_a_corrupt_cache_entry_is_recomputed_not_shown(tmp_path):
    path = tmp_path / "01_x-abc.ipynb"
    path.write_text('{"cells": [')
    assert bs.read_cached(path) is None and not path.exists()


def test_summaries_run_last_and_missing_notebooks_are_one_line(tmp_path):
    names = [Path(n) for n in ("00_overview.ipynb", "01_a.ipynb", "02_b.ipynb")]
    assert [p.name for p in bs.plan(names)] == ["01_a.ipynb", "02_b.ipynb", "00_overview.ipynb"]
    r = _build(tmp_path, tmp_path / "nope.ipynb")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no such notebook" in r.stderr


def test_scripts_and_event_handlers_from_notebook_content_never_reach_the_page(tmp_path):
    nb = _notebook(tmp_path / "01_evil.ipynb", "from IPython.display import HTML, display\n"
                   "display(HTML('<b>kept</b><img src=x onerror=\"window.pwned=2\"><script>window.pwned=3</script>'))")
    page = nbformat.read(nb, as_version=4)
    page.cells.insert(1, nbformat.v4.new_markdown_cell(
        "Text with $T^2$ and a table\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>window.pwned = 1</script>\n"
        "<a href=\"javascript:window.pwned=4\">link</a>"))
    nbformat.write(page, nb)
    r = _build(tmp_path, nb)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "out" / "site" / "01_evil.html").read_text()
    import re
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)  # code shown as text is escaped (&lt;...), so not a tag here
    assert not [t for t in tags if "pwned" in t or "onerror" in t or "javascript:" in t]
    assert "<script>window.pwned" not in html and len(re.findall(r"<script", html)) == 4  # the page's own 4
    assert "<b>kept</b>" in html and "<table" in html and "$T^2$" in html and "MathJax" in html
    assert "<title>01_evil</title>" in html and 'name="viewport"' in html


def test_every_page_links_the_index_its_neighbours_and_the_series(tmp_path):
    a = _notebook(tmp_path / "01_a.ipynb", "1")
    b = _notebook(tmp_path / "02_b.ipynb", "2")
    c = _notebook(tmp_path / "03_c.ipynb", "3")
    r = _build(tmp_path, a, b, c, extra=("--no-execute",))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "site" / "02_b.html").read_text()
    nav = page[page.index('<nav class="distill-nav"'):page.index("</nav>")]
    assert 'href="index.html"' in nav and 'previous: <a href="01_a.html">' in nav and 'next: <a href="03_c.html">' in nav
    assert nav.count("<li") == 3 and '<li class="here">02_b</li>' in nav
    assert page.index("</nav>") < page.index("<main>")  # the project's markup, outside the sanitised notebook
    first = (tmp_path / "out" / "site" / "01_a.html").read_text()
    assert "previous:" not in first[first.index("<nav"):first.index("</nav>")]


def test_cells_tagged_remove_input_show_only_their_output(tmp_path):
    path = _notebook(tmp_path / "01_a.ipynb", "print('shown')")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["tags"] = ["remove-input"]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="the output stays\n")]
    nbformat.write(nb, path)
    r = _build(tmp_path, path, extra=("--no-execute",))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "site" / "01_a.html").read_text()
    assert "the output stays" in page and "print(" not in page


def test_solutions_stay_off_the_site_and_links_between_notebooks_point_at_pages(tmp_path):
    path = _notebook(tmp_path / "01_a.ipynb", "answer_1 = 6 * 7  # the secret solution")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["tags"] = ["solution"]
    nb.cells.append(nbformat.v4.new_markdown_cell("See [notebook 06](06_through_an_api.ipynb#what-we-saw)."))
    nbformat.write(nb, path)
    r = _build(tmp_path, path, extra=("--no-execute",))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "site" / "01_a.html").read_text()
    assert "secret solution" not in page
    assert 'href="06_through_an_api.html#what-we-saw"' in page
