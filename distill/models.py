"""The teacher CNN, the student family, and how big each one is.

- `TeacherCNN`: a small VGG-style convolutional network (conv-BN-ReLU blocks, each
  followed by 2x2 max pooling, then a small fully connected head with dropout). It is the "capable model" the
  copier wants. Sized so it trains to >= 92.5% Fashion-MNIST test accuracy in a few
  minutes on a 2-core CPU.
- `Student`: a multi-layer perceptron whose size is one knob, `width` (hidden units
  per layer). Widths 8 to 1024 span more than 100x in parameters. An MLP is what
  Hinton, Vinyals & Dean (2015, "Distilling the Knowledge in a Neural Network")
  distilled into on MNIST, and it trains in about a second per epoch on a CPU.

Every architecture is registered in `ARCHITECTURES` under a name, with a dataclass
config, so a checkpoint manifest (name + config) rebuilds the exact model without
unpickling anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import prod

import torch
import torch.nn as nn

from .errors import DistillError


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
            for _ in range(config.convs_per_block):  # (B, c_in, H, W) -> (B, c_out, H, W)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                           nn.ReLU(inplace=True)]
                c_in = c_out
            layers.append(nn.MaxPool2d(2))  # (B, c_out, H, W) -> (B, c_out, H//2, W//2)
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


from .lm import LMConfig, TinyLM  # noqa: E402  (the language model lives with its task in distill.lm)

ARCHITECTURES = {
    "teacher_cnn": (TeacherCNN, TeacherConfig),
    "mlp_student": (Student, StudentConfig),
    "tiny_lm": (TinyLM, LMConfig),
}


def architecture_name(model: nn.Module) -> str:
    for name, (cls, _) in ARCHITECTURES.items():
        if type(model) is cls:
            return name
    raise DistillError(f"{type(model).__name__} is not a registered architecture ({', '.join(ARCHITECTURES)})")


def model_config(model: nn.Module) -> dict:
    """The model's config as a JSON-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(model.config).items()}


def build_model(arch: str, config: dict | None = None) -> nn.Module:
    """Rebuild a registered architecture from its name and config dict."""
    if arch not in ARCHITECTURES:
        raise DistillError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    cls, cfg_cls = ARCHITECTURES[arch]
    config = dict(config or {})
    known = set(cfg_cls.__dataclass_fields__)
    if set(config) - known:
        raise DistillError(f"config for {arch} has unknown fields {sorted(set(config) - known)}")
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    return cls(cfg_cls(**config))


def make_student(width: int = 64, seed: int = 0, **config) -> Student:
    """A student whose initial weights depend only on (`width`, `config`, `seed`).

    Re-seeding right before construction is what makes compared students start from
    identical weights (as in PyTorch's knowledge-distillation tutorial).
    """
    torch.manual_seed(seed)
    return Student(StudentConfig(width=width, **config))


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
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, *input_shape, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return 2 * macs
