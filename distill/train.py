"""One plain training loop, plus batched inference and cached teacher outputs.

Nothing in `fit` knows about distillation (the same remark minGPT makes of its
trainer): it takes a model, input tensors `X`, a tuple of per-example target
tensors, and a `loss_fn(logits, *targets)`. Passing `(y,)` with `label_loss`
trains on labels; passing `(teacher_logits,)` with `kd_loss` distils.

Batches are sliced from tensors already on the device -- no DataLoader, no
per-example Python -- so a small MLP student trains in about a second per epoch
of Fashion-MNIST on a CPU.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from . import settings
from .checkpoints import cached_tensors, tensor_digest, state_digest
from .errors import DistillError
from .models import evaluating


ADAPT_EVERY = 200  # steps between looks at the machine's load (distill.settings.adapt_threads)


def pick_device(device: str = "auto") -> torch.device:
    """'auto' picks cuda, then Apple's mps, then cpu."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise DistillError(f"unknown device {device!r}; use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DistillError("device cuda asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DistillError("device mps asked for, but this PyTorch has no Apple GPU support; use --device cpu or auto")
    return dev


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU) in one call."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainConfig:
    epochs: int = 10
    steps: int | None = None         # if set: exactly this many gradient steps, whatever the data size
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"          # "adam" (AdamW) or "sgd" (Nesterov momentum 0.9)
    schedule: str = "onecycle"       # "onecycle", "cosine" or "constant"
    seed: int = 0                    # shuffling order (model init is seeded where the model is built)
    device: str = "auto"
    # one fused AdamW kernel instead of a loop of small ops: about 8 % faster per step for the tiny
    # language models (bench/), equal to about 1e-7. Off by default so the committed image-model
    # results re-run bit for bit; the language-model notebook (08) uses it.
    fused: bool = False
    progress: bool = True            # a tqdm bar over batches
    desc: str = "train"


@dataclass
class History:
    """What happened during `fit`: one entry per epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    config: dict = field(default_factory=dict)  # the TrainConfig actually used, for manifests


def _make_optimizer(params: list[torch.Tensor], cfg: TrainConfig, total_steps: int):
    if cfg.optimizer == "adam":
        fused = cfg.fused and params[0].device.type in ("cpu", "cuda")
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True,
                              weight_decay=cfg.weight_decay)
    else:
        raise DistillError(f"unknown optimizer {cfg.optimizer!r}; use adam or sgd")
    if cfg.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total_steps)
    elif cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    elif cfg.schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    else:
        raise DistillError(f"unknown schedule {cfg.schedule!r}; use onecycle, cosine or constant")
    return opt, sched


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A tqdm bar where someone watches: in a notebook or on a terminal, never in a log or CI.
    (With a bar allowed, tqdm's own default applies, so TQDM_DISABLE=1 still silences it.)"""
    import sys
    watched = "ipykernel" in sys.modules or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(total=total, desc=desc, leave=False, **({} if enabled and watched else {"disable": True}))


def rows_of(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """`t[idx]` for an index tensor of any shape, as one `index_select` on the rows (about 5x faster
    than advanced indexing for a batch of images on a CPU): (n, ...) and (*I,) -> (*I, ...)."""
    return t.reshape(len(t), -1).index_select(0, idx.reshape(-1)).reshape(*idx.shape, *t.shape[1:])


def _check_run(cfg: TrainConfig, X: torch.Tensor, target_rows: list[int]) -> int:
    """Check a training run's settings and data before any work; return its number of steps."""
    if cfg.epochs < 1 or cfg.batch_size < 1 or not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise DistillError(f"epochs, batch_size and lr must be positive (lr finite), got {cfg.epochs}, "
                           f"{cfg.batch_size}, {cfg.lr}")
    if len(X) == 0:
        raise DistillError("the training set is empty: give at least one example")
    if any(rows != len(X) for rows in target_rows):
        raise DistillError(f"every target needs one row per example: X has {len(X)}, targets have {target_rows}")
    if cfg.steps is not None and cfg.steps < 1:
        raise DistillError(f"steps must be positive, got {cfg.steps}")
    return cfg.steps if cfg.steps is not None else cfg.epochs * ((len(X) + cfg.batch_size - 1) // cfg.batch_size)


def fit(model: nn.Module, X: torch.Tensor, targets: Sequence[torch.Tensor],
        loss_fn: Callable[..., torch.Tensor], config: TrainConfig | None = None,
        val: tuple[torch.Tensor, torch.Tensor] | None = None,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None) -> History:
    """Train `model` in place to minimise `loss_fn(model(X_batch), *targets_batch)`.

    `targets` is a tuple of tensors with the same first dimension as `X`, e.g. `(y,)`
    or `(teacher_logits, y)`. Training lasts `config.epochs` passes over the data, or
    exactly `config.steps` gradient steps if that is set (the same budget for every
    data size). `val = (X_val, y_val)` records validation accuracy after each epoch. `augment(X_batch, generator)` optionally transforms each batch.
    """
    cfg = config or TrainConfig()
    targets = tuple(targets)
    total_steps = _check_run(cfg, X, [len(t) for t in targets])
    device = pick_device(cfg.device)
    if device.type == "cpu":
        settings.adapt_threads()  # the cores other processes leave free (distill.settings)
    model.to(device)
    X = X.to(device)
    targets = tuple(t.to(device) for t in targets)
    n = len(X)
    opt, sched = _make_optimizer(list(model.parameters()), cfg, total_steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = History(config=dataclasses.asdict(cfg))
    start = time.perf_counter()
    bar = progress_bar(total_steps, cfg.desc, cfg.progress)
    step = 0
    while step < total_steps:  # one pass over a fresh permutation per epoch; the last one may be partial
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        total, seen = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            if step == total_steps:
                break
            idx = perm[i:i + cfg.batch_size]
            xb = rows_of(X, idx)
            if augment is not None:
                xb = augment(xb, gen)
            loss = loss_fn(model(xb), *(rows_of(t, idx) for t in targets))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            value = loss.item()
            if not math.isfinite(value):
                raise DistillError(f"the training loss became {value} at step {step + 1}: check the targets for "
                                   f"NaN or infinite values, or lower the learning rate (now {cfg.lr})")
            total += value * len(idx)
            seen += len(idx)
            step += 1
            if step % ADAPT_EVERY == 0 and device.type == "cpu":
                settings.adapt_threads()
            bar.update(1)
        history.train_loss.append(total / seen)
        if val is not None:
            acc = (predict(model, val[0]).argmax(1).cpu() == val[1].cpu()).float().mean().item()
            history.val_accuracy.append(acc)
            bar.set_postfix(loss=f"{total / seen:.3f}", val_acc=f"{acc:.4f}")
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


# ---- many students at once ---------------------------------------------------------------

def batchable(models: Sequence[nn.Module], device: torch.device | str = "cpu") -> bool:
    """True if `fit_many` trains these models in one vmapped pass rather than one after another.

    Needs one architecture (same parameter names and shapes), no batch norm (its running
    statistics are updated in place) and no active dropout (vmapped random numbers differ from
    one-at-a-time ones). Convolutional models are batched on a GPU only: on a CPU the vmapped
    (grouped) convolutions ran slower than one model after another (bench/students.py).
    """
    first = [(k, v.shape) for k, v in models[0].state_dict().items()]
    mods = list(models[0].modules())
    stateful = any(isinstance(m, nn.modules.batchnorm._BatchNorm) or (isinstance(m, nn.Dropout) and m.p > 0)
                   for m in mods)
    conv_on_cpu = torch.device(device).type == "cpu" and any(isinstance(m, nn.Conv2d) for m in mods)
    same = all(type(m) is type(models[0]) and [(k, v.shape) for k, v in m.state_dict().items()] == first
               for m in models[1:])
    return same and not stateful and not conv_on_cpu


def fit_many(models: Sequence[nn.Module], X: torch.Tensor | Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
             loss_fn: Callable[..., torch.Tensor], config: TrainConfig | None = None,
             seeds: Sequence[int] | None = None, *, per_model: bool = False,
             val: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[History]:
    """Train N models of one architecture at once; each ends exactly as `fit` would leave it.

    Model i is trained as `fit(models[i], X, targets_i, loss_fn, replace(config, seed=seeds[i]))`:
    the same shuffling order (its own generator seeded by `seeds[i]`), the same steps, the same
    optimizer arithmetic (Adam and SGD act element by element, so one optimizer over stacked
    parameters is N optimizers). The N forward and backward passes run as one: the parameters are
    stacked with `torch.func.stack_module_state`; MLPs run as batched matmuls
    (`stacked_mlp_forward`), other models as `vmap` over `functional_call` (PyTorch's "model
    ensembling" tutorial). Both share the per-step overhead that dominates small models on a CPU
    (ten width-64 MLPs: 3.8x one after another on a 2-core CPU, bench/).
    Gradients of the summed losses are each model's own
    (no loss depends on another model's parameters).

    `targets` are shared by every model (each tensor (n, ...)), or with `per_model=True` stacked
    per model (each tensor (N, n, ...)). `X` is shared, or with `per_model=True` it may be a list of
    N tensors of one shape: model i trains on `X[i]` (e.g. the queries each seed's copier chose). Models that cannot be vmapped (`batchable` is False:
    batch norm, dropout, mixed architectures) are trained one after another by `fit` instead.
    Returns one `History` per model.
    """
    from torch.func import functional_call, stack_module_state, vmap

    models = list(models)
    cfg = config or TrainConfig()
    if not models:
        raise DistillError("fit_many needs at least one model (got 0)")
    seeds = [cfg.seed] * len(models) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != len(models):
        raise DistillError(f"fit_many needs one seed per model: {len(models)} models, {len(seeds)} seeds")
    targets = tuple(targets)
    own_inputs = isinstance(X, (list, tuple))
    if own_inputs:
        if not per_model:
            raise DistillError("one input set per model (X given as a list) needs per-model targets: pass per_model=True")
        if len(X) != len(models) or len({tuple(x.shape) for x in X}) != 1:
            raise DistillError(f"X as a list needs one tensor per model ({len(models)}), all of one shape; got "
                               f"{[tuple(x.shape) for x in X]}")
    if per_model and any(t.ndim < 1 or len(t) != len(models) for t in targets):
        raise DistillError(f"per_model targets need a leading dimension of {len(models)} (one per model), "
                           f"got shapes {[tuple(t.shape) for t in targets]}")
    total_steps = _check_run(cfg, X[0] if own_inputs else X, [t.shape[1] if per_model else len(t) for t in targets])
    device = pick_device(cfg.device)
    if len(models) == 1 or not batchable(models, device):  # one model: exactly `fit`
        return [fit(m, X[i] if own_inputs else X, tuple(t[i] for t in targets) if per_model else targets, loss_fn,
                    dataclasses.replace(cfg, seed=s), val=val) for i, (m, s) in enumerate(zip(models, seeds))]

    N, n = len(models), len(X[0] if own_inputs else X)
    if device.type == "cpu":
        settings.adapt_threads()
    for m in models:
        m.to(device).train()
    X = torch.cat(list(X)).to(device) if own_inputs else X.to(device)  # own inputs: model i's rows start at i * n
    targets = tuple(t.to(device) for t in targets)
    params, buffers = stack_module_state(models)  # name -> (N, ...) leaves that require grad
    base = copy.deepcopy(models[0]).to("meta")    # the architecture only, no storage

    stacked = stacked_mlp_forward(models[0])
    if stacked is not None:                       # MLPs: N models' layers as batched matmuls (faster than vmap)
        loss_per_model = vmap(loss_fn)

        def losses_of(p, b, xb, *tb):
            return loss_per_model(stacked(p, xb), *tb)
        # one fused AdamW kernel over the stacked parameters: equal to the loop of small ops within
        # about 1e-7 per step, and the stacked path is already equal to `fit` only within float tolerance
        opt_cfg = dataclasses.replace(cfg, fused=True)
    else:
        def one_loss(p, b, xb, *tb):              # one model's loss on its own batch
            return loss_fn(functional_call(base, (p, b), (xb,)), *tb)

        losses_of = vmap(one_loss)                # (N stacked params, (N, B, ...) batches) -> (N,)
        opt_cfg = cfg
    opt, sched = _make_optimizer(list(params.values()), opt_cfg, total_steps)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    rows = torch.arange(N, device=device)[:, None]
    histories = [History(config=dataclasses.asdict(dataclasses.replace(cfg, seed=s))) for s in seeds]
    start = time.perf_counter()
    bar = progress_bar(total_steps, f"{cfg.desc} x{N}", cfg.progress)
    step = 0
    while step < total_steps:
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)  # (N, n): each model's order
        total, seen = torch.zeros(N, device=device), 0
        for i in range(0, n, cfg.batch_size):
            if step == total_steps:
                break
            idx = perm[:, i:i + cfg.batch_size]                                     # (N, B)
            tb = [t[rows, idx] if per_model else rows_of(t, idx) for t in targets]  # (N, B, ...)
            xb = rows_of(X, idx + rows * n if own_inputs else idx)                  # (N, B, ...)
            losses = losses_of(params, buffers, xb, *tb)                            # (N,)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
            sched.step()
            total += losses.detach() * idx.shape[1]
            seen += idx.shape[1]
            step += 1
            if step % ADAPT_EVERY == 0 and device.type == "cpu":
                settings.adapt_threads()
            bar.update(1)
        epoch_loss = (total / seen).tolist()
        bad = [j for j, v in enumerate(epoch_loss) if not math.isfinite(v)]
        if bad:
            raise DistillError(f"the training loss became {epoch_loss[bad[0]]} for seed {seeds[bad[0]]}: check the "
                               f"targets for NaN or infinite values, or lower the learning rate (now {cfg.lr})")
        for h, v in zip(histories, epoch_loss):
            h.train_loss.append(v)
        if val is not None:
            with torch.no_grad():
                _unstack(models, params, buffers)
                for h, m in zip(histories, models):
                    h.val_accuracy.append((predict(m, val[0]).argmax(1) == val[1].cpu()).float().mean().item())
    bar.close()
    _unstack(models, params, buffers)
    seconds = time.perf_counter() - start
    for h, m in zip(histories, models):
        h.seconds = seconds / N  # the share of the shared pass
        m.eval()
    return histories


def stacked_mlp_forward(model: nn.Module) -> Callable[[dict, torch.Tensor], torch.Tensor] | None:
    """For a model whose `net` is a plain `nn.Sequential` of Flatten, Linear and ReLU (the MLP
    student): a forward pass over N stacked copies of its parameters, each Linear one batched matmul
    (`torch.baddbmm`), (N, B, ...) inputs -> (N, B, classes) logits. None for anything else.

    It computes what `vmap(functional_call(model, ...))` computes, with fewer and larger operations:
    ten width-64 MLPs train about 1.5x faster than under `vmap` on a 2-core CPU (bench/students.py).
    """
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or not len(net):
        return None
    for m in net:
        if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) == (1, -1):
            continue
        if not isinstance(m, (nn.Linear, nn.ReLU)):
            return None
    layers = list(enumerate(net))

    def forward(params: dict, x: torch.Tensor) -> torch.Tensor:
        h = x                                                  # (N, B, ...)
        for i, m in layers:
            if isinstance(m, nn.Flatten):
                h = h.flatten(2)                               # (N, B, features)
            elif isinstance(m, nn.Linear):
                w, b = params[f"net.{i}.weight"], params.get(f"net.{i}.bias")  # (N, out, in), (N, out)
                h = torch.bmm(h, w.transpose(1, 2)) if b is None else torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            else:
                h = torch.relu(h)
        return h

    return forward


@torch.no_grad()
def _unstack(models: list[nn.Module], params: dict, buffers: dict) -> None:
    """Copy row i of the stacked parameters and buffers into models[i]."""
    for i, m in enumerate(models):
        m.load_state_dict({k: v[i] for k, v in (params | buffers).items()}, strict=True)


def distill_step(student: nn.Module, teacher: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer,
                 T: float) -> float:
    """One distillation step, written out (the reference for notebook 02's exercise): the teacher's
    logits in evaluation mode without gradients, the student's, `kd_loss` at temperature T, then
    zero_grad, backward, step. Returns the loss."""
    from .losses import kd_loss
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    loss = kd_loss(student(x), t, T)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def predict(model: nn.Module, X: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits for every row of `X`, in eval mode, without gradients: (N, ...) -> (N, K) on the CPU.

    On a CPU a convolutional model runs from a channels-last copy of itself, in batches of 256:
    about 2x (batch size) times 2x (memory format) faster than a plain model in batches of 2,048
    on a 2-core CPU, with logits equal to about 1e-5 (`bench/` and tests/test_train.py)."""
    if len(X) == 0:
        raise DistillError("predict got no inputs (an empty batch)")
    device = next(model.parameters()).device
    if device.type == "cpu" and X.ndim == 4 and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    with evaluating(model):
        return torch.cat([model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)])


def teacher_outputs(teacher: nn.Module, X: torch.Tensor, cache: bool = True) -> torch.Tensor:
    """The teacher's logits on a transfer set, computed once and cached on disk.

    The cache key is the SHA-256 of the teacher's weights and of the transfer set's
    bytes (plus shape and dtype), so a different teacher, a different subset, or a
    different preprocessing can never reuse a stale result.
    """
    if not cache:
        return predict(teacher, X)
    key = {"kind": "teacher_logits", "teacher": state_digest(teacher), "X": tensor_digest(X)}
    return cached_tensors(key, lambda: {"logits": predict(teacher, X)})["logits"]
