"""Losses against hand-computed references and autograd."""
import math

import pytest
import torch
import torch.nn.functional as F

from distill.errors import DistillError
from distill.losses import (distillation_loss, hard_label_loss, kd_loss, label_loss, logit_mse_loss, objective,
                            soft_targets, teacher_labels)


def softmax(v, T=1.0):
    e = [math.exp(x / T) for x in v]
    return [x / sum(e) for x in e]


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


S = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
TL = [[2.0, 1.0, 0.0], [0.5, 0.5, 2.5]]


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0, 10.0])
def test_kd_loss_matches_hand_computed_formula(T):
    expected = T**2 * sum(kl(softmax(t, T), softmax(s, T)) for s, t in zip(S, TL)) / len(S)
    got = kd_loss(torch.tensor(S, dtype=torch.float64), torch.tensor(TL, dtype=torch.float64), T).item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_kd_loss_is_batch_mean_not_class_mean():
    one = kd_loss(torch.tensor(S[:1]), torch.tensor(TL[:1]), 2.0)
    two = kd_loss(torch.tensor(S[:1] * 2), torch.tensor(TL[:1] * 2), 2.0)
    assert two.item() == pytest.approx(one.item(), rel=1e-6)
    # "mean" reduction would divide by B * K instead of B: 3x smaller here
    assert one.item() == pytest.approx(kl(softmax(TL[0], 2), softmax(S[0], 2)) * 4, rel=1e-6)


def test_kd_loss_is_zero_when_student_equals_teacher_and_positive_otherwise():
    t = torch.randn(5, 10)
    assert kd_loss(t.clone(), t, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(torch.randn(5, 10), t, 3.0).item() > 0


@pytest.mark.parametrize("T", [1.0, 3.0, 8.0])
def test_kd_loss_gradient_equals_T_times_probability_difference(T):
    # d/ds_i [T^2 KL(p || q)] = T (q_i - p_i) / B  with p = softmax(t/T), q = softmax(s/T)
    s = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    t = torch.randn(4, 6, dtype=torch.float64)
    kd_loss(s, t, T).backward()
    expected = T * (F.softmax(s.detach() / T, -1) - F.softmax(t / T, -1)) / 4
    torch.testing.assert_close(s.grad, expected, rtol=1e-9, atol=1e-12)


def test_T_squared_keeps_gradient_scale_at_high_temperature():
    # Hinton et al. 2015 eq. 3: at high T, d KL / d s_i ~ (s_i - t_i) / (K T^2) for zero-mean logits.
    # With the T^2 factor the gradient tends to (s_i - t_i) / (K B), independent of T.
    s = torch.randn(3, 10, dtype=torch.float64)
    t = torch.randn(3, 10, dtype=torch.float64)
    s, t = s - s.mean(1, keepdim=True), t - t.mean(1, keepdim=True)
    limit = (s - t) / (10 * 3)
    grads = []
    for T in (50.0, 500.0):
        sv = s.clone().requires_grad_(True)
        kd_loss(sv, t, T).backward()
        grads.append(sv.grad)
    assert ((grads[1] - limit).norm() / limit.norm()).item() < 0.01  # converges like 1/T
    assert grads[0].norm() / grads[1].norm() == pytest.approx(1.0, abs=0.01)


def test_kd_loss_passes_gradcheck():
    s = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: kd_loss(x, t, 2.5), (s,))


def test_soft_targets_soften_with_temperature():
    z = torch.tensor([[3.0, 1.0, 0.0]])
    assert soft_targets(z, 1.0)[0].tolist() == pytest.approx(softmax([3, 1, 0]), rel=1e-6)
    assert soft_targets(z, 10.0).max() < soft_targets(z, 1.0).max()


def test_hard_label_loss_is_cross_entropy_on_teacher_argmax():
    s, t = torch.tensor(S), torch.tensor(TL)
    assert teacher_labels(t).tolist() == [0, 2]
    expected = -(math.log(softmax(S[0])[0]) + math.log(softmax(S[1])[2])) / 2
    assert hard_label_loss(s, t).item() == pytest.approx(expected, rel=1e-6)


def test_logit_mse_matches_ba_caruana_formula():
    # 1/(2B) sum_b ||s_b - t_b||^2
    sq = sum((a - b) ** 2 for s, t in zip(S, TL) for a, b in zip(s, t))
    assert logit_mse_loss(torch.tensor(S), torch.tensor(TL)).item() == pytest.approx(sq / 4, rel=1e-6)


def test_distillation_loss_is_alpha_weighted_combination():
    s, t, y = torch.tensor(S), torch.tensor(TL), torch.tensor([1, 2])
    kd, ce = kd_loss(s, t, 3.0).item(), label_loss(s, y).item()
    assert ce == pytest.approx(-(math.log(softmax(S[0])[1]) + math.log(softmax(S[1])[2])) / 2, rel=1e-6)
    for alpha in (0.0, 0.3, 1.0):
        got = distillation_loss(s, t, y, T=3.0, alpha=alpha).item()
        assert got == pytest.approx(alpha * kd + (1 - alpha) * ce, rel=1e-6)


@pytest.mark.parametrize("T", [0.0, -1.0])
def test_bad_temperature_is_a_clear_error(T):
    with pytest.raises(DistillError, match="temperature must be a finite number > 0"):
        kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), T)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_bad_alpha_is_a_clear_error(alpha):
    with pytest.raises(DistillError, match=r"alpha must be in \[0, 1\]"):
        distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), alpha=alpha)


def test_objective_routes_targets_by_method():
    s, t, y = torch.tensor(S), torch.tensor(TL), torch.tensor([1, 2])
    fn, needs = objective("labels")
    assert needs == ("y",) and fn(s, y).item() == pytest.approx(label_loss(s, y).item())
    fn, needs = objective("soft", T=2.0)
    assert needs == ("teacher",) and fn(s, t).item() == pytest.approx(kd_loss(s, t, 2.0).item())
    fn, needs = objective("mixed", T=2.0, alpha=0.25)
    assert needs == ("teacher", "y")
    assert fn(s, t, y).item() == pytest.approx(distillation_loss(s, t, y, 2.0, 0.25).item())
    with pytest.raises(DistillError, match="unknown method 'dark'"):
        objective("dark")


def test_temper_is_softmax_of_log_probs_and_keeps_zeros():
    from distill.losses import temper
    p = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]], dtype=torch.float64)
    q = temper(p, 2.0)
    hand = [math.sqrt(0.7), math.sqrt(0.2), math.sqrt(0.1)]
    assert q[0].tolist() == pytest.approx([h / sum(hand) for h in hand])
    assert q[1].tolist() == pytest.approx([0.5, 0.5, 0.0])


@pytest.mark.parametrize("T", [1.0, 4.0])
def test_soft_target_loss_has_the_gradient_of_kd_loss(T):
    from distill.losses import soft_target_loss
    s = torch.tensor(S, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TL, dtype=torch.float64)
    g_kd, = torch.autograd.grad(kd_loss(s, t, T), s)
    loss = soft_target_loss(s, torch.softmax(t, -1), T)
    g_st, = torch.autograd.grad(loss, s)
    assert torch.allclose(g_kd, g_st)
    # value: KL plus the (tempered) targets' entropy, times T^2
    p = torch.softmax(t / T, -1)
    entropy = -(p * p.log()).sum(-1).mean() * T**2
    assert loss.item() == pytest.approx(kd_loss(s, t, T).item() + entropy.item())


def test_probs_method_needs_probabilities():
    from distill.recipes import train_student
    with pytest.raises(DistillError, match="needs teacher probabilities"):
        train_student(torch.zeros(4, 1, 28, 28), "probs")


def test_kd_loss_written_out_equals_torch_kl_div_exactly():
    """kd_loss spells out the KL (vmap has no batching rule for kl_div); it must stay torch's value."""
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(0)
    for T in (1.0, 4.0, 10.0):
        s, t = torch.randn(64, 10, generator=g) * 3, torch.randn(64, 10, generator=g) * 5
        ref = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), log_target=True, reduction="batchmean") * T**2
        assert torch.allclose(kd_loss(s, t, T), ref, rtol=1e-6, atol=1e-7)


def test_gradient_norms_match_the_hand_derivation_and_t2_keeps_them_level():
    import torch
    from distill.losses import gradient_norms, soft_targets
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(16, 10, generator=g), torch.randn(16, 10, generator=g)
    rows = gradient_norms(s, t, [1.0, 4.0, 16.0])
    for r in rows:
        T = r["T"]
        by_hand = ((soft_targets(s, T) - soft_targets(t, T)) / (T * len(s))).norm().item()
        assert r["kl"] == pytest.approx(by_hand, rel=1e-4)
        assert r["t2_kl"] == pytest.approx(T * T * by_hand, rel=1e-4)
    assert rows[-1]["kl"] < rows[0]["kl"] / 50          # the plain KL's gradient collapses with T
    assert 0.2 < rows[-1]["t2_kl"] / rows[1]["t2_kl"] < 5  # T² x KL keeps it level
