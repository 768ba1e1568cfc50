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
    assert {p.name for p in tmp_path.iterdir()} == {"t.json", f"t.{m['sha256'][:12]}.safetensors"}  # no temp files


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
    m = save_checkpoint(make_student(8), tmp_path / "s")
    w = tmp_path / m["weights"]
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"s\.\w+\.safetensors has SHA-256 .* corrupt or was replaced"):
        load_checkpoint(tmp_path / "s")


def test_garbage_weights_with_matching_hash_are_a_clear_error(tmp_path):
    m = save_checkpoint(make_student(8), tmp_path / "s")
    w = tmp_path / m["weights"]
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
    with pytest.raises(CheckpointError, match=r"s\.json was edited: config differ"):
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


# ---- the manifest bound to the weights, malformed manifests, non-finite weights ------------------

def test_an_edited_behaviour_setting_is_detected_but_a_comment_is_not(tmp_path):
    m = save_checkpoint(make_student(8), tmp_path / "s", dataset="fashion_mnist", task={"digits": 3})
    for key, value in (("task", {"digits": 2}), ("dataset", "mnist"), ("architecture", "cnn_student")):
        (tmp_path / "s.json").write_text(json.dumps({**m, key: value}))
        with pytest.raises(CheckpointError, match=f"was edited: {key} differ"):
            load_checkpoint(tmp_path / "s")
    (tmp_path / "s.json").write_text(json.dumps({**m, "command": "edited by hand", "test_accuracy": 0.99}))
    load_checkpoint(tmp_path / "s")  # descriptive fields may change


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "holds a JSON list, not an object"),
    ('{"weights": "w", "sha256": "x"}', "no valid 'architecture'"),
    ('{"architecture": 3, "weights": "w", "sha256": "x"}', "no valid 'architecture'"),
    ('{"architecture": "mlp_student", "weights": "../../etc/passwd", "sha256": "x"}', "outside its folder"),
    ('{"architecture": "mlp_student", "config": [1], "weights": "w", "sha256": "x"}', "'config' must be a JSON object"),
])
def test_malformed_manifests_are_one_line(tmp_path, text, message):
    (tmp_path / "s.json").write_text(text)
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(tmp_path / "s")
    assert "\n" not in str(e.value)


def test_non_utf8_manifest_and_unregistered_architecture(tmp_path):
    (tmp_path / "s.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(CheckpointError, match="not UTF-8"):
        load_checkpoint(tmp_path / "s")
    m = save_checkpoint(make_student(8), tmp_path / "t")
    (tmp_path / "t.json").write_text(json.dumps({**m, "architecture": "resnet"}))
    with pytest.raises(CheckpointError, match="was edited: architecture"):
        load_checkpoint(tmp_path / "t")


def test_non_finite_weights_are_refused_on_save_and_load(tmp_path):
    s = make_student(8)
    with torch.no_grad():
        next(s.parameters())[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        save_checkpoint(s, tmp_path / "s")
    assert not list(tmp_path.iterdir())


def test_saving_again_replaces_the_old_weights(tmp_path):
    a = save_checkpoint(make_student(8, seed=1), tmp_path / "s")
    b = save_checkpoint(make_student(8, seed=2), tmp_path / "s")
    assert a["weights"] != b["weights"]
    assert {p.name for p in tmp_path.iterdir()} == {"s.json", b["weights"]}


KILL_LOOP = """
import sys, torch
sys.path.insert(0, {root!r})
from distill.checkpoints import save_checkpoint
from distill.models import make_student
i = 0
while True:
    save_checkpoint(make_student(64, seed=i % 5), {path!r}, round=i)
    i += 1
"""


def test_kill_9_during_saves_always_leaves_a_loadable_checkpoint(tmp_path):
    """A process saving in a loop is killed at random moments; the checkpoint always loads, old or new."""
    import random
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    rng = random.Random(0)
    path = tmp_path / "ck"
    save_checkpoint(make_student(64, seed=0), path, round=-1)
    for _ in range(8):
        p = subprocess.Popen([sys.executable, "-c", KILL_LOOP.format(root=str(ROOT), path=str(path))])
        time.sleep(1.5 + rng.random() * 1.0)  # import takes ~1 s; then kill during the save loop
        p.send_signal(signal.SIGKILL)
        p.wait()
        model, manifest = load_checkpoint(path)
        assert manifest["round"] >= -1
    save_checkpoint(make_student(64, seed=9), path, round=99)  # a clean save removes what kills left behind
    assert [p.name for p in tmp_path.glob("ck.*.safetensors")] == [load_checkpoint(path)[1]["weights"]]


def test_a_readable_but_altered_cache_entry_is_recomputed(tmp_path):
    from safetensors.torch import save_file
    key = {"kind": "t", "v": 2}
    cached_tensors(key, lambda: {"x": torch.zeros(3)}, tmp_path)
    (entry,) = tmp_path.glob("t-*.safetensors")
    from safetensors import safe_open
    with safe_open(str(entry), "pt") as f:
        meta = f.metadata()
    save_file({"x": torch.full((3,), 10002.0)}, str(entry), metadata=meta)  # same key, other values
    assert cached_tensors(key, lambda: {"x": torch.ones(3)}, tmp_path)["x"].tolist() == [1, 1, 1]


def test_stale_temporary_files_are_cleaned(tmp_path):
    import os
    import time
    from distill.checkpoints import clean_stale_tmp
    old, new = tmp_path / ".x.abc.tmp", tmp_path / ".y.abc.tmp"
    old.write_text("left by a killed process")
    new.write_text("being written right now")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert clean_stale_tmp(tmp_path) == 1 and not old.exists() and new.exists()
