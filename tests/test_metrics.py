"""Metrics against hand-computed values."""
import math

import pytest
import torch

from distill.errors import DistillError
from distill.metrics import (accuracy, agreement, confusion_matrix, evaluate, expected_calibration_error,
                             fraction_of_teacher, gap_closed, mean_std, per_class_accuracy)


def test_accuracy_and_agreement_from_logits_or_labels():
    y = torch.tensor([0, 1, 2, 2])
    pred = torch.tensor([0, 1, 1, 2])
    logits = torch.nn.functional.one_hot(pred, 3).float()
    assert accuracy(pred, y) == 0.75 and accuracy(logits, y) == 0.75
    assert agreement(logits, torch.tensor([0, 0, 1, 2])) == 0.75


def test_per_class_accuracy_and_confusion_matrix():
    y = torch.tensor([0, 0, 1, 1, 1, 2])
    p = torch.tensor([0, 1, 1, 1, 0, 2])
    pc = per_class_accuracy(p, y, 4)
    assert pc[:3].tolist() == pytest.approx([0.5, 2 / 3, 1.0]) and math.isnan(pc[3])
    cm = confusion_matrix(p, y, 3)
    assert cm.tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]


def test_ece_hand_computed():
    # two examples, confidences 0.9 (correct) and 0.6 (wrong), 10 bins: separate bins
    # ECE = 1/2 |1 - 0.9| + 1/2 |0 - 0.6| = 0.35
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4]])
    y = torch.tensor([0, 1])
    assert expected_calibration_error(probs.log(), y, n_bins=10) == pytest.approx(0.35, abs=1e-6)
    # perfectly confident and right: zero
    assert expected_calibration_error(torch.tensor([[20.0, -20.0]]), torch.tensor([0])) == pytest.approx(0, abs=1e-6)


def test_gap_closed_and_fraction_of_teacher():
    assert gap_closed(0.88, 0.85, 0.91) == pytest.approx(0.5)
    assert gap_closed(0.85, 0.85, 0.91) == 0.0
    assert fraction_of_teacher(0.455, 0.91) == pytest.approx(0.5)
    with pytest.raises(DistillError, match="gap is zero"):
        gap_closed(0.9, 0.9, 0.9)


def test_mean_std_uses_sample_std():
    m, s = mean_std([1.0, 2.0, 3.0])
    assert (m, s) == (pytest.approx(2.0), pytest.approx(1.0))
    assert mean_std([5.0]) == (5.0, 0.0)
    with pytest.raises(DistillError):
        mean_std([])


def test_evaluate_reports_agreement_only_with_teacher():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([0, 0])
    assert "agreement" not in evaluate(logits, y)
    out = evaluate(logits, y, teacher_logits=torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert out["accuracy"] == 0.5 and out["agreement"] == 0.5


def test_group_and_best_setting_select_on_validation_only():
    from distill.metrics import best_setting, group
    recs = [
        {"T": 1, "seed": 0, "val_accuracy": 0.80, "test_accuracy": 0.99},
        {"T": 1, "seed": 1, "val_accuracy": 0.82, "test_accuracy": 0.99},
        {"T": 4, "seed": 0, "val_accuracy": 0.85, "test_accuracy": 0.50},
        {"T": 4, "seed": 1, "val_accuracy": 0.83, "test_accuracy": 0.50},
    ]
    assert group(recs, ("T",), "val_accuracy") == {(1,): [0.80, 0.82], (4,): [0.85, 0.83]}
    assert best_setting(recs, ("T",)) == (4,)  # test accuracy would pick T = 1


def test_shared_mistakes_hand_computed():
    from distill.metrics import shared_mistakes
    y = torch.tensor([0, 0, 0, 0, 1])
    teacher = torch.tensor([1, 1, 2, 0, 1])  # wrong on 0, 1, 2
    student = torch.tensor([1, 2, 0, 1, 1])  # wrong on 0, 1, 3; both wrong on 0 and 1, same answer on 0
    out = shared_mistakes(student, teacher, y)
    assert out["p_wrong_given_teacher_wrong"] == pytest.approx(2 / 3)
    assert out["same_wrong_answer"] == pytest.approx(1 / 2)
    assert (out["teacher_errors"], out["both_wrong"]) == (3, 2)


def test_latency_is_positive_and_grows_with_work():
    from distill.metrics import latency
    from distill.models import make_student
    small, big = latency(make_student(4), (1, 28, 28), 64, repeats=5), latency(make_student(1024), (1, 28, 28), 64, repeats=5)
    assert 0 < small < big


def test_budget_to_reach_interpolates_in_log_budget():
    from distill.metrics import budget_to_reach
    assert budget_to_reach([100, 1000], [0.5, 0.7], 0.6) == pytest.approx(10**2.5)
    assert budget_to_reach([1000, 100], [0.7, 0.5], 0.7) == pytest.approx(1000)   # order does not matter
    assert budget_to_reach([100, 1000, 10000], [0.8, 0.9, 0.95], 0.5) == 100      # reached at the first budget
    assert budget_to_reach([100, 1000], [0.5, 0.7], 0.9) is None                  # never reached


def test_withheld_scores_choose_the_bias_on_validation_only():
    import torch
    from distill import metrics
    # class 2 never wins without help; on validation a bias of 1.0 makes it win where it is right
    val = torch.tensor([[2.0, 0.0, 1.5], [0.0, 2.0, 1.5], [2.0, 0.0, 0.0]])
    y_val = torch.tensor([2, 2, 0])
    test = torch.tensor([[2.0, 0.0, 1.5], [2.0, 0.0, 0.0]])
    y_test = torch.tensor([2, 0])
    assert metrics.choose_bias(val, y_val, [2], [0.0, 1.0, 5.0]) == 1.0
    s = metrics.withheld_scores(val, test, y_val, y_test, [2], [0.0, 1.0, 5.0])
    assert s == {"bias": 1.0, "val_corrected": 1.0, "withheld": 0.0, "withheld_corrected": 1.0, "all": 0.5, "all_corrected": 1.0}
    assert metrics.with_bias(test, [2], 1.0)[0].tolist() == [2.0, 0.0, 2.5]


def test_mean_soft_targets_and_most_similar_pair_by_hand():
    import torch
    from distill import metrics
    logits = torch.tensor([[0.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    s = metrics.mean_soft_targets(logits, y, 2, T=1.0)
    e = torch.tensor(2.0).exp()
    torch.testing.assert_close(s[0], torch.tensor([(0.5 + 1 / (1 + e)) / 2, (0.5 + e / (1 + e)) / 2]))
    torch.testing.assert_close(s[1], torch.tensor([e / (1 + e), 1 / (1 + e)]))
    assert metrics.most_similar_pair(torch.tensor([[9.0, 0.2, 0.1], [0.3, 9.0, 0.5], [0.0, 0.4, 9.0]])) == (1, 2)
