"""A tiny language model and a task whose capability is measured exactly: addition.

The models in the news are language models, and a copier usually sees only the
generated text, sometimes a few log-probabilities per token. This module makes that
measurable on a laptop CPU:

- `Tokenizer`: characters `0123456789+=`, one token each.
- `AdditionTask`: problems `a+b=` with `digits`-digit operands, written zero-padded
  (`123+045=`); the answer is the sum zero-padded to `digits + 1` digits and written
  least-significant digit first (`8610` for 168), the order in which carries are
  computed, which a small transformer learns far more easily. A fixed share of all
  problems is held out (validation, test) and never used for training.
- `TinyLM`: a decoder-only transformer (pre-norm blocks, causal self-attention,
  learned positions), about 100k parameters at the default size.
- `generate`: greedy (temperature 0) or sampled continuations, optionally with the
  per-token next-token distributions.
- What a copier receives (`teacher_answers`) for each `OUTPUTS` kind, and the training
  targets each kind allows (`answer_targets`): sampled text, greedy text, top-k
  log-probabilities per token, or the full next-token distribution.

Shapes: token ids are int64 `(N, L)`; logits `(N, L, V)` with V = 12.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import ARTIFACTS_DIR
from .errors import DistillError
from .losses import soft_target_loss, topk_distribution
from .models import ARCHITECTURES, count_params, evaluating
from .registry import Registry
from .train import TrainConfig, fit_many

VOCAB = "0123456789+="


class Tokenizer:
    """Character-level: each of `VOCAB` is one token id (its position in `VOCAB`)."""

    def __init__(self, vocab: str = VOCAB):
        self.vocab = vocab
        self._ids = {c: i for i, c in enumerate(vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> torch.Tensor:
        bad = sorted({c for c in text if c not in self._ids})
        if bad:
            raise DistillError(f"characters {''.join(bad)!r} are not in the vocabulary {self.vocab!r}")
        return torch.tensor([self._ids[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= i < len(self.vocab)]
        if bad:
            raise DistillError(f"token ids {bad[:5]} are outside the vocabulary (0 to {len(self.vocab) - 1})")
        return "".join(self.vocab[i] for i in ids)


TOKENIZER = Tokenizer()


# ---- the task ----------------------------------------------------------------------------

@dataclass
class AdditionTask:
    """`digits`-digit addition; every one of the 10^(2*digits) problems is in exactly one split.

    The split is a fixed random permutation of all problems (seeded by `seed`): the first
    `n_test` are the test set, the next `n_val` the validation set, the rest may be used
    for training (by the teacher) or as queries (by a copier).

    With `working=True` the answer starts with the working: the carry out of each digit
    position, least significant first, then the sum (`123+089=` -> `011` + `2120`). Scores
    (`exact_match`, `digit_accuracy`) look at the sum only.
    """

    digits: int = 3
    n_test: int = 2000
    n_val: int = 2000
    seed: int = 0
    working: bool = False

    def __post_init__(self):
        if not 1 <= self.digits <= 4:
            raise DistillError(f"digits must be from 1 to 4, got {self.digits}")
        total = 10 ** (2 * self.digits)
        if self.n_test + self.n_val >= total:
            raise DistillError(f"{self.digits}-digit addition has {total} problems; n_test + n_val must be fewer")
        self._perm = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed))

    @property
    def prompt_len(self) -> int:
        return 2 * self.digits + 2           # "123+045="

    @property
    def sum_len(self) -> int:
        return self.digits + 1               # "8610": the sum's digits, least significant first

    @property
    def working_len(self) -> int:
        return self.digits if self.working else 0   # "011": one carry per digit position

    @property
    def answer_len(self) -> int:
        return self.working_len + self.sum_len     # everything generated after "="

    @property
    def seq_len(self) -> int:
        return self.prompt_len + self.answer_len

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Operands `(a, b)` of a split: `test`, `val` or `train` (everything else)."""
        bounds = {"test": (0, self.n_test), "val": (self.n_test, self.n_test + self.n_val),
                  "train": (self.n_test + self.n_val, len(self._perm))}
        if name not in bounds:
            raise DistillError(f"unknown split {name!r}; choose test, val or train")
        idx = self._perm[slice(*bounds[name])]
        base = 10 ** self.digits
        return idx // base, idx % base

    def sample(self, n: int, seed: int = 0, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """`n` distinct problems drawn at random from a split."""
        a, b = self.split(split)
        if n > len(a):
            raise DistillError(f"the {split} split has {len(a)} problems, {n} were asked for")
        pick = torch.randperm(len(a), generator=torch.Generator().manual_seed(seed))[:n]
        return a[pick], b[pick]

    def _digits(self, x: torch.Tensor, width: int) -> torch.Tensor:
        """(N,) ints -> (N, width) digit ids, most significant first."""
        powers = 10 ** torch.arange(width - 1, -1, -1)
        return (x[:, None] // powers) % 10

    def prompts(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(N, prompt_len) token ids of `a+b=`."""
        n = len(a)
        plus = torch.full((n, 1), VOCAB.index("+"))
        eq = torch.full((n, 1), VOCAB.index("="))
        return torch.cat([self._digits(a, self.digits), plus, self._digits(b, self.digits), eq], dim=1)

    def carries(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(N, digits) carry out of each digit position, least significant first."""
        mod = 10 ** torch.arange(1, self.digits + 1)
        return ((a[:, None] % mod) + (b[:, None] % mod)) // mod

    def answers(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(N, answer_len) token ids of the correct answer: the working (if any), then the sum,
        least significant digit first."""
        total = self._digits(a + b, self.sum_len).flip(1)
        return torch.cat([self.carries(a, b), total], dim=1) if self.working else total

    def parse(self, text: str) -> tuple[int, int]:
        """`"123+45"` (or `"123+45="`) -> (123, 45), with a clear error for anything else."""
        m = re.fullmatch(rf"\s*(\d{{1,{self.digits}}})\s*\+\s*(\d{{1,{self.digits}}})\s*=?\s*", text)
        if not m:
            raise DistillError(f"{text!r} is not a problem of the form A+B with A and B of 1 to {self.digits} digits")
        return int(m.group(1)), int(m.group(2))

    def read_answer(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, answer_len) generated ids -> (N,) the sum they state (the working is skipped), -1
        where that part is not all digits."""
        tokens = tokens[:, -self.sum_len:]
        digits_ok = (tokens < 10).all(dim=1)
        value = (tokens.clamp(max=9) * 10 ** torch.arange(self.sum_len)).sum(dim=1)
        return torch.where(digits_ok, value, torch.full_like(value, -1))


def exact_match(generated: torch.Tensor, a: torch.Tensor, b: torch.Tensor, task: AdditionTask) -> float:
    """Fraction of problems whose stated sum is right, every digit (the working, if any, is not scored)."""
    return (task.read_answer(generated.cpu()) == a + b).float().mean().item()


def well_formed(generated: torch.Tensor) -> float:
    """Fraction of answers written in the right form (digits only, the right length): style, not capability."""
    return (generated.cpu() < 10).all(dim=1).float().mean().item()


def digit_accuracy(generated: torch.Tensor, a: torch.Tensor, b: torch.Tensor, task: AdditionTask) -> float:
    """Fraction of the sum's digits that are right (partial credit)."""
    n = task.sum_len
    return (generated.cpu()[:, -n:] == task.answers(a, b)[:, -n:]).float().mean().item()


# ---- the model ---------------------------------------------------------------------------

@dataclass
class LMConfig:
    vocab_size: int = len(VOCAB)
    context: int = 16
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_ratio: int = 4


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, c: LMConfig):
        super().__init__()
        self.n_heads = c.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.mlp = nn.Sequential(nn.Linear(c.d_model, c.mlp_ratio * c.d_model), nn.GELU(),
                                 nn.Linear(c.mlp_ratio * c.d_model, c.d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)                      # 3 x (B, L, D)
        heads = lambda t: t.view(B, L, self.n_heads, D // self.n_heads).transpose(1, 2)  # (B, H, L, D/H)
        att = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)  # no token sees the future
        x = x + self.proj(att.transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    """Decoder-only transformer: token + position embeddings, blocks, final norm, linear head."""

    def __init__(self, config: LMConfig | None = None):
        super().__init__()
        c = self.config = config or LMConfig()
        if c.d_model % c.n_heads:
            raise DistillError(f"d_model ({c.d_model}) must be divisible by n_heads ({c.n_heads})")
        self.tok = nn.Embedding(c.vocab_size, c.d_model)
        self.pos = nn.Embedding(c.context, c.d_model)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids -> (B, L, V) next-token logits."""
        if idx.shape[1] > self.config.context:
            raise DistillError(f"sequence of {idx.shape[1]} tokens exceeds the context of {self.config.context}")
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


ARCHITECTURES.register("tiny_lm", (TinyLM, LMConfig), help="tiny transformer language model")


def generate(model: TinyLM, prompts: torch.Tensor, n_tokens: int, temperature: float = 0.0,
             seed: int = 0, batch_size: int = 4096, return_probs: bool = False):
    """Continue each prompt by `n_tokens` tokens: greedy if `temperature == 0`, else sampled.

    Returns the generated ids (N, n_tokens), and with `return_probs` also the model's
    next-token distributions at each generated position (N, n_tokens, V), at temperature 1.
    """
    if not temperature >= 0 or temperature == float("inf"):
        raise DistillError(f"temperature must be a finite number >= 0, got {temperature}")
    if n_tokens < 1:
        raise DistillError(f"n_tokens must be at least 1, got {n_tokens}")
    vocab = model.config.vocab_size
    if not isinstance(prompts, torch.Tensor) or prompts.ndim != 2 or prompts.dtype != torch.long:
        raise DistillError(f"prompts must be an int64 tensor of token ids (N, L), got "
                           f"{getattr(prompts, 'dtype', type(prompts).__name__)} {tuple(getattr(prompts, 'shape', ()))}")
    if len(prompts) and (prompts.min() < 0 or prompts.max() >= vocab):
        raise DistillError(f"prompt token ids must be from 0 to {vocab - 1}; encode text with lm.TOKENIZER")
    if prompts.shape[1] + n_tokens - 1 > model.config.context:  # the last step reads all but the newest token
        raise DistillError(f"prompt of {prompts.shape[1]} tokens + {n_tokens} new ones exceeds the model's context "
                           f"of {model.config.context}")
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    out_ids, out_probs = [], []
    with evaluating(model):  # eval mode, no gradients; the caller's mode comes back after
        for i in range(0, len(prompts), batch_size):
            seq = prompts[i:i + batch_size].to(device)
            probs = []
            for _ in range(n_tokens):
                logits = model(seq)[:, -1].float().cpu()  # (B, V)
                p = logits.softmax(-1)
                if temperature == 0:
                    nxt = logits.argmax(-1)
                else:
                    nxt = torch.multinomial((logits / temperature).softmax(-1), 1, generator=gen).squeeze(1)
                probs.append(p)
                seq = torch.cat([seq, nxt.to(device)[:, None]], dim=1)
            out_ids.append(seq[:, prompts.shape[1]:].cpu())
            out_probs.append(torch.stack(probs, dim=1))
    ids = torch.cat(out_ids)
    return (ids, torch.cat(out_probs)) if return_probs else ids


# ---- losses and training -------------------------------------------------------------------

def answer_logits(logits: torch.Tensor, answer_len: int) -> torch.Tensor:
    """The logits that predict the answer tokens. The model reads prompt + answer[:-1]
    (`inputs_for`), so these are its last `answer_len` positions: (N, A, V)."""
    return logits[:, -answer_len:]


def answer_ce(logits: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the answer tokens (N, A) under the model (text targets)."""
    return F.cross_entropy(answer_logits(logits, answer.shape[1]).reshape(-1, logits.shape[-1]), answer.reshape(-1))


def answer_soft_ce(logits: torch.Tensor, target: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """T^2 * cross-entropy between tempered target next-token distributions (N, A, V) and the
    model's at temperature T, mean over tokens (`distill.losses.soft_target_loss`, per token)."""
    s = answer_logits(logits, target.shape[1])
    return soft_target_loss(s.reshape(-1, s.shape[-1]), target.reshape(-1, target.shape[-1]), T)


def inputs_for(prompts: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    """Teacher forcing: the model reads prompt + answer[:-1] and predicts each answer token."""
    return torch.cat([prompts, answer[:, :-1]], dim=1)


LM_TEACHER_PATH = ARTIFACTS_DIR / "lm_teacher"
LM_WORKING_TEACHER_PATH = ARTIFACTS_DIR / "lm_teacher_working"  # the same task, answers preceded by the carries
LM_TEACHER_STEPS, LM_TEACHER_BATCH, LM_TEACHER_LR = 2000, 256, 3e-3  # about 45 s on a 2-core CPU


def train_lm(model: TinyLM, prompts: torch.Tensor, targets: torch.Tensor, *, steps: int, batch_size: int = 256,
             lr: float = 3e-3, T: float = 1.0, seed: int = 0, progress: bool = False, desc: str = "lm"):
    """Train on answers given as tokens (N, A) int64 or as distributions (N, A, V) (soft
    targets at temperature T)."""
    return train_lms([model], prompts, targets, steps=steps, batch_size=batch_size, lr=lr, T=T, seeds=[seed],
                     progress=progress, desc=desc)[0]


def train_lms(models: list[TinyLM], prompts: torch.Tensor, targets: torch.Tensor, *, steps: int, batch_size: int = 256,
              lr: float = 3e-3, T: float = 1.0, seeds: list[int], progress: bool = False, desc: str = "lm"):
    """`train_lm` for several students at once (one per seed, `distill.train.fit_many`): each ends
    as `train_lm` with its seed would leave it."""
    tokens = targets if targets.ndim == 2 else targets.argmax(-1)  # the path the teacher-forced inputs follow
    loss = answer_ce if targets.ndim == 2 else partial(_soft_answer_loss, T=T)
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, weight_decay=0.01, optimizer="adam",
                         schedule="onecycle", seed=seeds[0], progress=progress, desc=desc, fused=True)
    with warnings.catch_warnings():  # vmap runs attention through a slower fallback; correct, and said once here
        warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet implemented")
        return fit_many(models, inputs_for(prompts, tokens), (targets,), loss, config, seeds)


def _soft_answer_loss(logits: torch.Tensor, target: torch.Tensor, *, T: float) -> torch.Tensor:
    return answer_soft_ce(logits, target, T)


def make_lm(config: LMConfig | None = None, seed: int = 0) -> TinyLM:
    torch.manual_seed(seed)
    return TinyLM(config or LMConfig())


def train_lm_teacher(task: AdditionTask, config: LMConfig | None = None, steps: int = LM_TEACHER_STEPS,
                     batch_size: int = LM_TEACHER_BATCH, lr: float = LM_TEACHER_LR, seed: int = 0,
                     progress: bool = True):
    """Train a TinyLM on the true answers of training problems (a fresh sample per step would
    be equivalent: there are ~1M of them and each is seen about once)."""
    model = make_lm(config or LMConfig(context=max(LMConfig.context, task.seq_len)), seed)
    a, b = task.sample(min(steps * batch_size, len(task.split("train")[0])), seed=seed)
    history = train_lm(model, task.prompts(a, b), task.answers(a, b), steps=steps, batch_size=batch_size, lr=lr,
                       seed=seed, progress=progress, desc="lm teacher")
    return model, history


def evaluate_lm(model: TinyLM, task: AdditionTask, split: str = "test") -> dict:
    """Exact match, digit accuracy and well-formedness of greedy answers on a held-out split."""
    a, b = task.split(split)
    out = generate(model, task.prompts(a, b), task.answer_len)
    return {"exact_match": exact_match(out, a, b, task), "digit_accuracy": digit_accuracy(out, a, b, task),
            "well_formed": well_formed(out), "n": len(a)}


def scores_on(model: TinyLM, task: AdditionTask, a: torch.Tensor, b: torch.Tensor) -> dict:
    """Exact match, digit accuracy and well-formedness of greedy answers to the problems `a + b`."""
    if len(a) == 0 or len(a) != len(b):
        raise DistillError(f"scores_on needs the same, non-zero number of operands a and b, got {len(a)} and {len(b)}")
    out = generate(model, task.prompts(a, b), task.answer_len)
    return {"exact_match": exact_match(out, a, b, task), "digit_accuracy": digit_accuracy(out, a, b, task),
            "well_formed": well_formed(out), "n": len(a)}


def carry_count(task: AdditionTask, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) how many digit positions of `a + b` carry: a measure of how hard a problem is."""
    return task.carries(a, b).sum(1)


def with_scores_on(records: list[dict], task: AdditionTask, subsets: dict[str, tuple[torch.Tensor, torch.Tensor]]
                   ) -> list[dict]:
    """Records (with their "model") plus `exact_match_<name>`, `digit_accuracy_<name>` and
    `well_formed_<name>` for each named set of problems in `subsets`."""
    out = []
    for r in records:
        if "model" not in r:
            raise DistillError("with_scores_on needs records with their models: train with keep_models=True")
        extra = {f"{k}_{name}": v for name, (a, b) in subsets.items()
                 for k, v in scores_on(r["model"], task, a, b).items() if k != "n"}
        out.append({**r, **extra})
    return out


# ---- what a copier receives ---------------------------------------------------------------

@dataclass
class LMAnswers:
    """What a copier received for N prompts: `tokens` (N, A) always; `topk_ids`/`topk_logprobs`
    (N, A, k) for `topk`; `probs` (N, A, V) for `full`. Nothing else."""

    kind: str
    tokens: torch.Tensor
    topk_ids: torch.Tensor | None = None
    topk_logprobs: torch.Tensor | None = None
    probs: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, idx) -> "LMAnswers":
        pick = lambda t: None if t is None else t[idx]
        return LMAnswers(self.kind, self.tokens[idx], pick(self.topk_ids), pick(self.topk_logprobs), pick(self.probs))

    @property
    def tokens_returned(self) -> int:
        """How many numbers the API sent back: text tokens, plus k (id, logprob) pairs or V probabilities each."""
        n = self.tokens.numel()
        if self.topk_ids is not None:
            n += 2 * self.topk_ids.numel()
        if self.probs is not None:
            n += self.probs.numel()
        return n


# kind -> answer(teacher, prompts, answer_len, k, seed) -> LMAnswers holding only what that kind exposes
OUTPUTS = Registry("language-model output")


@OUTPUTS.register("sampled", help="generated text, sampled at temperature 1 (what a chat API usually returns)")
def _sampled(teacher, prompts, answer_len, k, seed):
    return LMAnswers("sampled", generate(teacher, prompts, answer_len, temperature=1.0, seed=seed))


@OUTPUTS.register("text", help="generated text, greedy (temperature 0)")
def _text(teacher, prompts, answer_len, k, seed):
    return LMAnswers("text", generate(teacher, prompts, answer_len))


@OUTPUTS.register("topk", help="greedy text plus the top-k log-probabilities at each generated token")
def _topk(teacher, prompts, answer_len, k, seed):
    tokens, probs = generate(teacher, prompts, answer_len, return_probs=True)
    if not (isinstance(k, int) and 1 <= k <= probs.shape[-1]):
        raise DistillError(f"k must be a whole number from 1 to {probs.shape[-1]}, got {k!r}")
    top_p, top_i = probs.topk(k, dim=-1)
    return LMAnswers("topk", tokens, topk_ids=top_i, topk_logprobs=top_p.clamp_min(1e-45).log())


@OUTPUTS.register("full", help="greedy text plus the full next-token distribution at each generated token")
def _full(teacher, prompts, answer_len, k, seed):
    tokens, probs = generate(teacher, prompts, answer_len, return_probs=True)
    return LMAnswers("full", tokens, probs=probs)


def teacher_answers(teacher: TinyLM, prompts: torch.Tensor, kind: str, answer_len: int, k: int = 3,
                    seed: int = 0) -> LMAnswers:
    """Query the teacher with `prompts` and return only what output `kind` (`OUTPUTS`) exposes."""
    return OUTPUTS[kind](teacher, prompts, answer_len, k, seed)


def answer_targets(answers: LMAnswers, vocab_size: int = len(VOCAB)) -> torch.Tensor:
    """Training targets a copier can build from its answers.

    Text answers give the tokens themselves (N, A) int64. Top-k answers give
    distributions (N, A, V) holding the k probabilities, with the remaining mass spread
    evenly over the other tokens. Full answers give the distributions as returned.
    """
    if answers.kind in ("sampled", "text"):
        return answers.tokens
    if answers.kind == "full":
        return answers.probs
    if answers.kind == "topk":
        return topk_distribution(answers.topk_ids, answers.topk_logprobs.exp(), vocab_size)
    raise DistillError(f"no training targets defined for answers of kind {answers.kind!r}; "
                       f"add a case to answer_targets")


def student_records(task: AdditionTask, prompts: torch.Tensor, answers: LMAnswers, config: LMConfig, *,
                    seeds: list[int], steps: int, batch_size: int = 256, lr: float = 3e-3, T: float = 1.0,
                    split: str = "test", keep_models: bool = False) -> list[dict]:
    """Train one fresh student per seed on a copier's answers (all at once) and score each on
    held-out problems (`split="val"` to choose settings, `"test"` to report). Records are flat:
    kind, n (queries), seed, T and the scores; `keep_models` adds the trained student as "model"."""
    if not seeds:
        raise DistillError("student_records needs at least one seed")
    students = [make_lm(config, s) for s in seeds]
    histories = train_lms(students, prompts, answer_targets(answers, config.vocab_size), steps=steps,
                          batch_size=batch_size, lr=lr, T=T, seeds=list(seeds))
    a, b = task.split(split)
    out = []
    for seed, student, history in zip(seeds, students, histories):
        gen = generate(student, task.prompts(a, b), task.answer_len)
        out.append({"kind": answers.kind, "n": len(answers), "queries": len(answers),
                    "tokens_returned": answers.tokens_returned, "seed": seed,
                    "T": T if answers.kind in ("topk", "full") else None, "split": split,
                    "exact_match": exact_match(gen, a, b, task), "digit_accuracy": digit_accuracy(gen, a, b, task),
                    "well_formed": well_formed(gen), "seconds": history.seconds,
                    **({"model": student} if keep_models else {})})
    return out


def student_record(task: AdditionTask, prompts: torch.Tensor, answers: LMAnswers, config: LMConfig, *,
                   seed: int = 0, **kwargs) -> dict:
    """`student_records` for one seed, with the trained student as "model"."""
    return student_records(task, prompts, answers, config, seeds=[seed], keep_models=True, **kwargs)[0]


def save_lm_teacher(model: TinyLM, task: AdditionTask, history, steps: int, seed: int, path=LM_TEACHER_PATH,
                    command: str = "") -> dict:
    """Save with a manifest: the task and its split, held-out scores, training time and recipe."""
    import platform
    from .checkpoints import save_checkpoint
    return save_checkpoint(
        model, path, task={"name": "addition", "digits": task.digits, "n_test": task.n_test, "n_val": task.n_val,
                           "seed": task.seed, "working": task.working},
        test=evaluate_lm(model, task, "test"), val=evaluate_lm(model, task, "val"), params=count_params(model),
        train_config=history.config,  # what `fit` actually ran with, not the defaults
        train_seconds=round(history.seconds, 1),
        trained_on=f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        command=command or "python -m distill lm-teacher")


def load_lm_teacher(path=LM_TEACHER_PATH) -> tuple[TinyLM, AdditionTask, dict]:
    """The committed LM teacher, the task it was trained on (same held-out split), and its manifest."""
    from .checkpoints import load_checkpoint
    model, manifest = load_checkpoint(path, architecture="tiny_lm")
    t = manifest.get("task", {})
    task = AdditionTask(digits=t.get("digits", 3), n_test=t.get("n_test", 2000), n_val=t.get("n_val", 2000),
                        seed=t.get("seed", 0), working=t.get("working", False))
    return model, task, manifest
