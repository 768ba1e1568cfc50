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
