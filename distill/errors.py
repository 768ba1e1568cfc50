"""The one exception type the project raises for bad input or bad files.

The CLI prints a `DistillError` as a single line and exits non-zero; notebooks show
its message. Messages say what was wrong and what to do about it.
"""


class DistillError(Exception):
    """Bad input, a missing file, or a file that does not match what was asked for."""


class CheckpointError(DistillError):
    """A checkpoint is missing, corrupt, or does not match the architecture it claims."""
