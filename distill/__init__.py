"""distill: run and measure model distillation."""
