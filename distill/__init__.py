"""Run and measure model distillation: the library behind the notebooks (see docs/architecture.md)."""

from .settings import apply_thread_policy

apply_thread_policy()  # one place: PyTorch's CPU threads (DISTILL_THREADS, default auto; see distill.settings)
