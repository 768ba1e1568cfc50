"""Checked exercises at the end of every notebook.

A notebook's exercise is three cells: the question (Markdown), the answer (a code cell tagged
`solution`, which `make student-copy` replaces by `answer_N = None`), and a check cell,
`exercises.check_answer("06.1", answer_1, globals())`, whose expected value is computed from the
notebook's variables by `distill.answer_key` (so no expected value is visible in the notebook).
A wrong or missing answer fails with one line (no traceback) that says what kind of answer is
wanted, names a typical slip when it sees one (a percentage for a share, a rounded value) and gives
a hint, never the answer itself.
"""

from __future__ import annotations

import math
from numbers import Number


def _same(answer, expected, rel: float, abs_: float) -> bool:
    if isinstance(expected, bool) or isinstance(answer, bool):
        return isinstance(answer, (bool, int)) and bool(answer) == bool(expected) and type(answer) is not float
    if isinstance(expected, int) and isinstance(answer, Number):  # a count: exactly
        return float(answer) == expected
    if isinstance(expected, Number) and isinstance(answer, Number):
        return math.isclose(float(answer), float(expected), rel_tol=rel, abs_tol=abs_)
    if isinstance(expected, str) and isinstance(answer, str):
        return answer.strip().casefold() == expected.strip().casefold()
    if isinstance(expected, (list, tuple)) and isinstance(answer, (list, tuple)):
        return len(answer) == len(expected) and all(_same(a, e, rel, abs_) for a, e in zip(answer, expected))
    return answer == expected


class NotYet(AssertionError):
    """A check that did not pass: shown in a notebook as its one-line message, without a traceback."""

    def _render_traceback_(self):  # IPython shows these lines instead of the traceback
        return [f"\033[31m✗ {self}\033[0m"]


def _kind(expected) -> str:
    if isinstance(expected, bool):
        return "a yes/no value (a bool)"
    if isinstance(expected, int):
        return "a whole number"
    if isinstance(expected, Number):
        return "a number"
    return f"a {type(expected).__name__}"


def _slip(answer, expected, rel: float, share: bool) -> str:
    """A typical slip this wrong answer looks like, named without giving the answer away."""
    if not (isinstance(answer, Number) and isinstance(expected, Number)) or isinstance(expected, bool):
        return ""
    a, e = float(answer), float(expected)
    if share and math.isclose(a / 100, e, rel_tol=rel, abs_tol=1e-9):
        return " It looks like a percentage: give a share between 0 and 1."
    if math.isclose(a, e, rel_tol=max(20 * rel, 0.02)):
        return " It is close: use the unrounded value."
    if isinstance(expected, int) and not float(a).is_integer():
        return " The answer is a count: a whole number."
    return ""


def check(answer, expected, hint: str, *, rel: float = 1e-3, abs_: float = 1e-6, name: str = "answer",
          share: bool = False) -> None:
    """Pass if `answer` matches `expected` (numbers within `rel`/`abs_`, strings ignoring case), else
    raise `NotYet` with one line: what kind of answer is wanted, a typical slip if it sees one, a hint."""
    if answer is None:
        raise NotYet(f"{name} is not filled in yet (it is None). Hint: {hint}")
    if hasattr(answer, "item") and getattr(answer, "ndim", 1) == 0:  # a 0-d tensor or numpy scalar
        answer = answer.item()
    if isinstance(answer, float) and not math.isfinite(answer):
        raise NotYet(f"{name} is {answer}: something upstream divided by zero or averaged nothing. Hint: {hint}")
    if not _same(answer, expected, rel, abs_):
        shown = repr(answer) if len(repr(answer)) <= 40 else f"a {type(answer).__name__}"
        raise NotYet(f"{name} = {shown} is not right yet (expected {_kind(expected)}"
                     f"{', a share between 0 and 1' if share else ''}).{_slip(answer, expected, rel, share)} Hint: {hint}")
    print(f"{name}: correct.")


def check_answer(key: str, answer, namespace: dict, *, name: str | None = None) -> None:
    """Check exercise `key` ("06.1": notebook 06, exercise 1) against `distill.answer_key`, whose
    expected value is computed from `namespace` (the notebook's `globals()`)."""
    from .answer_key import ANSWERS
    entry = ANSWERS[key]
    name = name or f"answer_{key.split('.')[-1]}"
    try:
        expected = entry.expected(namespace)
    except KeyError as e:
        raise NotYet(f"cannot check {name} yet: {e.args[0]!r} is not defined; run the notebook's cells above first") from None
    check(answer, expected, entry.hint, rel=entry.rel, name=name, share=entry.share)


def check_function(fn, reference, make_inputs, hint: str, *, name: str = "your function", trials: int = 5,
                   rtol: float = 1e-4, atol: float = 1e-6, seed: int = 0) -> None:
    """Check a function the student wrote against the library's `reference` on `trials` random inputs
    (`make_inputs(generator)` returns a tuple of arguments). Fails with which kind of input broke it
    and a hint, never the expected values: the student sees pass or fail, not the answer."""
    import torch
    if fn is None:
        raise AssertionError(f"{name} is not written yet. Hint: {hint}")
    g = torch.Generator().manual_seed(seed)
    for t in range(trials):
        args = make_inputs(g)
        try:
            got = fn(*args)
        except Exception as e:  # the student's bug, reported as one line
            raise AssertionError(f"{name} raised {type(e).__name__} on trial {t + 1}: {e}. Hint: {hint}") from None
        want = reference(*args)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise AssertionError(f"{name} returned {type(got).__name__} of shape {tuple(getattr(got, 'shape', ()))}; "
                                 f"expected a tensor of shape {tuple(want.shape)}. Hint: {hint}")
        if not torch.allclose(got, want, rtol=rtol, atol=atol):
            raise AssertionError(f"{name} gives a different value on trial {t + 1} of {trials}. Hint: {hint}")
    print(f"{name}: correct on {trials} random inputs.")


def random_logits(g) -> tuple:
    """Inputs for checking a distillation loss: student and teacher logits (8 x 10) and a temperature."""
    import torch
    T = float(torch.empty(1).uniform_(1.0, 8.0, generator=g))
    return 3 * torch.randn(8, 10, generator=g), 3 * torch.randn(8, 10, generator=g), T
