"""Checkpoints: round trip, atomic writes, no unpickling, clear errors; the tensor cache."""
import json
import pickle

import pytest
import torch

from distill.checkpoints import cached_tensors, load_checkpoint, save_checkpoint, tensor_digest
from distill.errors import CheckpointError
from distill.models import TeacherCNN, TeacherConfig, make_student


def test_round_trip_gives_identical_outputs_and_a_full_manifest(tmp_path):
    model = TeacherCNN(TeacherConfig(channels=(4, 8)))
    model.eval()
    x = torch.randn(2, 1, 28, 28)
    manifest = save_checkpoint(model, tmp_path / "t", dataset="fashion_mnist", test_accuracy=0.5, command="cmd")
    loaded, m = load_checkpoint(tmp_path / "t")
    assert torch.equal(model(x), loaded(x))
    assert m == manifest == json.loads((tmp_path / "t.json").read_text())
    assert m["architecture"] == "teacher_cnn" and m["config"]["channels"] == [4, 8]
    assert len(m["sha256"]) == 64 and m["command"] == "cmd"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json", "t.safetensors"]  # no temp files left


def test_loading_never_unpickles(tmp_path, monkeypatch):
    save_checkpoint(make_student(8), tmp_path / "s")

    def refuse(*a, **k):
        raise AssertionError("unpickling attempted")
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_checkpoint(tmp_path / "s")


def test_missing_checkpoint_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoint manifest at .*nothing\.json.*make teacher"):
        load_checkpoint(tmp_path / "nothing")


def test_corrupt_weights_are_detected_by_hash(tmp_path):
    save_checkpoint(make_student(8), tmp_path / "s")
    w = tmp_path / "s.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"s\.safetensors has SHA-256 .* corrupt or was replaced"):
        load_checkpoint(tmp_path / "s")


def test_garbage_weights_with_matching_hash_are_a_clear_error(tmp_path):
    m = save_checkpoint(make_student(8), tmp_path / "s")
    w = tmp_path / "s.safetensors"
    w.write_bytes(b"not a safetensors file")
    from distill.checkpoints import file_sha256
    m["sha256"] = file_sha256(w)
    (tmp_path / "s.json").write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path / "s")


def test_mismatched_architecture_config_is_named(tmp_path):
    m = save_checkpoint(make_student(8), tmp_path / "s")
    m["config"]["width"] = 16
    (tmp_path / "s.json").write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match=r"does not fit mlp_student.*shape mismatches"):
        load_checkpoint(tmp_path / "s")
    with pytest.raises(CheckpointError, match="expected a 'teacher_cnn'"):
        load_checkpoint(tmp_path / "s", architecture="teacher_cnn")


def test_invalid_manifest_json(tmp_path):
    save_checkpoint(make_student(8), tmp_path / "s")
    (tmp_path / "s.json").write_text("{oops")
    with pytest.raises(CheckpointError, match=r"s\.json is not valid JSON"):
        load_checkpoint(tmp_path / "s")


def test_cache_computes_once_and_misses_on_a_changed_key(tmp_path):
    calls = []

    def compute(v):
        calls.append(v)
        return {"x": torch.full((3,), float(v))}

    k1, k2 = {"kind": "t", "X": tensor_digest(torch.zeros(2))}, {"kind": "t", "X": tensor_digest(torch.ones(2))}
    assert cached_tensors(k1, lambda: compute(1), tmp_path)["x"].tolist() == [1, 1, 1]
    assert cached_tensors(k1, lambda: compute(99), tmp_path)["x"].tolist() == [1, 1, 1]
    assert cached_tensors(k2, lambda: compute(2), tmp_path)["x"].tolist() == [2, 2, 2]
    assert calls == [1, 2]


def test_unreadable_cache_entry_is_recomputed(tmp_path):
    key = {"kind": "t", "v": 1}
    cached_tensors(key, lambda: {"x": torch.zeros(2)}, tmp_path)
    (entry,) = tmp_path.glob("t-*.safetensors")
    entry.write_bytes(b"truncated")
    assert cached_tensors(key, lambda: {"x": torch.ones(2)}, tmp_path)["x"].tolist() == [1, 1]


def test_tensor_digest_depends_on_values_shape_and_dtype():
    x = torch.arange(6.0)
    assert tensor_digest(x) == tensor_digest(x.clone())
    assert len({tensor_digest(x), tensor_digest(x.reshape(2, 3)), tensor_digest(x.double()),
                tensor_digest(x + 1)}) == 4


def test_tensor_digest_handles_scalars():
    assert tensor_digest(torch.tensor(3)) != tensor_digest(torch.tensor(4))
