import os
import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Unit tests never read or write the real teacher-output cache."""
    import distill.checkpoints as ck
    monkeypatch.setattr(ck, "CACHE_DIR", tmp_path / "cache")


@pytest.fixture(scope="session")
def fashion():
    from distill.data import load_dataset
    return load_dataset("fashion_mnist", download=False)
