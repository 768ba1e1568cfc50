"""Run a notebook's grid of students, and read the results by the series' one statistical rule.

A notebook builds one `Lab` (the dataset, a pool of transfer images with whatever the copier
knows about them, the training budget), asks it for students setting by setting (`Lab.grid`,
every seed of a setting trained at once by `distill.train.fit_many`), and reads the records with
the helpers below: `values` and `compare` pair records by seed (`distill.stats.paired`),
`choose` picks a setting on validation accuracy averaged over seeds (never test).

A record is the flat dict of `distill.recipes.student_records`: the setting (method, n, family,
size, T, alpha, ...), the seed, and the scores (val/test accuracy and agreement).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch

from .errors import DistillError
from .stats import Comparison, mean_interval, paired
from .train import TrainConfig


@dataclass
class Lab:
    """What every student of one experiment shares.

    `X` is the pool of transfer images; a setting with `n` trains on its first n images (so a
    smaller transfer set is a prefix of a larger one). `y`, `teacher_logits` and `teacher_probs`
    are what the copier knows about the pool's images (rows aligned with `X`); `teacher_val` and
    `teacher_test` (the teacher's logits on the validation and test sets) give the agreement
    scores. `defaults` are settings every call gets unless it names them (family, size, T, ...);
    `tags` are fields added to every record without reaching training (say, the query source).
    """

    ds: object
    X: torch.Tensor
    y: torch.Tensor | None = None
    teacher_logits: torch.Tensor | None = None
    teacher_probs: torch.Tensor | None = None
    teacher_val: torch.Tensor | None = None
    teacher_test: torch.Tensor | None = None
    config: TrainConfig | None = None
    defaults: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    seconds: float = 0.0   # training time of the last `grid`

    def records(self, method: str = "soft", *, seeds: Sequence[int], n: int | None = None, **setting) -> list[dict]:
        """One record per seed for one setting, all seeds trained at once."""
        from .recipes import student_records
        n = len(self.X) if n is None else int(n)
        if not 0 < n <= len(self.X):
            raise DistillError(f"a setting asked for {n} transfer images; the pool holds {len(self.X)}")
        cut = lambda t: None if t is None else t[:n]  # noqa: E731
        setting = {**self.defaults, **setting}
        y, logits, probs = cut(self.y), cut(self.teacher_logits), cut(self.teacher_probs)
        key = (id(self.X), n, method, tuple(sorted((k, _digest(v) if isinstance(v, torch.Tensor) else v)
                                                  for k, v in setting.items())), tuple(seeds), repr(self.config),
               _digest(y, logits, probs), id(self.teacher_val), id(self.teacher_test), id(self.ds))
        if key not in _MEMO:
            _MEMO[key] = (self.X, self.ds, self.teacher_val, self.teacher_test, student_records(
                self.X[:n], method, self.ds, seeds=list(seeds), y=y, teacher_logits=logits, teacher_probs=probs,
                teacher_val=self.teacher_val, teacher_test=self.teacher_test, config=self.config, **setting))
        return [{**r, **self.tags} for r in _MEMO[key][-1]]

    def grid(self, settings: Iterable[dict], seeds: Sequence[int], desc: str = "students") -> list[dict]:
        """Records for every setting (a dict with `method` and any of n, family, size, T, alpha), every seed.

        Prints one line when done: how many students, how many seconds.
        """
        from .train import progress_bar
        settings = [dict(s) for s in settings]
        start, out = time.perf_counter(), []
        with progress_bar(len(settings), desc=desc) as bar:
            for s in settings:
                out += self.records(s.pop("method", "soft"), seeds=seeds, **s)
                bar.update()
        self.seconds = time.perf_counter() - start
        print(f"{desc}: {len(out)} students ({len(settings)} setting{'s' * (len(settings) != 1)} x {len(seeds)} seeds) in {self.seconds:.0f} s")
        return out


# Students already trained in this session, by everything that shapes them: a second Lab asking for
# the same students on identical targets (say, two API defences that leave the top answer alone,
# seen by a copier who keeps only the top answer) gets the same records without training again.
# The entry holds the tensors whose ids are in the key, so an id cannot be reused while it lives.
_MEMO: dict = {}


def _digest(*tensors) -> str:
    import hashlib
    h = hashlib.sha256()
    for t in tensors:
        h.update(b"none" if t is None else repr((t.dtype, tuple(t.shape))).encode() + t.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


# ---- reading records ---------------------------------------------------------------------

def select(records: Iterable[dict], **match) -> list[dict]:
    """The records whose fields equal every `match` (a missing field never matches), by seed."""
    out = [r for r in records if all(k in r and r[k] == v for k, v in match.items())]
    return sorted(out, key=lambda r: r["seed"])


def values(records: Iterable[dict], value: str = "test_accuracy", **match) -> list[float]:
    """`value` of the matching records, ordered by seed (one per seed: a repeated seed is an error)."""
    rows = select(records, **match)
    if not rows:
        raise DistillError(f"no records match {match}")
    seeds = [r["seed"] for r in rows]
    if len(set(seeds)) != len(seeds):
        raise DistillError(f"{match} matches more than one record per seed; name the setting fully")
    return [float(r[value]) for r in rows]


def compare(records: Iterable[dict], a: dict, b: dict, names: tuple[str, str], value: str = "test_accuracy",
            **common) -> Comparison:
    """Setting `a` against setting `b` (each a dict of fields, plus the `common` fields), paired by seed."""
    records = list(records)
    ra, rb = select(records, **common, **a), select(records, **common, **b)
    if [r["seed"] for r in ra] != [r["seed"] for r in rb]:
        raise DistillError(f"{names[0]} and {names[1]} were not trained on the same seeds; "
                           "a paired comparison needs both on every seed")
    c = paired(values(ra, value), values(rb, value), names)
    VERDICTS.append({"key": verdict_key(a, b, value, common), "a": names[0], "b": names[1], "winner": c.winner,
                     "diff": c.diff, "lo": c.lo, "hi": c.hi, "n": c.n})
    return c


# Every comparison made since the last `take_verdicts`, for the notebook to record with its findings
# (`distill.findings.show`): `make bench` re-runs the series on other seeds and counts how many keep
# their verdict (bench/conclusions.py).
VERDICTS: list[dict] = []


def verdict_key(a: dict, b: dict, value: str, common: dict) -> str:
    """What a comparison compares, independent of the seeds and of settings chosen on validation
    (a temperature chosen again on other seeds may differ; the question asked stays the same)."""
    def part(d: dict) -> str:
        return ",".join(f"{k}={d[k]}" for k in sorted(d) if k != "T")
    return f"{value}: [{part(a)}] vs [{part(b)}] at [{part(common)}]"


def take_verdicts() -> list[dict]:
    """The comparisons made since the last call (and forget them)."""
    out = list(VERDICTS)
    VERDICTS.clear()
    return out


def choose(records: Iterable[dict], keys: Sequence[str], select_on: str = "val_accuracy", **match) -> tuple:
    """The setting (values of `keys`) with the highest mean `select_on` over seeds, among matching records.

    Validation accuracy by default: settings are chosen on validation data, test data only reports.
    """
    if select_on.startswith("test"):
        raise DistillError("settings are chosen on validation data; test scores only report")
    groups: dict[tuple, list[float]] = {}
    for r in select(records, **match):
        groups.setdefault(tuple(r[k] for k in keys), []).append(float(r[select_on]))
    if not groups:
        raise DistillError(f"no records match {match} to choose {tuple(keys)} from")
    return max(groups, key=lambda k: sum(groups[k]) / len(groups[k]))


def mean_ci(vals: Sequence[float], scale: float = 100.0, unit: str = "%", bounds: tuple[float, float] | None = (0.0, 1.0)
            ) -> str:
    """"85.1% (95% CI 84.6 to 85.6)": a mean over seeds with its t interval (`distill.stats`).

    The values are shares by default, so the interval is shown within `bounds` (0 to 100%): a t
    interval of a share near 0 or 1 can reach past them, which no share can (`bounds=None` keeps it)."""
    vals = list(vals)
    if len(vals) < 2:
        return f"{vals[0] * scale:.1f}{unit} (1 seed)"
    m, lo, hi = mean_interval(vals)
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return f"{m * scale:.1f}{unit} (95% CI {lo * scale:.1f} to {hi * scale:.1f})"


def mean(vals: Sequence[float]) -> float:
    vals = list(vals)
    if not vals:
        raise DistillError("a mean needs at least one value")
    return sum(vals) / len(vals)
