"""Checkpoints (safetensors + JSON manifest) and a config-keyed tensor cache.

A checkpoint `data/teacher` is two files that form **one atomic unit**:
- the weights, `data/teacher.<sha12>.safetensors`: named by their content, written first.
  safetensors holds raw tensors and a JSON header, so loading never unpickles (a `.pt` file
  can run arbitrary code);
- the manifest, `data/teacher.json`: architecture name and config (enough to rebuild the
  model), dataset, scores, the name and SHA-256 of its weights file, and the command that
  trains it. Writing it (atomically: a temporary file renamed over the target) is what
  switches the checkpoint from the old weights to the new ones; the old weights file is
  removed only after that. A crash at any moment leaves the old checkpoint or the new one,
  both loadable, never new weights beside an old manifest.

The settings that shape behaviour (`BOUND`: architecture, config, dataset, normalisation, split,
task) are also stored inside the weights file's metadata, which the SHA-256 covers: an edited
manifest no longer matches them and is refused. Non-finite weights are refused too.

Every file the project writes goes through `atomic_write` (temporary file + rename), and stale
temporary files left by a killed process are removed on the next write to the same folder.
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
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import CheckpointError
from .settings import cache_dir

CACHE_DIR = cache_dir()


STALE_SECONDS = 3600  # a temporary file older than this was left by a killed process


def clean_stale_tmp(folder: Path, older_than: float = STALE_SECONDS) -> int:
    """Remove `atomic_write` temporary files older than `older_than` seconds; returns how many."""
    import time
    removed = 0
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
        except OSError:
            pass  # another process removed or renamed it first
    return removed


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)`, then rename the temporary file onto `path` (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private (0600); use the usual mode
        with open(tmp, "rb") as f:     # on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: str | Path) -> Path:
    """Fail now, not after training, if `path`'s folder cannot be created or written."""
    path = Path(path)
    folder = path.parent if path.parent != Path("") else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder} ({e.strerror or e}); choose another --out") from None
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give a file path without suffix, e.g. {path / 'model'}")
    return path


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


BOUND = ("architecture", "config", "dataset", "normalization", "val_size", "split_seed", "task")


def _stem(path: str | Path) -> Path:
    stem = Path(path)
    return stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem


def _bound(manifest: dict) -> str:
    return json.dumps({k: manifest[k] for k in BOUND if k in manifest}, sort_keys=True)


def save_checkpoint(model: nn.Module, path: str | Path, **manifest) -> dict:
    """Write the weights (content-addressed), then swap the manifest in atomically; returns the manifest."""
    from .models import architecture_name, model_config

    stem = _stem(path)
    meta = stem.with_suffix(".json")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save {stem}: weights {bad[:3]} hold NaN or infinite values")
    manifest = {"architecture": architecture_name(model), "config": model_config(model), **manifest}
    bound = _bound(manifest)
    clean_stale_tmp(meta.parent)
    staging = stem.with_name(f".{stem.name}.staging.safetensors")
    atomic_write(staging, lambda tmp: save_file(state, str(tmp), metadata={"distill_bound": bound}))
    digest = file_sha256(staging)
    weights = stem.with_name(f"{stem.name}.{digest[:12]}.safetensors")
    os.replace(staging, weights)
    old = _weights_named(meta) if meta.is_file() else None
    manifest = {**manifest, "weights": weights.name, "sha256": digest}
    atomic_write(meta, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n"))
    # only now, when the manifest no longer names them: the old weights, and any left by a killed save
    orphans = [f for f in stem.parent.glob(f"{stem.name}.*.safetensors") if f != weights
               and len(f.name.split(".")) == len(weights.name.split("."))]
    for f in orphans + ([old] if old is not None and old != weights else []):
        f.unlink(missing_ok=True)
    return manifest


def _weights_named(meta: Path) -> Path | None:
    try:
        name = json.loads(meta.read_text()).get("weights")
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return None
    return meta.with_name(name) if isinstance(name, str) and Path(name).name == name else None


def read_manifest(path: str | Path) -> dict:
    """The manifest as a dict, or a one-line `CheckpointError` saying what is wrong with it."""
    meta = _stem(path).with_suffix(".json")
    if not meta.is_file():
        raise CheckpointError(f"no checkpoint manifest at {meta}; train one first (for the teacher: `make teacher`)")
    try:
        manifest = json.loads(meta.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(f"{meta} is not UTF-8 text; retrain or restore it") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta} is not valid JSON ({e.msg} at line {e.lineno}); retrain or restore it") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{meta} holds a JSON {type(manifest).__name__}, not an object; retrain or restore it")
    for key, kind in (("architecture", str), ("weights", str), ("sha256", str)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{meta} has no valid {key!r} (a {kind.__name__}); retrain or restore it")
    if "config" in manifest and not isinstance(manifest["config"], dict):
        raise CheckpointError(f"{meta}: 'config' must be a JSON object, got {type(manifest['config']).__name__}")
    if Path(manifest["weights"]).name != manifest["weights"]:
        raise CheckpointError(f"{meta} names weights {manifest['weights']!r} outside its folder; refusing")
    return manifest


def load_checkpoint(path: str | Path, architecture: str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the model a manifest describes and load its weights, checking everything.

    Raises `CheckpointError` naming the file and what differs when a file is missing or
    corrupt, its SHA-256 differs from the manifest, the manifest's behaviour-shaping settings
    differ from those stored with the weights, the architecture is not the one expected or not
    registered, the weights are not finite, or they do not fit the architecture.
    """
    from .errors import DistillError
    from .models import build_model

    manifest = read_manifest(path)
    meta = _stem(path).with_suffix(".json")
    weights = meta.with_name(manifest["weights"])
    if not weights.is_file():
        raise CheckpointError(f"{meta} names weights {weights.name}, but {weights} does not exist")
    if architecture is not None and manifest["architecture"] != architecture:
        raise CheckpointError(f"{meta} holds a {manifest['architecture']!r}, expected a {architecture!r}")
    digest = file_sha256(weights)
    if manifest["sha256"] != digest:
        raise CheckpointError(f"{weights} has SHA-256 {digest[:12]}..., but {meta.name} records "
                              f"{manifest['sha256'][:12]}...: the file is corrupt or was replaced")
    try:
        with safe_open(str(weights), "pt") as f:
            stored = (f.metadata() or {}).get("distill_bound")
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({e})") from None
    if stored is None:
        raise CheckpointError(f"{weights} carries no bound settings (saved by an older version); re-save it with "
                              f"distill.checkpoints.save_checkpoint")
    if stored != _bound(manifest):
        saved = json.loads(stored)
        changed = sorted(k for k in set(saved) | {k for k in BOUND if k in manifest} if saved.get(k) != manifest.get(k))
        raise CheckpointError(f"{meta.name} was edited: {', '.join(changed)} differ from the settings saved with "
                              f"the weights; restore the manifest or retrain")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{weights} holds NaN or infinite weights ({', '.join(bad[:3])}); retrain it")
    try:
        model = build_model(manifest["architecture"], manifest.get("config"))
    except DistillError as e:
        raise CheckpointError(f"{meta}: {e}") from None
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


def _tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    return hashlib.sha256("".join(f"{k}{tensor_digest(v)}" for k, v in sorted(tensors.items())).encode()).hexdigest()


def cached_tensors(key: dict, compute: Callable[[], dict[str, torch.Tensor]],
                   cache_dir: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Return `compute()`, stored on disk under a hash of `key` and reused next time.

    `key` must name everything the result depends on (use digests of tensors and
    weights, not file names), so that a changed setting always misses the cache.
    An entry is verified on read (its key and a digest of its tensors, stored with it);
    one that cannot be read or does not match is recomputed and overwritten.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    key_text = json.dumps(key, sort_keys=True)
    name = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    path = cache_dir / f"{key.get('kind', 'cache')}-{name}.safetensors"
    if path.is_file():
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(path))
            if meta.get("key") == key_text and meta.get("digest") == _tensors_digest(tensors):
                return tensors
        except (SafetensorError, OSError, ValueError):
            pass  # unreadable: recompute below
    result = {k: v.detach().cpu().contiguous() for k, v in compute().items()}
    clean_stale_tmp(cache_dir)
    atomic_write(path, lambda tmp: save_file(result, str(tmp), metadata={"key": key_text,
                                                                          "digest": _tensors_digest(result)}))
    return result

