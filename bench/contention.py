"""A 200-step student beside one busy process, against the same run alone, under the thread policy
(`distill.settings`: `auto` adapts to the load it sees) and with every core fixed (PyTorch's default),
so the policy's cost on a quiet machine and its gain on a busy one are both visible. The busy
process is started and stopped here."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import torch

from distill import losses, models, settings, train


@contextlib.contextmanager
def busy_process():
    """One other process spinning on a core for as long as the block runs."""
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)  # let it get going
    try:
        yield
    finally:
        p.kill()
        p.wait()


def student_run(ds, steps: int = 200) -> float:
    X, y = ds.X_train[:10_000], ds.y_train[:10_000]
    cfg = train.TrainConfig(steps=steps, batch_size=128, progress=False, device="cpu")
    start = time.perf_counter()
    train.fit(models.make_student(64, seed=0), X, (y,), losses.label_loss, cfg)
    return time.perf_counter() - start


@contextlib.contextmanager
def threads_env(fixed: int | None):
    """DISTILL_THREADS unset (the policy) or fixed, for the block."""
    env = os.environ.get("DISTILL_THREADS")
    if fixed is None:
        os.environ.pop("DISTILL_THREADS", None)
    else:
        os.environ["DISTILL_THREADS"] = str(fixed)
    try:
        yield
    finally:
        if env is None:
            os.environ.pop("DISTILL_THREADS", None)
        else:
            os.environ["DISTILL_THREADS"] = env


def interleaved(ds, steps: int, repeats: int) -> dict:
    """Best time of each setting, the two settings taking turns so drifts in the machine hit both."""
    settings_ = {"policy": None, "all_cores": settings.usable_cores()}
    best = {name: float("inf") for name in settings_}
    threads = {}
    for _ in range(repeats + 1):  # the first round warms up
        for name, fixed in settings_.items():
            with threads_env(fixed):
                seconds = student_run(ds, steps)
                threads[name] = torch.get_num_threads()
            best[name] = min(best[name], seconds) if _ else best[name]
    return {name: (best[name], threads[name]) for name in settings_}


def contention(ds, steps: int = 200, repeats: int = 5) -> dict:
    out = {"steps": steps, "cores": settings.usable_cores(), "repeats": repeats}
    before = torch.get_num_threads()
    try:
        alone = interleaved(ds, steps, repeats)
        with busy_process():
            busy = interleaved(ds, steps, repeats)
    finally:
        torch.set_num_threads(before)
    for name in alone:
        out[name] = {"threads_alone": alone[name][1], "threads_busy": busy[name][1], "alone_seconds": alone[name][0],
                     "busy_seconds": busy[name][0], "slowdown": busy[name][0] / alone[name][0]}
    out["slowdown"] = out["policy"]["slowdown"]
    # the policy's cost on a quiet machine: its run alone against the run alone with every core
    out["quiet_cost"] = out["policy"]["alone_seconds"] / out["all_cores"]["alone_seconds"] - 1
    return out
