"""Every environment variable the project reads, checked in one place, and the thread policy.

| variable          | default                   | what it does                                                    |
|-------------------|---------------------------|-----------------------------------------------------------------|
| `DISTILL_SMOKE`   | off                       | notebooks run a quick check instead of the full experiment (1/0, true/false, yes/no, on/off) |
| `DISTILL_DATA`    | `data/` beside `distill/` | where datasets are read and downloaded (not the committed teachers) |
| `DISTILL_CACHE`   | `data/cache/`             | where teacher outputs are cached                                  |
| `DISTILL_THREADS` | `auto`                    | PyTorch's CPU threads: `auto` (the cores other processes leave free) or a number |
| `DISTILL_SEED_OFFSET` | `0`                   | added to every notebook's seeds (`seeds`): `make bench` re-runs the series on a disjoint set of seeds to check its conclusions |

A bad value is a one-line `DistillError` naming the variable and what it accepts.

**Thread policy.** PyTorch's CPU kernels use every core by default. The models here are small, so
a training step is short and its threads meet at a barrier many times per step: when another
process holds one of the cores, every barrier waits for the descheduled thread, and a student
trained with 2 threads beside one busy process on a 2-core machine ran 3-8x slower than alone
(bench/contention.py measures it). With one thread fewer than the cores it is barely slowed; on a
quiet machine, though, one thread instead of two cost a small student about 20%.

So `auto` watches the machine: before each training run, and every few hundred steps during one
(`adapt_threads`), it reads how much CPU *other* processes used since the last look (`/proc/stat`
minus this process's own CPU time) and gives PyTorch the cores they leave free: every core on a
quiet machine, one fewer beside one busy process, at least one. Where `/proc/stat` cannot be read
(not Linux) it uses half the cores. `DISTILL_THREADS=N` fixes the number instead (e.g. `make teacher`
uses every core). Thread counts do not change which computation runs, only how it is split; results
can differ in the last bits, as they do between machines.
"""

from __future__ import annotations

import math
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


def seeds(n: int) -> list[int]:
    """A notebook's `n` seeds: 0..n-1, shifted by `DISTILL_SEED_OFFSET` (a whole number >= 0, default 0).

    Every comparison in the series pairs settings by seed; re-running a notebook with an offset of,
    say, 1000 repeats each experiment on seeds it has never used, which is how `make bench` checks
    that the conclusions hold (bench/conclusions.py)."""
    raw = os.environ.get("DISTILL_SEED_OFFSET", "0").strip() or "0"
    if not raw.isdigit():
        raise DistillError(f"DISTILL_SEED_OFFSET={raw!r} is not a whole number >= 0; unset it or use e.g. 1000")
    offset = int(raw)
    if offset + n > 2 ** 32:
        raise DistillError(f"DISTILL_SEED_OFFSET={raw} leaves no room for {n} seeds below 2**32; use a smaller offset")
    return list(range(offset, offset + n))


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


def fixed_threads() -> int | None:
    """The thread count `DISTILL_THREADS` fixes, or None for `auto`."""
    raw = os.environ.get("DISTILL_THREADS", "auto").strip().lower()
    if raw in ("", "auto"):
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 1024:
        raise DistillError(f"DISTILL_THREADS={raw!r} must be auto or a whole number from 1 to 1024")
    return int(raw)


def _busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class _Load:
    """The last look at the machine: (wall time, machine busy CPU s, this process's CPU s, other load)."""
    last: tuple[float, float, float] | None = None
    other: float = 0.0


def other_load(min_window: float = 0.5, sample: float = 0.1, stale: float = 5.0) -> float | None:
    """How many cores other processes kept busy recently (0.0 on a quiet machine), or None if unknown.

    Measured since the last call when that was between `min_window` and `stale` seconds ago (free:
    two reads of /proc/stat); otherwise from a fresh `sample`-second look, so an old, quiet window
    does not hide a process that started a moment ago.
    """
    import time
    busy, own, now = _busy_cpu_seconds(), time.process_time(), time.perf_counter()
    if busy is None:
        return None
    if _Load.last is None or now - _Load.last[0] > stale:
        time.sleep(sample)
        _Load.last = (now, busy, own)
        busy, own, now = _busy_cpu_seconds(), time.process_time(), time.perf_counter()
    t0, busy0, own0 = _Load.last
    if now - t0 >= min(min_window, sample):
        _Load.other = max(0.0, ((busy - busy0) - (own - own0)) / (now - t0))
        _Load.last = (now, busy, own)
    return _Load.other


def policy_threads() -> int:
    """PyTorch CPU threads under `DISTILL_THREADS` (see the module docstring)."""
    fixed = fixed_threads()
    if fixed is not None:
        return fixed
    cores = usable_cores()
    load = other_load()
    if load is None:
        return max(1, cores // 2)
    return max(1, cores - math.ceil(load - 0.3))  # a core counts as taken once it is more than 30% busy


def apply_thread_policy(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads (the policy's number unless `threads` is given); returns it."""
    import torch
    n = policy_threads() if threads is None else threads
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def adapt_threads() -> int:
    """Re-apply the policy (cheap: called before training and every few hundred steps)."""
    return apply_thread_policy()
