"""What every benchmark shares: timing, the machine, the matmul peak that throughputs are compared to."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from distill import settings, train  # noqa: E402

QUICK = settings.flag("BENCH_QUICK")


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 (C++ libraries write there directly, bypassing sys.stderr)."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int = 1) -> float:
    """Best wall time of `repeats` calls, in seconds (after one warm-up call)."""
    fn()
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak(device, n: int, dtype=torch.float32) -> dict:
    """Best fp32 (or `dtype`) n x n matrix multiply, 2 n^3 FLOPs, at the current thread count."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device, repeats=10 if QUICK else 20)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "threads": torch.get_num_threads(),
            "seconds": seconds, "gflops": 2 * n ** 3 / seconds / 1e9}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
    except (OSError, StopIteration):
        pass
    device = train.pick_device("auto")
    return {"cpu": cpu, "cpu_threads": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "bf16_instructions": any(f in flags.split() for f in ("avx512_bf16", "amx_bf16")),
            "torch": torch.__version__, "device": str(device),
            "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}
