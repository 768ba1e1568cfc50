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

from .answer_key import AnyOf


def _same(answer, expected, rel: float, abs_: float) -> bool:
    if isinstance(expected, AnyOf):
        return any(_same(answer, e, rel, abs_) for e in expected)
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
    if isinstance(expected, AnyOf):
        return _kind(expected[0])
    if isinstance(expected, bool):
        return "a yes/no value (a bool)"
    if isinstance(expected, int):
        return "a whole number"
    if isinstance(expected, Number):
        return "a number"
    return f"a {type(expected).__name__}"


def _slip(answer, expected, rel: float, share: bool) -> str:
    """A typical slip this wrong answer looks like, named without giving the answer away."""
    if isinstance(expected, AnyOf):
        return ""
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
        raise NotYet(f"{name} is not written yet. Hint: {hint}")
    g = torch.Generator().manual_seed(seed)
    for t in range(trials):
        args = make_inputs(g)
        got = _run(fn, args, name, f"on trial {t + 1}", hint)
        want = reference(*args)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise NotYet(f"{name} returned {type(got).__name__} of shape {tuple(getattr(got, 'shape', ()))}; "
                         f"expected a tensor of shape {tuple(want.shape)}. Hint: {hint}")
        if not torch.isfinite(got).all():
            raise NotYet(f"{name} returned NaN or infinite values on trial {t + 1}. Hint: {hint}")
        if not torch.allclose(got, want, rtol=rtol, atol=atol):
            raise NotYet(f"{name} gives a different value on trial {t + 1} of {trials}. Hint: {hint}")
    print(f"{name}: correct on {trials} random inputs.")


def _run(fn, args, name, when, hint):
    try:
        return fn(*args)
    except NotImplementedError:
        raise NotYet(f"{name} is not written yet (it raises NotImplementedError). Hint: {hint}") from None
    except Exception as e:  # the student's bug, reported as one line
        raise NotYet(f"{name} raised {type(e).__name__} {when}: {str(e).splitlines()[0] if str(e) else ''}. "
                     f"Hint: {hint}") from None


def _step_models(seed: int):
    """A small student and a teacher with dropout (left in training mode: a trap), for step checks."""
    import torch
    import torch.nn as nn
    torch.manual_seed(seed)
    student = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    teacher = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4))
    teacher.train()
    return student, teacher


def check_train_step(fn, hint: str, *, name: str = "your step", steps: int = 3, T: float = 3.0) -> None:
    """Check a distillation training step `fn(student, teacher, x, optimizer, T) -> float` against
    `distill.train.distill_step`: same student weights after `steps` steps on the same batches, the
    teacher untouched (no gradients, evaluation mode), the returned loss a number. Says which part
    differs, never a value."""
    import torch
    from .train import distill_step
    if fn is None:
        raise NotYet(f"{name} is not written yet. Hint: {hint}")
    (s1, t1), (s2, t2) = _step_models(0), _step_models(0)
    o1, o2 = (torch.optim.SGD(m.parameters(), lr=0.5) for m in (s1, s2))
    g = torch.Generator().manual_seed(1)
    for k in range(steps):
        x = torch.randn(32, 6, generator=g)
        torch.manual_seed(100 + k)   # the same dropout draws for both, should a teacher be left in training mode
        want = distill_step(s1, t1, x, o1, T)
        torch.manual_seed(100 + k)
        got = _run(fn, (s2, t2, x, o2, T), name, f"at step {k + 1}", hint)
        if not isinstance(got, (float, int)) or isinstance(got, bool):
            raise NotYet(f"{name} returned {type(got).__name__}; return the loss as a number (loss.item()). Hint: {hint}")
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in t2.parameters()):
            raise NotYet(f"{name} let gradients flow into the teacher: compute its logits under torch.no_grad(). Hint: {hint}")
        if t2.training:
            raise NotYet(f"{name} left the teacher in training mode (its dropout changes its answers): call teacher.eval(). "
                         f"Hint: {hint}")
        if not all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(s1.parameters(), s2.parameters())):
            raise NotYet(f"after step {k + 1} the student's weights differ from the reference step's "
                         f"(loss, T squared, zero_grad, backward, step?). Hint: {hint}")
        if not math.isclose(float(got), want, rel_tol=1e-4, abs_tol=1e-6):
            raise NotYet(f"{name} returned a different loss at step {k + 1} than the one it trained on. Hint: {hint}")
    print(f"{name}: correct on {steps} steps.")


def check_copy_loop(fn, hint: str, *, name: str = "your copy loop") -> None:
    """Check a copier's query loop `fn(api, pool, batch_size) -> (inputs, targets)`: it must spend the
    API's budget exactly (the last batch cut short, never a refused query), send the pool's images in
    order, and return targets made by `distill.api.as_targets` for exactly those images."""
    import torch
    import torch.nn as nn
    from .api import TeacherAPI, as_targets
    if fn is None:
        raise NotYet(f"{name} is not written yet. Hint: {hint}")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    pool = torch.randn(1000, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    for output, budget, batch in (("probs", 250, 100), ("label", 300, 64)):
        api = TeacherAPI(model, output, budget=budget, cache=False)
        got = _run(fn, (api, pool, batch), name, f"with a budget of {budget} ({output} answers)", hint)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise NotYet(f"{name} should return (inputs, targets), got {type(got).__name__}. Hint: {hint}")
        X, t = got
        if api.queries_used != budget:
            raise NotYet(f"{name} used {api.queries_used} of a budget of {budget} queries: spend it exactly (cut the last "
                         f"batch short). Hint: {hint}")
        if not isinstance(X, torch.Tensor) or len(X) != budget or not torch.equal(X, pool[:budget]):
            raise NotYet(f"{name} should return the {budget} images it sent, in order. Hint: {hint}")
        want = as_targets(TeacherAPI(model, output, cache=False).query(pool[:budget]), 5)
        if not isinstance(t, torch.Tensor) or t.shape != want.shape or not torch.allclose(t.float(), want.float(), atol=1e-6):
            raise NotYet(f"{name}'s targets are not the API's answers turned into targets (api.as_targets) for "
                         f"{output} answers. Hint: {hint}")
    print(f"{name}: correct (budget spent exactly, answers kept in order).")


def bias_inputs(g, n: int = 60, k: int = 5) -> tuple:
    """Inputs for checking a bias choice: a student's validation logits that under-score two classes
    it never saw (so the best bias is neither the smallest nor the largest candidate), labels, those
    classes, and a fine grid of candidate biases (fine enough that neighbouring biases tie)."""
    import torch
    y = torch.randint(0, k, (n,), generator=g)
    logits = torch.randn(n, k, generator=g) + 2.5 * torch.nn.functional.one_hot(y, k)
    classes = sorted(torch.randperm(k, generator=g)[:2].tolist())
    logits[:, classes] -= 3.0                       # the unseen classes' scores are too low
    return logits, y, classes, [x / 4 for x in range(0, 41)]   # 0, 0.25, ..., 10


def check_bias_choice(fn, hint: str, *, name: str = "your bias choice", trials: int = 6) -> None:
    """Check `fn(val_logits, y_val, classes, biases) -> bias` against `distill.metrics.choose_bias`: the
    candidate with the best overall validation accuracy after adding it to `classes`' scores, the
    smallest among ties. Fails naming the kind of mistake, never the expected bias."""
    import torch
    from .metrics import accuracy, choose_bias, with_bias
    if fn is None:
        raise NotYet(f"{name} is not written yet. Hint: {hint}")
    g = torch.Generator().manual_seed(5)
    for t in range(trials):
        logits, y, classes, biases = bias_inputs(g)
        got = _run(fn, (logits.clone(), y.clone(), list(classes), list(biases)), name, f"on trial {t + 1}", hint)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise NotYet(f"{name} returned {type(got).__name__}; expected one of the candidate biases (a number). "
                         f"Hint: {hint}")
        want = choose_bias(logits, y, classes, biases)
        if got == want:
            continue
        if got not in biases:
            raise NotYet(f"{name} returned a bias that is not one of the candidates on trial {t + 1}. Hint: {hint}")
        acc = lambda b: accuracy(with_bias(logits, classes, b), y)  # noqa: E731
        if acc(got) == acc(want):
            raise NotYet(f"{name} picked a bias tied for the best accuracy on trial {t + 1}, but not the smallest of the "
                         f"tied ones: break ties towards the smaller correction. Hint: {hint}")
        raise NotYet(f"{name} picked a bias with a lower overall validation accuracy than another candidate on trial "
                     f"{t + 1} (score all validation images, every class, after adding the bias to the unseen classes "
                     f"only). Hint: {hint}")
    print(f"{name}: correct on {trials} random validation sets.")


def random_logits(g) -> tuple:
    """Inputs for checking a distillation loss: student and teacher logits (8 x 10) and a temperature."""
    import torch
    T = float(torch.empty(1).uniform_(1.0, 8.0, generator=g))
    return 3 * torch.randn(8, 10, generator=g), 3 * torch.randn(8, 10, generator=g), T
