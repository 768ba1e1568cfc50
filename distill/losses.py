"""Distillation losses: pure functions of logits, each testable on its own.

- `kd_loss`: soft targets at temperature T (Hinton, Vinyals & Dean 2015,
  "Distilling the Knowledge in a Neural Network").
- `hard_label_loss`: cross-entropy on the teacher's argmax -- what a copier gets
  from an API that returns only the predicted class.
- `logit_mse_loss`: regress the teacher's logits (Ba & Caruana 2014, "Do Deep
  Nets Really Need to be Deep?").
- `distillation_loss`: alpha * soft-target loss + (1 - alpha) * true-label loss.
- `soft_target_loss`: soft targets given as probabilities rather than logits (what an
  API returns); rounded or truncated answers may hold exact zeros.

Conventions: `student_logits` and `teacher_logits` are (B, K) float tensors, `y`
is (B,) int64 class indices, `T` is the temperature, and every loss is a scalar
averaged over the batch.
"""

from __future__ import annotations

from functools import partial
import math

import torch
import torch.nn.functional as F

from .errors import DistillError
from .registry import Registry


def check_temperature(T: float) -> None:
    if isinstance(T, bool) or not isinstance(T, (int, float)) or not (T > 0 and math.isfinite(T)):
        raise DistillError(f"temperature must be a finite number > 0, got {T!r}")


def check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise DistillError(f"alpha must be in [0, 1], got {alpha}")


def soft_targets(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """p_i = exp(z_i / T) / sum_j exp(z_j / T): higher T gives a softer distribution."""
    check_temperature(T)
    return F.softmax(logits / T, dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 4.0) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), averaged over the batch.

    The T^2 factor keeps the gradient's size roughly independent of T: the gradient
    of the KL term w.r.t. a student logit is (q_i - p_i) / T, which shrinks like 1/T^2
    at high T (Hinton et al. 2015, section 2).

    Note `reduction="batchmean"`: `"mean"` would also divide by the number of classes,
    a silent bug found in several public implementations.
    """
    check_temperature(T)
    log_q = F.log_softmax(student_logits / T, dim=-1)  # (B, K) student log-probs at T
    log_p = F.log_softmax(teacher_logits / T, dim=-1)  # (B, K) teacher log-probs at T
    # KL(p || q) = sum_i p_i (log p_i - log q_i), summed over classes, mean over batch. Written out,
    # this is exactly F.kl_div(log_q, log_p, log_target=True, reduction="batchmean") (tested), which
    # has no vmap batching rule: the written-out form lets many students train at once (fit_many).
    return (log_p.exp() * (log_p - log_q)).sum() / log_q.shape[0] * T**2


def teacher_labels(teacher_logits: torch.Tensor) -> torch.Tensor:
    """The teacher's predicted class, argmax_i t_i: (B, K) -> (B,) int64."""
    return teacher_logits.argmax(dim=-1)


def hard_label_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the teacher's argmax: -log q_{argmax t}, batch mean."""
    return F.cross_entropy(student_logits, teacher_labels(teacher_logits))


def logit_mse_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Ba & Caruana (2014): 1/(2B) * sum_b ||s_b - t_b||^2 (squared error summed over classes)."""
    return 0.5 * (student_logits - teacher_logits).pow(2).sum(dim=-1).mean()


def temper(probs: torch.Tensor, T: float) -> torch.Tensor:
    """p_i^(1/T) / sum_j p_j^(1/T): the same as softmax(log p / T), and zeros stay zero."""
    check_temperature(T)
    q = probs.clamp_min(0).pow(1.0 / T)
    return q / q.sum(dim=-1, keepdim=True)


def topk_distribution(classes: torch.Tensor, probs: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A full distribution from a top-k answer (..., k): the k probabilities where they were given,
    the remaining mass spread evenly over the other classes (nothing is known about them)."""
    k = probs.shape[-1]
    rest = (1 - probs.sum(-1, keepdim=True)).clamp_min(0) / max(num_classes - k, 1)
    out = rest.expand(*probs.shape[:-1], num_classes).clone()
    out.scatter_(-1, classes, probs.to(out.dtype))
    return out / out.sum(-1, keepdim=True)


def soft_target_loss(student_logits: torch.Tensor, target_probs: torch.Tensor, T: float = 4.0) -> torch.Tensor:
    """T^2 * cross-entropy between temper(target_probs, T) and softmax(s / T), batch mean.

    With `target_probs = softmax(t)` this differs from `kd_loss(s, t, T)` only by the
    targets' entropy, a constant: the gradients are the same.
    """
    p = temper(target_probs, T)
    return -(p * F.log_softmax(student_logits / T, dim=-1)).sum(dim=-1).mean() * T**2


def label_loss(student_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Ordinary cross-entropy with the true labels, batch mean (the no-teacher baseline)."""
    return F.cross_entropy(student_logits, y)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                      T: float = 4.0, alpha: float = 0.5) -> torch.Tensor:
    """alpha * kd_loss(s, t, T) + (1 - alpha) * CE(s, y).

    alpha = 1 is pure soft targets (a copier without labels); alpha = 0 ignores the
    teacher. Because kd_loss carries the T^2 factor, alpha means the same at every T.
    """
    check_alpha(alpha)
    return alpha * kd_loss(student_logits, teacher_logits, T) + (1 - alpha) * label_loss(student_logits, y)


# ---- training methods by name (used by the CLI and the notebooks) -------------------
#
# name -> make(T, alpha) returning (loss_fn, needs): call `loss_fn(logits, *targets)` with targets
# named by `needs`, drawn from "teacher" (teacher logits), "probs" (probability vectors, e.g. an
# API's answers) and "y" (true labels).

METHODS = Registry("method")
METHODS.register("labels", lambda T, alpha: (label_loss, ("y",)),
                 help="cross-entropy on the true labels (no teacher: the scratch baseline)")
METHODS.register("hard", lambda T, alpha: (hard_label_loss, ("teacher",)),
                 help="cross-entropy on the teacher's argmax (what a label-only API gives)")
METHODS.register("soft", lambda T, alpha: (partial(_kd, T=T), ("teacher",)),
                 help="soft targets at temperature T (alpha = 1: no true labels)")
METHODS.register("mixed", lambda T, alpha: (partial(_mixed, T=T, alpha=alpha), ("teacher", "y")),
                 help="alpha * soft targets + (1 - alpha) * true labels")
METHODS.register("mse", lambda T, alpha: (logit_mse_loss, ("teacher",)),
                 help="mean squared error on the teacher's logits (Ba & Caruana 2014)")
METHODS.register("probs", lambda T, alpha: (partial(_probs, T=T), ("probs",)),
                 help="soft targets at temperature T from probability vectors (an API's answers)")


def _kd(s, t, *, T):
    return kd_loss(s, t, T)


def _mixed(s, t, y, *, T, alpha):
    return distillation_loss(s, t, y, T, alpha)


def _probs(s, p, *, T):
    return soft_target_loss(s, p, T)


def objective(method: str, T: float = 4.0, alpha: float = 0.5):
    """`(loss_fn, needs)` for a method in `METHODS` (an unknown name is a one-line error)."""
    make = METHODS[method]
    check_temperature(T)
    check_alpha(alpha)
    return make(T, alpha)


def gradient_norms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperatures) -> list[dict]:
    """Why `kd_loss` multiplies by T²: for each T, the size (L2 norm) of the gradient with respect to
    the student's logits of the plain KL between softened distributions, and of T² times it.

    d KL(p_T || q_T) / d s = (q_T - p_T) / T per example (averaged over the batch), and for large T
    q_T - p_T shrinks like 1/T, so the plain KL's gradient shrinks like 1/T²; T² x KL keeps it
    about the same size whatever T is, so changing T does not silently change the learning rate.
    """
    out = []
    for T in temperatures:
        check_temperature(T)
        s = student_logits.detach().clone().requires_grad_(True)
        plain = kd_loss(s, teacher_logits, T) / (T * T)
        (g,) = torch.autograd.grad(plain, s)
        out.append({"T": T, "kl": g.norm().item(), "t2_kl": (T * T * g).norm().item()})
    return out
