"""`make answer-key`: the instructors' version holds every solution and a model answer to every
discussion question; the students' copy and the public site hold none of them (tests/test_exercises.py,
tests/test_build_site.py)."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from distill.report import notebook_paths

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    out = tmp_path_factory.mktemp("answer-key")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "answer_key.py"), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def _text(page: str) -> str:
    """A rendered page's text: tags dropped, entities decoded (code is split into highlighted spans)."""
    import html
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_the_answer_key_has_every_solution_and_every_check(key):
    index = _text((key / "site" / "index.html").read_text())
    n = 0
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        page = _text((key / "site" / f"{path.stem}.html").read_text())
        for c in nb.cells:
            if "solution" in c.metadata.get("tags", []):
                n += 1
                first = next(ln for ln in c.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
                assert first.strip() in index, f"{path.stem}: solution missing from the key"
                assert first.strip() in page, f"{path.stem}: its page in the key hides the solution"
                assert (key / "notebooks" / path.name).exists()
            m = re.search(r'check_answer\("([^"]+)"', c.source) if c.cell_type == "code" else None
            if m:
                assert f"\n{m.group(1)}#\n" in index or f"\n{m.group(1)}\n" in index, m.group(1)
    assert n >= 20


def _sections(text: str, level: str) -> dict[str, str]:
    parts = re.split(rf"^{level} (\d\d) · .*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_discussion_question_has_a_model_answer():
    guide = _sections((ROOT / "docs" / "instructors.md").read_text(), "###")
    answers = _sections((ROOT / "docs" / "model_answers.md").read_text(), "##")
    for nb, text in guide.items():
        discuss = text.split("**Discuss**", 1)[1].split("- **", 1)[0] if "**Discuss**" in text else ""
        questions = re.findall(r"^\s+- (.+)$", discuss, flags=re.M) or ([discuss] if discuss.strip(" :\n(0123456789min)") else [])
        given = re.findall(r"^\*\*(?!Try it yourself)[^*]+\?\*\*", answers.get(nb, ""), flags=re.M)
        assert len(given) >= len(questions), f"{nb}: {len(questions)} discussion questions, {len(given)} model answers"
        if nb != "00":
            assert "**Try it yourself.**" in answers[nb], f"{nb}: no model answers to 'Try it yourself'"


def test_every_notebook_has_a_quiz_with_answers_in_the_key(key):
    text = (ROOT / "docs" / "quizzes.md").read_text()
    quizzes = _sections(text, "##")
    answers = dict(re.findall(r"^- \*\*(\d\d)\*\*: (.+?)(?=^- |\Z)", text.split("## Answers")[1], flags=re.M | re.S))
    for nb in [p.stem[:2] for p in notebook_paths() if not p.stem.startswith("00")]:
        questions = re.findall(r"^\d\. ", quizzes[nb], flags=re.M)
        assert len(questions) >= 3, f"{nb}: a quiz of {len(questions)} questions"
        given = re.findall(r"(\d) ([a-d])\b", answers[nb])
        assert [q for q, _ in given] == [str(i) for i in range(1, len(questions) + 1)], f"{nb}: answers {given}"
    assert "Quizzes" in (key / "site" / "quizzes.html").read_text()
    assert 'href="model_answers.html"' in (key / "site" / "index.html").read_text()
