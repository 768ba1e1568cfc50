"""Checked exercises: `check(answer, expected, hint)` at the end of every notebook.

A notebook's exercise is three cells: the question (Markdown), the answer (a code cell tagged
`solution`, which `make student-copy` replaces by `answer_N = None`), and a check that calls
`check`. A wrong or missing answer fails with an AssertionError whose message says what was
expected in general terms and gives a hint, never the answer itself.
"""

from __future__ import annotations

import math
from numbers import Number


def _same(answer, expected, rel: float, abs_: float) -> bool:
    if isinstance(expected, bool) or isinstance(answer, bool):
        return isinstance(answer, (bool, int)) and bool(answer) == bool(expected) and type(answer) is not float
    if isinstance(expected, Number) and isinstance(answer, Number):
        return math.isclose(float(answer), float(expected), rel_tol=rel, abs_tol=abs_)
    if isinstance(expected, str) and isinstance(answer, str):
        return answer.strip().casefold() == expected.strip().casefold()
    if isinstance(expected, (list, tuple)) and isinstance(answer, (list, tuple)):
        return len(answer) == len(expected) and all(_same(a, e, rel, abs_) for a, e in zip(answer, expected))
    return answer == expected


def check(answer, expected, hint: str, *, rel: float = 1e-3, abs_: float = 1e-6, name: str = "answer") -> None:
    """Assert that `answer` matches `expected` (numbers within `rel`/`abs_`, strings ignoring case)."""
    if answer is None:
        raise AssertionError(f"{name} is not filled in yet (it is None). Hint: {hint}")
    if hasattr(answer, "item") and getattr(answer, "ndim", 1) == 0:  # a 0-d tensor or numpy scalar
        answer = answer.item()
    kind = type(expected).__name__ if not isinstance(expected, Number) or isinstance(expected, bool) else "number"
    if not _same(answer, expected, rel, abs_):
        raise AssertionError(f"{name} = {answer!r} is not right yet (expected a {kind}). Hint: {hint}")
    print(f"{name}: correct.")
