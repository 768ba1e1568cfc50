"""The teacher behind an API: what a copier sees, what it costs, and what defends it.

A copier who reaches a model only through an API sees its answers, pays per query
and may face defences. `TeacherAPI` wraps a trained model and returns only what the
chosen output format exposes:

| output      | `query(x)` returns                                                    |
|-------------|-----------------------------------------------------------------------|
| `probs`     | (B, K) probability vectors                                            |
| `topk`      | `TopK(classes (B, k) int64, probs (B, k))`: the k likeliest, nothing else |
| `label`     | (B,) int64 top-1 class indices                                        |
| `rounded`   | (B, K) probabilities rounded to `decimals` places                     |
| `logprobs`  | (B, K) log-probabilities                                              |

Defences, applied to the probabilities before formatting (in this order):

- `watermark=f, key=...`: on a secret-keyed fraction f of inputs, answer a wrong class
  (its probability swapped with the top class's). Which inputs and which wrong class
  depend only on the key, the input's bytes and the model's top-1, so the owner can
  recompute them later (`watermark_answers`). After DAWN (Szyller et al. 2021).
- `perturb=b`: mix the probabilities with a copy in which the runner-up classes' ranks
  are reversed (the likeliest wrong class gets the least mass). The top-1 class and its
  probability never change; what a copier learns from the rest is poisoned. In the
  spirit of reverse sigmoid (Lee et al. 2019) and prediction poisoning (Orekondy et al. 2020).
- `noise=s`: add Gaussian noise of standard deviation s to each probability, clip at 0
  and renormalise (may change the top-1 answer: users pay for it).
- The formats `rounded`, `topk` and `label` are themselves the rounding, top-k
  truncation and label-only defences.

`QueryMonitor` is a query-stream detector in the spirit of PRADA (Juuti et al. 2019):
it tests whether the distances from each query to the closest earlier one look
normally distributed (Shapiro-Wilk), as they tend to for natural images.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .errors import DistillError
from .losses import topk_distribution
from .registry import Registry
from .train import predict, teacher_outputs

class BudgetExceeded(DistillError):
    """A query would take the copier past its query budget."""


@dataclass(frozen=True)
class TopK:
    """A top-k answer: `classes` (B, k) int64, likeliest first, and their `probs` (B, k)."""

    classes: torch.Tensor
    probs: torch.Tensor

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, idx) -> "TopK":
        return TopK(self.classes[idx], self.probs[idx])


def _hmac_digests(X: torch.Tensor, key: bytes) -> list[bytes]:
    """HMAC-SHA256 of each input's float32 bytes under `key` (one digest per row)."""
    rows = X.detach().to("cpu", torch.float32).contiguous().reshape(len(X), -1).numpy()
    return [hmac.new(key, row.tobytes(), hashlib.sha256).digest() for row in rows]


def watermark_choice(X: torch.Tensor, key: bytes | str, fraction: float, num_classes: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Which inputs carry the watermark and by how much their answer is shifted.

    Returns `(marked (B,) bool, shift (B,) int64 in 1..K-1)`: a marked input's answer is
    `(top1 + shift) % K`, a class the model did not pick, uniform over the K - 1 others.
    Depends only on the key and the input's bytes: anyone holding the key recomputes it.
    """
    key = key.encode() if isinstance(key, str) else bytes(key)
    digests = _hmac_digests(X, key)
    u = torch.tensor([int.from_bytes(d[:8], "big") / 2**64 for d in digests], dtype=torch.float64)
    shift = torch.tensor([1 + int.from_bytes(d[8:16], "big") % (num_classes - 1) for d in digests],
                         dtype=torch.long)
    return u < fraction, shift


def reverse_runner_ups(p: torch.Tensor) -> torch.Tensor:
    """Reassign the non-top probabilities in reverse rank order, keeping the top one.

    Row [0.6, 0.3, 0.1] becomes [0.6, 0.1, 0.3]: the same multiset of values (so it
    still sums to 1) and the same top-1 class and probability.
    """
    K = p.shape[-1]
    order = p.argsort(dim=-1, descending=True, stable=True)  # (B, K) class ranks, top first
    values = p.gather(-1, order)                              # (B, K) sorted descending
    values = torch.cat([values[:, :1], values[:, 1:].flip(-1)], dim=-1) if K > 2 else values
    return torch.empty_like(p).scatter_(-1, order, values)


# name -> format(api, logits, defended probabilities) -> the answer the copier receives
OUTPUTS = Registry("output format")


@OUTPUTS.register("probs", help="full probability vectors")
def _probs_format(api, logits, p):
    return p


@OUTPUTS.register("topk", help="the top-k classes and their probabilities, nothing else")
def _topk_format(api, logits, p):
    probs, classes = p.topk(api.k, dim=-1)
    return TopK(classes, probs)


@OUTPUTS.register("label", help="the top-1 class index only")
def _label_format(api, logits, p):
    return p.argmax(-1)


@OUTPUTS.register("rounded", help="probabilities rounded to a few decimals")
def _rounded_format(api, logits, p):
    return torch.round(p, decimals=api.decimals)


@OUTPUTS.register("logprobs", help="log-probabilities")
def _logprobs_format(api, logits, p):
    defended = api.noise > 0 or api.perturb > 0
    return torch.log(p.clamp_min(1e-45)) if defended else torch.log_softmax(logits, dim=-1)


class TeacherAPI:
    """A model served through an API: formats, a query budget, defences and a query log.

    >>> api = TeacherAPI(teacher, output="topk", k=3, budget=10_000)
    >>> answer = api.query(X[:100])        # TopK(classes, probs); api.queries_used == 100

    Every image in a call counts as one query. A call that would go past `budget` raises
    `BudgetExceeded` and returns nothing (and counts nothing). With `log=True` the queried
    inputs are kept in `api.log`. Answers are computed from the model's logits (cached on
    disk when `cache=True`, keyed by the weights and the inputs' bytes).
    """

    def __init__(self, model: nn.Module, output: str = "probs", *, k: int = 3, decimals: int = 2,
                 budget: int | None = None, noise: float = 0.0, perturb: float = 0.0,
                 watermark: float = 0.0, key: bytes | str = b"", log: bool = False, seed: int = 0,
                 cache: bool = True):
        OUTPUTS.check(output)
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
            raise DistillError(f"budget must be a non-negative whole number of queries or None, got {budget!r}")
        if not (isinstance(decimals, int) and 0 <= decimals <= 8):
            raise DistillError(f"decimals must be a whole number from 0 to 8, got {decimals!r}")
        if not noise >= 0:
            raise DistillError(f"noise must be a standard deviation >= 0, got {noise}")
        if not 0 <= perturb <= 1:
            raise DistillError(f"perturb must be a mixing weight in [0, 1], got {perturb}")
        if not 0 <= watermark <= 1:
            raise DistillError(f"watermark must be a fraction of inputs in [0, 1], got {watermark}")
        if watermark > 0 and not key:
            raise DistillError("a watermark needs a secret key: pass key='...'")
        self.model, self.output, self.decimals = model, output, decimals
        self.num_classes = self._num_classes(model)
        if output == "topk" and not (isinstance(k, int) and 1 <= k <= self.num_classes):
            raise DistillError(f"k must be a whole number from 1 to {self.num_classes}, got {k!r}")
        self.k, self.budget = k, budget
        self.noise, self.perturb, self.watermark = float(noise), float(perturb), float(watermark)
        self._key = key.encode() if isinstance(key, str) else bytes(key)
        self.cache, self.queries_used = cache, 0
        self.log: list[torch.Tensor] | None = [] if log else None
        self._gen = torch.Generator().manual_seed(seed)

    @staticmethod
    def _num_classes(model: nn.Module) -> int:
        cfg = getattr(model, "config", None)
        if cfg is not None and hasattr(cfg, "num_classes"):
            return int(cfg.num_classes)
        last = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not last:
            raise DistillError("cannot tell how many classes the model has: give it a `config.num_classes`")
        return last[-1].out_features

    def __repr__(self) -> str:
        opts = {"k": self.k} if self.output == "topk" else {"decimals": self.decimals} if self.output == "rounded" else {}
        opts |= {n: getattr(self, n) for n in ("noise", "perturb", "watermark") if getattr(self, n)}
        extra = "".join(f", {n}={v}" for n, v in opts.items())
        return f"TeacherAPI(output={self.output!r}{extra}, queries_used={self.queries_used}, budget={self.budget})"

    @property
    def remaining(self) -> int | None:
        """Queries left in the budget (None: unlimited)."""
        return None if self.budget is None else self.budget - self.queries_used

    def logged_inputs(self) -> torch.Tensor:
        """Every input queried so far, in order, as one (N, C, H, W) tensor."""
        if self.log is None:
            raise DistillError("this API does not keep a query log: create it with log=True")
        if not self.log:
            raise DistillError("the query log is empty: nothing has been queried yet")
        return torch.cat(self.log)

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise DistillError(f"query expects a float tensor of images (B, C, H, W), got {type(x).__name__}"
                               + (f" of {x.dtype}" if isinstance(x, torch.Tensor) else ""))
        if x.ndim != 4:
            raise DistillError(f"query expects a batch of images (B, C, H, W), got shape {tuple(x.shape)}; "
                               f"for one image use x.unsqueeze(0)")
        if len(x) == 0:
            raise DistillError("query got an empty batch: send at least one image")
        cfg = getattr(self.model, "config", None)
        want = (getattr(cfg, "in_channels", None), getattr(cfg, "image_size", None))
        if None not in want and tuple(x.shape[1:]) != (want[0], want[1], want[1]):
            raise DistillError(f"this API answers images of shape ({want[0]}, {want[1]}, {want[1]}), "
                               f"got {tuple(x.shape[1:])}; resize them first")
        if not torch.isfinite(x).all():
            raise DistillError("query inputs contain NaN or infinite values")

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return (teacher_outputs(self.model, x) if self.cache else predict(self.model, x)).float().cpu()

    def _probs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, probabilities) after the watermark, perturbation and noise defences."""
        logits = self._logits(x)
        p = torch.softmax(logits, dim=-1)
        if self.watermark > 0:
            marked, shift = self.watermark_choice(x)
            top = p.argmax(-1)
            wrong = (top + shift) % self.num_classes
            rows = marked.nonzero().squeeze(1)
            for t in (p, logits):  # swap the top class's value with the watermark class's
                a, b = t[rows, top[rows]].clone(), t[rows, wrong[rows]].clone()
                t[rows, top[rows]], t[rows, wrong[rows]] = b, a
        if self.perturb > 0:
            p = (1 - self.perturb) * p + self.perturb * reverse_runner_ups(p)
        if self.noise > 0:
            p = (p + self.noise * torch.randn(p.shape, generator=self._gen)).clamp_min(0)
            p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
        return logits, p

    def query(self, x: torch.Tensor):
        """Answer a batch of images (B, C, H, W) in this API's output format."""
        self._check(x)
        n = len(x)
        if self.budget is not None and self.queries_used + n > self.budget:
            raise BudgetExceeded(f"query of {n} images would exceed the budget of {self.budget} queries "
                                 f"({self.queries_used} used, {self.budget - self.queries_used} left); "
                                 f"nothing was returned")
        logits, p = self._probs(x)
        self.queries_used += n
        if self.log is not None:
            self.log.append(x.detach().cpu().clone())
        return OUTPUTS[self.output](self, logits, p)

    # ---- what the owner can recompute with the key -------------------------------------

    def watermark_choice(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return watermark_choice(x, self._key, self.watermark, self.num_classes)

    def watermark_answers(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(marked (B,) bool, answer (B,) int64): which of `x` got a watermark answer, and
        which class it was. Free: recomputed from the key and the model, not a query."""
        marked, shift = self.watermark_choice(x)
        return marked, (self._logits(x).argmax(-1) + shift) % self.num_classes


# ---- what a copier trains on ------------------------------------------------------------

def as_targets(answer, num_classes: int) -> torch.Tensor:
    """Turn an API answer into training targets for a student.

    Label answers stay (B,) int64 labels. Everything else becomes a (B, K) probability
    distribution: log-probabilities are exponentiated; rounded probabilities are
    renormalised (they need not sum to exactly 1); a top-k answer keeps its k
    probabilities and spreads the remaining mass evenly over the classes it did not
    name (the copier knows nothing about them).
    """
    if isinstance(answer, TopK):
        return topk_distribution(answer.classes, answer.probs.float(), num_classes)
    if not isinstance(answer, torch.Tensor):
        raise DistillError(f"an API answer is a tensor or a TopK, got {type(answer).__name__}")
    if answer.ndim == 1:
        if answer.is_floating_point():
            raise DistillError("a 1-D answer must hold class indices (int64), got floats")
        return answer
    if answer.ndim != 2 or answer.shape[1] != num_classes:
        raise DistillError(f"expected answers of shape (B, {num_classes}), got {tuple(answer.shape)}")
    p = answer.exp() if (answer <= 0).all() and (answer < 0).any() else answer.clamp_min(0)  # logprobs -> probs
    s = p.sum(-1, keepdim=True)
    if (s <= 0).any():
        raise DistillError("an answer row has no probability mass (all rounded to 0?); "
                           "use more decimals or drop those rows")
    return p / s


def copy_method(targets: torch.Tensor) -> str:
    """The training method (`distill.losses.METHODS`) for targets made by `as_targets`."""
    return "labels" if targets.ndim == 1 else "probs"


def target_fields(targets: torch.Tensor) -> dict:
    """What a copier learns from, named as `distill.experiment.Lab` and the recipes take it:
    `{"y": labels}` for label answers, `{"teacher_probs": probabilities}` otherwise."""
    return {"y": targets} if copy_method(targets) == "labels" else {"teacher_probs": targets}


def copy_record(X: torch.Tensor, targets: torch.Tensor, ds, **kwargs) -> dict:
    """Train a copy on the API's answers (targets from `as_targets`) and score it:
    `distill.recipes.student_record` with the method the targets call for."""
    from .recipes import student_record
    return student_record(X, copy_method(targets), ds, **target_fields(targets), **kwargs)


def query_pool(name: str, ds, n: int, seed: int = 0) -> torch.Tensor:
    """`n` query images from a transfer-set source (`distill.data.TRANSFER_SETS`).

    The `train` source (unlabelled in-distribution images) holds the 55,000 images of the
    training split; a larger pool continues with their mirror images, which are just as
    natural (the teacher saw mirrored clothes in training).
    """
    from .data import make_transfer_set, source_size
    cap = source_size(name, ds)
    if name == "train" and n > cap:
        X = make_transfer_set(name, ds, cap, seed=seed).X
        if n > 2 * cap:
            raise DistillError(f"the train pool holds at most {2 * cap} images (with mirrors), {n} were asked for")
        return torch.cat([X, X[:n - cap].flip(-1)])
    return make_transfer_set(name, ds, n, seed=seed).X


# ---- ownership test and query monitoring ------------------------------------------------

def split_streams(X: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Queries `X` cut, in the order sent, into accounts of `size` queries each (a remainder
    shorter than `size` is dropped): a copier spreading one stream over many accounts."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DistillError(f"an account sends a whole number >= 1 of queries, got {size!r}")
    if len(X) < size:
        raise DistillError(f"{len(X)} queries do not fill one account of {size}")
    return list(X[: len(X) // size * size].split(size))


def client_streams(source: str, ds, k: int, size: int, first_seed: int = 0) -> list[torch.Tensor]:
    """`k` query streams of `size` images each, as one client would send them: random draws from
    the validation or test split (honest users), or a transfer-set source (a copier), stream i
    drawn with seed `first_seed + i`."""
    if source in ("validation", "test"):
        X = ds.X_val if source == "validation" else ds.X_test
        if size > len(X):
            raise DistillError(f"a stream of {size} images is longer than the {source} split ({len(X)})")
        return [X[torch.randperm(len(X), generator=torch.Generator().manual_seed(first_seed + i))[:size]]
                for i in range(k)]
    from .data import make_transfer_set
    return [make_transfer_set(source, ds, size, seed=first_seed + i).X for i in range(k)]


def watermark_test(suspect_pred: torch.Tensor, watermark_labels: torch.Tensor, num_classes: int) -> dict:
    """Does a suspect model reproduce the watermark answers more often than chance?

    `suspect_pred`: its logits (N, K) or labels (N,) on the N watermarked inputs;
    `watermark_labels`: the wrong answers the API gave on them. Under the null hypothesis
    (a model trained without these answers), each watermark class is uniform over the K - 1
    classes the teacher did not pick and independent of the model, so a match has
    probability at most 1 / (K - 1). The p-value is the one-sided binomial tail at that
    bound (conservative: a model that errs less than always matches less often).
    """
    from scipy.stats import binomtest
    pred = suspect_pred.argmax(-1) if suspect_pred.ndim == 2 else suspect_pred
    n = len(watermark_labels)
    if n == 0:
        raise DistillError("no watermarked inputs to test: query more, or raise the watermark fraction")
    matches = int((pred.cpu() == watermark_labels.cpu()).sum())
    p0 = 1 / (num_classes - 1)
    return {"n": n, "matches": matches, "match_rate": matches / n, "chance_bound": p0,
            "p_value": binomtest(matches, n, p0, alternative="greater").pvalue}


def min_distances(X: torch.Tensor) -> torch.Tensor:
    """For each query after the first, the L2 distance to the closest earlier query: (N-1,)."""
    flat = X.reshape(len(X), -1).double()
    d = torch.cdist(flat, flat)  # (N, N)
    d = d.masked_fill(torch.ones_like(d, dtype=torch.bool).triu(), math.inf)  # keep j < i only
    return d[1:].min(dim=1).values


class QueryMonitor:
    """Flag a client whose stream of queries does not look like legitimate traffic.

    Both tests look at the distances from each query in a client's stream to the closest
    earlier one (`min_distances`), as PRADA (Juuti et al. 2019) does:

    - `test="normality"` (PRADA's own): natural queries give a roughly normal set of
      distances; the score is 1 - W, Shapiro-Wilk's statistic (0 = perfectly normal).
    - `test="reference"`: how far the stream's distances are from those of legitimate
      traffic, as the two-sample Kolmogorov-Smirnov distance (0 = same distribution).

    A stream is flagged when its score exceeds `threshold`. `calibrate` sets the threshold
    (and, for `reference`, the reference distances) on legitimate streams, so that about
    `false_positive_rate` of them are flagged; report rates on other streams. Streams must
    have the same length as the calibration streams (distances shrink as a stream grows).

    Simplification: PRADA keeps one growing set per predicted class; this compares each
    query with all earlier ones.
    """

    TESTS = ("normality", "reference")

    def __init__(self, test: str = "normality", threshold: float = 0.1, reference: torch.Tensor | None = None):
        if test not in self.TESTS:
            raise DistillError(f"unknown test {test!r}; choose one of {', '.join(self.TESTS)}")
        if not 0 <= threshold <= 1:
            raise DistillError(f"threshold is a score in [0, 1], got {threshold}")
        if test == "reference" and (reference is None or len(reference) < 2):
            raise DistillError("the reference test needs distances from legitimate traffic: use QueryMonitor.calibrate")
        self.test, self.threshold, self.reference = test, threshold, reference

    def score(self, X: torch.Tensor) -> float:
        """How unlike legitimate traffic the stream `X` (N, C, H, W) looks: 0 = alike."""
        from scipy.stats import ks_2samp, shapiro
        if len(X) < 4:
            raise DistillError(f"a stream needs at least 4 queries to test, got {len(X)}")
        d = min_distances(X).numpy()
        if self.test == "reference":
            return float(ks_2samp(d, self.reference.numpy()).statistic)
        if d.std() == 0:
            return 1.0  # all distances equal (e.g. repeated queries): as far from natural as it gets
        return 1.0 - float(shapiro(d).statistic)

    def flags(self, X: torch.Tensor) -> bool:
        return self.score(X) > self.threshold

    def flag_rate(self, streams: list[torch.Tensor]) -> float:
        """The share of `streams` this monitor flags."""
        if not streams:
            raise DistillError("flag_rate needs at least one stream")
        return sum(self.flags(s) for s in streams) / len(streams)

    @classmethod
    def calibrate(cls, streams: list[torch.Tensor], test: str = "normality",
                  false_positive_rate: float = 0.05) -> "QueryMonitor":
        """A monitor that flags about `false_positive_rate` of these legitimate streams."""
        if not streams:
            raise DistillError("calibrate needs at least one legitimate stream")
        if not 0 <= false_positive_rate < 1:
            raise DistillError(f"false_positive_rate must be in [0, 1), got {false_positive_rate}")
        reference = torch.cat([min_distances(s) for s in streams]) if test == "reference" else None
        monitor = cls(test, 0.0, reference)
        scores = torch.tensor([monitor.score(s) for s in streams], dtype=torch.float64)
        monitor.threshold = float(torch.quantile(scores, 1 - false_positive_rate))
        return monitor
