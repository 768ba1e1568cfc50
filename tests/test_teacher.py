"""The committed teacher: it loads, and its accuracy is what its manifest says."""
import pytest

from distill.metrics import accuracy
from distill.recipes import TEACHER_PATH, load_teacher
from distill.train import predict


def test_committed_teacher_matches_its_manifest(fashion):
    teacher, manifest = load_teacher(fashion)
    acc = accuracy(predict(teacher, fashion.X_test), fashion.y_test)
    assert acc == pytest.approx(manifest["test_accuracy"], abs=1e-4)
    assert acc >= 0.925, "the teacher must reach 92.5% Fashion-MNIST test accuracy"
    assert manifest["train_seconds"] <= 300, "the teacher recipe must train in at most 5 minutes"
    assert manifest["command"].startswith("python -m distill teacher")
    assert TEACHER_PATH.with_name(manifest["weights"]).stat().st_size < 5 * 2**20


def test_teacher_refuses_a_differently_prepared_dataset(fashion):
    import dataclasses
    from distill.errors import CheckpointError
    other = dataclasses.replace(fashion, mean=0.5)
    with pytest.raises(CheckpointError, match="normalization"):
        load_teacher(other)
    with pytest.raises(CheckpointError, match="split seed"):
        load_teacher(dataclasses.replace(fashion, split_seed=1))
    with pytest.raises(CheckpointError, match="trained on 'fashion_mnist', not 'mnist'"):
        load_teacher(dataclasses.replace(fashion, name="mnist"))


@pytest.mark.parametrize("which", ["answers", "working"])
def test_committed_lm_teacher_meets_its_bar(which):
    from distill.lm import LM_TEACHER_PATH, LM_WORKING_TEACHER_PATH, evaluate_lm, load_lm_teacher
    path = LM_TEACHER_PATH if which == "answers" else LM_WORKING_TEACHER_PATH
    teacher, task, manifest = load_lm_teacher(path)
    assert task.working == (which == "working")
    test = evaluate_lm(teacher, task, "test")
    assert test["exact_match"] >= 0.98, "the LM teacher must reach 98% exact match on held-out problems"
    assert test["exact_match"] == pytest.approx(manifest["test"]["exact_match"], abs=1e-4)
    assert manifest["train_seconds"] <= 180, "the LM teacher recipe must train in at most 3 minutes"
    assert manifest["command"].startswith("python -m distill lm-teacher")
    assert manifest["params"] < 500_000
    assert path.with_name(manifest["weights"]).stat().st_size < 2**20
