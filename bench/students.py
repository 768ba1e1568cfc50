"""Students: one training step, and many students at once (`distill.train.fit_many`) against one after
another, for the MLP and the small CNN copier."""

from __future__ import annotations

import dataclasses

import torch

from common import timed
from distill import lm, losses, models, train


def student_steps(device, ds, steps: int) -> dict:
    X, y = ds.X_train[:256 * 8], ds.y_train[:256 * 8]
    cfg = train.TrainConfig(steps=steps, batch_size=256, progress=False, device=device.type)
    s = models.make_student(64, seed=0)
    mlp = timed(lambda: train.fit(s, X, (y,), losses.label_loss, cfg), device) / steps
    task = lm.AdditionTask()
    a, b = task.sample(2048, seed=1)
    prompts, answers = task.prompts(a, b), task.answers(a, b)
    m = lm.make_lm(lm.LMConfig(d_model=32), seed=0)
    lm_step = timed(lambda: lm.train_lm(m, prompts, answers, steps=steps, batch_size=128), device) / steps
    return {"mlp_width64_bs256_ms": mlp * 1e3, "lm_d32_bs128_ms": lm_step * 1e3}


def batched_students(device, ds, family: str, size: int, n_models: int = 10, steps: int = 200,
                     batch_size: int = 128, peak_gflops: float | None = None) -> dict:
    """`n_models` students of one family trained at once by `fit_many` vs one after another by `fit`:
    same seeds, same steps, same soft targets. For convolutional students on a CPU `fit_many` itself
    trains one after another (`train.batchable`), so the vmapped pass is also timed on its own."""
    X = ds.X_train[:5_000]
    t = torch.randn(len(X), ds.num_classes, generator=torch.Generator().manual_seed(0)) * 3  # any soft targets
    cfg = train.TrainConfig(steps=steps, batch_size=batch_size, progress=False, device=device.type)
    seeds = list(range(n_models))
    loss = lambda s, tt: losses.kd_loss(s, tt, 4.0)  # noqa: E731
    fresh = lambda: [models.make_copier(family, size, seed=s) for s in seeds]  # noqa: E731

    def one_after_another():
        for m, s in zip(fresh(), seeds):
            train.fit(m, X, (t,), loss, dataclasses.replace(cfg, seed=s))

    def vmapped():
        real = train.batchable
        train.batchable = lambda ms, dev: True  # the vmapped pass even where fit_many would not choose it
        try:
            train.fit_many(fresh(), X, (t,), loss, cfg, seeds)
        finally:
            train.batchable = real

    sequential = timed(one_after_another, device)
    batched = timed(vmapped, device)
    chosen = train.batchable(fresh(), device)
    # How far any batching could go: a training step costs about 3x the forward FLOPs (forward,
    # and two products in the backward pass). At `peak_gflops` (the measured matmul peak) the
    # N students could not take less than `flops / peak` seconds, whatever shares the overhead.
    flops = 3 * models.flops_per_example(fresh()[0], tuple(X.shape[1:])) * batch_size * steps * n_models
    out = {"family": family, "size": size, "params": models.count_params(fresh()[0]), "models": n_models,
           "steps": steps, "batch_size": batch_size, "one_after_another_seconds": sequential,
           "vmapped_seconds": batched, "vmapped_speedup": sequential / batched,
           "fit_many_uses_vmap": chosen, "speedup": sequential / batched if chosen else 1.0,
           "train_gflop": flops / 1e9}
    if peak_gflops:
        out["one_after_another_fraction_of_peak"] = flops / 1e9 / sequential / peak_gflops
        out["batched_fraction_of_peak"] = flops / 1e9 / batched / peak_gflops
        out["ceiling_speedup"] = sequential / (flops / 1e9 / peak_gflops)  # at 100% of peak
    return out
