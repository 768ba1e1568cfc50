"""Run and measure model distillation: the library behind the notebooks (see docs/architecture.md)."""

import sys

from .errors import DistillError
from .settings import apply_thread_policy, usable_cores

try:
    apply_thread_policy()  # one place: PyTorch's CPU threads (DISTILL_THREADS, default auto; see distill.settings)
except DistillError as e:  # the CLI refuses to start on it (one line); a notebook goes on with half the cores
    if sys.argv[:1] != ["-m"] and not sys.argv[0].endswith("distill"):  # not `python -m distill` / `distill`
        print(f"distill: warning: {e}; using half the cores", file=sys.stderr)
    apply_thread_policy(max(1, usable_cores() // 2))
