"""How a copier chooses its queries: query strategies that see the teacher only through an API.

Every strategy talks to a `distill.api.TeacherAPI` and nothing else: the API enforces the budget,
counts every query and applies its output format and defences. A strategy returns `Queries`:
every input it sent, in order, with the training targets made from the answers
(`distill.api.as_targets`). The copy is then trained on them by the series' usual recipe, so
strategies are compared on what they asked, not on how their copies were trained.

    api = TeacherAPI(teacher, "probs", budget=6400, cache=False)
    q = collect("jacobian", api, 6400, ds, seed=0)
    X, targets = q.prefix(1600)        # the queries of the same run with a budget of 1,600
    runs = collect_seeds("active", teacher, 6400, ds, seeds=[0, 1, 2], answers={"output": "label"})

Strategies (`STRATEGIES`):

- `random`: a fixed draw from a named source (`distill.data.TRANSFER_SETS`), as notebooks 04 and 06;
- `jacobian` (Papernot et al. 2017, "Practical black-box attacks against machine learning"):
  start from a small seed set; each round, train a copy on everything asked so far and add, for
  every input, a step along the sign of the copy's gradient for the class the API gave it;
- `active` (uncertainty sampling, as in ActiveThief, Pal et al. 2020): from an unlabelled pool,
  each round ask about the images the current copy is least sure of (highest entropy);
- `generator` (data-free, DFME: Truong et al. 2021; MAZE: Kariyappa et al. 2021): no images at
  all; a generator learns to make inputs where copy and teacher disagree, its gradient estimated
  from the API's answers alone by forward differences along random directions (zeroth order).

Rounds double (100, then 100, 200, 400, ... more queries), and every choice a round makes
depends only on earlier rounds, so the first n queries of a run with a larger budget are exactly
the queries of a run with budget n when n is a round boundary (`Queries.rounds`); notebooks run
each strategy once with the largest budget and read smaller budgets as prefixes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn

from .api import TeacherAPI, as_targets, copy_method, query_pool, target_fields
from .errors import DistillError
from .registry import Registry

STRATEGIES = Registry("query strategy")


@dataclass
class Queries:
    """What a strategy asked and what it learnt: inputs `X` (n, C, H, W) in the order sent and
    `targets` (labels (n,) or probabilities (n, K)) from the answers; `rounds` are the cumulative
    query counts at which a run with that budget would have stopped."""
    strategy: str
    start: str
    X: torch.Tensor
    targets: torch.Tensor
    rounds: list[int]
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def prefix(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `n` queries and their targets (a run with budget `n` when `n` is in `rounds`)."""
        if not 1 <= n <= len(self.X):
            raise DistillError(f"this {self.strategy} run sent {len(self.X)} queries; cannot take the first {n}")
        return self.X[:n], self.targets[:n]


def schedule(budget: int, first: int = 100) -> list[int]:
    """Cumulative query counts at the end of each round: `first`, then doubling, the last round
    cut to the budget: schedule(1000) == [100, 200, 400, 800, 1000]."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise DistillError(f"a query budget is a whole number >= 1, got {budget!r}")
    if isinstance(first, bool) or not isinstance(first, int) or first < 1:
        raise DistillError(f"the first round is a whole number of queries >= 1, got {first!r}")
    ends = [min(first, budget)]
    while ends[-1] < budget:
        ends.append(min(2 * ends[-1], budget))
    return ends


def collect(strategy: str, api: TeacherAPI, budget: int, ds, *, seed: int = 0, **options) -> Queries:
    """Run query `strategy` (`STRATEGIES`) against `api` for `budget` queries.

    `options` go to the strategy (see each one's docstring): e.g. `source` for `random`,
    `copier=("mlp", 128)` and `steps` for the copy trained between rounds.
    """
    run = STRATEGIES[strategy]
    schedule(budget)
    if not isinstance(api, TeacherAPI):
        raise DistillError(f"a strategy queries a TeacherAPI, got {type(api).__name__}")
    if api.remaining is not None and api.remaining < budget:
        raise DistillError(f"the API has {api.remaining} queries left, fewer than the budget of {budget}")
    used, start, cache = api.queries_used, time.perf_counter(), api.cache
    api.cache = cache and strategy == "random"  # adaptive inputs are never asked twice: no disk cache for them
    try:
        queries = run(api, budget, ds, seed=seed, **options)
    finally:
        api.cache = cache
    queries.seconds = time.perf_counter() - start
    if api.queries_used - used != len(queries.X) or len(queries.X) != budget:
        raise DistillError(f"strategy {strategy!r} sent {api.queries_used - used} queries, kept {len(queries.X)}, "
                           f"budget {budget}: a strategy must spend its budget exactly")
    return queries


def collect_seeds(strategy: str, teacher: nn.Module, budget: int, ds, seeds: Sequence[int], *,
                  answers: dict | None = None, **options) -> list[Queries]:
    """One `collect` per seed, each against its own fresh `TeacherAPI(teacher, **answers, budget=budget,
    seed=seed)`: `answers` holds the API's output format and defences (e.g. `{"output": "label"}`,
    `{"output": "probs", "noise": 0.1}`; default probabilities), `options` go to the strategy.
    Run i is seed `seeds[i]`'s, ready for `copy_records(runs, seeds, ...)`."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise DistillError("collect_seeds needs at least one seed (got none)")
    if answers is not None and not isinstance(answers, dict):
        raise DistillError(f"answers are the TeacherAPI's settings as a dict, e.g. {{'output': 'label'}}; "
                           f"got {type(answers).__name__}")
    answers = dict(answers or {})
    clash = sorted({"budget", "seed"} & set(answers))
    if clash:
        raise DistillError(f"answers cannot set {', '.join(clash)}: collect_seeds gives every API the budget and "
                           f"its run's seed")
    runs = []
    for s in seeds:
        try:
            server = TeacherAPI(teacher, **answers, budget=budget, seed=s)
        except TypeError as e:
            raise DistillError(f"answers has a setting TeacherAPI does not take ({e}); use output, k, decimals, "
                               f"noise, perturb, watermark, key or cache") from None
        runs.append(collect(strategy, server, budget, ds, seed=s, **options))
    return runs


def _ask(api: TeacherAPI, X: torch.Tensor, num_classes: int) -> torch.Tensor:
    return as_targets(api.query(X), num_classes)


def _pixel_range(ds) -> tuple[float, float]:
    """The normalised values of pixel 0 and pixel 1: where valid images live."""
    return (0.0 - ds.mean) / ds.std, (1.0 - ds.mean) / ds.std


def round_copy(X: torch.Tensor, targets: torch.Tensor, ds, *, copier: tuple[str, int], steps: int,
               seed: int) -> nn.Module:
    """The copy a strategy trains between rounds: `copier = (family, size)`, `steps` Adam steps on
    everything asked so far, at temperature 1 (the recipe of `distill.recipes.train_student`)."""
    from .recipes import STUDENT_TRAIN, train_student
    family, size = copier
    config = dataclasses.replace(STUDENT_TRAIN, steps=steps)
    model, _ = train_student(X, copy_method(targets), seed=seed, family=family, size=size, T=1.0,
                             num_classes=ds.num_classes, config=config, **target_fields(targets))
    return model


def _top_class(targets: torch.Tensor) -> torch.Tensor:
    return targets if targets.ndim == 1 else targets.argmax(1)


# ---- random: a fixed draw from a named source ------------------------------------------------

@STRATEGIES.register("random", help="a fixed draw from a named source of images (notebooks 04 and 06)")
def random_queries(api: TeacherAPI, budget: int, ds, *, seed: int = 0, source: str = "train",
                   **unused) -> Queries:
    """`budget` images from transfer source `source` (`distill.data.TRANSFER_SETS`), asked at once."""
    _no_options("random", unused, allowed=("copier", "steps"))
    X = query_pool(source, ds, budget, seed=seed)
    from .data import TRANSFER_SETS
    return Queries("random", TRANSFER_SETS.help[source], X, _ask(api, X, ds.num_classes), [budget],
                   info={"source": source})


def _no_options(name: str, unused: dict, allowed: tuple[str, ...] = ()) -> None:
    extra = sorted(set(unused) - set(allowed))
    if extra:
        raise DistillError(f"strategy {name!r} does not take {', '.join(extra)}")


# ---- jacobian: Papernot et al.'s Jacobian-based dataset augmentation -------------------------

def jacobian_step(model: nn.Module, X: torch.Tensor, classes: torch.Tensor, step: float) -> torch.Tensor:
    """`X + step * sign(d model(X)[class] / dX)`: each input moved along the sign of the gradient of
    the copy's logit for the class the API gave it (Papernot et al. 2017, Algorithm 1)."""
    model.eval()
    x = X.detach().clone().requires_grad_(True)
    logit = model(x).gather(1, classes.view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(logit, x)
    return (X + step * grad.sign()).detach()


@STRATEGIES.register("jacobian", help="a small seed set grown by Jacobian-based augmentation (Papernot et al. 2017)")
def jacobian_queries(api: TeacherAPI, budget: int, ds, *, seed: int = 0, seed_images: int = 100,
                     lam: float = 0.1, tau: int = 3, copier: tuple[str, int] = ("mlp", 128), steps: int = 200,
                     source: str = "train", **unused) -> Queries:
    """Start from `seed_images` unlabelled images of `source`; each round trains a copy on all
    answers so far and asks about one new input per earlier one: the earlier input moved by
    `lam` (in pixel units, 0-1) along the sign of the copy's gradient for the API's top class.
    The step's sign flips every `tau` rounds (Papernot et al.'s periodic step size), and inputs
    are clipped to valid pixels."""
    _no_options("jacobian", unused)
    ends = schedule(budget, seed_images)
    lo, hi = _pixel_range(ds)
    X = query_pool(source, ds, ends[0], seed=seed)
    parts_X, parts_t = [X], [_ask(api, X, ds.num_classes)]
    for r, end in enumerate(ends[1:]):
        S, T = torch.cat(parts_X), torch.cat(parts_t)
        model = round_copy(S, T, ds, copier=copier, steps=steps, seed=seed + 1000 * r)
        sign = -1.0 if (r // tau) % 2 else 1.0
        take = end - len(S)
        new = jacobian_step(model, S[:take], _top_class(T[:take]), sign * lam / ds.std).clamp(lo, hi)
        parts_X.append(new)
        parts_t.append(_ask(api, new, ds.num_classes))
    return Queries("jacobian", f"{seed_images} unlabelled images ({source})", torch.cat(parts_X),
                   torch.cat(parts_t), ends, info={"lam": lam, "tau": tau, "steps": steps})


# ---- active: uncertainty sampling from an unlabelled pool -------------------------------------

def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of softmax(logits), row by row."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


@STRATEGIES.register("active", help="each round, the pool images the current copy is least sure of (ActiveThief-style)")
def active_queries(api: TeacherAPI, budget: int, ds, *, seed: int = 0, pool: str = "train", pool_size: int = 20000,
                   first: int = 100, copier: tuple[str, int] = ("mlp", 128), steps: int = 200,
                   **unused) -> Queries:
    """From `pool_size` unlabelled images of `pool`: `first` at random, then each round the copy
    (trained on all answers so far) scores every image not yet asked by the entropy of its
    prediction, and the API is asked about the most uncertain ones."""
    from .train import predict
    _no_options("active", unused)
    ends = schedule(budget, first)
    if pool_size < budget:
        raise DistillError(f"the pool ({pool_size} images) is smaller than the budget ({budget}): raise pool_size")
    P = query_pool(pool, ds, pool_size, seed=seed)
    asked = torch.zeros(len(P), dtype=torch.bool)
    chosen = torch.arange(ends[0])
    asked[chosen] = True
    parts_X, parts_t = [P[chosen]], [_ask(api, P[chosen], ds.num_classes)]
    for r, end in enumerate(ends[1:]):
        S, T = torch.cat(parts_X), torch.cat(parts_t)
        model = round_copy(S, T, ds, copier=copier, steps=steps, seed=seed + 1000 * r)
        score = entropy(predict(model, P))
        score[asked] = -math.inf
        chosen = score.topk(end - len(S)).indices
        asked[chosen] = True
        parts_X.append(P[chosen])
        parts_t.append(_ask(api, P[chosen], ds.num_classes))
    return Queries("active", f"an unlabelled pool of {pool_size:,} images ({pool})", torch.cat(parts_X),
                   torch.cat(parts_t), ends, info={"pool": pool, "pool_size": pool_size, "steps": steps})


# ---- generator: data-free extraction with zeroth-order gradients ------------------------------

class Generator(nn.Module):
    """Noise (B, z_dim) -> images (B, C, H, W) in pixel units [0, 1] (DFME's generator, scaled down)."""

    def __init__(self, z_dim: int = 32, channels: int = 1, size: int = 28, width: int = 32):
        super().__init__()
        if size % 4:
            raise DistillError(f"the generator makes images whose side is a multiple of 4, got {size}")
        self.z_dim, self.s = z_dim, size // 4
        self.fc = nn.Linear(z_dim, width * self.s * self.s)
        self.net = nn.Sequential(
            nn.BatchNorm2d(width), nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width), nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2),
            nn.Conv2d(width, channels, 3, padding=1), nn.BatchNorm2d(channels, affine=False))
        self.width = width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), self.width, self.s, self.s)
        return torch.sigmoid(self.net(h))


def pseudo_logits(targets: torch.Tensor) -> torch.Tensor:
    """Logits recovered from probabilities up to a constant (log p, centred per row), as DFME does."""
    logp = targets.clamp_min(1e-6).log()
    return logp - logp.mean(-1, keepdim=True)


def disagreement(copy_logits: torch.Tensor, teacher_targets: torch.Tensor) -> torch.Tensor:
    """Per-input L1 distance between the copy's centred logits and the teacher's recovered ones (DFME's loss)."""
    c = copy_logits - copy_logits.mean(-1, keepdim=True)
    return (c - pseudo_logits(teacher_targets)).abs().sum(-1)


def forward_difference_gradient(loss_of, x: torch.Tensor, directions: int, eps: float,
                                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Zeroth-order estimate of d loss_of(x)_i / d x_i for each row i, from `directions` random unit
    directions u: (d / m) sum_u [(loss(x + eps u) - loss(x)) / eps] u (DFME, Truong et al. 2021).

    `loss_of` maps a batch (B, ...) to per-row losses (B,); it is called once on all points
    (x and its `directions` neighbours), which is one API call. Returns (estimate, loss at x)."""
    B, d = len(x), x[0].numel()
    u = torch.randn((directions, *x.shape), generator=gen)
    u = u / u.flatten(2).norm(dim=-1).view(directions, B, *([1] * (x.ndim - 1)))
    losses = loss_of(torch.cat([x, (x.unsqueeze(0) + eps * u).flatten(0, 1)]))
    base, moved = losses[:B], losses[B:].view(directions, B)
    slope = (moved - base) / eps                                            # (m, B)
    grad = d / directions * (slope.view(directions, B, *([1] * (x.ndim - 1))) * u).sum(0)
    return grad, base


@STRATEGIES.register("generator", help="data-free: a generator trained to find copy-teacher disagreement "
                                       "from the API's answers alone (DFME-style, zeroth order)")
def generator_queries(api: TeacherAPI, budget: int, ds, *, seed: int = 0, batch: int = 50, directions: int = 1,
                      eps: float = 1e-3, copy_steps: int = 6, gen_lr: float = 1e-3, copy_lr: float = 1e-3,
                      copier: tuple[str, int] = ("mlp", 128), **unused) -> Queries:
    """No images: each iteration (i) asks about a batch of generated images and `directions`
    nearby points each, estimates how the copy-teacher disagreement changes with the image, and
    moves the generator to increase it; (ii) `copy_steps` times, asks about a fresh generated
    batch and takes one step of the copy towards the answers. Needs answers with scores (not
    label-only): the gradient estimate is built from differences between answers.

    One iteration asks `batch * (1 + directions + copy_steps)` queries (400 by default, so budgets
    that are multiples of 400 end on an iteration: `Queries.rounds`)."""
    from .models import make_copier
    _no_options("generator", unused)
    if api.output == "label":
        raise DistillError("the generator strategy needs scores to estimate gradients; with label-only answers "
                           "use random, jacobian or active")
    per_iter = batch * (1 + directions) + copy_steps * batch
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G = Generator(channels=ds.input_shape[0], size=ds.input_shape[-1])
    family, size = copier
    copy = make_copier(family, size, input_shape=ds.input_shape, num_classes=ds.num_classes, seed=seed)
    opt_g = torch.optim.Adam(G.parameters(), lr=gen_lr)
    opt_c = torch.optim.Adam(copy.parameters(), lr=copy_lr)
    parts_X, parts_t, ends = [], [], []
    K, sent = ds.num_classes, 0

    def to_input(pixels):
        return (pixels - ds.mean) / ds.std

    def ask(x):
        nonlocal sent
        t = _ask(api, x, K)
        parts_X.append(x.detach())
        parts_t.append(t)
        sent += len(x)
        return t

    while sent < budget:
        left = budget - sent
        if left >= per_iter:
            G.train()
            x = to_input(G(torch.randn(batch, G.z_dim, generator=gen)))
            with torch.no_grad():
                grad, _ = forward_difference_gradient(
                    lambda pts: disagreement(copy(pts), ask(pts)), x.detach(), directions, eps * (1 / ds.std), gen)
            opt_g.zero_grad(set_to_none=True)
            x.backward(-grad / batch)          # ascend the disagreement
            opt_g.step()
            n_copy = copy_steps
        else:                                  # the last, partial iteration: copy steps only
            n_copy = math.ceil(left / batch)
        for j in range(n_copy):
            G.eval()
            with torch.no_grad():
                x = to_input(G(torch.randn(min(batch, budget - sent), G.z_dim, generator=gen)))
            t = ask(x)
            copy.train()
            loss = disagreement(copy(x), t).mean() if t.ndim == 2 else nn.functional.cross_entropy(copy(x), t)
            opt_c.zero_grad(set_to_none=True)
            loss.backward()
            opt_c.step()
            if sent >= budget:
                break
        ends.append(sent)
    return Queries("generator", "no images at all", torch.cat(parts_X), torch.cat(parts_t), ends,
                   info={"batch": batch, "directions": directions, "copy_steps": copy_steps})


# ---- the copies: every strategy's queries, trained by one recipe --------------------------------

def copy_records(runs: list[Queries], seeds: list[int], ds, budgets: list[int], *, family: str = "mlp",
                 size: int | None = None, T: float | dict = 1.0, config=None, teacher_val=None, teacher_test=None,
                 **tags) -> list[dict]:
    """Train one copy per seed on the first n queries of that seed's run, for each n in `budgets`,
    all seeds at once (`distill.train.fit_many`, each seed its own queries), and score them
    (`distill.recipes.scored`). `runs[i]` is seed `seeds[i]`'s run. `T` is the temperature for
    probability answers (a number, or {budget: T}); label answers use cross-entropy. Records carry
    `n`, `method`, `family`, `size`, `seed`, `T` (probability answers) and `tags`."""
    from .losses import objective
    from .models import make_copier
    from .recipes import STUDENT_TRAIN, scored
    from .train import fit_many
    if len(runs) != len(seeds) or not runs:
        raise DistillError(f"copy_records needs one run per seed: {len(runs)} runs, {len(seeds)} seeds")
    config = config or STUDENT_TRAIN
    records = []
    for n in budgets:
        parts = [q.prefix(n) for q in runs]
        targets = torch.stack([t for _, t in parts])
        method = copy_method(parts[0][1])
        if isinstance(T, dict) and n not in T:
            raise DistillError(f"no temperature given for budget {n}: T has {sorted(T)}")
        t_n = T[n] if isinstance(T, dict) else T
        loss_fn, _ = objective(method, t_n)
        students = [make_copier(family, size, input_shape=ds.input_shape, num_classes=ds.num_classes, seed=s)
                    for s in seeds]
        histories = fit_many(students, [x for x, _ in parts], (targets,), loss_fn,
                             dataclasses.replace(config, seed=seeds[0]), seeds, per_model=True)
        base = {"method": method, "n": n, "family": family, "size": size, **({"T": t_n} if method == "probs" else {}),
                **tags}
        records += [scored(m, h, ds, {**base, "seed": s}, teacher_val, teacher_test)
                    for m, h, s in zip(students, histories, seeds)]
    return records
