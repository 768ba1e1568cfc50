"""Transfer-set builders: shapes, determinism, what each exposes, and their errors."""
import pytest
import torch

from distill.data import TRANSFER_SETS, make_transfer_set
from distill.errors import DistillError

OFFLINE = [n for n in TRANSFER_SETS if n != "mnist"]


@pytest.mark.parametrize("name", OFFLINE)
def test_builder_shape_and_determinism(fashion, name):
    kw = {"labelled": 10} if name == "fewlabel" else {}
    a = make_transfer_set(name, fashion, 64, seed=3, **kw)
    b = make_transfer_set(name, fashion, 64, seed=3, **kw)
    c = make_transfer_set(name, fashion, 64, seed=4, **kw)
    assert a.X.shape == (64, 1, 28, 28) and a.X.dtype == torch.float32 and len(a) == 64
    assert torch.equal(a.X, b.X) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.X, c.X)
    assert torch.isfinite(a.X).all()


@pytest.mark.parametrize("name", [n for n in OFFLINE if n != "fewlabel"])
def test_only_fewlabel_reveals_true_labels(fashion, name):
    assert (make_transfer_set(name, fashion, 150).labels == -1).all()


def test_fewlabel_reveals_exactly_the_requested_labels(fashion):
    ts = make_transfer_set("fewlabel", fashion, 300, labelled=20)
    known = ts.labels >= 0
    assert known.sum() == 20 and known[:20].all()
    # the known labels are the true ones: find those images in the training set
    rows = {x.numpy().tobytes(): int(y) for x, y in zip(fashion.X_train[:60000], fashion.y_train)}
    assert all(rows[x.numpy().tobytes()] == int(l) for x, l in zip(ts.X[:20], ts.labels[:20]))


def test_train_and_heldout_come_from_the_right_splits(fashion):
    train_rows = {x.numpy().tobytes() for x in fashion.X_train}
    assert all(x.numpy().tobytes() in train_rows for x in make_transfer_set("train", fashion, 100).X)
    assert not any(x.numpy().tobytes() in train_rows for x in make_transfer_set("heldout", fashion, 100).X)


def test_exclude_class_removes_every_image_of_that_class(fashion):
    ts = make_transfer_set("fewlabel", fashion, 5000, labelled=5000, exclude_class=3)
    assert (ts.labels != 3).all()
    rows = {x.numpy().tobytes(): int(y) for x, y in zip(fashion.X_train, fashion.y_train)}
    assert all(rows[x.numpy().tobytes()] != 3 for x in make_transfer_set("train", fashion, 2000, exclude_class=3).X)


def test_mixup_images_lie_between_seed_images(fashion):
    ts = make_transfer_set("mixup", fashion, 200, seed_size=10)
    lo, hi = fashion.X_train.min(), fashion.X_train.max()
    assert ts.X.min() >= lo - 1e-5 and ts.X.max() <= hi + 1e-5


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="books", n=10), "unknown transfer set 'books'"),
    (dict(name="heldout", n=5001), "transfer set 'heldout' has 5000 images, 5001 were asked for"),
    (dict(name="digits", n=2000), "transfer set 'digits' has 1797 images"),
    (dict(name="train", n=10, exclude_class=10), "class 10 is out of range"),
    (dict(name="train", n=10, exclude_class=-1), "class -1 is out of range"),
    (dict(name="noise", n=10, exclude_class=2), "exclude_class applies to sets drawn from"),
    (dict(name="train", n=0), "size must be at least 1"),
    (dict(name="fewlabel", n=10, labelled=11), "labelled <= n"),
])
def test_bad_requests_are_clear_errors(fashion, kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(DistillError, match=message.replace("(", r"\(")):
        make_transfer_set(name, fashion, **kwargs)


def test_mixup_seed_set_is_the_start_of_the_train_set(fashion):
    # notebook 04 compares mixup with `train` at the seed-set size: they must be the same images
    first = make_transfer_set("train", fashion, 500, seed=0).X[0]
    mixed = make_transfer_set("mixup", fashion, 20, seed=0, seed_size=1).X
    assert torch.allclose(mixed, first.expand_as(mixed), atol=1e-6)
