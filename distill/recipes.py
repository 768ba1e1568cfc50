"""The two recipes the series runs again and again: train (or load) the teacher,
and train a student by a named method.

The committed teacher lives at `data/teacher.safetensors` with its manifest
`data/teacher.json`; `make teacher` (`python -m distill teacher`) retrains it.
Loading checks that the manifest's dataset, validation split and normalization
match the dataset you pass, so a teacher is never silently used on inputs
prepared differently from its training data.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import torch
import torch.nn as nn

from .checkpoints import load_checkpoint, save_checkpoint
from .data import ARTIFACTS_DIR, Dataset, random_hflip
from .errors import CheckpointError, DistillError
from .losses import label_loss, objective
from .metrics import accuracy
from .models import TeacherCNN, TeacherConfig, count_params, flops_per_example, make_copier
from .train import History, TrainConfig, fit, fit_many, predict

TEACHER_PATH = ARTIFACTS_DIR / "teacher"

# The recipe behind the committed teacher: about 4 minutes on a 2-core CPU.
TEACHER_TRAIN = TrainConfig(epochs=10, batch_size=256, lr=3e-3, weight_decay=5e-4, optimizer="adam",
                            schedule="onecycle", desc="teacher")

# Student defaults: a few seconds per run on a CPU. Notebooks override fields explicitly.
STUDENT_TRAIN = TrainConfig(epochs=10, batch_size=128, lr=1e-3, optimizer="adam", schedule="onecycle",
                            progress=False, desc="student")


def train_teacher(ds: Dataset, config: TeacherConfig | None = None, train: TrainConfig | None = None,
                  seed: int = 0) -> tuple[TeacherCNN, History]:
    """Train the teacher CNN on `ds.X_train` with true labels, tracking validation accuracy."""
    config = config or TeacherConfig(in_channels=ds.input_shape[0], image_size=ds.input_shape[-1],
                                     num_classes=ds.num_classes)
    train = dataclasses.replace(train or TEACHER_TRAIN, seed=seed)
    torch.manual_seed(seed)
    teacher = TeacherCNN(config).to(memory_format=torch.channels_last)  # faster convolutions on CPU
    history = fit(teacher, ds.X_train, (ds.y_train,), label_loss, train, val=(ds.X_val, ds.y_val),
                  augment=random_hflip)
    return teacher.to(memory_format=torch.contiguous_format), history


def save_teacher(teacher: nn.Module, ds: Dataset, history: History, train: TrainConfig, seed: int,
                 path: str | Path = TEACHER_PATH, command: str = "") -> dict:
    """Save the teacher with a manifest describing how it was made and how good it is."""
    test_acc = accuracy(predict(teacher, ds.X_test), ds.y_test)
    return save_checkpoint(
        teacher, path,
        dataset=ds.name, val_size=len(ds.y_val), split_seed=ds.split_seed,
        normalization={"mean": ds.mean, "std": ds.std},
        test_accuracy=test_acc, val_accuracy=history.val_accuracy[-1],
        params=count_params(teacher), flops_per_example=flops_per_example(teacher, ds.input_shape),
        train_config=history.config or (dataclasses.asdict(train) | {"seed": seed}),  # what fit actually ran
        history={"train_loss": history.train_loss, "val_accuracy": history.val_accuracy},
        train_seconds=round(history.seconds, 1),
        trained_on=f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        command=command or "python -m distill teacher",
    )


def load_teacher(ds: Dataset | None = None, path: str | Path = TEACHER_PATH) -> tuple[TeacherCNN, dict]:
    """Load a trained teacher; with `ds`, check it was trained on the same data preparation."""
    teacher, manifest = load_checkpoint(path, architecture="teacher_cnn")
    if ds is not None:
        norm = manifest.get("normalization", {})
        if manifest.get("dataset") != ds.name:
            raise CheckpointError(f"{path} was trained on {manifest.get('dataset')!r}, not {ds.name!r}; "
                                  f"train one with `python -m distill teacher --dataset {ds.name} --out PATH`")
        if manifest.get("val_size") != len(ds.y_val) or manifest.get("split_seed") != ds.split_seed \
                or abs(norm.get("mean", 0) - ds.mean) > 1e-6 or abs(norm.get("std", 0) - ds.std) > 1e-6:
            raise CheckpointError(f"{path} was trained with val_size={manifest.get('val_size')}, split seed "
                                  f"{manifest.get('split_seed')} and normalization {norm}, but the dataset has "
                                  f"val_size={len(ds.y_val)}, split seed {ds.split_seed}, mean={ds.mean:.6f}, "
                                  f"std={ds.std:.6f}; load the dataset with the teacher's settings")
    return teacher, manifest


def _check_targets(n: int, num_classes: int, y, teacher_logits, teacher_probs) -> None:
    """Labels in 0..K-1 and finite (n, K) teacher outputs, or a one-line error before training."""
    if y is not None and len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DistillError(f"labels must be class indices from 0 to {num_classes - 1}, got values from "
                           f"{int(y.min())} to {int(y.max())}")
    for name, t in (("teacher logits", teacher_logits), ("teacher probabilities", teacher_probs)):
        if t is None:
            continue
        if t.ndim != 2 or t.shape[1] != num_classes:
            raise DistillError(f"{name} must have shape (n, {num_classes}), got {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise DistillError(f"{name} hold NaN or infinite values in {int((~torch.isfinite(t)).any(1).sum())} "
                               f"rows; the teacher or its answers are broken")


def _loss_and_targets(method: str, T: float, alpha: float, y, teacher_logits, teacher_probs):
    loss_fn, needs = objective(method, T, alpha)
    available = {"y": y, "teacher": teacher_logits, "probs": teacher_probs}
    missing = [n for n in needs if available[n] is None]
    if missing:
        what = {"y": "true labels", "teacher": "teacher logits", "probs": "teacher probabilities"}
        raise DistillError(f"method {method!r} needs {' and '.join(what[n] for n in missing)}")
    return loss_fn, tuple(available[n] for n in needs)


def _copier_size(family: str, size: int | None, width: int | None) -> int | None:
    if width is not None:
        if family != "mlp":
            raise DistillError(f"width is the size of an mlp; for family {family!r} pass size=")
        return width
    return size


def train_students(X: torch.Tensor, method: str = "soft", *, seeds: list[int], family: str = "mlp",
                   size: int | None = None, width: int | None = None, y: torch.Tensor | None = None,
                   teacher_logits: torch.Tensor | None = None, teacher_probs: torch.Tensor | None = None,
                   T: float = 4.0, alpha: float = 0.5, num_classes: int = 10, config: TrainConfig | None = None,
                   val: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[tuple[nn.Module, History]]:
    """Train one fresh copier per seed on `X` by `method` (see `distill.losses.METHODS`), all at once.

    Copier `family` (`distill.models.FAMILIES`: mlp, cnn, teacher) at `size` (`width` is the mlp's
    size, kept for older calls). Each student's initial weights and shuffling order depend only on
    its seed, so students compared across methods, temperatures or transfer sets start identical,
    and each ends as `train_student` with that seed would leave it (`distill.train.fit_many`).
    """
    if not seeds:
        raise DistillError("train_students needs at least one seed")
    loss_fn, targets = _loss_and_targets(method, T, alpha, y, teacher_logits, teacher_probs)
    _check_targets(len(X), num_classes, y, teacher_logits, teacher_probs)
    size = _copier_size(family, size, width)
    students = [make_copier(family, size, input_shape=tuple(X.shape[1:]), num_classes=num_classes, seed=s)
                for s in seeds]
    config = dataclasses.replace(config or STUDENT_TRAIN, seed=seeds[0])
    histories = fit_many(students, X, targets, loss_fn, config, seeds, val=val)
    return list(zip(students, histories))


def train_student(X: torch.Tensor, method: str = "soft", *, seed: int = 0, **kwargs) -> tuple[nn.Module, History]:
    """Train one fresh copier: `train_students` with one seed (same arguments)."""
    return train_students(X, method, seeds=[seed], **kwargs)[0]


def scored(student: nn.Module, history: History, ds: Dataset, base: dict, teacher_val=None, teacher_test=None,
           probe=None) -> dict:
    """One record: the setting `base` and the trained student's scores (see `student_records`)."""
    val_logits, test_logits = predict(student, ds.X_val), predict(student, ds.X_test)
    rec = {**base, "val_accuracy": accuracy(val_logits, ds.y_val), "test_accuracy": accuracy(test_logits, ds.y_test),
           "seconds": history.seconds,
           "val_logits": val_logits, "test_logits": test_logits}  # for bias corrections and confusions
    if probe is not None:
        rec["probe_logits"] = predict(student, probe)
    if teacher_val is not None:
        rec["val_agreement"] = accuracy(val_logits, teacher_val.argmax(1))
    if teacher_test is not None:
        rec["test_agreement"] = accuracy(test_logits, teacher_test.argmax(1))
    return rec


def student_records(X: torch.Tensor, method: str, ds: Dataset, *, seeds: list[int], y: torch.Tensor | None = None,
                    teacher_logits: torch.Tensor | None = None, teacher_probs: torch.Tensor | None = None,
                    teacher_val: torch.Tensor | None = None, teacher_test: torch.Tensor | None = None,
                    config: TrainConfig | None = None, probe: torch.Tensor | None = None, **kwargs) -> list[dict]:
    """Train one student per seed (all at once) and return one flat record each: its setting
    and its scores.

    Scores: validation and test accuracy, and (given the teacher's logits on those sets)
    agreement with the teacher. Use validation scores to choose settings and report test
    scores of the chosen ones. Each record also keeps the validation and test logits, for
    analyses that need more than one number. `kwargs` go to `train_students` (family, size,
    width, T, alpha) and into the records.
    """
    trained = train_students(X, method, seeds=seeds, y=y, teacher_logits=teacher_logits, teacher_probs=teacher_probs,
                             num_classes=ds.num_classes, config=config, **kwargs)
    return [scored(student, history, ds, {"method": method, "seed": seed, "n": len(X), **kwargs},
                    teacher_val, teacher_test, probe)
            for seed, (student, history) in zip(seeds, trained)]


def student_record(X: torch.Tensor, method: str, ds: Dataset, *, seed: int = 0, **kwargs) -> dict:
    """`student_records` for one seed."""
    return student_records(X, method, ds, seeds=[seed], **kwargs)[0]


def with_known_labels(teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Teacher logits, except that rows with a known true label (`labels >= 0`) become a
    one-hot target for that label: its argmax is the label and its softmax, at any T, is
    one-hot. (For the `hard` and `soft` methods; logit matching would chase the -1e4s.)"""
    known = labels >= 0
    out = teacher_logits.clone()
    one_hot = torch.full_like(out[known], -1e4)
    one_hot.scatter_(1, labels[known].unsqueeze(1), 0.0)
    out[known] = one_hot
    return out
