"""Teacher training throughput as a share of the matmul peak measured in the same run, and where the
step's time goes (the FLOP count covers convolutions and matmuls only)."""

from __future__ import annotations

import time

import torch

from common import quiet_stderr, sync
from distill import losses, models


def teacher_training(device, ds, steps: int, batch_size: int = 256, channels_last: bool = False,
                     bf16: bool = False) -> dict:
    """Training steps of the committed teacher's architecture (fresh weights), batches sliced in memory.
    `channels_last` is what `recipes.train_teacher` uses; `bf16` (autocast) is measured as an option only:
    the committed teacher was trained in fp32."""
    torch.manual_seed(0)
    model = models.TeacherCNN().to(device)
    flops = 3 * models.flops_per_example(model, ds.input_shape)
    X = ds.X_train[:batch_size * 8].to(device)
    y = ds.y_train[:batch_size * 8].to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        X = X.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type in ("cpu", "cuda"))
    model.train()

    def run(n):
        for i in range(n):
            j = (i % 8) * batch_size
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = losses.label_loss(model(X[j:j + batch_size]), y[j:j + batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    run(2)  # warm-up: allocator, kernel selection
    sync(device)
    start = time.perf_counter()
    run(steps)
    sync(device)
    seconds = time.perf_counter() - start
    per_s = steps * batch_size / seconds
    # where the step's time goes: the FLOP count covers convolutions and matmuls only
    from torch.profiler import profile
    with quiet_stderr(), profile() as prof:  # the profiler's C++ log lines go to fd 2
        run(2)
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    heavy = sum(e.self_cpu_time_total for e in ops if any(k in e.key for k in ("convolution", "mm", "addmm")))
    conv_share = heavy / total if total else float("nan")
    return {"batch_size": batch_size, "steps": steps, "channels_last": channels_last, "bf16": bf16,
            "examples_per_s": per_s, "train_flops_per_example": flops, "gflops": per_s * flops / 1e9,
            "conv_matmul_time_share": conv_share, "gflops_inside_conv_matmul": per_s * flops / 1e9 / conv_share,
            "epoch_seconds": 55_000 / per_s}
