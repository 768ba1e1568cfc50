"""What a model cost to build, and what a copy cost: compute, time, labels and queries.

Training compute is counted the usual way: a forward pass costs the FLOPs of its convolutions and
linear layers (`distill.models.flops_per_example`, a multiply-add = 2 FLOPs), and a training step
about three forward passes (forward, and a backward pass about twice the forward), so

    training FLOPs = 3 x forward FLOPs per example x examples seen (steps x batch size).

Answering queries costs the model's owner one forward pass of the teacher per query. Labels are
true labels a builder had to own; a copier through an API owns none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import DistillError

TRAIN_PASSES = 3  # forward + backward (about twice the forward) per example seen


@dataclass(frozen=True)
class Cost:
    what: str
    train_flops: float          # compute to train it
    examples_seen: int          # steps x batch size
    labels: int = 0             # true labels it needed
    queries: int = 0            # teacher answers it bought
    owner_flops: float = 0.0    # the teacher's compute to answer those queries
    seconds: float | None = None  # training time on the machine that ran it

    def share_of(self, other: "Cost") -> float:
        """This cost's training compute as a share of `other`'s."""
        if other.train_flops <= 0:
            raise DistillError(f"{other.what} has no training compute to compare with")
        return self.train_flops / other.train_flops


def training_flops(forward_flops: float, examples_seen: int) -> float:
    if forward_flops < 0 or examples_seen < 0:
        raise DistillError("FLOPs and examples must be >= 0")
    return TRAIN_PASSES * forward_flops * examples_seen


def teacher_cost(manifest: dict, n_train: int) -> Cost:
    """The committed teacher's cost, from its manifest: FLOPs per example, epochs over `n_train`
    labelled images, and its training time."""
    try:
        epochs = int(manifest["train_config"]["epochs"])
        flops = float(manifest["flops_per_example"])
    except (KeyError, TypeError, ValueError):
        raise DistillError("the teacher's manifest lacks train_config.epochs or flops_per_example; "
                           "retrain it with `make teacher`") from None
    seen = epochs * n_train
    return Cost("teacher", training_flops(flops, seen), seen, labels=n_train, seconds=manifest.get("train_seconds"))


def copy_cost(what: str, copy_flops: float, steps: int, batch_size: int, queries: int, teacher_flops: float,
              seconds: float | None = None, labels: int = 0) -> Cost:
    """A copy trained for `steps` of `batch_size` on `queries` answers of a teacher whose forward
    pass costs `teacher_flops` per example."""
    seen = steps * batch_size
    return Cost(what, training_flops(copy_flops, seen), seen, labels=labels, queries=queries,
                owner_flops=queries * teacher_flops, seconds=seconds)


def ledger_line(copy: Cost, teacher: Cost, kept: float) -> str:
    """"a copy keeping 90% of the teacher's accuracy cost 0.35% of its training compute, 1,000 queries
    and no labels" -- one line for the brief."""
    labels = "no labels" if copy.labels == 0 else f"{copy.labels:,} labels"
    return (f"a copy keeping {100 * kept:.0f}% of the teacher's accuracy cost {100 * copy.share_of(teacher):.2g}% of the "
            f"teacher's training compute, {copy.queries:,} queries and {labels} (the teacher: {teacher.labels:,} labels)")


# The sub-bullets `distill.findings.copy_costs` writes, one per copier kind:
#   "  - mlp (128), probs: <ledger_line>; answering its queries cost the owner 0.18% of the teacher's training compute"
#   "  - jacobian, label: no budget tried kept 90%"
_ROW = re.compile(
    r"^\s*- (?P<label>.+?): a copy keeping (?P<kept>\d+)% of the teacher's accuracy cost (?P<compute>[\d.e+-]+)% of the "
    r"teacher's training compute, (?P<queries>[\d,]+) queries and (?P<labels>no|[\d,]+) labels \(the teacher: "
    r"(?P<teacher_labels>[\d,]+) labels\); answering its queries cost the owner (?P<owner>[\d.]+)% of the teacher's "
    r"training compute$")
_MISSED = re.compile(r"^\s*- (?P<label>.+?): no budget tried kept (?P<share>\d+)%$")


def read_row(line: str) -> dict | None:
    """One ledger sub-bullet read back into numbers (the inverse of what `findings.copy_costs` writes):
    {"label", "reached": True, "kept", "compute", "queries", "labels", "owner"} (kept and the two
    compute shares in %), {"label", "reached": False, "share"}, or None for any other line."""
    m = _ROW.match(line)
    if m:
        return {"label": m["label"], "reached": True, "kept": int(m["kept"]), "compute": float(m["compute"]),
                "queries": int(m["queries"].replace(",", "")),
                "labels": 0 if m["labels"] == "no" else int(m["labels"].replace(",", "")),
                "owner": float(m["owner"])}
    m = _MISSED.match(line)
    if m:
        return {"label": m["label"], "reached": False, "share": int(m["share"])}
    return None
