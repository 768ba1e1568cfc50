"""What moved across: accuracy, agreement with the teacher, calibration, gap closed.

Functions take logits (N, K) or predicted labels (N,) and true labels (N,), and
return plain Python floats so notebooks can print and tabulate them directly.

- accuracy: fraction of examples where argmax = true label.
- agreement (also called fidelity): fraction where the student's argmax equals the
  teacher's -- a copy can be faithful without being accurate, and vice versa.
- expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural
  Networks"): how far confidence is from accuracy, averaged over confidence bins.
- fraction of teacher kept (student / teacher accuracy) and fraction of the gap
  closed ((student - scratch) / (teacher - scratch)).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch

from .errors import DistillError


def _labels(pred: torch.Tensor) -> torch.Tensor:
    return pred.argmax(dim=-1) if pred.ndim == 2 else pred


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction correct; `pred` is logits (N, K) or labels (N,)."""
    return (_labels(pred).cpu() == y.cpu()).float().mean().item()


def agreement(pred_a: torch.Tensor, pred_b: torch.Tensor) -> float:
    """Fraction of examples on which two models predict the same class (fidelity)."""
    return (_labels(pred_a).cpu() == _labels(pred_b).cpu()).float().mean().item()


def per_class_accuracy(pred: torch.Tensor, y: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """(K,) accuracy on the examples of each true class (NaN for an absent class)."""
    p, y = _labels(pred).cpu(), y.cpu()
    k = num_classes or int(max(p.max(), y.max())) + 1
    correct = torch.bincount(y[p == y], minlength=k).float()
    count = torch.bincount(y, minlength=k).float()
    return correct / count  # 0/0 -> NaN for absent classes


def confusion_matrix(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts: row = true class, column = predicted class."""
    p, y = _labels(pred).cpu(), y.cpu()
    return torch.bincount(y * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def expected_calibration_error(logits: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> float:
    """ECE = sum_b (|B_b| / N) * |accuracy(B_b) - confidence(B_b)| over equal-width confidence bins."""
    probs = torch.softmax(logits.float().cpu(), dim=-1)
    conf, pred = probs.max(dim=-1)
    correct = (pred == y.cpu()).float()
    bins = torch.clamp((conf * n_bins).long(), max=n_bins - 1)  # bin b holds conf in [b/n, (b+1)/n)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.float().mean().item() * abs(correct[mask].mean().item() - conf[mask].mean().item())
    return ece


def fraction_of_teacher(student_acc: float, teacher_acc: float) -> float:
    """Student accuracy as a fraction of the teacher's."""
    return student_acc / teacher_acc


def gap_closed(student_acc: float, scratch_acc: float, teacher_acc: float) -> float:
    """(student - scratch) / (teacher - scratch): 0 = no better than training alone, 1 = as good as the teacher."""
    if math.isclose(teacher_acc, scratch_acc):
        raise DistillError("the teacher and the scratch baseline have the same accuracy: the gap is zero")
    return (student_acc - scratch_acc) / (teacher_acc - scratch_acc)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) over seeds; std is 0 for one value."""
    v = torch.tensor(list(values), dtype=torch.float64)
    if v.numel() == 0:
        raise DistillError("mean_std needs at least one value")
    return v.mean().item(), (v.std().item() if v.numel() > 1 else 0.0)


def evaluate(logits: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor | None = None) -> dict:
    """accuracy, ECE and (given the teacher's logits on the same inputs) agreement."""
    out = {"accuracy": accuracy(logits, y), "ece": expected_calibration_error(logits, y)}
    if teacher_logits is not None:
        out["agreement"] = agreement(logits, teacher_logits)
    return out


def budget_to_reach(budgets: Sequence[float], values: Sequence[float], target: float) -> float | None:
    """The smallest budget at which a rising curve reaches `target`, or None if it never does.

    Between two grid points the curve is interpolated linearly in log(budget), so
    (100, 0.5), (1000, 0.7) reach 0.6 at 10**2.5 = 316. A curve already at the target at the
    first budget returns that budget (the true value may be smaller).
    """
    pts = sorted(zip(budgets, values))
    if pts and pts[0][1] >= target:
        return float(pts[0][0])
    for (b0, v0), (b1, v1) in zip(pts, pts[1:]):
        if v1 >= target:
            frac = (target - v0) / (v1 - v0)
            return float(math.exp(math.log(b0) + frac * (math.log(b1) - math.log(b0))))
    return None


def group(records: Iterable[dict], keys: tuple[str, ...], value: str) -> dict[tuple, list[float]]:
    """Collect `record[value]` over seeds for each distinct setting `tuple(record[k] for k in keys)`."""
    out: dict[tuple, list[float]] = {}
    for r in records:
        out.setdefault(tuple(r.get(k) for k in keys), []).append(r[value])
    return out


def best_setting(records: Iterable[dict], keys: tuple[str, ...], select_on: str = "val_accuracy") -> tuple:
    """The setting with the highest mean `select_on` over seeds (validation, never test)."""
    grouped = group(records, keys, select_on)
    if not grouped:
        raise DistillError("best_setting got no records")
    return max(grouped, key=lambda k: sum(grouped[k]) / len(grouped[k]))


# ---- what a smaller model buys, and whose mistakes it makes ------------------------------



def latency(model: torch.nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, repeats: int = 30,
            warmup: int = 5) -> float:
    """Median wall-clock seconds for one forward pass of a batch, in eval mode without gradients."""
    import time
    from .models import evaluating
    p = next(model.parameters())
    x = torch.randn(batch_size, *input_shape, device=p.device, dtype=p.dtype)
    times = []
    with evaluating(model):
        for i in range(warmup + repeats):
            if p.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if p.device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def shared_mistakes(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor) -> dict:
    """How a student's errors relate to the teacher's (logits or labels, all on the same inputs).

    - `p_wrong_given_teacher_wrong`: of the examples the teacher gets wrong, the fraction the
      student also gets wrong;
    - `same_wrong_answer`: of the examples both get wrong, the fraction where they give the
      same wrong class -- "wrong in the same way".
    """
    s, t, y = _labels(student).cpu(), _labels(teacher).cpu(), y.cpu()
    t_wrong, s_wrong = t != y, s != y
    both = t_wrong & s_wrong
    return {"p_wrong_given_teacher_wrong": (both.sum() / t_wrong.sum().clamp_min(1)).item(),
            "same_wrong_answer": ((both & (s == t)).sum() / both.sum().clamp_min(1)).item(),
            "teacher_errors": int(t_wrong.sum()), "both_wrong": int(both.sum())}


def cost(model: torch.nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int, float, float]:
    """(parameters, forward FLOPs per example, seconds for 1 example, seconds for 1,000): what running it costs."""
    from .models import count_params, flops_per_example
    return (count_params(model), flops_per_example(model, input_shape), latency(model, input_shape, 1),
            latency(model, input_shape, 1000, repeats=5))


# ---- classes a student never saw (Hinton et al. 2015, section 3) -------------------------

def with_bias(logits: torch.Tensor, classes: Sequence[int], b: float) -> torch.Tensor:
    """`logits` with `b` added to the scores of `classes` (the paper's correction for classes the
    student never saw in its transfer set)."""
    out = logits.clone()
    out[:, list(classes)] += b
    return out


def choose_bias(val_logits: torch.Tensor, y_val: torch.Tensor, classes: Sequence[int], biases: Sequence[float]) -> float:
    """The bias with the best overall validation accuracy (ties: the smallest). Never test data."""
    if not biases:
        raise DistillError("choose_bias needs at least one candidate bias")
    return max(biases, key=lambda b: (accuracy(with_bias(val_logits, classes, b), y_val), -b))


def withheld_scores(val_logits: torch.Tensor, test_logits: torch.Tensor, y_val: torch.Tensor, y_test: torch.Tensor,
                    classes: Sequence[int], biases: Sequence[float]) -> dict:
    """How a student does on `classes` it never saw, before and after the bias chosen on validation:
    bias, val_corrected (validation accuracy with it), withheld (accuracy on test images of those
    classes), withheld_corrected, all, all_corrected."""
    b = choose_bias(val_logits, y_val, classes, biases)
    corrected = with_bias(test_logits, classes, b)
    mask = torch.isin(y_test, torch.tensor(list(classes)))
    return {"bias": b, "val_corrected": accuracy(with_bias(val_logits, classes, b), y_val),
            "withheld": accuracy(test_logits[mask], y_test[mask]),
            "withheld_corrected": accuracy(corrected[mask], y_test[mask]),
            "all": accuracy(test_logits, y_test), "all_corrected": accuracy(corrected, y_test)}


def mean_soft_targets(logits: torch.Tensor, y: torch.Tensor, num_classes: int, T: float = 1.0) -> torch.Tensor:
    """(K, K): row c is the teacher's mean softened distribution (`distill.losses.soft_targets` at
    T) over the examples whose true class is c -- which classes it thinks look alike."""
    from .losses import soft_targets
    p = soft_targets(logits, T)  # (N, K)
    missing = [c for c in range(num_classes) if not (y == c).any()]
    if missing:
        raise DistillError(f"mean_soft_targets needs examples of every class; none of class {missing}")
    return torch.stack([p[y == c].mean(0) for c in range(num_classes)])


def most_similar_pair(similarity: torch.Tensor) -> tuple[int, int]:
    """(row, column) of the largest off-diagonal entry of a square matrix."""
    off = similarity.clone().fill_diagonal_(float("-inf"))
    k = int(off.argmax())
    return k // off.shape[1], k % off.shape[1]
