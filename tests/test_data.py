"""Dataset loading: the offline paths, the split, and the errors."""
import gzip

import numpy as np
import pytest
import torch

import distill.data as data
from distill.errors import DistillError


def test_fashion_mnist_split_shapes_and_normalization(fashion):
    ds = fashion
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (55000, 5000, 10000)
    assert ds.X_train.shape[1:] == (1, 28, 28) and ds.X_train.dtype == torch.float32
    assert abs(ds.X_train.mean().item()) < 1e-3 and abs(ds.X_train.std().item() - 1) < 1e-3
    assert ds.num_classes == 10 and ds.classes[9] == "Ankle boot"
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    assert 0 <= ds.denormalize(ds.X_test[:5]).min() and ds.denormalize(ds.X_test[:5]).max() <= 1


def test_validation_split_is_deterministic_and_disjoint_from_train(fashion):
    again = data.load_dataset("fashion_mnist", download=False)
    assert torch.equal(again.y_val, fashion.y_val) and torch.equal(again.X_val[:50], fashion.X_val[:50])
    train_rows = {r.numpy().tobytes() for r in fashion.X_train[:20000].flatten(1)}
    assert not any(r.numpy().tobytes() in train_rows for r in fashion.X_val[:500].flatten(1))


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_debian_gz_files_are_extracted_into_torchvision_layout(tmp_path, monkeypatch):
    src = tmp_path / "debian"
    src.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        _write_idx(src / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _write_idx(src / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", src)
    ds = data.load_dataset("fashion_mnist", val_size=5, root=tmp_path / "root", download=False)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (25, 5, 10)
    assert (tmp_path / "root/FashionMNIST/raw/train-images-idx3-ubyte").is_file()


def test_no_data_and_failed_download_names_the_three_ways(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    import torchvision

    def offline(*a, **k):
        raise ConnectionError("no network")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DistillError) as e:
        data.load_dataset("fashion_mnist", root=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert "data/FashionMNIST/raw/" in msg and "dataset-fashion-mnist" in msg and "download" in msg


def test_unknown_dataset():
    with pytest.raises(DistillError, match="unknown dataset 'imagenet'"):
        data.load_dataset("imagenet")


def test_torchvision_loader_gives_the_arrays_a_plain_idx_parse_gives(tmp_path, monkeypatch):
    """The dataset is read by torchvision's own loader; check it against parsing the idx bytes by hand."""
    src = tmp_path / "debian"
    src.mkdir()
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (40, 28, 28)), np.arange(40) % 10
    for split in ("train", "t10k"):
        _write_idx(src / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx(src / f"{split}-labels-idx1-ubyte.gz", labels)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", src)
    Xtr, ytr, Xte, yte = data._load_mnist_like("fashion_mnist", tmp_path / "root", download=False)
    raw = (tmp_path / "root/FashionMNIST/raw/train-images-idx3-ubyte").read_bytes()
    by_hand = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(40, 28, 28)  # magic + 3 dims = 16 bytes
    assert np.array_equal(Xtr, by_hand) and np.array_equal(Xtr, images) and np.array_equal(yte, labels)
    assert Xtr.dtype == np.uint8 and ytr.dtype == np.int64


def test_a_truncated_data_file_is_one_line(tmp_path, monkeypatch):
    raw = tmp_path / "root/FashionMNIST/raw"
    raw.mkdir(parents=True)
    for f in data._IDX_FILES:
        (raw / f).write_bytes(b"")  # zero-byte files
    with pytest.raises(DistillError, match="cannot be read.*delete them and run `make data` again") as e:
        data.load_dataset("fashion_mnist", root=tmp_path / "root", download=False)
    assert "\n" not in str(e.value)


def test_cifar_shaped_teacher_and_students_train_on_synthetic_data():
    """The CIFAR-10 path (3x32x32) end to end on a few synthetic images: teacher, a CNN and an MLP copy."""
    import dataclasses
    from distill.recipes import TEACHER_TRAIN, train_student, train_teacher
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
    ds = data.Dataset("cifar10", data.CIFAR10_CLASSES, X, y, X[:16], y[:16], X[:16], y[:16], 0.0, 1.0)
    cfg = dataclasses.replace(TEACHER_TRAIN, epochs=1, batch_size=32, progress=False)
    teacher, hist = train_teacher(ds, train=cfg)
    assert teacher.config.image_size == 32 and teacher.config.in_channels == 3 and len(hist.val_accuracy) == 1
    logits = teacher(X[:4])
    for family in ("cnn", "mlp", "teacher"):
        student, _ = train_student(X, "soft", teacher_logits=torch.randn(64, 10, generator=g), family=family,
                                   size=4, config=dataclasses.replace(cfg, epochs=1))
        assert student(X[:4]).shape == logits.shape == (4, 10)
