"""Command line for sweeps: `python -m distill data|teacher|student|evaluate ...`.

Every command prints one JSON object on stdout (progress goes to stderr), so a
shell loop or a spreadsheet can collect results. Bad input prints one line,
`distill: error: ...`, and exits with status 2; no traceback.

    python -m distill evaluate                     # the committed teacher on the test set
    python -m distill student --method soft --temperature 4 --width 32 --train-size 2000
    python -m distill teacher --epochs 10 --out data/teacher
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time


from .errors import DistillError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(2, f"distill: error: {message} (see `python -m distill {self.prog.split()[-1]} --help`)\n"
                  if " " in self.prog else f"distill: error: {message} (see `python -m distill --help`)\n")


def _command() -> str:
    """This invocation as a shell command, recorded in the manifests of what it saves."""
    return "python -m distill " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _dump(obj: dict) -> None:
    """One JSON object on stdout; a NaN or infinite number is an error, never `NaN` in the output."""
    try:
        text = json.dumps(obj, indent=2, allow_nan=False)
    except ValueError:
        bad = [k for k, v in obj.items() if isinstance(v, float) and v != v or v in (float("inf"), float("-inf"))]
        raise DistillError(f"the result holds non-finite numbers ({', '.join(bad) or 'nested'}); "
                           f"training diverged: lower --lr or check the inputs") from None
    print(text)


def cmd_data(args) -> dict:
    from .data import load_dataset
    ds = load_dataset(args.dataset)
    return {"dataset": ds.name, "train": len(ds.y_train), "val": len(ds.y_val), "test": len(ds.y_test),
            "input_shape": list(ds.input_shape), "classes": list(ds.classes)}


def cmd_teacher(args) -> dict:
    import dataclasses
    from .data import load_dataset
    from .recipes import TEACHER_TRAIN, save_teacher, train_teacher
    ds = load_dataset(args.dataset)
    train = dataclasses.replace(TEACHER_TRAIN, epochs=args.epochs, lr=args.lr, device=args.device)
    teacher, history = train_teacher(ds, train=train, seed=args.seed)
    command = _command()
    manifest = save_teacher(teacher, ds, history, train, args.seed, args.out, command=command)
    return {k: manifest[k] for k in ("dataset", "test_accuracy", "val_accuracy", "params", "train_seconds",
                                     "sha256")} | {"out": str(args.out)}


def cmd_student(args) -> dict:
    import dataclasses
    from .data import load_dataset, make_transfer_set, source_size
    from .metrics import evaluate
    from .models import FAMILIES, count_params
    from .recipes import STUDENT_TRAIN, load_teacher, train_student, with_known_labels
    from .train import predict, teacher_outputs
    ds = load_dataset(args.dataset)
    if args.method in ("labels", "mixed") and args.transfer_set != "train":
        raise DistillError(f"method {args.method!r} trains on true labels, which only --transfer-set train has; "
                           f"use hard or soft with {args.transfer_set!r}")
    n = args.transfer_size or source_size(args.transfer_set, ds) or 10000
    if args.exclude_class is not None and args.transfer_size is None and args.transfer_set in ("train", "fewlabel"):
        n = int((ds.y_train != args.exclude_class).sum())
    ts = make_transfer_set(args.transfer_set, ds, n, seed=args.data_seed, exclude_class=args.exclude_class,
                           labelled=args.labelled if args.transfer_set == "fewlabel" else min(args.labelled, n))
    y = ts.y_true  # for `labels` and `mixed`: the copier who owns the training data knows these
    teacher, _ = load_teacher(ds, args.teacher)  # even for `labels`: agreement with it is the baseline
    teacher_logits = None
    if args.method != "labels":
        teacher_logits = teacher_outputs(teacher, ts.X)
        if (ts.labels >= 0).any():
            if args.method == "mse":
                raise DistillError("--method mse cannot use known labels; use hard or soft with --transfer-set fewlabel")
            teacher_logits = with_known_labels(teacher_logits, ts.labels)
    teacher_test = teacher_outputs(teacher, ds.X_test)
    config = dataclasses.replace(STUDENT_TRAIN, epochs=args.epochs, lr=args.lr, device=args.device)
    start = time.perf_counter()
    teacher_probs = teacher_logits.softmax(-1) if args.method == "probs" else None
    student, history = train_student(ts.X, args.method, y=y, teacher_logits=teacher_logits,
                                     teacher_probs=teacher_probs, family=args.arch, size=args.size,
                                     T=args.temperature, alpha=args.alpha, seed=args.seed,
                                     num_classes=ds.num_classes, config=config, val=(ds.X_val, ds.y_val))
    seconds = time.perf_counter() - start
    test_logits = predict(student, ds.X_test)
    out = {"method": args.method, "arch": args.arch, "size": args.size or FAMILIES[args.arch].default,
           **({"temperature": args.temperature} if args.method in ("soft", "mixed", "probs") else {}),
           **({"alpha": args.alpha} if args.method == "mixed" else {}),
           "transfer_set": args.transfer_set, "transfer_size": n, "exclude_class": args.exclude_class,
           "seed": args.seed, "epochs": args.epochs, "val_accuracy": history.val_accuracy[-1],
           **evaluate(test_logits, ds.y_test, teacher_test),
           "params": count_params(student), "seconds": round(seconds, 2)}
    if args.exclude_class is not None:
        mask = ds.y_test == args.exclude_class
        out["excluded_class_accuracy"] = evaluate(test_logits[mask], ds.y_test[mask])["accuracy"]
    if args.out:
        from .checkpoints import save_checkpoint
        save_checkpoint(student, args.out, dataset=ds.name, test_accuracy=out["accuracy"], method=args.method,
                        train_config=history.config, command=_command())
        out["out"] = args.out
    return out


def cmd_evaluate(args) -> dict:
    from .checkpoints import load_checkpoint
    from .data import load_dataset
    from .metrics import evaluate
    from .models import count_params
    from .recipes import TEACHER_PATH, load_teacher
    from .train import predict, teacher_outputs
    ds = load_dataset(args.dataset)
    X, y = (ds.X_test, ds.y_test) if args.split == "test" else (ds.X_val, ds.y_val)
    path = args.checkpoint or TEACHER_PATH
    model, manifest = load_checkpoint(path)
    if manifest["architecture"] == "tiny_lm":
        raise DistillError(f"{path} is a language model; `evaluate` scores image models (the LM is scored "
                           f"by `python -m distill lm-student`, or distill.lm.evaluate_lm)")
    if manifest.get("dataset") not in (None, ds.name):
        raise DistillError(f"{path} was trained on {manifest.get('dataset')!r}, not {ds.name!r}")
    start = time.perf_counter()
    logits = predict(model, X)
    out = {"checkpoint": str(path), "architecture": manifest["architecture"], "dataset": ds.name,
           "split": args.split, **evaluate(logits, y), "params": count_params(model)}
    if manifest["architecture"] != "teacher_cnn":
        teacher, _ = load_teacher(ds, args.teacher)
        out["agreement"] = evaluate(logits, y, teacher_outputs(teacher, X))["agreement"]
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


def cmd_lm_teacher(args) -> dict:
    from . import lm
    task = lm.AdditionTask(digits=args.digits, working=args.working)
    model, history = lm.train_lm_teacher(task, steps=args.steps, seed=args.seed)
    manifest = lm.save_lm_teacher(model, task, history, args.steps, args.seed, args.out, command=_command())
    return {"task": manifest["task"], "test": manifest["test"], "params": manifest["params"],
            "train_seconds": manifest["train_seconds"], "out": str(args.out)}


def cmd_lm_student(args) -> dict:
    from . import lm
    from .models import count_params
    teacher, task, _ = lm.load_lm_teacher(args.teacher)
    a, b = task.sample(args.queries, seed=args.data_seed)
    prompts = task.prompts(a, b)
    kind = {"text": "sampled" if args.sample else "text"}.get(args.output, args.output)
    answers = lm.teacher_answers(teacher, prompts, kind, task.answer_len, k=args.k, seed=args.seed)
    config = lm.LMConfig(d_model=args.d_model, n_layers=args.layers, n_heads=args.heads)
    rec = lm.student_record(task, prompts, answers, config, steps=args.steps, T=args.temperature, seed=args.seed)
    rec["params"] = count_params(rec.pop("model"))
    rec["seconds"] = round(rec["seconds"], 2)
    return rec


def cmd_lm_ask(args) -> dict:
    import torch
    from . import lm
    teacher, task, _ = lm.load_lm_teacher(args.teacher)
    a, b = task.parse(args.problem)
    prompt = task.prompts(torch.tensor([a]), torch.tensor([b]))
    ids = lm.generate(teacher, prompt, task.answer_len)
    value = int(task.read_answer(ids)[0])
    return {"problem": f"{a}+{b}", "prompt": lm.TOKENIZER.decode(prompt[0]), "generated": lm.TOKENIZER.decode(ids[0]),
            "answer": value, "correct": value == a + b}


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASETS, TRANSFER_SETS
    from .losses import METHODS
    from .lm import LM_TEACHER_PATH
    from .models import FAMILIES
    from .recipes import TEACHER_PATH

    p = _Parser(prog="distill", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp):
        sp.add_argument("--dataset", default="fashion_mnist", choices=DATASETS)
        sp.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda or mps")
        return sp

    d = sub.add_parser("data", help="get the dataset (offline copy, Debian package or download) and describe it")
    d.add_argument("--dataset", default="fashion_mnist", choices=DATASETS)

    t = common(sub.add_parser("teacher", help="train the teacher CNN and save it as safetensors + manifest"))
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=str(TEACHER_PATH), help="checkpoint path without suffix (default: data/teacher)")

    s = common(sub.add_parser("student", help="train one MLP student and report accuracy and agreement"))
    s.add_argument("--method", default="soft", help="; ".join(f"{k}: {v}" for k, v in METHODS.describe().items()))
    s.add_argument("--temperature", "-T", type=float, default=4.0)
    s.add_argument("--alpha", type=float, default=0.5, help="weight of the soft-target term (method mixed)")
    s.add_argument("--arch", default="mlp", help="the copier's family; " + "; ".join(
        f"{k}: {v}" for k, v in FAMILIES.describe().items()))
    s.add_argument("--size", type=int, default=None,
                   help="the family's size knob (mlp: hidden units, cnn: channels, teacher: first-block channels); "
                        "default: " + ", ".join(f"{k} {FAMILIES[k].default}" for k in FAMILIES))
    s.add_argument("--width", dest="size", type=int, help=argparse.SUPPRESS)  # older name of --size for mlp
    s.add_argument("--epochs", type=int, default=10)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--seed", type=int, default=0, help="student init and shuffling")
    s.add_argument("--transfer-set", default="train",
                   help="the images the student learns from; " + "; ".join(f"{k}: {v}" for k, v in TRANSFER_SETS.describe().items()))
    s.add_argument("--transfer-size", "--train-size", dest="transfer_size", type=int, default=None,
                   help="number of transfer images (default: all of a finite source, 10000 of an unlimited one)")
    s.add_argument("--exclude-class", type=int, default=None, help="leave every image of this class out of the transfer set")
    s.add_argument("--labelled", type=int, default=100, help="known true labels in --transfer-set fewlabel")
    s.add_argument("--data-seed", type=int, default=0, help="which random transfer set")
    s.add_argument("--teacher", default=str(TEACHER_PATH))
    s.add_argument("--out", default=None, help="save the student here (checkpoint path without suffix)")

    lt = sub.add_parser("lm-teacher", help="train the tiny language-model teacher on 3-digit addition and save it")
    lt.add_argument("--steps", type=int, default=2000)
    lt.add_argument("--digits", type=int, default=3)
    lt.add_argument("--working", action="store_true",
                    help="answers start with the working (the carry of each digit position), then the sum")
    lt.add_argument("--seed", type=int, default=0)
    lt.add_argument("--out", default=str(LM_TEACHER_PATH), help="checkpoint path without suffix (default: data/lm_teacher)")

    ls = sub.add_parser("lm-student", help="train a small LM student on what a copier of the LM teacher receives")
    ls.add_argument("--output", default="text", choices=("text", "topk", "full"),
                    help="text: generated answers (greedy, or sampled with --sample); topk: top-k log-probabilities "
                         "per token; full: the whole next-token distribution per token")
    ls.add_argument("--sample", action="store_true", help="with --output text: answers sampled at temperature 1")
    ls.add_argument("--queries", type=int, default=1000, help="problems sent to the teacher")
    ls.add_argument("--k", type=int, default=3, help="log-probabilities per token for --output topk")
    ls.add_argument("--temperature", "-T", type=float, default=4.0, help="soft-target temperature (topk, full)")
    ls.add_argument("--steps", type=int, default=500)
    ls.add_argument("--d-model", type=int, default=32)
    ls.add_argument("--layers", type=int, default=2)
    ls.add_argument("--heads", type=int, default=4)
    ls.add_argument("--seed", type=int, default=0)
    ls.add_argument("--data-seed", type=int, default=1, help="which random problems are queried")
    ls.add_argument("--teacher", default=str(LM_TEACHER_PATH))

    la = sub.add_parser("lm-ask", help="ask the LM teacher an addition problem, e.g. 123+45")
    la.add_argument("problem")
    la.add_argument("--teacher", default=str(LM_TEACHER_PATH))

    e = common(sub.add_parser("evaluate", help="evaluate a checkpoint (default: the committed teacher)"))
    e.add_argument("--checkpoint", default=None)
    e.add_argument("--split", default="test", choices=("test", "val"))
    e.add_argument("--teacher", default=str(TEACHER_PATH), help="for a student: the teacher to measure agreement with")
    return p


SEED_MAX = 2**32 - 1  # numpy's seeds stop here


def _check(args) -> None:
    """Reject bad values before any data is loaded or any work starts, with one clear message."""
    import math
    from . import settings
    from .checkpoints import check_writable
    from .data import TRANSFER_SETS
    settings.fixed_threads(), settings.smoke(), settings.data_dir(), settings.cache_dir()  # environment first
    from .losses import METHODS, check_alpha, check_temperature
    from .models import FAMILIES
    from .train import pick_device
    if getattr(args, "method", None) is not None:
        METHODS.check(args.method)
    if getattr(args, "transfer_set", None) is not None:
        TRANSFER_SETS.check(args.transfer_set)
    if getattr(args, "arch", None) is not None:
        fam = FAMILIES[args.arch]
        if args.size is not None and not fam.sizes[0] <= args.size <= fam.sizes[1]:
            raise DistillError(f"--size {args.size} is outside copier family {args.arch!r}'s range "
                               f"{fam.sizes[0]} to {fam.sizes[1]} ({fam.knob})")
    if hasattr(args, "temperature"):
        check_temperature(args.temperature)
    if hasattr(args, "alpha"):
        check_alpha(args.alpha)
    if hasattr(args, "lr") and not (args.lr > 0 and math.isfinite(args.lr)):
        raise DistillError(f"--lr must be a finite number > 0, got {args.lr}")
    if getattr(args, "sample", False) and args.output != "text":
        raise DistillError("--sample applies to --output text only")
    for name in ("epochs", "transfer_size", "steps", "queries", "k", "d_model", "layers", "heads", "digits"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise DistillError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    for name, top in (("epochs", 1000), ("steps", 10**7), ("queries", 10**7), ("d_model", 4096), ("layers", 64),
                      ("heads", 64), ("digits", 9), ("labelled", 10**7)):
        value = getattr(args, name, None)
        if value is not None and value > top:
            raise DistillError(f"--{name.replace('_', '-')} must be at most {top:,}, got {value:,}")
    for name in ("seed", "data_seed"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value <= SEED_MAX:
            raise DistillError(f"--{name.replace('_', '-')} must be from 0 to {SEED_MAX}, got {value}")
    if getattr(args, "labelled", None) is not None and args.labelled < 0:
        raise DistillError(f"--labelled must be at least 0, got {args.labelled}")
    if getattr(args, "exclude_class", None) is not None and args.exclude_class < 0:
        raise DistillError(f"--exclude-class must be a class index >= 0, got {args.exclude_class}")
    if getattr(args, "out", None) is not None:
        if not args.out.strip():
            raise DistillError("--out is empty; give a checkpoint path without suffix, e.g. --out build/my_model")
        check_writable(args.out)  # now, not after minutes of training
    if hasattr(args, "device"):
        pick_device(args.device)


COMMANDS = {"data": cmd_data, "teacher": cmd_teacher, "student": cmd_student, "evaluate": cmd_evaluate,
            "lm-teacher": cmd_lm_teacher, "lm-student": cmd_lm_student, "lm-ask": cmd_lm_ask}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # (argparse exits 2 with one line on bad syntax)
        _check(args)
        _dump(COMMANDS[args.command](args))
    except DistillError as e:
        print(f"distill: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"distill: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("distill: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
