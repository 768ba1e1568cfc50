"""Checkpoints (safetensors + JSON manifest) and a config-keyed tensor cache.

A checkpoint `data/teacher` is two files:
- `data/teacher.safetensors`: the weights. safetensors holds raw tensors and a JSON
  header, so loading it never unpickles (a `.pt` file can run arbitrary code).
- `data/teacher.json`: the manifest -- architecture name and config (enough to
  rebuild the model), dataset, test accuracy, the SHA-256 of the weights file, and
  the command that trains it.

Every write goes to a temporary file in the same folder and is then renamed over
the target (`os.replace` is atomic), so an interrupted run never leaves a
half-written checkpoint or cache entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import CheckpointError
from .settings import cache_dir

CACHE_DIR = cache_dir()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)`, then rename the temporary file onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private (0600); use the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensor_digest(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes."""
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def state_digest(model: nn.Module) -> str:
    """SHA-256 over a model's parameters and buffers, in state-dict order."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor_digest(t).encode())
    return h.hexdigest()


def _paths(path: str | Path) -> tuple[Path, Path]:
    stem = Path(path)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(model: nn.Module, path: str | Path, **manifest) -> dict:
    """Write `<path>.safetensors` and `<path>.json` atomically; returns the manifest."""
    from .models import architecture_name, model_config

    weights, meta = _paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, str(tmp)))
    manifest = {"architecture": architecture_name(model), "config": model_config(model),
                **manifest, "weights": weights.name, "sha256": file_sha256(weights)}
    atomic_write(meta, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2) + "\n"))
    return manifest


def read_manifest(path: str | Path) -> dict:
    weights, meta = _paths(path)
    if not meta.is_file():
        raise CheckpointError(f"no checkpoint manifest at {meta}; train one first (for the teacher: `make teacher`)")
    try:
        return json.loads(meta.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta} is not valid JSON ({e.msg} at line {e.lineno}); retrain or restore it") from None


def load_checkpoint(path: str | Path, architecture: str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the model a manifest describes and load its weights, checking everything.

    Raises `CheckpointError` naming the file and what differs when a file is
    missing or corrupt, its SHA-256 differs from the manifest, the architecture is
    not the one expected, or the weights do not fit the architecture.
    """
    from .models import build_model

    weights, meta = _paths(path)
    manifest = read_manifest(path)
    if not weights.is_file():
        raise CheckpointError(f"{meta} names weights {weights.name}, but {weights} does not exist")
    if architecture is not None and manifest.get("architecture") != architecture:
        raise CheckpointError(f"{meta} holds a {manifest.get('architecture')!r}, expected a {architecture!r}")
    digest = file_sha256(weights)
    if manifest.get("sha256") != digest:
        raise CheckpointError(f"{weights} has SHA-256 {digest[:12]}..., but {meta.name} records "
                              f"{str(manifest.get('sha256'))[:12]}...: the file is corrupt or was replaced")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({e})") from None
    model = build_model(manifest["architecture"], manifest.get("config"))
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f"{weights} does not fit {manifest['architecture']} {manifest.get('config')}: "
                              f"missing {missing[:3]}, unexpected {unexpected[:3]}, shape mismatches {shapes[:3]}")
    model.load_state_dict(state)
    model.eval()
    return model, manifest


def cached_tensors(key: dict, compute: Callable[[], dict[str, torch.Tensor]],
                   cache_dir: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Return `compute()`, stored on disk under a hash of `key` and reused next time.

    `key` must name everything the result depends on (use digests of tensors and
    weights, not file names), so that a changed setting always misses the cache.
    A cache file that cannot be read is recomputed and overwritten.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    path = cache_dir / f"{key.get('kind', 'cache')}-{name}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError):
            pass  # unreadable: recompute below
    result = {k: v.detach().cpu().contiguous() for k, v in compute().items()}
    atomic_write(path, lambda tmp: save_file(result, str(tmp), metadata={"key": json.dumps(key, sort_keys=True)}))
    return result
