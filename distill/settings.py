"""Every environment variable the project reads, checked in one place, and the thread policy.

| variable          | default                   | what it does                                                    |
|-------------------|---------------------------|-----------------------------------------------------------------|
| `DISTILL_SMOKE`   | off                       | notebooks run a quick check instead of the full experiment (1/0, true/false, yes/no, on/off) |
| `DISTILL_DATA`    | `data/` beside `distill/` | where datasets are read and downloaded (not the committed teachers) |
| `DISTILL_CACHE`   | `data/cache/`             | where teacher outputs are cached                                  |
| `DISTILL_THREADS` | `auto`                    | PyTorch's CPU threads: `auto` (the policy below) or a number       |

A bad value is a one-line `DistillError` naming the variable and what it accepts.

**Thread policy.** PyTorch's CPU kernels use every core by default. The models here are small, so
a training step is short and its threads meet at a barrier many times per step: when another
process holds one of the cores, every barrier waits for the descheduled thread, and a student
trained with 2 threads beside one busy process on a 2-core machine ran about 5-8x slower than
alone (bench/contention.py measures it). With one thread fewer than the cores, the same run is
barely slowed. `auto` therefore uses half the cores the process may run on (at least 1): on the
2-core reference machine, 1 thread. `DISTILL_THREADS=N` overrides it, e.g. on a quiet many-core
workstation, or for training the teacher (`make teacher` uses every core).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DistillError

ROOT = Path(__file__).resolve().parent.parent
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def flag(name: str, default: bool = False) -> bool:
    """A true/false environment variable: 1/0, true/false, yes/no, on/off (any case); unset = default."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise DistillError(f"{name}={raw!r} is not a true/false value; use 1 or 0 (or true/false, yes/no, on/off)")


def smoke() -> bool:
    """True when the notebooks should run a quick check (`DISTILL_SMOKE`)."""
    return flag("DISTILL_SMOKE")


def folder(name: str, default: Path) -> Path:
    """A folder from an environment variable: not empty, and not an existing file."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.strip():
        raise DistillError(f"{name} is set but empty; unset it (default {default}) or name a folder")
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise DistillError(f"{name}={raw} is a file, not a folder; name a folder (it is created if missing)")
    return path


def data_dir() -> Path:
    return folder("DISTILL_DATA", ROOT / "data")


def cache_dir() -> Path:
    return folder("DISTILL_CACHE", ROOT / "data" / "cache")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def policy_threads() -> int:
    """PyTorch CPU threads under `DISTILL_THREADS` (see the module docstring)."""
    raw = os.environ.get("DISTILL_THREADS", "auto").strip().lower()
    if raw in ("", "auto"):
        return max(1, usable_cores() // 2)
    if not raw.isdigit() or not 1 <= int(raw) <= 1024:
        raise DistillError(f"DISTILL_THREADS={raw!r} must be auto or a whole number from 1 to 1024")
    return int(raw)


def apply_thread_policy(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads (the policy's number unless `threads` is given); returns it."""
    import torch
    n = policy_threads() if threads is None else threads
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
