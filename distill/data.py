"""Datasets as normalized in-memory tensors, with a validation split.

Everything downstream indexes plain tensors: `X` is (N, C, H, W) float32, already
normalized, and `y` is (N,) int64. There is no per-sample PIL transform anywhere
in the training loop, which is what makes the small models here train in seconds.

Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) is the default and works offline.
`load_dataset` looks for it in this order:

1. `data/FashionMNIST/raw/` -- torchvision's layout, extracted idx files;
2. the Debian package `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist/*.gz`),
   extracted into 1. (its .gz bytes differ from upstream, so torchvision's checksum
   would reject them, but the files inside are the real dataset);
3. torchvision's download (needs the internet).

MNIST and CIFAR-10 are available through torchvision's download only.

The validation split is carved out of the training set with a fixed seed, so
hyper-parameters are chosen on validation and the test set is only ever reported.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DistillError
from .registry import Registry
from .settings import data_dir

# DISTILL_DATA moves the datasets (and nothing else); the committed teachers stay in ARTIFACTS_DIR.
DATA_DIR = data_dir()
ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "data"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
DATASETS = ("fashion_mnist", "mnist", "cifar10")

# idx file names inside torchvision's `<root>/<Name>/raw/` folder
_IDX_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)


@dataclass
class Dataset:
    """Train / validation / test tensors of one dataset, normalized with train statistics."""

    name: str
    classes: tuple[str, ...]
    X_train: torch.Tensor  # (N_train, C, H, W) float32
    y_train: torch.Tensor  # (N_train,) int64
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    mean: float
    std: float
    split_seed: int = 0  # the seed of the train/validation split

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X_train.shape[1:])

    def denormalize(self, X: torch.Tensor) -> torch.Tensor:
        """Back to pixel values in [0, 1], for showing images."""
        return (X * self.std + self.mean).clamp(0, 1)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
                f"test={len(self.y_test)}, input_shape={self.input_shape}, classes={self.num_classes})")


def _have_idx_files(raw: Path) -> bool:
    return all((raw / f).is_file() for f in _IDX_FILES)


def _extract_debian_fashion_mnist(raw: Path, source: Path) -> bool:
    """Extract the Debian package's .gz files into torchvision's raw layout (each file atomically)."""
    from .checkpoints import atomic_write
    if not all((source / f"{f}.gz").is_file() for f in _IDX_FILES):
        return False

    def extract(gz: Path):
        def write(tmp: Path):
            with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return write

    for f in _IDX_FILES:
        atomic_write(raw / f, extract(source / f"{f}.gz"))
    return True


def _load_mnist_like(name: str, root: Path, download: bool) -> tuple[np.ndarray, ...]:
    """Return uint8 (train images, train labels, test images, test labels), read by torchvision's
    own loader from `root/<Name>/raw/` (after extracting Debian's copy there if needed)."""
    import torchvision
    folder = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}[name]
    cls = {"fashion_mnist": torchvision.datasets.FashionMNIST, "mnist": torchvision.datasets.MNIST}[name]
    raw = root / folder / "raw"
    if not _have_idx_files(raw) and name == "fashion_mnist":
        _extract_debian_fashion_mnist(raw, DEBIAN_FASHION_MNIST)
    if not _have_idx_files(raw) and not download:
        raise DistillError(f"{name} not found in {raw} (download disabled)")
    try:
        parts = [cls(str(root), train=train, download=not _have_idx_files(raw)) for train in (True, False)]
    except Exception as e:  # network errors come in many types; a corrupt file raises from torchvision's reader
        if _have_idx_files(raw):
            raise DistillError(f"{name} files in {raw} cannot be read ({type(e).__name__}: {e}); "
                               f"delete them and run `make data` again") from None
        how = ("  1) put the extracted idx files in data/FashionMNIST/raw/;  "
               "2) `apt-get install dataset-fashion-mnist` (Debian/Ubuntu);  "
               "3) connect to the internet so torchvision can download it"
               if name == "fashion_mnist" else "  connect to the internet so torchvision can download it")
        raise DistillError(f"{name} not found in {raw} and the download failed "
                           f"({type(e).__name__}). Ways to get it:{how}") from None
    return tuple(a.numpy() for part in parts for a in (part.data, part.targets))


def _load_cifar10(root: Path, download: bool) -> tuple[np.ndarray, ...]:
    import torchvision
    try:
        tr = torchvision.datasets.CIFAR10(str(root), train=True, download=download)
        te = torchvision.datasets.CIFAR10(str(root), train=False, download=download)
    except Exception as e:
        raise DistillError(f"cifar10 not found in {root} and could not be downloaded ({type(e).__name__}); "
                           "it needs the internet the first time") from None
    to_nchw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)
    return to_nchw(tr.data), np.array(tr.targets), to_nchw(te.data), np.array(te.targets)


def load_dataset(name: str = "fashion_mnist", val_size: int = 5000, seed: int = 0,
                 root: str | Path | None = None, download: bool = True) -> Dataset:
    """Load a dataset into memory, normalized, with `val_size` training images held out.

    The split is a fixed permutation drawn from `seed`; the same arguments always give
    the same split. Pixel values are scaled to [0, 1] then standardized with the mean
    and standard deviation of the (post-split) training images.
    """
    if name not in DATASETS:
        raise DistillError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    root = Path(root) if root is not None else DATA_DIR
    if name == "cifar10":
        Xtr, ytr, Xte, yte = _load_cifar10(root, download)
        classes = CIFAR10_CLASSES
    else:
        Xtr, ytr, Xte, yte = _load_mnist_like(name, root, download)
        classes = FASHION_CLASSES if name == "fashion_mnist" else MNIST_CLASSES
    if not 0 <= val_size < len(ytr):
        raise DistillError(f"val_size={val_size} must be between 0 and {len(ytr) - 1}")

    # every step in place where it can be: the same values as (x / 255 - mean) / std, without the
    # copies (loading Fashion-MNIST peaked about 0.3 GB higher with them: 1.38 against 1.09 GB)
    def to_float(a: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(a, dtype=np.float32, copy=True)).div_(255.0)
        return x.unsqueeze(1) if x.ndim == 3 else x  # (N, H, W) -> (N, 1, H, W)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return x.sub_(mean).div_(std)

    Xtr = to_float(Xtr)
    ytr, yte = torch.as_tensor(np.array(ytr), dtype=torch.long), torch.as_tensor(np.array(yte), dtype=torch.long)
    perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    X_train, y_train = Xtr.index_select(0, train_idx), ytr[train_idx]
    X_val = Xtr.index_select(0, val_idx)
    del Xtr
    mean, std = X_train.mean().item(), X_train.std().item()
    return Dataset(name=name, classes=classes,
                   X_train=norm(X_train), y_train=y_train,
                   X_val=norm(X_val), y_val=ytr[val_idx],
                   X_test=norm(to_float(Xte)), y_test=yte, mean=mean, std=std, split_seed=seed)


# ---- transfer sets: what a copier feeds the teacher -------------------------------------
#
# Each builder is named, parameterised, and deterministic given `seed`. It returns a
# `TransferSet`: the images X, already normalized like the dataset, and `labels`, the true
# labels the copier *knows* (-1 where the copier does not know the label).

def source_size(name: str, ds: Dataset) -> int | None:
    """How many images a transfer-set source holds (None: as many as you like)."""
    return {"train": len(ds.y_train), "fewlabel": len(ds.y_train), "heldout": len(ds.y_val),
            "digits": 1797, "mnist": 60000}.get(name)


@dataclass
class TransferSet:
    name: str
    X: torch.Tensor                  # (n, C, H, W), normalized like the dataset
    labels: torch.Tensor             # (n,) true labels the copier knows, -1 where unknown
    y_true: torch.Tensor | None = None  # (n,) ground truth where the source has it: for baselines
                                        # and analysis only, never shown to the copier

    def __len__(self) -> int:
        return len(self.X)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _take(X: torch.Tensor, y: torch.Tensor | None, n: int, source: str, seed: int):
    if n > len(X):
        raise DistillError(f"transfer set {source!r} has {len(X)} images, {n} were asked for; "
                           f"choose --transfer-size {len(X)} or less")
    idx = torch.randperm(len(X), generator=_gen(seed))[:n]
    return X[idx], (y[idx] if y is not None else None)


def _resize(X: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)


def _digits_pixels() -> torch.Tensor:
    """scikit-learn's digits as (1797, 1, 28, 28) pixels in [0, 1]: 8x8 -> 20x20, centred like MNIST."""
    from sklearn.datasets import load_digits
    d = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    return torch.nn.functional.pad(_resize(d, 20).clamp(0, 1), (4, 4, 4, 4))


def _photo_patches(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """n random square crops (side 28 to 160 px) of the two sample photos, grey, resized to `size`."""
    from sklearn.datasets import load_sample_images
    photos = [torch.tensor(im, dtype=torch.float32).mean(-1) / 255.0 for im in load_sample_images().images]  # (H, W)
    out = torch.empty(n, 1, size, size)
    for i in range(n):
        img = photos[int(torch.randint(len(photos), (1,), generator=gen))]
        side = int(torch.randint(28, 161, (1,), generator=gen))
        top = int(torch.randint(img.shape[0] - side + 1, (1,), generator=gen))
        left = int(torch.randint(img.shape[1] - side + 1, (1,), generator=gen))
        out[i] = _resize(img[top:top + side, left:left + side][None, None], size)[0]
    return out


def random_hflip(X: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right (clothes look alike mirrored): (N, C, H, W)."""
    flip = (torch.rand(len(X), generator=gen) < 0.5).to(X.device)
    return torch.where(flip[:, None, None, None], X.flip(-1), X)


def _augment(X: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Heavy, label-agnostic augmentation of normalized images (N, C, H, W)."""
    n = len(X)
    X = random_hflip(X, gen)
    shifts = torch.randint(-4, 5, (n, 2), generator=gen)
    X = torch.stack([torch.roll(x, (int(dy), int(dx)), dims=(-2, -1)) for x, (dy, dx) in zip(X, shifts)])
    contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=gen)
    return X * contrast + 0.3 * torch.randn(X.shape, generator=gen)


# name -> builder(ds, n, seed, X_src, y_src, gen, labelled=, seed_size=) -> TransferSet, where (X_src, y_src)
# are the dataset images it draws from (with `exclude_class` already removed) and `gen` a generator seeded by `seed`
TRANSFER_SETS = Registry("transfer set")
IN_DISTRIBUTION = {"train", "heldout", "fewlabel", "mixup", "augment"}  # drawn from the dataset itself


def _unknown(k: int) -> torch.Tensor:
    return torch.full((k,), -1, dtype=torch.long)


def _normalize(ds: Dataset, pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - ds.mean) / ds.std


def _grey28(name: str, ds: Dataset) -> None:
    if ds.input_shape != (1, 28, 28):
        raise DistillError(f"transfer set {name!r} makes 28x28 grey images; {ds.name} has input shape {ds.input_shape}")


@TRANSFER_SETS.register("train", help="the teacher's own training images, without labels")
def _train_set(ds, n, seed, X_src, y_src, gen, **_):
    X, y = _take(X_src, y_src, n, "train", seed)
    return TransferSet("train", X, _unknown(n), y)


@TRANSFER_SETS.register("heldout", help="in-distribution images the teacher never trained on "
                                        "(the validation split, at most 5,000)")
def _heldout_set(ds, n, seed, X_src, y_src, gen, **_):
    X, y = _take(X_src, y_src, n, "heldout", seed)
    return TransferSet("heldout", X, _unknown(n), y)


@TRANSFER_SETS.register("fewlabel", help="training images of which only `labelled` carry their true label")
def _fewlabel_set(ds, n, seed, X_src, y_src, gen, labelled=100, **_):
    if not 0 <= labelled <= n:
        raise DistillError(f"fewlabel needs 0 <= labelled <= n, got labelled={labelled}, n={n}")
    X, y = _take(X_src, y_src, n, "fewlabel", seed)
    return TransferSet("fewlabel", X, torch.cat([y[:labelled], _unknown(n - labelled)]), y)


def _seed_images(name, n, seed, X_src, y_src, gen, seed_size):
    if not 1 <= seed_size <= len(X_src):
        raise DistillError(f"seed_size must be between 1 and {len(X_src)}, got {seed_size}")
    seeds, _ = _take(X_src, y_src, seed_size, name, seed)
    return lambda: seeds[torch.randint(seed_size, (n,), generator=gen)]


@TRANSFER_SETS.register("mixup", help="mixup (random convex pairs) of a tiny seed set of `seed_size` training images")
def _mixup_set(ds, n, seed, X_src, y_src, gen, seed_size=100, **_):
    pick = _seed_images("mixup", n, seed, X_src, y_src, gen, seed_size)
    lam = torch.rand(n, 1, 1, 1, generator=gen)  # x = lam * x_i + (1 - lam) * x_j
    return TransferSet("mixup", lam * pick() + (1 - lam) * pick(), _unknown(n))


@TRANSFER_SETS.register("augment", help="heavy augmentation (shifts, flips, contrast, noise) of a tiny seed set "
                                        "of `seed_size` training images")
def _augment_set(ds, n, seed, X_src, y_src, gen, seed_size=100, **_):
    pick = _seed_images("augment", n, seed, X_src, y_src, gen, seed_size)
    return TransferSet("augment", _augment(pick(), gen), _unknown(n))


@TRANSFER_SETS.register("digits", help="another domain: scikit-learn's 8x8 handwritten digits, upscaled to "
                                       "28x28 (1,797 images)")
def _digits_set(ds, n, seed, X_src, y_src, gen, **_):
    _grey28("digits", ds)
    X, _ = _take(_normalize(ds, _digits_pixels()), None, n, "digits", seed)
    return TransferSet("digits", X, _unknown(n))


@TRANSFER_SETS.register("patches", help="another domain: random grey patches of two photographs (scikit-learn's "
                                         "sample images, a temple and a flower)")
def _patches_set(ds, n, seed, X_src, y_src, gen, **_):
    _grey28("patches", ds)
    return TransferSet("patches", _normalize(ds, _photo_patches(n, ds.input_shape[-1], gen)), _unknown(n))


@TRANSFER_SETS.register("noise", help="uniform random pixels")
def _noise_set(ds, n, seed, X_src, y_src, gen, **_):
    return TransferSet("noise", _normalize(ds, torch.rand((n, *ds.input_shape), generator=gen)), _unknown(n))


@TRANSFER_SETS.register("mnist", help="another domain: MNIST handwritten digits (needs torchvision's download)")
def _mnist_set(ds, n, seed, X_src, y_src, gen, **_):
    _grey28("mnist", ds)
    Xm, *_ = _load_mnist_like("mnist", DATA_DIR, download=True)
    pixels = torch.from_numpy(Xm.astype(np.float32) / 255.0).unsqueeze(1)
    X, _ = _take(_normalize(ds, pixels), None, n, "mnist", seed)
    return TransferSet("mnist", X, _unknown(n))


def make_transfer_set(name: str, ds: Dataset, n: int, seed: int = 0, exclude_class: int | None = None,
                      labelled: int = 100, seed_size: int = 100) -> TransferSet:
    """Build `n` transfer images of kind `name` (see `TRANSFER_SETS`) for dataset `ds`.

    `exclude_class` removes every image of that true class (for sets drawn from the
    dataset: train, heldout, fewlabel, mixup, augment). `labelled` is the number of
    known true labels for `fewlabel`; `seed_size` the seed set for `mixup` and `augment`.
    """
    build = TRANSFER_SETS[name]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DistillError(f"transfer-set size must be at least 1 (a whole number), got {n!r}")
    if exclude_class is not None:
        if not 0 <= exclude_class < ds.num_classes:
            raise DistillError(f"class {exclude_class} is out of range; {ds.name} has classes 0 to {ds.num_classes - 1}")
        if name not in IN_DISTRIBUTION:
            raise DistillError(f"exclude_class applies to sets drawn from {ds.name} ({', '.join(sorted(IN_DISTRIBUTION))}), "
                               f"not to {name!r}")
    X_src, y_src = (ds.X_val, ds.y_val) if name == "heldout" else (ds.X_train, ds.y_train)
    if exclude_class is not None:
        keep = y_src != exclude_class
        X_src, y_src = X_src[keep], y_src[keep]
    return build(ds, n, seed, X_src, y_src, _gen(seed), labelled=labelled, seed_size=seed_size)
