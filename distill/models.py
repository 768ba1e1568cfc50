"""The teacher CNN, the copier families, and how big each one is.

- `TeacherCNN`: a small VGG-style convolutional network (conv-BN blocks, each followed
  by 2x2 max pooling and a ReLU, then a small fully connected head with dropout). It is the "capable model" the
  copier wants. Sized so it trains to >= 92.5% Fashion-MNIST test accuracy in a few
  minutes on a 2-core CPU.
- `Student`: a multi-layer perceptron whose size is one knob, `width` (hidden units
  per layer). An MLP is what Hinton, Vinyals & Dean (2015, "Distilling the Knowledge in a
  Neural Network") distilled into on MNIST, and it trains in about a second per epoch on a CPU.
- `CNNStudent`: two conv-ReLU-pool blocks and a linear layer; one knob, `channels`. A copier
  who copies an image model builds a convolutional network, not an MLP: comparing only MLP
  copies with a CNN teacher would measure the gap between the two architectures, not what
  distillation moves across.

Copier **families** (`FAMILIES`) put one size knob on each: `mlp` (width), `cnn` (channels) and
`teacher` (the teacher's own design, channels of its first block: what an insider who knows the
design would build). `make_copier(family, size, ...)` builds one with seeded initial weights.

Every architecture is registered in `ARCHITECTURES` under a name, with a dataclass config, so a
checkpoint manifest (name + config) rebuilds the exact model without unpickling anything.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from math import prod
from typing import Callable

import torch
import torch.nn as nn

from .errors import DistillError
from .registry import Registry


@dataclass
class TeacherConfig:
    in_channels: int = 1
    num_classes: int = 10
    image_size: int = 28
    channels: tuple[int, ...] = (32, 64, 128)  # one block per entry; 2x2 max-pool after each
    convs_per_block: int = 1
    hidden: int = 256            # units of the hidden layer in the head (0: none)
    dropout: float = 0.3


class TeacherCNN(nn.Module):
    def __init__(self, config: TeacherConfig | None = None):
        super().__init__()
        self.config = config = config or TeacherConfig()
        layers: list[nn.Module] = []
        c_in = config.in_channels
        size = config.image_size
        for c_out in config.channels:
            for i in range(config.convs_per_block):  # (B, c_in, H, W) -> (B, c_out, H, W)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
                if i < config.convs_per_block - 1:
                    layers.append(nn.ReLU(inplace=True))
                c_in = c_out
            # (B, c_out, H, W) -> (B, c_out, H//2, W//2). Pool, then ReLU: the same values as ReLU then
            # pool (both are monotone), with the ReLU on a quarter of them, so a training step is faster.
            # Neither has weights, so checkpoints saved in the other order load unchanged.
            layers += [nn.MaxPool2d(2), nn.ReLU(inplace=True)]
            size //= 2
        self.features = nn.Sequential(*layers)
        d = c_in * size * size
        head: list[nn.Module] = [nn.Flatten()]  # (B, C, h, w) -> (B, C*h*w): keeps where features are
        if config.hidden:
            head += [nn.Dropout(config.dropout), nn.Linear(d, config.hidden), nn.ReLU(inplace=True)]
            d = config.hidden
        head += [nn.Dropout(config.dropout), nn.Linear(d, config.num_classes)]
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, num_classes) logits


@dataclass
class StudentConfig:
    width: int = 64              # hidden units per layer: the one size knob
    depth: int = 2               # number of hidden layers
    in_features: int = 784       # 28 * 28 for (Fashion-)MNIST
    num_classes: int = 10


class Student(nn.Module):
    """MLP: flatten -> [Linear(width) -> ReLU] x depth -> Linear(num_classes)."""

    def __init__(self, config: StudentConfig | None = None):
        super().__init__()
        self.config = config = config or StudentConfig()
        if config.width < 1 or config.depth < 0:
            raise DistillError(f"student width must be >= 1 and depth >= 0, got width={config.width}, depth={config.depth}")
        layers: list[nn.Module] = [nn.Flatten()]  # (B, C, H, W) -> (B, C*H*W)
        d = config.in_features
        for _ in range(config.depth):
            layers += [nn.Linear(d, config.width), nn.ReLU(inplace=True)]
            d = config.width
        layers.append(nn.Linear(d, config.num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, num_classes) logits


@dataclass
class CNNConfig:
    channels: int = 16           # channels of the first conv (the second has twice as many): the one size knob
    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10


class CNNStudent(nn.Module):
    """conv3x3(c) -> pool -> ReLU -> conv3x3(2c) -> pool -> ReLU -> Linear(num_classes).

    Pooling before the ReLU computes exactly what ReLU-then-pool does (both are monotone), on a
    quarter of the values; with channels-last weights a training step is about 2.4x faster on a
    CPU than the textbook order in the default layout (bench/). No batch norm and no dropout, so
    on a GPU many of them train at once under `torch.func.vmap` (`distill.train.fit_many`).
    """

    def __init__(self, config: CNNConfig | None = None):
        super().__init__()
        self.config = c = config or CNNConfig()
        if c.channels < 1 or c.image_size < 4:
            raise DistillError(f"cnn student needs channels >= 1 and images of at least 4x4, "
                               f"got channels={c.channels}, image_size={c.image_size}")
        side = c.image_size // 4  # two 2x2 poolings
        self.net = nn.Sequential(
            nn.Conv2d(c.in_channels, c.channels, 3, padding=1),                  # (B, c, H, W)
            nn.MaxPool2d(2), nn.ReLU(),                                          # (B, c, H/2, W/2)
            nn.Conv2d(c.channels, 2 * c.channels, 3, padding=1),                 # (B, 2c, H/2, W/2)
            nn.MaxPool2d(2), nn.ReLU(),                                          # (B, 2c, H/4, W/4)
            nn.Flatten(),                                                        # (B, 2c * H/4 * W/4)
            nn.Linear(2 * c.channels * side * side, c.num_classes))
        self.to(memory_format=torch.channels_last)  # faster convolutions on a CPU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, num_classes) logits; channels-last weights make the convolutions channels-last


ARCHITECTURES = Registry("architecture")
ARCHITECTURES.register("teacher_cnn", (TeacherCNN, TeacherConfig), help="the teacher's VGG-style CNN")
ARCHITECTURES.register("mlp_student", (Student, StudentConfig), help="MLP copier")
ARCHITECTURES.register("cnn_student", (CNNStudent, CNNConfig), help="small CNN copier")
# registered by distill.lm when it is imported; named here so a manifest can ask for it (no import cycle)
ARCHITECTURES.provide("tiny_lm", "distill.lm", help="tiny transformer language model")


def architecture_name(model: nn.Module) -> str:
    name = ARCHITECTURES.find(lambda entry: type(model) is entry[0])
    if name is None:
        raise DistillError(f"{type(model).__name__} is not a registered architecture ({ARCHITECTURES.choices()})")
    return name


def model_config(model: nn.Module) -> dict:
    """The model's config as a JSON-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()}


def build_model(arch: str, config: dict | None = None) -> nn.Module:
    """Rebuild a registered architecture from its name and config dict."""
    cls, cfg_cls = ARCHITECTURES[arch]
    if config is not None and not isinstance(config, dict):
        raise DistillError(f"config for {arch} must be a JSON object of fields, got {type(config).__name__}")
    config = dict(config or {})
    known = set(cfg_cls.__dataclass_fields__)
    if set(config) - known:
        raise DistillError(f"config for {arch} has unknown fields {sorted(set(config) - known)}")
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    try:
        return cls(cfg_cls(**config))
    except (TypeError, ValueError) as e:
        raise DistillError(f"config for {arch} does not build a model ({e})") from None


def make_student(width: int = 64, seed: int = 0, **config) -> Student:
    """An MLP student whose initial weights depend only on (`width`, `config`, `seed`).

    Re-seeding right before construction is what makes compared students start from
    identical weights (as in PyTorch's knowledge-distillation tutorial).
    """
    torch.manual_seed(seed)
    return Student(StudentConfig(width=width, **config))


# ---- copier families: one size knob each ------------------------------------------------

@dataclass(frozen=True)
class Family:
    """A copier family: how to build one from its size knob, and the knob's range."""

    knob: str                    # what the size means
    sizes: tuple[int, int]       # smallest and largest size
    default: int
    build: Callable[[int, tuple[int, ...], int], nn.Module]   # (size, input_shape, num_classes) -> model


def _image_shape(family: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise DistillError(f"copier family {family!r} needs square images (C, H, W), got input shape "
                           f"{tuple(input_shape)}; use family 'mlp' for flat vectors")
    return input_shape[0], input_shape[1]


def _mlp(size, input_shape, num_classes):
    return Student(StudentConfig(width=size, in_features=prod(input_shape), num_classes=num_classes))


def _cnn(size, input_shape, num_classes):
    c, side = _image_shape("cnn", input_shape)
    return CNNStudent(CNNConfig(channels=size, in_channels=c, image_size=side, num_classes=num_classes))


def _teacher_shaped(size, input_shape, num_classes):
    c, side = _image_shape("teacher", input_shape)
    return TeacherCNN(TeacherConfig(in_channels=c, image_size=side, num_classes=num_classes,
                                    channels=(size, 2 * size, 4 * size), hidden=8 * size))


FAMILIES = Registry("copier family")
FAMILIES.register("mlp", Family("hidden units per layer (2 layers)", (2, 2048), 64, _mlp),
                  help="multi-layer perceptron, 2 hidden layers of `size` units")
FAMILIES.register("cnn", Family("channels of the first conv layer", (2, 128), 16, _cnn),
                  help="small CNN: two conv-ReLU-pool blocks of `size` and 2*`size` channels, one linear layer")
FAMILIES.register("teacher", Family("channels of the first block (32 = the teacher)", (4, 64), 32,
                                    _teacher_shaped),
                  help="the teacher's own design (conv-BN blocks, dropout head), scaled by `size`")


def make_copier(family: str, size: int | None = None, *, input_shape: tuple[int, ...] = (1, 28, 28),
                num_classes: int = 10, seed: int = 0) -> nn.Module:
    """A copier of `family` at `size` (the family's default if None), initial weights fixed by `seed`."""
    fam = FAMILIES[family]
    size = fam.default if size is None else size
    lo, hi = fam.sizes
    if isinstance(size, bool) or not isinstance(size, int) or not lo <= size <= hi:
        raise DistillError(f"size {size!r} is outside copier family {family!r}'s range {lo} to {hi} ({fam.knob})")
    if num_classes < 2:
        raise DistillError(f"a copier needs at least 2 classes, got {num_classes}")
    torch.manual_seed(seed)
    return fam.build(size, tuple(input_shape), num_classes)

@contextlib.contextmanager
def evaluating(model: nn.Module):
    """`with evaluating(model):` eval mode and no gradients inside; the mode it had is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_example(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Forward-pass FLOPs for one example, counting a multiply-add as 2 FLOPs.

    Counts convolutions and linear layers (which dominate); normalization,
    activations and pooling are ignored. Measured with forward hooks on one input.
    """
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            # every output value costs (in_channels / groups) * kh * kw multiply-adds
            macs += output.numel() * (module.in_channels // module.groups) * prod(module.kernel_size)
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with evaluating(model):
            p = next(model.parameters())
            model(torch.zeros(1, *input_shape, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
    return 2 * macs
