"""The cost ledger against hand-computed FLOPs."""

import pytest
import torch.nn as nn

from distill import ledger
from distill.errors import DistillError
from distill.models import flops_per_example


def test_training_flops_of_a_small_model_by_hand():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    forward = flops_per_example(model, (4,))
    assert forward == 2 * (4 * 3 + 3 * 2)          # multiply-adds of the two layers, 2 FLOPs each
    c = ledger.copy_cost("copy", forward, steps=10, batch_size=8, queries=50, teacher_flops=1000)
    assert c.train_flops == 3 * 36 * 80 and c.examples_seen == 80
    assert c.owner_flops == 50 * 1000 and c.labels == 0


def test_teacher_cost_from_the_manifest_and_the_share():
    t = ledger.teacher_cost({"train_config": {"epochs": 2}, "flops_per_example": 100, "train_seconds": 5.0}, n_train=10)
    assert (t.train_flops, t.examples_seen, t.labels, t.seconds) == (3 * 100 * 20, 20, 10, 5.0)
    c = ledger.copy_cost("copy", 10, steps=3, batch_size=2, queries=7, teacher_flops=100)
    assert c.share_of(t) == pytest.approx(180 / 6000)
    line = ledger.ledger_line(c, t, 0.91)
    assert line.startswith("a copy keeping 91% of the teacher's accuracy cost 3% of the teacher's training compute, 7 queries")
    assert "no labels (the teacher: 10 labels)" in line


def test_a_manifest_without_the_recipe_is_one_line():
    with pytest.raises(DistillError, match="make teacher"):
        ledger.teacher_cost({"params": 1}, n_train=10)
