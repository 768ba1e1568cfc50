"""Benchmarks: where the time goes, as ratios measured in the same run. One file per concern:

| file               | measures                                                                      |
|--------------------|-------------------------------------------------------------------------------|
| `common.py`        | timing helpers, the machine, the matmul peak every throughput is compared to  |
| `teacher.py`       | teacher training throughput as a share of that peak; fp32, channels-last, bf16 |
| `data_path.py`     | in-memory batches vs torchvision's DataLoader; cached vs recomputed teacher outputs |
| `students.py`      | one student step; ten students at once (`fit_many`) vs one after another       |
| `contention.py`    | a student run beside one busy process vs alone, under the thread policy        |
| `series.py`        | every notebook's wall time and peak memory, smoke and full mode                 |
| `conclusions.py`   | every notebook re-run on disjoint seeds: how many of its verdicts hold          |
| `art_reference.py` | ART's KnockoffNets against the project's teacher vs `distill.strategies`, same budget |

    make bench                    # everything, including every notebook in smoke and full mode (~30 min)
    BENCH_QUICK=1 make bench      # every ratio on smaller work, one notebook in smoke mode (about a minute)
    python bench/run.py --only matmul,teacher      # a subset (writes results-partial.json)
    python bench/run.py --only conclusions --merge # a subset, merged into results.json

Prints a table and writes bench/results.json (bench/results-quick.json with BENCH_QUICK=1).
Benchmarks are never part of `make test`: a timing depends on the machine and on what else
runs, so it is measured and reported here, not asserted. CPUs differ (some have bf16 or AMX
units), so throughputs are reported as a share of the peak measured on the same machine, at the
thread count the project uses (`distill.settings`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling files below, when run or imported as a script
from common import QUICK, ROOT, machine, matmul_peak
from art_reference import art_reference
from conclusions import conclusions
from contention import contention
from data_path import cached_outputs, data_path
from series import _execute, notebook_run
from students import batched_students, student_steps
from teacher import teacher_training

from distill import data, report, train  # noqa: E402
from distill.checkpoints import atomic_write  # noqa: E402
from distill.errors import DistillError  # noqa: E402

TARGETS = {  # from the performance issues, for the 2-core reference CPU
    "series.full_seconds": ("<=", 1200),
    "series.smoke_seconds": ("<=", 90),
    "teacher.fraction_of_peak": (">=", 0.40),
    "batched_students.mlp_speedup_10": (">=", 5.0),
    "batched_students.cnn_speedup_10": (">=", 3.0),
    "contention.slowdown": ("<=", 2.0),
    "data_path.speedup": (">=", 10.0),
    "series.peak_rss_mb": ("<=", 3 * 1024),
    "conclusions.held_fraction": (">=", 1.0),
}
PARTS = ("matmul", "teacher", "data", "cache", "steps", "batched", "contention", "art", "notebooks", "conclusions")


def check(name: str, value: float) -> dict:
    op, target = TARGETS[name]
    met = value <= target if op == "<=" else value >= target
    gap = value / target
    return {"target": f"{op} {target:g}", "value": value, "met": met,
            "by": "" if met else f"{abs(gap - 1) * 100:.0f}% {'below' if op == '>=' else 'above'} the target"}


def same_machine(a: dict, b: dict) -> bool:
    """Whether two results files come from the same kind of machine (so their figures may share a file):
    same CPU name, threads, bf16 support, torch and device."""
    keys = ("cpu", "cpu_threads", "bf16_instructions", "torch", "device", "gpu")
    return all(a.get(k) == b.get(k) for k in keys)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated: " + ",".join(PARTS))
    p.add_argument("--notebooks", nargs="*", help="notebook paths (default: every notebook; quick: the first)")
    p.add_argument("--write-notebooks", action="store_true",
                   help="also write each full-mode run back into notebooks/ (what `make notebooks` does)")
    p.add_argument("--table", metavar="JSON", help="print the table of a saved results file and exit")
    p.add_argument("--merge", action="store_true", help="with --only: update results.json instead of a partial file")
    p.add_argument("--execute", help=argparse.SUPPRESS)
    p.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.execute:
        _execute(args.execute, args.write, args.out)
        return 0
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    if parts - set(PARTS):
        raise DistillError(f"unknown parts {sorted(parts - set(PARTS))}; choose from {', '.join(PARTS)}")
    device = train.pick_device("auto")
    ds = data.load_dataset("fashion_mnist")
    teacher = None
    r: dict = {"machine": machine(), "quick": QUICK}
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:6.1f} s] {msg}", flush=True)

    if "matmul" in parts or "teacher" in parts:
        r["matmul_peak"] = matmul_peak(device, 1024 if QUICK else 2048)
        # bf16 only where the hardware has it: a CPU without bf16 instructions (e.g. AVX2 only) runs
        # bf16 matmuls in a slow fallback (a 1024 x 1024 product took 2.5 s against 0.02 s in fp32)
        bf16_ok = device.type == "cuda" or r["machine"]["bf16_instructions"]
        if bf16_ok:
            r["matmul_peak_bf16"] = matmul_peak(device, 1024 if QUICK else 2048, torch.bfloat16)
        log(f"matmul peak {r['matmul_peak']['gflops']:.0f} GFLOP/s fp32, "
            + (f"{r['matmul_peak_bf16']['gflops']:.0f} bf16" if bf16_ok else "no bf16 instructions: bf16 not measured"))
    if "teacher" in parts:
        steps = 8 if QUICK else 30
        variants = {"fp32, contiguous": teacher_training(device, ds, steps),
                    "fp32, channels_last": teacher_training(device, ds, steps, channels_last=True),
                    **({"bf16 autocast, channels_last": teacher_training(device, ds, steps, channels_last=True, bf16=True)}
                       if bf16_ok else {})}
        for v in variants.values():
            peak = r["matmul_peak_bf16" if v["bf16"] else "matmul_peak"]["gflops"]
            v["fraction_of_same_dtype_peak"] = v["gflops"] / peak
        r["teacher"] = {"variants": variants, "used": "fp32, channels_last"}  # what recipes.train_teacher does
        used = variants[r["teacher"]["used"]]
        r["teacher"]["fraction_of_peak"] = used["gflops"] / r["matmul_peak"]["gflops"]
        log(f"teacher {used['examples_per_s']:.0f} examples/s, {used['gflops']:.0f} GFLOP/s = "
            f"{r['teacher']['fraction_of_peak']:.0%} of peak")
    if "data" in parts:
        r["data_path"] = data_path(ds, 10_000 if QUICK else 55_000)
        log(f"data path {r['data_path']['speedup']:.0f}x the DataLoader")
    if "cache" in parts:
        from distill import recipes
        teacher, _ = recipes.load_teacher(ds)
        r["cached_outputs"] = cached_outputs(device, ds, teacher, 2_000 if QUICK else 10_000, 3 if QUICK else 5)
        log(f"cached teacher outputs {r['cached_outputs']['speedup']:.1f}x recomputing")
    if "steps" in parts:
        r["student_steps"] = student_steps(device, ds, 50 if QUICK else 300)
        log(f"student steps: MLP {r['student_steps']['mlp_width64_bs256_ms']:.2f} ms, "
            f"LM {r['student_steps']['lm_d32_bs128_ms']:.2f} ms")
    if "batched" in parts:
        steps = 50 if QUICK else 200
        peak = (r.get("matmul_peak") or matmul_peak(device, 1024 if QUICK else 2048))["gflops"]
        mlp = batched_students(device, ds, "mlp", 64, steps=steps, peak_gflops=peak)
        cnn = batched_students(device, ds, "cnn", 16, steps=20 if QUICK else 100, peak_gflops=peak)
        r["batched_students"] = {"mlp_speedup_10": mlp["speedup"], "cnn_speedup_10": cnn["speedup"],
                                 "mlp": mlp, "cnn": cnn}
        log(f"10 students at once: MLP {mlp['speedup']:.1f}x, CNN {cnn['speedup']:.1f}x "
            f"(vmapped CNN pass {cnn['vmapped_speedup']:.1f}x)")
    if "contention" in parts and device.type == "cpu":
        r["contention"] = contention(ds, 200)
        c = r["contention"]
        log(f"beside a busy process: {c['slowdown']:.1f}x slower under the policy ({c['policy']['threads_busy']} "
            f"thread(s) then), {c['all_cores']['slowdown']:.1f}x with every core; quiet cost {c['quiet_cost']:+.0%}")
    if "art" in parts:
        from distill import recipes
        teacher = teacher or recipes.load_teacher(ds)[0]
        r["art_reference"] = art_reference(ds, teacher, [0] if QUICK else [0, 1, 2], budget=400 if QUICK else 1600,
                                           steps=50 if QUICK else 400)
        log("ART reference: " + "; ".join(f"{k} {100 * v['mean']:.1f}%" for k, v in r["art_reference"]["test_accuracy"].items()))
    if "notebooks" in parts:
        from build_site import plan  # summaries (the overview) after the notebooks they read
        paths = plan([Path(n) for n in args.notebooks] if args.notebooks else report.notebook_paths())
        if QUICK and not args.notebooks:
            paths = [p for p in paths if not p.name.startswith("00_")][:1]  # the first that trains something
        modes = ["smoke"] if QUICK else ["smoke", "full"]
        r["notebooks"] = {}
        for mode in modes:
            for path in paths:
                res = notebook_run(path, smoke=mode == "smoke", write=args.write_notebooks and mode == "full")
                r["notebooks"].setdefault(path.stem, {})[mode] = res
                log(f"{path.stem} {mode}: " + (f"{res['seconds']:.0f} s, {res['peak_rss_mb']} MB" if res["ok"]
                                               else f"FAILED: {res['error']}"))

    if "conclusions" in parts and not QUICK:
        from build_site import plan
        paths = plan([Path(n) for n in args.notebooks] if args.notebooks else report.notebook_paths())
        r["conclusions"] = conclusions(paths, log=log)
        c = r["conclusions"]
        for stem, t in c.pop("timings").items():  # these full runs are the series' full-mode times too
            r.setdefault("notebooks", {}).setdefault(stem, {})["full"] = t
        c["held_fraction"] = c["held"] / c["total"] if c["total"] else None
        log(f"conclusions: {c['held']} of {c['total']} verdicts held on disjoint seeds")

    r["seconds"] = round(time.perf_counter() - started, 1)
    out = ROOT / "bench" / ("results-quick.json" if QUICK else "results.json")
    if args.only and args.merge and out.exists() and not same_machine(json.loads(out.read_text()).get("machine", {}),
                                                                       r["machine"]):
        print(f"bench: warning: {out.name} was measured on another machine "
              f"({json.loads(out.read_text()).get('machine', {}).get('cpu')}); not merging figures from two machines "
              f"into one file: writing {out.stem}-partial.json instead", file=sys.stderr)
        args.merge = False
    if args.only and args.merge and out.exists():
        old = json.loads(out.read_text())
        for stem, modes in r.pop("notebooks", {}).items():  # per notebook and mode, so smoke times stay
            old.setdefault("notebooks", {}).setdefault(stem, {}).update(modes)
        if "conclusions" in r and "conclusions" in old:  # notebooks re-checked in parts: keep the others' verdicts
            per = {**old["conclusions"].get("per_notebook", {}), **r["conclusions"]["per_notebook"]}
            changed = [c for c in old["conclusions"].get("changed", []) if c.get("notebook") not in r["conclusions"]["per_notebook"]]
            held, total = sum(v["held"] for v in per.values()), sum(v["total"] for v in per.values())
            r["conclusions"] = {**r["conclusions"], "per_notebook": per, "changed": changed + r["conclusions"]["changed"],
                                "held": held, "total": total, "held_fraction": held / total if total else None,
                                "reversed": sum(v.get("reversed", 0) for v in per.values())}
        r = {**old, **{k: v for k, v in r.items() if k not in ("machine", "quick", "seconds")}}
    elif args.only:
        out = out.with_name(out.stem + "-partial.json")
    r["targets"] = targets(r)
    atomic_write(out, lambda tmp: tmp.write_text(json.dumps(r, indent=2) + "\n"))
    print()
    print(table(r))
    print(f"\nwrote {out.relative_to(ROOT)} ({r['seconds']:.0f} s)")
    return 0


def targets(r: dict) -> dict:
    t = {}
    if "teacher" in r:
        t["teacher.fraction_of_peak"] = check("teacher.fraction_of_peak", r["teacher"]["fraction_of_peak"])
    if "data_path" in r:
        t["data_path.speedup"] = check("data_path.speedup", r["data_path"]["speedup"])
    if "batched_students" in r:
        for k in ("mlp_speedup_10", "cnn_speedup_10"):
            t[f"batched_students.{k}"] = check(f"batched_students.{k}", r["batched_students"][k])
    if "contention" in r:
        t["contention.slowdown"] = check("contention.slowdown", r["contention"]["slowdown"])
    if r.get("conclusions", {}).get("held_fraction") is not None:
        t["conclusions.held_fraction"] = check("conclusions.held_fraction", r["conclusions"]["held_fraction"])
    nbs = r.get("notebooks", {})
    all_ok = lambda mode: nbs and all(mode in v and v[mode]["ok"] for v in nbs.values())  # noqa: E731
    if nbs and not r["quick"]:
        r["series"] = {}
        for mode in ("smoke", "full"):
            if all_ok(mode):
                r["series"][f"{mode}_seconds"] = sum(v[mode]["seconds"] for v in nbs.values())
                t[f"series.{mode}_seconds"] = check(f"series.{mode}_seconds", r["series"][f"{mode}_seconds"])
    if nbs:
        rss = [m["peak_rss_mb"] for v in nbs.values() for m in v.values() if m["ok"] and "peak_rss_mb" in m]
        if rss:
            t["series.peak_rss_mb"] = check("series.peak_rss_mb", max(rss))
    return t


def table(r: dict) -> str:
    rows = [("what", "measured", "")]
    if "matmul_peak" in r:
        m = r["matmul_peak"]
        rows.append(("fp32 matmul peak", f"{m['gflops']:.0f} GFLOP/s", f"{m['n']}x{m['n']}"))
        if "matmul_peak_bf16" in r:
            rows.append(("bf16 matmul peak", f"{r['matmul_peak_bf16']['gflops']:.0f} GFLOP/s", ""))
    if "teacher" in r:
        for name, v in r["teacher"]["variants"].items():
            rows.append((f"teacher training ({name})", f"{v['examples_per_s']:.0f} ex/s, {v['gflops']:.0f} GFLOP/s",
                         f"{v['gflops'] / r['matmul_peak']['gflops']:.0%} of fp32 peak"
                         + (f" ({v['fraction_of_same_dtype_peak']:.0%} of bf16 peak)" if v["bf16"] else "")
                         + f"; epoch of 55k {v['epoch_seconds']:.0f} s" + (" <- used" if name == r["teacher"]["used"] else "")))
    if "teacher" in r:
        v = r["teacher"]["variants"][r["teacher"]["used"]]
        rows.append(("teacher: time in conv/matmul kernels", f"{v['conv_matmul_time_share']:.0%} of the step",
                     f"{v['gflops_inside_conv_matmul']:.0f} GFLOP/s while in them "
                     f"({v['gflops_inside_conv_matmul'] / r['matmul_peak']['gflops']:.0%} of peak)"))
    if "data_path" in r:
        d = r["data_path"]
        rows.append(("data path: in-memory vs DataLoader", f"{d['speedup']:.0f}x",
                     f"{d['ours_examples_per_s']:,.0f} vs {d['dataloader_examples_per_s']:,.0f} ex/s"))
    if "cached_outputs" in r:
        c = r["cached_outputs"]
        rows.append(("cached teacher outputs vs recompute", f"{c['speedup']:.1f}x",
                     f"{c['epochs']} epochs of {c['n']:,}: {c['cached_seconds']:.1f} vs {c['recompute_seconds']:.1f} s"))
    if "batched_students" in r:
        for fam in ("mlp", "cnn"):
            b = r["batched_students"][fam]
            rows.append((f"10 {fam} students at once (size {b['size']})", f"{b['speedup']:.1f}x",
                         f"vmapped {b['vmapped_seconds']:.1f} s vs one after another {b['one_after_another_seconds']:.1f} s"
                         + ("" if b["fit_many_uses_vmap"] else "; fit_many trains these one after another on this device")
                         + (f"; one after another already at {b['one_after_another_fraction_of_peak']:.0%} of the fp32 "
                            f"matmul peak, so at most {b['ceiling_speedup']:.1f}x is possible"
                            if "ceiling_speedup" in b else "")))
    if "contention" in r:
        c = r["contention"]
        for name in ("policy", "all_cores"):
            v = c[name]
            rows.append(("beside a busy process, " + ("thread policy" if name == "policy" else "every core"),
                         f"{v['slowdown']:.1f}x slower", f"{v['busy_seconds']:.2f} s ({v['threads_busy']} threads) vs "
                         f"{v['alone_seconds']:.2f} s alone ({v['threads_alone']} threads)"))
        rows.append(("thread policy's cost on a quiet machine", f"{c['quiet_cost']:+.0%}", ""))
    if "student_steps" in r:
        s = r["student_steps"]
        rows.append(("student step (MLP w64, bs256)", f"{s['mlp_width64_bs256_ms']:.2f} ms", ""))
        rows.append(("LM student step (d32, bs128)", f"{s['lm_d32_bs128_ms']:.2f} ms", ""))
    if "art_reference" in r:
        a = r["art_reference"]
        for k, v in a["test_accuracy"].items():
            rows.append((k, f"{100 * v['mean']:.1f}%", f"test accuracy, {a['budget']:,} queries, {a['copier']}, "
                                                       f"{len(v['values'])} seeds"))
    for name, v in r.get("notebooks", {}).items():
        for mode, m in v.items():
            rows.append((f"{name} ({mode})", f"{m['seconds']:.0f} s" if m["ok"] else "FAILED",
                         (f"peak RSS {m['peak_rss_mb']:,} MB" if "peak_rss_mb" in m else "peak RSS not recorded")
                         if m["ok"] else m["error"]))
    if "conclusions" in r:
        c = r["conclusions"]
        rows.append((f"verdicts kept on seeds {c['offset']}+", f"{c['held']} of {c['total']}",
                     "; ".join(f"{k}: {v['held']}/{v['total']}" for k, v in c["per_notebook"].items())))
        if "reversed" in c:
            rows.append((f"verdicts reversed on seeds {c['offset']}+", f"{c['reversed']} of {c['total']}",
                         "both runs call a winner, and not the same one"))
    def show(name, v):
        if name.endswith("seconds"):
            return f"{v / 60:.1f} min" if v >= 120 else f"{v:.0f} s"
        if name.endswith("_mb"):
            return f"{v:,.0f} MB"
        if "fraction" in name or name.endswith("cost"):
            return f"{v:.0%}"
        return f"{v:.1f}x" if v < 10 else f"{v:.0f}x"

    for name, t in r.get("targets", {}).items():
        if name not in TARGETS:
            continue
        op, limit = TARGETS[name]
        rows.append((f"target {name}", f"{show(name, t['value'])} ({op} {show(name, limit)})",
                     "met" if t["met"] else f"MISSED: {t['by']}"))
    w = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [" | ".join(c.ljust(w[i]) for i, c in enumerate(row)) for row in rows]
    lines.insert(1, "-+-".join("-" * x for x in w))
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DistillError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        sys.exit(2)
