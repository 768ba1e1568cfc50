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
