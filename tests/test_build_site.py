"""`make run`'s builder: cached and resumable, one failed notebook costs one page, clear messages."""
import json
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
    assert "without encryption" not in r.stdout + r.stderr  # the kernel's per-notebook warning stays out of the progress
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
    article = html[html.index('<article class="bd-article"'):html.rindex("</article>")]
    assert "<script" not in article and "window.pwned = 1" not in article  # gone with their text
    assert "<b>kept</b>" in html and "<table" in html and "\\(T^2\\)" in html and "mathjax3/es5/tex-chtml-full.js" in html
    assert "<title>01_evil" in html and 'name="viewport"' in html
    assert "thebe" not in html.lower() and "unpkg" not in html  # no live-code scripts naming a CDN


def test_every_page_links_the_index_its_neighbours_and_the_series(tmp_path):
    a = _notebook(tmp_path / "01_a.ipynb", "1")
    b = _notebook(tmp_path / "02_b.ipynb", "2")
    c = _notebook(tmp_path / "03_c.ipynb", "3")
    r = _build(tmp_path, a, b, c, extra=("--no-execute",))
    assert r.returncode == 0, r.stderr
    site = tmp_path / "out" / "site"
    page = (site / "02_b.html").read_text()
    import re
    assert re.search(r'<a class="left-prev"\s+href="01_a.html"', page) and re.search(r'<a class="right-next"\s+href="03_c.html"', page)
    side = page[page.index('bd-docs-nav'):]
    side = side[:side.index("</nav>")]
    assert all(f'href="{n}.html"' in side for n in ("01_a", "03_c")) and "current" in side
    assert 'href="index.html"' in page and 'action="search.html"' in page  # the index, and search on every page
    assert re.search(r'<a class="left-prev"\s+href="index.html"', (site / "01_a.html").read_text())
    assert (site / "search.html").is_file() and (site / "searchindex.js").is_file()


def test_cells_tagged_remove_input_show_only_their_output(tmp_path):
    path = _notebook(tmp_path / "01_a.ipynb", "print('shown')")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["tags"] = ["remove-input"]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="the output stays\n")]
    nbformat.write(nb, path)
    r = _build(tmp_path, path, extra=("--no-execute",))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "site" / "01_a.html").read_text()
    article = page[page.index('<article class="bd-article"'):page.rindex("</article>")]
    assert "the output stays" in article and "print(" not in article


def test_solutions_stay_off_the_site_and_links_between_notebooks_point_at_pages(tmp_path):
    path = _notebook(tmp_path / "01_a.ipynb", "answer_1 = 6 * 7  # the secret solution")
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["tags"] = ["solution"]
    nb.cells.append(nbformat.v4.new_markdown_cell("See [notebook 02](02_b.ipynb#what-we-saw)."))
    nbformat.write(nb, path)
    other = _notebook(tmp_path / "02_b.ipynb", "2")
    nb = nbformat.read(other, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("## What we saw\n\nSomething."))
    nbformat.write(nb, other)
    r = _build(tmp_path, path, other, extra=("--no-execute",))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "site" / "01_a.html").read_text()
    assert "secret solution" not in page
    assert 'href="02_b.html#what-we-saw"' in page


def test_a_book_that_does_not_build_is_one_line_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "jupyter_book", lambda: [sys.executable, "-c", "import sys; sys.exit('sphinx broke')"])
    nb = nbformat.read(_notebook(tmp_path / "01_a.ipynb", "1"), as_version=4)
    with pytest.raises(RuntimeError, match=r"jupyter-book build failed \(sphinx broke\); the whole log is in .*build.log"):
        bs.render_book([("01_a", nb)], tmp_path / "site", "# Index\n")
    assert not (tmp_path / "site").exists()  # nothing half-built replaces a site


def test_limits_follow_the_longest_benchmarked_time_on_record(tmp_path):
    def write(name, seconds, ok=True):
        (tmp_path / name).write_text(json.dumps({"notebooks": {"03_x": {"full": {"ok": ok, "seconds": seconds}}}}))
    write("results.json", 430.0)
    write("results-avx2.json", 1257.0)
    write("results-quick.json", 9999.0)          # a quick run is not a full benchmark
    write("results-partial.json", 9999.0)
    (tmp_path / "results-broken.json").write_text("{")   # unreadable: no estimate from it
    assert bs.benchmarked_seconds(False, tmp_path) == {"03_x": 1257.0}
    write("results-avx2.json", 5000.0, ok=False)  # a failed run is no time
    assert bs.benchmarked_seconds(False, tmp_path) == {"03_x": 430.0}
    assert bs.benchmarked_seconds(True, tmp_path) == {}
