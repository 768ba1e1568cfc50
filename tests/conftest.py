import importlib.util
import sys
from pathlib import Path

import pytest

import distill  # noqa: F401  (applies the project's thread policy, distill.settings)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Unit tests never read or write the real teacher-output cache."""
    import distill.checkpoints as ck
    monkeypatch.setattr(ck, "CACHE_DIR", tmp_path / "cache")


@pytest.fixture(scope="session")
def fashion():
    from distill.data import load_dataset
    return load_dataset("fashion_mnist", download=False)


def load_script(relpath: str):
    """Import a project script that is not part of the package (bench/run.py, tools/*.py) as a module."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in the script look their module up here
    spec.loader.exec_module(module)
    return module
