"""Model sizes against hand counts; identical initialisation from a seed."""
import pytest
import torch

from distill.errors import DistillError
from distill.models import (StudentConfig, TeacherCNN, TeacherConfig, build_model, count_params, flops_per_example,
                            make_student, Student)


@pytest.mark.parametrize("w", [4, 32, 256])
def test_student_params_and_flops_match_hand_count(w):
    s = make_student(w)
    # 784 -> w -> w -> 10, weights plus biases
    assert count_params(s) == 784 * w + w + w * w + w + w * 10 + 10
    # one multiply-add per weight, 2 FLOPs each
    assert flops_per_example(s, (1, 28, 28)) == 2 * (784 * w + w * w + w * 10)


def test_student_family_spans_more_than_100x_in_parameters():
    assert count_params(make_student(1024)) / count_params(make_student(8)) > 100


def test_teacher_flops_hand_count():
    t = TeacherCNN(TeacherConfig(channels=(4, 8), hidden=0))
    # conv1: 28*28 outputs x 4 channels x (1*9) MACs; conv2 at 14x14: 8 x (4*9); head: 8*7*7 -> 10
    macs = 28 * 28 * 4 * 9 + 14 * 14 * 8 * 4 * 9 + 8 * 7 * 7 * 10
    assert flops_per_example(t, (1, 28, 28)) == 2 * macs
    assert t(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_same_seed_same_weights_different_seed_different_weights():
    a, b, c = make_student(16, seed=3), make_student(16, seed=3), make_student(16, seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_build_model_round_trip_and_errors():
    t = build_model("teacher_cnn", {"channels": [8, 16]})
    assert isinstance(t, TeacherCNN) and t.config.channels == (8, 16)
    assert isinstance(build_model("mlp_student", {"width": 8}), Student)
    with pytest.raises(DistillError, match="unknown architecture 'resnet'"):
        build_model("resnet")
    with pytest.raises(DistillError, match="unknown fields"):
        build_model("mlp_student", {"height": 3})
    with pytest.raises(DistillError, match="width must be >= 1"):
        Student(StudentConfig(width=0))
