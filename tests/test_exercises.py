"""Checked exercises, the students' copy, and the overview's reading of the notebooks."""

from pathlib import Path

import re
import nbformat
import pytest

from distill.report import SUMMARIES, notebook_paths
import torch
from conftest import load_script

from distill import exercises, report
from distill.errors import DistillError

ROOT = Path(__file__).resolve().parent.parent
SERIES = [p for p in notebook_paths() if not p.name.startswith(SUMMARIES)]




def test_check_accepts_right_answers(capsys):
    exercises.check(0.5004, 0.5, "h", rel=1e-3)
    exercises.check(" Shirt ", "shirt", "h")
    exercises.check(torch.tensor(3), 3, "h")
    exercises.check([1, 2.0], (1, 2), "h")
    exercises.check(True, True, "h")
    assert capsys.readouterr().out.count("correct") == 5


@pytest.mark.parametrize("answer, expected", [(0.52, 0.5), ("Coat", "Shirt"), (1.0, True), (False, True), (3, 4)])
def test_check_rejects_wrong_answers_with_the_hint_not_the_answer(answer, expected):
    with pytest.raises(AssertionError) as e:
        exercises.check(answer, expected, "look at the confusion matrix", name="answer_1")
    msg = str(e.value)
    assert "answer_1" in msg and "look at the confusion matrix" in msg
    assert f"{expected!r}" not in msg.replace(f"{answer!r}", "")


def test_check_says_when_nothing_is_filled_in():
    with pytest.raises(AssertionError, match="not filled in yet"):
        exercises.check(None, 3, "hint")


@pytest.mark.parametrize("answer, expected, share, says", [
    (83.7, 0.837, True, "looks like a percentage"),      # a percentage for a share
    (0.84, 0.8372, False, "It is close: use the unrounded value"),   # rounded too far
    (3.5, 4, False, "a count: a whole number"),
    (float("nan"), 0.5, False, "divided by zero or averaged nothing"),
    (0.2, 0.837, True, "expected a number, a share between 0 and 1"),
])
def test_a_failed_check_names_the_slip_in_one_line_without_the_answer(answer, expected, share, says):
    with pytest.raises(exercises.NotYet) as e:
        exercises.check(answer, expected, "the hint", name="answer_1", share=share)
    msg = str(e.value)
    assert says in msg and "the hint" in msg and "\n" not in msg
    assert repr(expected) not in msg.replace(repr(answer), "")
    assert e.value._render_traceback_() == [f"\033[31m✗ {msg}\033[0m"]  # what a notebook shows: one line


def test_check_answer_reads_the_expected_value_from_the_notebook_namespace(capsys):
    ns = {"GENERATOR_BUDGETS": [1600, 6400, 12800]}
    exercises.check_answer("09.2", 12800, ns)
    assert "answer_2: correct." in capsys.readouterr().out
    for wrong in (1600, 12799.5, None):
        with pytest.raises(exercises.NotYet) as e:
            exercises.check_answer("09.2", wrong, ns)
        assert "12800" not in str(e.value)
    with pytest.raises(exercises.NotYet, match="'GENERATOR_BUDGETS' is not defined; run the notebook's cells above first"):
        exercises.check_answer("09.2", 12800, {})
    with pytest.raises(DistillError, match="unknown exercise '99.1'"):
        exercises.check_answer("99.1", 1, ns)


def test_answer_key_share_answers_reject_percentages_and_roundings():
    """01.2 (a share): the reference passes; a percentage, a rounding and the complement fail."""
    logits = torch.tensor([[9.0, 0.0], [1.0, 0.0], [8.0, 0.0], [7.0, 0.0]])   # 3 of 4 above 0.99
    ns = {"torch": torch, "logits_test": logits}
    right = (torch.softmax(logits, -1).amax(-1) > 0.99).double().mean().item()
    exercises.check_answer("01.2", right, ns)
    for wrong in (100 * right, round(right, 1) + 0.1, 1 - right):
        with pytest.raises(exercises.NotYet):
            exercises.check_answer("01.2", wrong, ns)


@pytest.mark.parametrize("path", SERIES, ids=lambda p: p.stem)
def test_every_notebook_ends_with_two_or_three_checked_exercises(path):
    cells = nbformat.read(path, as_version=4).cells
    start = max(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Check yourself"))
    tail = cells[start:]
    solutions = [i for i, c in enumerate(tail) if "solution" in c.metadata.get("tags", [])]
    assert 2 <= len(solutions) <= 3
    for i in solutions:
        assert tail[i].source.lstrip().startswith("answer_"), "a solution cell assigns answer_N"
        check = tail[i + 1]
        assert check.cell_type == "code" and ("exercises.check_answer(" in check.source or "exercises.check_function(" in check.source)
        assert any("correct" in o.get("text", "") for o in check.outputs), "committed outputs show the check passing"


@pytest.mark.parametrize("path", SERIES, ids=lambda p: p.stem)
def test_check_cells_show_no_expected_value(path):
    """A value check is exactly `exercises.check_answer("NN.k", answer_k, globals())`: the expected value is
    computed in distill/answer_key.py, so neither the notebook nor the students' copy shows it."""
    from distill.answer_key import ANSWERS
    nb = nbformat.read(path, as_version=4)
    checks = [c.source for c in nb.cells if "exercise" in c.metadata.get("tags", []) and "exercises.check" in c.source]
    for src in checks:
        if re.match(r"exercises\.check_(function|train_step|copy_loop|bias_choice)\(", src):
            continue  # a function is checked against the library's, on random inputs: no value is shown
        m = re.fullmatch(r'exercises\.check_answer\("(\d\d)\.(\d)", answer_(\d), globals\(\)\)', src)
        assert m, f"{path.name}: a check cell shows more than the exercise's key: {src[:80]}"
        assert m.group(1) == path.name[:2] and m.group(2) == m.group(3) and f"{m.group(1)}.{m.group(2)}" in ANSWERS


def test_every_answer_key_entry_is_used_by_one_notebook():
    from distill.answer_key import ANSWERS
    used = [m for p in SERIES for c in nbformat.read(p, as_version=4).cells
            for m in re.findall(r'check_answer\("(\d\d\.\d)"', c.source)]
    assert sorted(used) == sorted(ANSWERS.names()) and len(used) == len(set(used))


def test_student_copy_removes_every_solution_and_keeps_the_checks(tmp_path):
    sc = load_script("tools/student_copy.py")
    for path in SERIES:
        nb = nbformat.read(path, as_version=4)
        solutions = [c.source for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        assert sc.strip_solutions(nb) == len(solutions)
        sources = {c.source for c in nb.cells}
        assert not sources & set(solutions), f"{path.name}: a solution cell survived"
        for c in nb.cells:
            if "solution" in c.metadata.get("tags", []):
                assert (c.source.endswith("= None  # your code here")
                        or c.source.endswith('raise NotImplementedError("write this function")')) and not c.outputs
    assert sc.placeholder("answer_2 = max(x)\nprint(answer_2)") == "answer_2 = None  # your code here"


def test_the_student_copy_opens_on_a_start_page_that_says_whose_copy_it_is(tmp_path, monkeypatch):
    import sys
    sc = load_script("tools/student_copy.py")
    monkeypatch.setattr(sys, "argv", ["student_copy.py", "--out", str(tmp_path), str(SERIES[1])])
    assert sc.main() == 0
    start = (tmp_path / "START_HERE.md").read_text()
    assert "Open the notebooks in order" in start and "your copy without the solutions" in start
    assert "make lab-student" not in start


def test_overview_reads_findings_and_key_figures_from_the_notebooks():
    found = report.series(ROOT / "notebooks")
    assert [f.name for f in found] == [p.stem for p in SERIES]
    for f in found:
        assert f.conclusions, f"{f.name}: no computed conclusions found"
        assert f.figure_png and f.figure_png[:4] == b"\x89PNG", f"{f.name}: no key figure (tag a cell `key-figure`)"
        assert f.plain_words


def test_overview_errors_are_one_line(tmp_path):
    with pytest.raises(DistillError, match="not found"):
        report.notebook_findings(tmp_path / "nope.ipynb")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 99 · Empty\n\ntext"),
                                         nbformat.v4.new_code_cell("1")])
    nbformat.write(nb, tmp_path / "99_empty.ipynb")
    with pytest.raises(DistillError, match="no saved outputs; run `make notebooks`"):
        report.notebook_findings(tmp_path / "99_empty.ipynb")


def test_committed_overview_shows_the_current_conclusions_of_every_notebook():
    nb = nbformat.read(ROOT / "notebooks" / "00_what_each_notebook_found.ipynb", as_version=4)
    shown = "\n".join(o["data"].get("text/markdown", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if "data" in o)
    stale = [f.name for f in report.series(ROOT / "notebooks") if not all(c in shown for c in f.conclusions)]
    assert not stale, f"00_what_each_notebook_found shows old conclusions of {stale}: re-run it (make notebooks)"


def test_overview_takes_no_text_past_the_findings_section(tmp_path):
    """A Markdown cell that runs on into "## Try it yourself" gives only its part before that heading."""
    cells = [nbformat.v4.new_markdown_cell("# 99 · Test\n\n**In plain words.** words"),
             nbformat.v4.new_markdown_cell("## What we saw"),
             nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("display_data", data={"text/markdown": "- found"})]),
             nbformat.v4.new_markdown_cell("**For owners.** keep this\n\n## Try it yourself\n\n1. not a finding")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "99_test.ipynb")
    f = report.notebook_findings(tmp_path / "99_test.ipynb")
    assert f.conclusions == ["- found", "**For owners.** keep this"]


def test_check_function_passes_a_right_loss_and_names_the_classic_mistakes_without_values():
    import torch
    import torch.nn.functional as F
    from distill import exercises
    from distill.losses import kd_loss

    def inputs(g):
        return torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g), 4.0

    def right(s, t, T):
        return T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")

    def no_t2(s, t, T):
        return F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")

    def swapped(s, t, T):
        return T * T * F.kl_div(F.log_softmax(t / T, 1), F.softmax(s / T, 1), reduction="batchmean")

    exercises.check_function(right, kd_loss, inputs, "hint", name="kd")
    for wrong in (no_t2, swapped, None):
        with pytest.raises(AssertionError) as e:
            exercises.check_function(wrong, kd_loss, inputs, "multiply by T squared", name="kd")
        message = str(e.value)
        assert "Hint: multiply by T squared" in message
        assert not re.search(r"\d\.\d{3}", message), "the check must not print the expected value"


def test_a_function_to_write_keeps_its_signature_and_loses_its_body():
    sc = load_script("tools/student_copy.py")
    src = 'def my_loss(s, t, T=4.0):\n    """Distillation loss."""\n    return T * T * (s - t).mean()'
    stub = sc.placeholder(src)
    assert stub.startswith("def my_loss(s, t, T=4.0):") and '"""Distillation loss."""' in stub
    assert "T * T" not in stub and "raise NotImplementedError" in stub
    ns: dict = {}
    exec(stub, ns)
    with pytest.raises(NotImplementedError):
        ns["my_loss"](1, 2)


@pytest.mark.parametrize("path", SERIES, ids=[p.stem for p in SERIES])
def test_functions_students_write_are_checked_against_the_library(path):
    """A solution cell that defines a function is followed by `exercises.check_function`, which the
    committed run shows passing; the student copy keeps the signature only."""
    cells = nbformat.read(path, as_version=4).cells
    for i, c in enumerate(cells):
        if "solution" in c.metadata.get("tags", []) and c.source.lstrip().startswith("def "):
            check = cells[i + 1]
            assert check.cell_type == "code" and re.match(r"exercises\.check_(function|train_step|copy_loop|bias_choice)\(", check.source)
            assert any("correct" in o.get("text", "") for o in check.outputs), "committed outputs show the check passing"


def test_the_brief_quotes_findings_as_computed_and_says_when_one_is_missing():
    f = [report.Findings("06_api", "06 · API", "words", ["- **Cheapest copy**: 2,731 queries.\n  - a: 1\n  - b: 2\n- **Other** x",
                                                          "**Prevention.** Fidelity is high.\nSecond line.\n\nnext"])]
    assert report.quote(f, "06", "Cheapest copy") == "**Cheapest copy**: 2,731 queries. ([notebook 06](06_api.ipynb))\n  - a: 1\n  - b: 2"
    assert report.quote(f, "06", "Cheapest copy", subs=1).endswith("  - a: 1")
    assert report.quote(f, "06", "Prevention.") == "**Prevention.** Fidelity is high. Second line. ([notebook 06](06_api.ipynb))"
    assert report.quote(f, "06", "Prevention.", sentences=1) == "**Prevention.** Fidelity is high. ([notebook 06](06_api.ipynb))"
    assert "has not been run yet: `make run`" in report.quote(f, "09", "x")
    assert "no finding \"Missing\" in its last run" in report.quote(f, "06", "Missing")


def _ledger_findings(name: str, rows: dict, runs: list[dict]) -> report.Findings:
    from distill import findings, ledger
    teacher = ledger.teacher_cost({"train_config": {"epochs": 10}, "flops_per_example": 1e7}, n_train=55000)
    text = findings.copy_costs(runs, budgets=[100, 1000], teacher_acc=0.9, teacher=teacher, steps=400, batch_size=128,
                               teacher_flops=1e7, copy_flops={"mlp": 2e5, "cnn": 1e6}, rows=rows)
    return report.Findings(name, name, "words", ["- **Other** x", text])


def _recs(acc: float, **fields) -> list[dict]:
    return [dict(fields, seed=s, test_accuracy=acc + 0.001 * s) for s in range(5)]


def test_the_brief_ledger_reads_every_copier_kind_back_from_the_findings():
    """`findings.copy_costs` writes a ledger line per copier kind; the brief reads each back into
    numbers (`ledger.read_row`), one table row per kind (formats with the same cost share a row),
    and heads it with the cheapest copy. Hand-computed: 3 x 2e5 x 51,200 / (3 x 1e7 x 550,000) = 0.19%
    of the teacher's compute; the owner: 1,000 x 1e7 / 1.65e13 = 0.06%."""
    from distill import ledger
    runs = (_recs(0.85, family="mlp", output="probs", n=1000) + _recs(0.5, family="mlp", output="probs", n=100)
            + _recs(0.84, family="mlp", output="label", n=1000) + _recs(0.5, family="mlp", output="label", n=100)
            + _recs(0.6, family="cnn", output="probs", n=1000) + _recs(0.5, family="cnn", output="probs", n=100))
    rows = {f"{f} ({s}), {o}": dict(family=f, output=o) for f, s, o in
            [("mlp", 128, "probs"), ("mlp", 128, "label"), ("cnn", 8, "probs")]}
    f06 = _ledger_findings("06_api", rows, runs)
    lines = f06.conclusions[1].split("\n")
    assert ledger.read_row(lines[1]) == {"label": "mlp (128), probs", "reached": True, "kept": 95, "compute": 0.19,
                                         "queries": 1000, "labels": 0, "owner": 0.06}
    assert ledger.read_row(lines[3]) == {"label": "cnn (8), probs", "reached": False, "share": 90}
    assert ledger.read_row("  - something else") is None
    table = report.cost_ledger([f06], notebooks=("06",))
    assert table.startswith("**The headline.** A copy that kept 95% of the teacher's accuracy cost 0.19% of the "
                            "teacher's training compute and 1,000 queries")
    assert "| mlp (128) | probs, label | 94-95% | 1,000 | 0.19% | 0.06% | [06](06_api.ipynb) |" in table
    assert "Under 90% at every budget tried: notebook [06](06_api.ipynb): cnn (8) (probs)." in table
    missing = report.cost_ledger([f06], notebooks=("06", "09"))
    assert "*(notebook 09 has not been run yet: `make run`)*" in missing
    assert "has not been run yet" in report.cost_ledger([], notebooks=("06",))
    brief = report.brief([f06], questions=[("What does it cost?", "Framing.", [report.cost_ledger])])
    assert brief.startswith("### What does it cost?\n\nFraming.\n\n**The headline.**")


def test_the_overview_says_which_run_its_numbers_come_from(monkeypatch):
    monkeypatch.delenv("DISTILL_RUN_DIR", raising=False)
    assert "committed full runs" in report.source_line()
    monkeypatch.setenv("DISTILL_RUN_DIR", "build/notebooks")
    assert "this `make run` just executed (`build/notebooks`)" in report.source_line()


def test_every_number_in_the_committed_brief_is_in_a_notebook_output():
    """The overview's questions and answers type no number: each one is found in the outputs of the
    notebooks it links to (as those notebooks computed it)."""
    nb = nbformat.read(ROOT / "notebooks" / "00_overview.ipynb", as_version=4)
    brief = next(o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code" and "report.brief(" in c.source
                 for o in c.outputs if "text/markdown" in o.get("data", {}))
    assert "### What does a copier need?" in brief
    sources = "\n".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "")
                        for p in SERIES for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"
                        for o in c.outputs)
    body = re.sub(r"\(\[notebook \d\d\]\(\d\d_\w+\.ipynb\)\)|\[\d\d\]\(\d\d_\w+\.ipynb\)", "", brief)  # links' own digits
    body = re.sub(r"^### .*$", "", body, flags=re.M)
    numbers = set(re.findall(r"\d[\d,]*(?:\.\d+)?", body))
    missing = sorted(n for n in numbers if n not in sources)
    assert not missing, f"numbers in the brief found in no notebook output: {missing[:10]}"


# ---- the code students write: each check passes the reference and rejects typical wrong ones -----

def _good_step(student, teacher, x, optimizer, T):
    from distill.losses import kd_loss
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    loss = kd_loss(student(x), t, T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_without(bug):
    def step(student, teacher, x, optimizer, T):
        import torch.nn.functional as F
        if bug != "train mode":
            teacher.eval()
        if bug == "teacher gradients":
            t = teacher(x)
        else:
            with torch.no_grad():
                t = teacher(x)
        kl = F.kl_div(F.log_softmax(student(x) / T, 1), F.softmax(t / T, 1), reduction="batchmean")
        loss = kl if bug == "no T squared" else T * T * kl
        if bug != "no zero_grad":
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss if bug == "tensor" else loss.item()
    return step


def test_check_train_step_passes_the_reference_and_names_each_classic_mistake(capsys):
    exercises.check_train_step(_good_step, "h")
    assert "correct on 3 steps" in capsys.readouterr().out
    for bug, says in [("train mode", "training mode"), ("teacher gradients", "gradients flow into the teacher"),
                      ("no T squared", "weights differ"), ("no zero_grad", "weights differ"), ("tensor", "return the loss as a number")]:
        with pytest.raises(exercises.NotYet, match=says):
            exercises.check_train_step(_step_without(bug), "h")
    with pytest.raises(exercises.NotYet, match="not written yet"):
        exercises.check_train_step(None, "h")


def _copy_loop(bug=None):
    def loop(api, pool, batch_size):
        from distill.api import as_targets
        xs, ts, i = [], [], 0
        while api.remaining > 0:
            n = batch_size if bug == "overrun" else min(batch_size, api.remaining)
            if bug == "drops the last" and api.remaining < batch_size:
                break
            x = pool[i:i + n]
            a = api.query(x)
            xs.append(x)
            ts.append(a if bug == "raw answers" else as_targets(a, api.num_classes))
            i += n
        return torch.cat(xs), torch.cat(ts) if bug != "raw answers" else ts
    return loop


def test_check_copy_loop_passes_the_reference_and_rejects_typical_wrong_loops(capsys):
    exercises.check_copy_loop(_copy_loop(), "h")
    assert "budget spent exactly" in capsys.readouterr().out
    for bug, says in [("overrun", "raised BudgetExceeded"), ("drops the last", "spend it exactly"),
                      ("raw answers", "targets are not")]:
        with pytest.raises(exercises.NotYet, match=says):
            exercises.check_copy_loop(_copy_loop(bug), "h")

    def stub(api, pool, batch_size):
        raise NotImplementedError("write this function")
    with pytest.raises(exercises.NotYet, match="not written yet"):
        exercises.check_copy_loop(stub, "h")


def test_find_the_bug_rejects_each_bug_left_in():
    """The buggy loss of notebook 02 and each of its bugs alone: check_function rejects them all."""
    import torch.nn.functional as F
    from distill.losses import kd_loss

    def loss(s, t, T, swap=False, t2=True, reduction="batchmean"):
        a, b = (F.log_softmax(t / T, 1), F.softmax(s / T, 1)) if swap else (F.log_softmax(s / T, 1), F.softmax(t / T, 1))
        return (T * T if t2 else 1) * F.kl_div(a, b, reduction=reduction)

    exercises.check_function(lambda s, t, T: loss(s, t, T), kd_loss, exercises.random_logits, "h")
    for bad in (dict(swap=True), dict(t2=False), dict(reduction="mean")):
        with pytest.raises(exercises.NotYet, match="different value"):
            exercises.check_function(lambda s, t, T, b=bad: loss(s, t, T, **b), kd_loss, exercises.random_logits, "h")


def test_tied_best_settings_are_all_right_answers():
    """08.1 in a smoke run: every kind may tie at 0% exact match; any of them is right, none is shown."""
    recs = [{"kind": k, "n": 400, "seed": s, "exact_match": 0.0} for k in ("text", "full", "topk") for s in (0, 1)]
    ns = {"runs": recs, "BUDGETS": [200, 400], "TRAINED": {"text": [], "full": [], "topk": []}}
    for k in ("text", "full", "topk"):
        exercises.check_answer("08.1", k, ns)
    recs[0]["exact_match"] = 0.5
    exercises.check_answer("08.1", "text", ns)
    with pytest.raises(exercises.NotYet) as e:
        exercises.check_answer("08.1", "full", ns)
    assert "text" not in str(e.value).split("Hint")[0].replace("'full'", "")


def test_check_bias_choice_passes_the_reference_and_rejects_typical_wrong_choices(capsys):
    """05's bias correction: the reference passes; choosing for the unseen classes only, adding the bias to
    every class, breaking ties towards the larger bias, returning a tensor, or a stub each fail in one line
    without the expected bias."""
    import torch
    from distill import metrics

    exercises.check_bias_choice(metrics.choose_bias, "h")
    assert "correct on" in capsys.readouterr().out

    def largest_of_ties(l, y, c, b):
        return max(b, key=lambda x: (metrics.accuracy(metrics.with_bias(l, c, x), y), x))

    def unseen_only(l, y, c, b):
        m = torch.isin(y, torch.tensor(c))
        return max(b, key=lambda x: (metrics.accuracy(metrics.with_bias(l, c, x)[m], y[m]), -x))

    def every_class(l, y, c, b):
        return max(b, key=lambda x: (metrics.accuracy(l + x, y), -x))

    def as_tensor(l, y, c, b):
        return torch.tensor([metrics.choose_bias(l, y, c, b), 0.0])

    def stub(l, y, c, b):
        raise NotImplementedError("write this function")

    for fn, says in [(largest_of_ties, "not the smallest"), (unseen_only, "lower overall validation accuracy"),
                     (every_class, "lower overall validation accuracy"), (as_tensor, "returned Tensor"),
                     (stub, "not written yet"), (None, "not written yet")]:
        with pytest.raises(exercises.NotYet, match=says) as e:
            exercises.check_bias_choice(fn, "h")
        assert "\n" not in str(e.value) and not re.search(r"\d\.\d\d", str(e.value))
