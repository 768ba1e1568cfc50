"""Do the series' conclusions survive re-seeding? Each notebook's findings record the verdict of
every comparison behind them (`distill.findings.show`: "A beats B" or "no clear difference", by
the series' one rule, in the output's metadata). This re-runs each notebook in full mode on a
disjoint set of seeds (`DISTILL_SEED_OFFSET`, distill.settings.seeds) and counts the comparisons
whose verdict is the same: both runs call the same winner, or neither calls one. A changed verdict
is *reversed* when both runs call a winner and the winners differ (the rest move between a call and
"no clear difference").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def verdicts_of(nb: dict, prefix: str = "") -> dict[str, str | None]:
    """{key: winner (None = no clear difference)} of every comparison recorded in a notebook's outputs."""
    out: dict[str, str | None] = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            for v in o.get("metadata", {}).get("distill_verdicts", []):
                out[f"{prefix}{v['key']}"] = v["winner"]
    return out


def held(before: dict, after: dict) -> dict:
    """How many verdicts of `before` the re-run `after` kept (a comparison missing after counts as changed),
    and how many it reversed (a called winner became the other side)."""
    changed = [{"key": k, "before": w, "after": after.get(k, "(not compared)")} for k, w in before.items()
               if k not in after or after[k] != w]
    flipped = sum(c["before"] is not None and c["after"] not in (None, "(not compared)") for c in changed)
    return {"held": len(before) - len(changed), "total": len(before), "reversed": flipped, "changed": changed}


def rerun(path: Path, offset: int) -> dict:
    """Execute a notebook in full mode with seeds shifted by `offset`; its verdicts."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        env = dict(os.environ, DISTILL_SMOKE="0", DISTILL_SEED_OFFSET=str(offset), TQDM_DISABLE="1")
        res = subprocess.run([sys.executable, str(Path(__file__).with_name("run.py")), "--execute", str(path),
                              "--out", str(out)], env=env, capture_output=True, text=True)
        if res.returncode != 0:
            tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
            return {"ok": False, "error": tail}
        timing = json.loads(res.stdout.strip().splitlines()[-1])  # seconds and the kernel's peak RSS
        return {"ok": True, "verdicts": verdicts_of(json.loads(out.read_text())), **timing}


def conclusions(paths: list[Path], offset: int = 1000, log=print) -> dict:
    """Re-run every notebook in full mode on other seeds; count the verdicts each kept (notebooks that
    record none are re-run for their time only). The runs double as the series' full-mode timing."""
    per, total, timings = {}, {"held": 0, "total": 0, "reversed": 0, "changed": []}, {}
    for path in paths:
        before = verdicts_of(json.loads(path.read_text()))
        run = rerun(path, offset)
        if run["ok"]:
            timings[path.stem] = {"ok": True, "seconds": run["seconds"], "peak_rss_mb": run["peak_rss_mb"]}
        if not before:
            log(f"{path.stem}: no verdicts recorded; re-run for its time only ({run.get('seconds', '?')} s)")
            continue
        if not run["ok"]:
            per[path.stem] = {"ok": False, "error": run["error"], "total": len(before), "held": 0}
            total["total"] += len(before)
            log(f"{path.stem}: re-run FAILED: {run['error']}")
            continue
        h = held(before, run["verdicts"])
        per[path.stem] = {"ok": True, **h}
        total["held"] += h["held"]
        total["total"] += h["total"]
        total["reversed"] += h["reversed"]
        total["changed"] += [dict(c, notebook=path.stem) for c in h["changed"]]
        log(f"{path.stem}: {h['held']} of {h['total']} verdicts held on seeds {offset}+")
    return {"offset": offset, **total, "per_notebook": per, "timings": timings}


def compare_saved(paths: list[Path], reruns: Path, offset: int, log=print) -> dict:
    """The same count from re-runs already executed elsewhere (e.g. beside the committed run, on the
    same machine): `reruns/<notebook>.ipynb` executed with DISTILL_SEED_OFFSET=`offset`. A notebook
    without a saved re-run is reported as not re-run, and left out of the totals."""
    per, total = {}, {"held": 0, "total": 0, "reversed": 0, "changed": []}
    for path in paths:
        before = verdicts_of(json.loads(path.read_text()))
        saved = reruns / path.name
        if not before:
            continue
        if not saved.is_file():
            per[path.stem] = {"ok": False, "error": "not re-run", "total": len(before), "held": 0}
            log(f"{path.stem}: no re-run in {reruns}; left out")
            continue
        h = held(before, verdicts_of(json.loads(saved.read_text())))
        per[path.stem] = {"ok": True, **h}
        total["held"] += h["held"]
        total["total"] += h["total"]
        total["reversed"] += h["reversed"]
        total["changed"] += [dict(c, notebook=path.stem) for c in h["changed"]]
        log(f"{path.stem}: {h['held']} of {h['total']} verdicts held on seeds {offset}+")
    return {"offset": offset, **total, "per_notebook": per}


if __name__ == "__main__":  # python bench/conclusions.py --compare DIR [--offset 1000] [--into bench/results-x.json]
    import argparse
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from distill import report
    from distill.checkpoints import atomic_write
    p = argparse.ArgumentParser(description="count the verdicts that held in re-runs saved in a folder")
    p.add_argument("--compare", required=True, type=Path, help="folder of notebooks executed on other seeds")
    p.add_argument("--offset", type=int, default=1000, help="the DISTILL_SEED_OFFSET they were run with")
    p.add_argument("--into", type=Path, help="a results JSON file to record the count in, under 'conclusions'")
    a = p.parse_args()
    if not a.compare.is_dir():
        sys.exit(f"conclusions: error: {a.compare} is not a folder of executed notebooks")
    result = compare_saved(report.notebook_paths(), a.compare, a.offset)
    print(f"conclusions: {result['held']} of {result['total']} verdicts held on seeds {a.offset}+, "
          f"{result['reversed']} reversed")
    if a.into:
        data = json.loads(a.into.read_text()) if a.into.is_file() else {}
        data["conclusions"] = result
        atomic_write(a.into, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))
