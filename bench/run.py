"""Benchmarks: where the time goes, as ratios measured in the same run.

    make bench                    # everything, including every notebook in smoke and full mode (~30 min)
    BENCH_QUICK=1 make bench      # every ratio on smaller work, one notebook in smoke mode (< 60 s)
    python bench/run.py --only matmul,teacher      # a subset

Prints a table and writes bench/results.json (bench/results-quick.json with BENCH_QUICK=1).
Benchmarks are never part of `make test`: a timing depends on the machine and on what else
runs, so it is measured and reported here, not asserted.

What is measured (on CUDA when a GPU is present, else the CPU):
- matmul peak: fp32 n x n matrix multiply, best of several runs (2 n^3 FLOPs each);
- teacher training: examples/s and achieved FLOP/s (3x the forward FLOPs: forward, and a
  backward that costs about twice the forward), as a ratio to the matmul peak;
- data path: the project's in-memory batches (slicing a tensor) vs. torchvision's
  FashionMNIST Dataset + DataLoader with ToTensor and Normalize per example;
- cached teacher outputs: distilling a student for several epochs with the teacher's logits
  computed once vs. recomputed on every batch;
- student step: one training step of the MLP student and of the tiny language model;
- notebooks: wall time and peak memory (RSS of the kernel) in smoke and full mode.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from distill import data, lm, losses, models, train  # noqa: E402
from distill.errors import DistillError  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
TARGETS = {  # from the performance issue, for this 2-core CPU
    "series_full_seconds": ("<=", 30 * 60),
    "series_smoke_seconds": ("<=", 5 * 60),
    "teacher_fraction_of_matmul_peak": (">=", 0.40),
    "data_path_speedup": (">=", 10.0),
    "peak_rss_mb": ("<=", 3 * 1024),
}


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
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device, repeats=10 if QUICK else 20)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "seconds": seconds, "gflops": 2 * n ** 3 / seconds / 1e9}


def teacher_training(device, ds, steps: int, batch_size: int = 256, channels_last: bool = False,
                     bf16: bool = False) -> dict:
    """Training steps of the committed teacher's architecture (fresh weights), batches sliced in memory.
    `channels_last` is what `recipes.train_teacher` uses; `bf16` (autocast) is measured as an option only:
    the committed teacher was trained in fp32."""
    torch.manual_seed(0)
    model = models.TeacherCNN().to(device)
    flops = 3 * models.flops_per_example(model, ds.input_shape)
    X = ds.X_train[:batch_size * 8].to(device)
    y = ds.y_train[:batch_size * 8].to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        X = X.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type in ("cpu", "cuda"))
    model.train()

    def run(n):
        for i in range(n):
            j = (i % 8) * batch_size
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = losses.label_loss(model(X[j:j + batch_size]), y[j:j + batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    run(2)  # warm-up: allocator, kernel selection
    sync(device)
    start = time.perf_counter()
    run(steps)
    sync(device)
    seconds = time.perf_counter() - start
    per_s = steps * batch_size / seconds
    # where the step's time goes: the FLOP count covers convolutions and matmuls only
    from torch.profiler import profile
    with quiet_stderr(), profile() as prof:  # the profiler's C++ log lines go to fd 2
        run(2)
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    heavy = sum(e.self_cpu_time_total for e in ops if any(k in e.key for k in ("convolution", "mm", "addmm")))
    conv_share = heavy / total if total else float("nan")
    return {"batch_size": batch_size, "steps": steps, "channels_last": channels_last, "bf16": bf16,
            "examples_per_s": per_s, "train_flops_per_example": flops, "gflops": per_s * flops / 1e9,
            "conv_matmul_time_share": conv_share, "gflops_inside_conv_matmul": per_s * flops / 1e9 / conv_share,
            "epoch_seconds": 55_000 / per_s}


def data_path(ds, n: int, batch_size: int = 256) -> dict:
    """One pass over n training images: slicing in-memory tensors vs. a torchvision DataLoader."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    X, y = ds.X_train[:n], ds.y_train[:n]

    def ours():
        perm = torch.randperm(n)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = X[idx], y[idx]
        return xb, yb

    tv = datasets.FashionMNIST(str(data.DATA_DIR), train=True, download=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((ds.mean,), (ds.std,))]))
    loader = DataLoader(Subset(tv, range(n)), batch_size=batch_size, shuffle=True, num_workers=0)

    def baseline():
        for xb, yb in loader:
            pass
        return xb, yb

    cpu = torch.device("cpu")
    t_ours, t_base = timed(ours, cpu, repeats=3), timed(baseline, cpu, repeats=1)
    return {"n": n, "batch_size": batch_size, "ours_seconds": t_ours, "dataloader_seconds": t_base,
            "ours_examples_per_s": n / t_ours, "dataloader_examples_per_s": n / t_base,
            "speedup": t_base / t_ours}


def cached_outputs(device, ds, teacher, n: int, epochs: int, batch_size: int = 256) -> dict:
    """Distil a width-64 student for `epochs` epochs of n images: teacher logits computed once
    (what `train.teacher_outputs` does, without the disk cache) vs. on every batch."""
    X = ds.X_train[:n].to(device)
    teacher = teacher.to(device).eval()
    cfg = train.TrainConfig(epochs=epochs, batch_size=batch_size, lr=3e-3, progress=False,
                            device=device.type)

    def once():
        student = models.make_student(64, seed=0)
        logits = train.predict(teacher, X)
        train.fit(student, X, (logits,), lambda s, t: losses.kd_loss(s, t, 4.0), cfg)

    def every_batch():
        student = models.make_student(64, seed=0)
        idx_all = torch.arange(n)

        def loss(s, idx):
            with torch.no_grad():
                t = teacher(X[idx])
            return losses.kd_loss(s, t, 4.0)

        train.fit(student, X, (idx_all,), loss, cfg)

    t_once, t_every = timed(once, device), timed(every_batch, device)
    return {"n": n, "epochs": epochs, "cached_seconds": t_once, "recompute_seconds": t_every,
            "speedup": t_every / t_once}


def student_steps(device, ds, steps: int) -> dict:
    X, y = ds.X_train[:256 * 8], ds.y_train[:256 * 8]
    cfg = train.TrainConfig(steps=steps, batch_size=256, progress=False, device=device.type)
    s = models.make_student(64, seed=0)
    mlp = timed(lambda: train.fit(s, X, (y,), losses.label_loss, cfg), device) / steps
    task = lm.AdditionTask()
    a, b = task.sample(2048, seed=1)
    prompts, answers = task.prompts(a, b), task.answers(a, b)
    m = lm.make_lm(lm.LMConfig(d_model=32), seed=0)
    lm_step = timed(lambda: lm.train_lm(m, prompts, answers, steps=steps, batch_size=128), device) / steps
    return {"mlp_width64_bs256_ms": mlp * 1e3, "lm_d32_bs128_ms": lm_step * 1e3}


def notebook_run(path: Path, smoke: bool, write: bool = False) -> dict:
    """Execute one notebook in a fresh process; wall time and the kernel's peak RSS. With `write`
    (full mode only), the executed notebook replaces the committed one, as `make notebooks` does."""
    env = dict(os.environ, DISTILL_SMOKE="1" if smoke else "0", TQDM_DISABLE="1")
    out = subprocess.run([sys.executable, __file__, "--execute", str(path)] + (["--write"] if write else []),
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"ok": False, "error": tail}
    return {"ok": True, **json.loads(out.stdout.strip().splitlines()[-1])}


def _execute(path: str, write: bool) -> None:
    """(child process) run the notebook; print seconds and the peak RSS of the kernel process."""
    import nbformat
    from build_site import execute
    nb, seconds = execute(Path(path), timeout=1800)
    if write:
        nbformat.write(nb, path)
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel: our only child
    print(json.dumps({"seconds": round(seconds, 1), "peak_rss_mb": round(rss_kb / 1024)}))


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = train.pick_device("auto")
    return {"cpu": cpu, "cpu_threads": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "device": str(device),
            "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}


def check(name: str, value: float) -> dict:
    op, target = TARGETS[name]
    met = value <= target if op == "<=" else value >= target
    gap = value / target
    return {"target": f"{op} {target:g}", "value": value, "met": met,
            "by": "" if met else f"{abs(gap - 1) * 100:.0f}% {'below' if op == '>=' else 'above'} the target"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated: matmul,teacher,data,cache,steps,notebooks")
    p.add_argument("--notebooks", nargs="*", help="notebook paths (default: every notebook; quick: the first)")
    p.add_argument("--write-notebooks", action="store_true",
                   help="also write each full-mode run back into notebooks/ (what `make notebooks` does)")
    p.add_argument("--table", metavar="JSON", help="print the table of a saved results file and exit")
    p.add_argument("--execute", help=argparse.SUPPRESS)
    p.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.execute:
        _execute(args.execute, args.write)
        return 0
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    parts = set(args.only.split(",")) if args.only else {"matmul", "teacher", "data", "cache", "steps", "notebooks"}
    device = train.pick_device("auto")
    ds = data.load_dataset("fashion_mnist")
    teacher = None
    r: dict = {"machine": machine(), "quick": QUICK}
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:6.1f} s] {msg}", flush=True)

    if "matmul" in parts or "teacher" in parts:
        r["matmul_peak"] = matmul_peak(device, 1024 if QUICK else 2048)
        r["matmul_peak_bf16"] = matmul_peak(device, 1024 if QUICK else 2048, torch.bfloat16)
        log(f"matmul peak {r['matmul_peak']['gflops']:.0f} GFLOP/s fp32, {r['matmul_peak_bf16']['gflops']:.0f} bf16")
    if "teacher" in parts:
        steps = 8 if QUICK else 30
        variants = {"fp32, contiguous": teacher_training(device, ds, steps),
                    "fp32, channels_last": teacher_training(device, ds, steps, channels_last=True),
                    "bf16 autocast, channels_last": teacher_training(device, ds, steps, channels_last=True, bf16=True)}
        for v in variants.values():
            peak = r["matmul_peak_bf16" if v["bf16"] else "matmul_peak"]["gflops"]
            v["fraction_of_same_dtype_peak"] = v["gflops"] / peak
        r["teacher"] = {"variants": variants, "used": "fp32, channels_last"}  # what recipes.train_teacher does
        used = variants[r["teacher"]["used"]]
        r["teacher"]["fraction_of_matmul_peak"] = used["gflops"] / r["matmul_peak"]["gflops"]
        log(f"teacher {used['examples_per_s']:.0f} examples/s, {used['gflops']:.0f} GFLOP/s = "
            f"{r['teacher']['fraction_of_matmul_peak']:.0%} of peak")
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
    if "notebooks" in parts:
        paths = [Path(n) for n in args.notebooks] if args.notebooks else sorted(
            (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
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

    r["seconds"] = round(time.perf_counter() - started, 1)
    r["targets"] = targets(r)
    out = ROOT / "bench" / ("results-quick.json" if QUICK else "results.json")
    if args.only:
        out = out.with_name(out.stem + "-partial.json")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(r, indent=2) + "\n")
    tmp.replace(out)
    print()
    print(table(r))
    print(f"\nwrote {out.relative_to(ROOT)} ({r['seconds']:.0f} s)")
    return 0


def targets(r: dict) -> dict:
    t = {}
    if "teacher" in r:
        t["teacher_fraction_of_matmul_peak"] = check("teacher_fraction_of_matmul_peak",
                                                     r["teacher"]["fraction_of_matmul_peak"])
    if "data_path" in r:
        t["data_path_speedup"] = check("data_path_speedup", r["data_path"]["speedup"])
    nbs = r.get("notebooks", {})
    all_ok = lambda mode: nbs and all(mode in v and v[mode]["ok"] for v in nbs.values())
    if nbs and not r["quick"]:
        for mode in ("smoke", "full"):
            if all_ok(mode):
                t[f"series_{mode}_seconds"] = check(f"series_{mode}_seconds",
                                                    sum(v[mode]["seconds"] for v in nbs.values()))
    if nbs:
        rss = [m["peak_rss_mb"] for v in nbs.values() for m in v.values() if m["ok"]]
        if rss:
            t["peak_rss_mb"] = check("peak_rss_mb", max(rss))
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
    if "student_steps" in r:
        s = r["student_steps"]
        rows.append(("student step (MLP w64, bs256)", f"{s['mlp_width64_bs256_ms']:.2f} ms", ""))
        rows.append(("LM student step (d32, bs128)", f"{s['lm_d32_bs128_ms']:.2f} ms", ""))
    for name, v in r.get("notebooks", {}).items():
        for mode, m in v.items():
            rows.append((f"{name} ({mode})", f"{m['seconds']:.0f} s" if m["ok"] else "FAILED",
                         f"peak RSS {m['peak_rss_mb']:,} MB" if m["ok"] else m["error"]))
    def show(name, v):
        if name.endswith("seconds"):
            return f"{v / 60:.1f} min" if v >= 120 else f"{v:.0f} s"
        if name.endswith("_mb"):
            return f"{v:,.0f} MB"
        if "fraction" in name:
            return f"{v:.0%}"
        return f"{v:.0f}x"

    for name, t in r.get("targets", {}).items():
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
