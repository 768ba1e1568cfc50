"""The Adversarial Robustness Toolbox (ART) as a reference for `distill.strategies`.

ART's `KnockoffNets` (Orekondy et al. 2019) is run against the project's teacher, wrapped as an ART
`PyTorchClassifier`, with the same copy design (the MLP of notebook 09), the same query budget and
the same number of gradient steps as the project's own copier; accuracies on the test split are
compared over a few seeds:

- `random` sampling, probability answers and label answers, from the unlabelled training images,
  against `distill.strategies` `random` on the same images;
- `adaptive` sampling (the Knockoff bandit, label answers) from a mixed public pool whose coarse
  classes are its sources (unlabelled clothes, digits, patches of two photographs, noise: the bandit should learn
  to prefer the clothes), against `random` draws from the same mixed pool.

The victim answers probabilities (the teacher followed by a softmax): ART passes whatever the victim
returns to the thief as training targets. ART trains with its own loop (Adam at 1e-3, no schedule, `nb_epochs` passes), so small differences
from the project's recipe (Adam with a one-cycle schedule) are expected; a large gap would point at a
bug on one side. The adaptive bandit asks one image at a time and trains one step per answer, so it
is slow (about 10 ms per query here)."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
import torch.nn as nn

from distill import api, metrics, strategies
from distill.data import make_transfer_set
from distill.models import make_copier
from distill.recipes import STUDENT_TRAIN


def _classifier(model: nn.Module, ds, lr: float = 1e-3):
    from art.estimators.classification import PyTorchClassifier
    return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                             input_shape=tuple(ds.input_shape), nb_classes=ds.num_classes, device_type="cpu")


def _accuracy(clf, ds) -> float:
    return metrics.accuracy(torch.from_numpy(clf.predict(ds.X_test.numpy(), batch_size=512)), ds.y_test)


def mixed_pool(ds, per_source: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """`per_source` images from each of four public sources, and each image's source as its coarse class."""
    sources = ["train", "digits", "patches", "noise"]
    X = torch.cat([make_transfer_set(s, ds, per_source, seed=seed).X for s in sources])
    return X, np.repeat(np.arange(len(sources)), per_source)


def art_reference(ds, teacher: nn.Module, seeds: list[int], budget: int = 1600, steps: int = 400,
                  size: int = 128) -> dict:
    from art.attacks.extraction import KnockoffNets
    victim = _classifier(nn.Sequential(teacher, nn.Softmax(dim=-1)), ds)  # an API answers probabilities, not logits
    epochs = max(1, round(steps / math.ceil(budget / STUDENT_TRAIN.batch_size)))
    config = dataclasses.replace(STUDENT_TRAIN, steps=steps)
    out = {"budget": budget, "steps": steps, "art_epochs": epochs, "copier": f"mlp {size}", "seeds": seeds}
    rows: dict[str, list[float]] = {}
    pool_X, pool_y = mixed_pool(ds, 1500)
    start = time.perf_counter()
    for seed in seeds:
        pool = api.query_pool("train", ds, budget, seed=seed)
        for probs in (True, False):
            np.random.seed(seed)
            thief = _classifier(make_copier("mlp", size, input_shape=ds.input_shape, seed=seed), ds)
            attack = KnockoffNets(victim, batch_size_fit=STUDENT_TRAIN.batch_size, batch_size_query=256, nb_epochs=epochs,
                                  nb_stolen=budget, sampling_strategy="random", use_probability=probs)
            rows.setdefault(f"ART KnockoffNets random, {'probs' if probs else 'label'}", []).append(
                _accuracy(attack.extract(pool.numpy(), thieved_classifier=thief), ds))
            q = strategies.collect("random", api.TeacherAPI(teacher, "probs" if probs else "label"), budget, ds, seed=seed)
            rec = api.copy_record(q.X, q.targets, ds, seed=seed, family="mlp", size=size, T=1.0, config=config)
            rows.setdefault(f"distill random, {'probs' if probs else 'label'}", []).append(rec["test_accuracy"])
        np.random.seed(seed)
        thief = _classifier(make_copier("mlp", size, input_shape=ds.input_shape, seed=seed), ds)
        attack = KnockoffNets(victim, batch_size_fit=1, batch_size_query=1, nb_epochs=epochs, nb_stolen=budget,
                              sampling_strategy="adaptive", reward="all", use_probability=False)
        rows.setdefault("ART KnockoffNets adaptive (mixed pool), label", []).append(
            _accuracy(attack.extract(pool_X.numpy(), pool_y, thieved_classifier=thief), ds))
        pick = torch.randperm(len(pool_X), generator=torch.Generator().manual_seed(seed))[:budget]
        answers = api.as_targets(api.TeacherAPI(teacher, "label").query(pool_X[pick]), ds.num_classes)
        rec = api.copy_record(pool_X[pick], answers, ds, seed=seed, family="mlp", size=size, config=config)
        rows.setdefault("distill random (mixed pool), label", []).append(rec["test_accuracy"])
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["test_accuracy"] = {k: {"mean": float(np.mean(v)), "values": v} for k, v in rows.items()}
    return out
