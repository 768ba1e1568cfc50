"""The series: every notebook's wall time and the kernel's peak memory, each in a fresh process."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path


def notebook_run(path: Path, smoke: bool, write: bool = False) -> dict:
    """Execute one notebook in a fresh process; wall time and the kernel's peak RSS. With `write`
    (full mode only), the executed notebook replaces the committed one, as `make notebooks` does."""
    env = dict(os.environ, DISTILL_SMOKE="1" if smoke else "0", TQDM_DISABLE="1")
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("run.py")), "--execute", str(path)] + (["--write"] if write else []),
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"ok": False, "error": tail}
    return {"ok": True, **json.loads(out.stdout.strip().splitlines()[-1])}


def _execute(path: str, write: bool, out: str | None = None) -> None:
    """(child process) run the notebook; print seconds and the peak RSS of the kernel process.
    `out`: also write the executed notebook there (bench/conclusions.py reads its verdicts)."""
    from build_site import execute, write_notebook
    result = execute(Path(path), limit=None)
    if result.status != "executed":
        print(f"{Path(path).stem} failed at {result.error}", file=sys.stderr)
        sys.exit(1)
    if write:
        write_notebook(result.nb, Path(path))
    if out:
        write_notebook(result.nb, Path(out))
    seconds = result.seconds
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel: our only child
    print(json.dumps({"seconds": round(seconds, 1), "peak_rss_mb": round(rss_kb / 1024)}))
