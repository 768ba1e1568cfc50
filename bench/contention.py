"""A 200-step student beside one busy process, against the same run alone, under the thread policy
(`distill.settings`) and with every core (PyTorch's default), so the policy's cost and gain are both
visible. The busy process is started and stopped here."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import torch

from common import timed
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
    return timed(lambda: train.fit(models.make_student(64, seed=0), X, (y,), losses.label_loss, cfg),
                 torch.device("cpu"), repeats=3)


def contention(ds, steps: int = 200) -> dict:
    out = {"steps": steps, "cores": settings.usable_cores()}
    before = torch.get_num_threads()
    try:
        for name, threads in (("policy", settings.policy_threads()), ("all_cores", settings.usable_cores())):
            torch.set_num_threads(threads)
            alone = student_run(ds, steps)
            with busy_process():
                busy = student_run(ds, steps)
            out[name] = {"threads": threads, "alone_seconds": alone, "busy_seconds": busy, "slowdown": busy / alone}
    finally:
        torch.set_num_threads(before)
    out["slowdown"] = out["policy"]["slowdown"]
    # the policy's cost on a quiet machine: its run alone against the fastest run alone
    out["quiet_cost"] = out["policy"]["alone_seconds"] / min(out["policy"]["alone_seconds"],
                                                             out["all_cores"]["alone_seconds"]) - 1
    return out
