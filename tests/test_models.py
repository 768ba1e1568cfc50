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


# ---- copier families ------------------------------------------------------------------------

from distill.models import CNNStudent, FAMILIES, make_copier  # noqa: E402


@pytest.mark.parametrize("c", [2, 4, 16])
def test_cnn_params_match_hand_count(c):
    # conv1: 1 -> c, 3x3 + bias; conv2: c -> 2c, 3x3 + bias; linear: 2c * 7 * 7 -> 10
    hand = (1 * c * 9 + c) + (c * 2 * c * 9 + 2 * c) + (2 * c * 49 * 10 + 10)
    assert count_params(make_copier("cnn", c)) == hand
    macs = 28 * 28 * c * 9 + 14 * 14 * 2 * c * c * 9 + 2 * c * 49 * 10
    assert flops_per_example(make_copier("cnn", c), (1, 28, 28)) == 2 * macs


def test_cnn_pool_then_relu_equals_relu_then_pool():
    m = make_copier("cnn", 4, seed=1)
    x = torch.randn(5, 1, 28, 28)
    net = m.net  # conv, pool, relu, conv, pool, relu, flatten, linear
    h = torch.nn.functional.max_pool2d(torch.relu(net[0](x)), 2)
    h = torch.nn.functional.max_pool2d(torch.relu(net[3](h)), 2)
    assert torch.allclose(m(x), net[7](net[6](h)), atol=1e-6)


def test_teacher_family_at_default_size_is_the_teacher_design():
    copy, teacher = make_copier("teacher", 32), TeacherCNN(TeacherConfig())
    assert [p.shape for p in copy.parameters()] == [p.shape for p in teacher.parameters()]


@pytest.mark.parametrize("family", ["mlp", "cnn", "teacher"])
def test_each_family_spans_100x_and_works_on_cifar_shapes(family):
    fam = FAMILIES[family]
    lo, hi = fam.sizes
    assert count_params(make_copier(family, hi)) / count_params(make_copier(family, lo)) >= 100
    m = make_copier(family, lo, input_shape=(3, 32, 32), num_classes=10)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_make_copier_is_seeded_and_mlp_matches_make_student():
    a, b = make_copier("cnn", 4, seed=3), make_copier("cnn", 4, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    m, s = make_copier("mlp", 16, seed=5), make_student(16, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), s.parameters()))


@pytest.mark.parametrize("call, message", [
    (lambda: make_copier("resnet"), "unknown copier family 'resnet'; choose one of mlp, cnn, teacher"),
    (lambda: make_copier("cnn", 1000), "outside copier family 'cnn'"),
    (lambda: make_copier("mlp", 0), "outside copier family 'mlp'"),
    (lambda: make_copier("cnn", 8, input_shape=(784,)), "needs square images"),
    (lambda: build_model("cnn_student", {"channels": "many"}), "does not build a model"),
    (lambda: build_model("nope"), "unknown architecture 'nope'; choose one of teacher_cnn, mlp_student"),
])
def test_copier_errors_are_one_line(call, message):
    with pytest.raises(DistillError, match=None) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cnn_student_round_trips_through_build_model():
    m = make_copier("cnn", 8, seed=2)
    from distill.models import architecture_name, model_config
    rebuilt = build_model(architecture_name(m), model_config(m))
    assert isinstance(rebuilt, CNNStudent) and rebuilt.config == m.config
