"""The training loop on synthetic tensors: learns, is reproducible, caches teacher outputs."""
import math

import pytest
import torch

from distill.errors import DistillError
from distill.losses import kd_loss, label_loss
from distill.models import make_student
from distill.recipes import train_student
from distill.train import TrainConfig, fit, pick_device, predict, teacher_outputs

CFG = TrainConfig(epochs=5, batch_size=32, lr=3e-3, progress=False)


def blobs(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.randn(3, 1, 4, 4, generator=g) * 3
    return centers[y] + torch.randn(n, 1, 4, 4, generator=g), y


def test_fit_learns_separable_data():
    X, y = blobs()
    model = make_student(16, in_features=16, num_classes=3)
    before = (predict(model, X).argmax(1) == y).float().mean().item()
    hist = fit(model, X, (y,), label_loss, CFG, val=(X, y))
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.val_accuracy[-1] > 0.95 > before
    assert len(hist.val_accuracy) == CFG.epochs and hist.seconds > 0


def test_same_seed_gives_identical_students():
    X, y = blobs()
    a, _ = train_student(X, "labels", y=y, width=8, seed=1, num_classes=3, config=CFG)
    b, _ = train_student(X, "labels", y=y, width=8, seed=1, num_classes=3, config=CFG)
    c, _ = train_student(X, "labels", y=y, width=8, seed=2, num_classes=3, config=CFG)
    assert torch.equal(predict(a, X), predict(b, X))
    assert not torch.equal(predict(a, X), predict(c, X))


def test_students_of_different_methods_start_from_identical_weights(monkeypatch):
    X, y = blobs()
    seen = []
    import distill.recipes as r
    real_fit = r.fit

    def spy(model, *a, **k):
        seen.append([p.detach().clone() for p in model.parameters()])
        return real_fit(model, *a, **k)
    monkeypatch.setattr(r, "fit", spy)
    t = torch.randn(len(X), 3)
    train_student(X, "labels", y=y, width=8, seed=5, num_classes=3, config=CFG)
    train_student(X, "soft", teacher_logits=t, width=8, seed=5, num_classes=3, config=CFG)
    assert all(torch.equal(p, q) for p, q in zip(*seen))


def test_distillation_copies_a_teacher():
    X, y = blobs()
    teacher = make_student(32, in_features=16, num_classes=3)
    fit(teacher, X, (y,), label_loss, CFG)
    t = predict(teacher, X)
    student = make_student(8, seed=1, in_features=16, num_classes=3)
    fit(student, X, (t,), lambda s, tl: kd_loss(s, tl, 2.0), CFG)
    assert (predict(student, X).argmax(1) == t.argmax(1)).float().mean() > 0.95


def test_method_without_its_targets_is_a_clear_error():
    X, y = blobs(20)
    with pytest.raises(DistillError, match="method 'soft' needs teacher logits"):
        train_student(X, "soft", y=y, num_classes=3)


def test_fit_rejects_misaligned_targets_and_bad_settings():
    X, y = blobs(20)
    with pytest.raises(DistillError, match="one row per example"):
        fit(make_student(4, in_features=16, num_classes=3), X, (y[:5],), label_loss, CFG)
    with pytest.raises(DistillError, match="unknown optimizer"):
        fit(make_student(4, in_features=16, num_classes=3), X, (y,), label_loss,
            TrainConfig(epochs=1, optimizer="lbfgs", progress=False))


def test_predict_is_eval_mode_and_restores_training_flag():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3))
    model.train()
    X, _ = blobs(50)
    assert torch.equal(predict(model, X), predict(model, X))  # dropout off
    assert model.training


def test_teacher_outputs_are_cached_and_keyed_by_inputs_and_weights(tmp_path, monkeypatch):
    import distill.checkpoints as ck
    monkeypatch.setattr(ck, "CACHE_DIR", tmp_path)
    X, _ = blobs(64)
    teacher = make_student(8, in_features=16, num_classes=3)
    first = teacher_outputs(teacher, X)
    assert len(list(tmp_path.glob("teacher_logits-*.safetensors"))) == 1
    assert torch.equal(teacher_outputs(teacher, X), first)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1               # reused, not recomputed
    assert torch.equal(teacher_outputs(teacher, X[:10]), predict(teacher, X[:10]))  # other inputs: miss
    with torch.no_grad():
        next(teacher.parameters()).add_(1.0)
    assert torch.equal(teacher_outputs(teacher, X), predict(teacher, X))  # other weights: miss
    assert len(list(tmp_path.glob("*.safetensors"))) == 3


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(DistillError, match="unknown device"):
        pick_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(DistillError, match="no CUDA GPU"):
            pick_device("cuda")


@pytest.mark.parametrize("n, steps", [(50, 7), (20, 13), (400, 3)])
def test_steps_budget_is_exact_whatever_the_data_size(n, steps):
    X, y = blobs(n)
    calls = []

    def counting_loss(logits, y):
        calls.append(len(y))
        return label_loss(logits, y)
    hist = fit(make_student(4, in_features=16, num_classes=3), X, (y,), counting_loss,
               TrainConfig(steps=steps, batch_size=8, progress=False))
    assert len(calls) == steps
    steps_per_epoch = math.ceil(n / 8)
    assert len(hist.train_loss) == math.ceil(steps / steps_per_epoch)  # the last epoch may be partial


def test_known_labels_become_one_hot_targets():
    from distill.losses import kd_loss
    from distill.recipes import with_known_labels
    t = torch.randn(4, 3)
    out = with_known_labels(t, torch.tensor([-1, 2, -1, 0]))
    assert torch.equal(out[0], t[0]) and torch.equal(out[2], t[2])
    assert out.argmax(1)[1] == 2 and out.argmax(1)[3] == 0
    assert torch.allclose(torch.softmax(out[1] / 4.0, -1), torch.tensor([0.0, 0.0, 1.0]))
    assert torch.isfinite(kd_loss(torch.randn(4, 3), out, 4.0))


# ---- many students at once --------------------------------------------------------------------

import dataclasses  # noqa: E402

from distill.models import make_copier  # noqa: E402
from distill.train import batchable, fit_many  # noqa: E402

STEPS = TrainConfig(steps=25, batch_size=32, lr=3e-3, progress=False)


def _one_at_a_time(family, size, X, targets, loss_fn, seeds, per_model=False):
    models = []
    for i, s in enumerate(seeds):
        m = make_copier(family, size, input_shape=tuple(X.shape[1:]), num_classes=3, seed=s)
        fit(m, X, tuple(t[i] for t in targets) if per_model else targets, loss_fn, dataclasses.replace(STEPS, seed=s))
        models.append(m)
    return models


@pytest.mark.parametrize("family, size, tol", [("mlp", 16, 1e-5), ("cnn", 4, 1e-4)])
def test_fit_many_matches_training_one_at_a_time(family, size, tol, monkeypatch):
    """Same seeds -> same initial weights, same shuffling, same steps: final logits equal within `tol`
    (float sums in another order; differences grow with the number of steps)."""
    import distill.train as tr
    monkeypatch.setattr(tr, "batchable", lambda models, device: True)  # force the vmapped path, CNNs too
    X = torch.randn(150, 1, 8, 8)
    t = torch.randn(150, 3)
    seeds = [3, 7, 11]
    loss_fn = lambda s, tt: kd_loss(s, tt, 2.0)  # noqa: E731
    ref = _one_at_a_time(family, size, X, (t,), loss_fn, seeds)
    many = [make_copier(family, size, input_shape=(1, 8, 8), num_classes=3, seed=s) for s in seeds]
    hist = fit_many(many, X, (t,), loss_fn, STEPS, seeds)
    for a, b in zip(ref, many):
        assert (predict(a, X) - predict(b, X)).abs().max() < tol
    assert len(hist) == 3 and all(h.config["seed"] == s for h, s in zip(hist, seeds))
    assert not torch.allclose(predict(many[0], X), predict(many[1], X))  # different seeds, different students


def test_fit_many_with_targets_per_model_and_labels():
    X, y = blobs(120)
    ys = torch.stack([y, (y + 1) % 3])  # two students, two different label sets
    ref = _one_at_a_time("mlp", 8, X, (ys,), label_loss, [0, 1], per_model=True)
    many = [make_copier("mlp", 8, input_shape=(1, 4, 4), num_classes=3, seed=s) for s in (0, 1)]
    fit_many(many, X, (ys,), label_loss, STEPS, [0, 1], per_model=True)
    for a, b in zip(ref, many):
        assert (predict(a, X) - predict(b, X)).abs().max() < 1e-5


def test_fit_many_with_inputs_per_model_matches_one_at_a_time():
    """Each student its own inputs (as each seed's copier chooses its own queries): same as `fit` on them."""
    X, y = blobs(120)
    Xs = [X, X.flip(-1) + 0.5]
    ys = torch.stack([y, (y + 2) % 3])
    ref = []
    for i, s in enumerate((0, 1)):
        m = make_copier("mlp", 8, input_shape=(1, 4, 4), num_classes=3, seed=s)
        fit(m, Xs[i], (ys[i],), label_loss, dataclasses.replace(STEPS, seed=s))
        ref.append(m)
    many = [make_copier("mlp", 8, input_shape=(1, 4, 4), num_classes=3, seed=s) for s in (0, 1)]
    fit_many(many, Xs, (ys,), label_loss, STEPS, [0, 1], per_model=True)
    for a, b in zip(ref, many):
        assert (predict(a, X) - predict(b, X)).abs().max() < 1e-5
    with pytest.raises(DistillError, match="needs per-model targets"):
        fit_many(many, Xs, (y,), label_loss, STEPS, [0, 1])
    with pytest.raises(DistillError, match="all of one shape"):
        fit_many(many, [X, X[:50]], (ys,), label_loss, STEPS, [0, 1], per_model=True)


def test_predict_of_a_conv_net_matches_its_plain_forward_pass():
    """`predict` runs conv nets from a channels-last copy: same logits as the model itself, model untouched."""
    m = make_copier("cnn", 4, input_shape=(1, 8, 8), num_classes=3, seed=0)
    X = torch.randn(300, 1, 8, 8)
    strides = [p.stride() for p in m.parameters()]
    with torch.no_grad():
        ref = m.eval()(X)
    assert (predict(m, X) - ref).abs().max() < 1e-4
    assert [p.stride() for p in m.parameters()] == strides


def test_fit_many_falls_back_to_fit_for_batch_norm_and_records_validation():
    X, y = blobs(100)
    models = [make_copier("teacher", 4, input_shape=(1, 8, 8), num_classes=3, seed=s) for s in (0, 1)]
    assert not batchable(models)
    hist = fit_many(models, X.repeat(1, 1, 2, 2), (y,), label_loss, dataclasses.replace(STEPS, epochs=2, steps=None),
                    [0, 1], val=(X.repeat(1, 1, 2, 2), y))
    assert all(len(h.val_accuracy) == 2 for h in hist)
    mlps = [make_copier("mlp", 8, input_shape=(1, 4, 4), num_classes=3, seed=s) for s in (0, 1)]
    assert batchable(mlps) and not batchable([mlps[0], make_copier("mlp", 16, input_shape=(1, 4, 4), num_classes=3)])
    hist = fit_many(mlps, X, (y,), label_loss, dataclasses.replace(STEPS, epochs=2, steps=None), [0, 1], val=(X, y))
    assert all(len(h.val_accuracy) == 2 and len(h.train_loss) == 2 for h in hist)


@pytest.mark.parametrize("call, message", [
    (lambda X, y: fit_many([], X, (y,), label_loss, STEPS), "at least one model (got 0)"),
    (lambda X, y: fit_many([make_student(4, in_features=16, num_classes=3)], X, (y,), label_loss, STEPS, [1, 2]),
     "one seed per model: 1 models, 2 seeds"),
    (lambda X, y: fit_many([make_student(4, in_features=16, num_classes=3)] * 2, X, (y,), label_loss, STEPS, [1, 2],
                           per_model=True), "leading dimension of 2"),
    (lambda X, y: fit_many([make_student(4, in_features=16, num_classes=3)], X, (y[:5],), label_loss, STEPS),
     "one row per example"),
    (lambda X, y: fit(make_student(4, in_features=16, num_classes=3), X[:0], (y[:0],), label_loss, STEPS),
     "training set is empty"),
])
def test_fit_many_bad_input_is_one_line(call, message):
    X, y = blobs(40)
    with pytest.raises(DistillError) as e:
        call(X, y)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_non_finite_loss_stops_training_with_a_clear_message():
    X, y = blobs(64)
    t = torch.randn(64, 3)
    t[5, 0] = float("nan")
    with pytest.raises(DistillError, match="training loss became nan"):
        fit(make_student(4, in_features=16, num_classes=3), X, (t,), lambda s, tt: kd_loss(s, tt, 2.0), STEPS)
    with pytest.raises(DistillError, match="training loss became nan for seed"):
        fit_many([make_student(4, in_features=16, num_classes=3, seed=s) for s in (0, 1)], X, (t,),
                 lambda s, tt: kd_loss(s, tt, 2.0), STEPS, [0, 1])


def test_history_records_the_config_actually_used():
    X, y = blobs(64)
    cfg = TrainConfig(steps=3, batch_size=7, lr=0.02, weight_decay=0.1, progress=False, seed=9)
    h = fit(make_student(4, in_features=16, num_classes=3), X, (y,), label_loss, cfg)
    assert h.config["batch_size"] == 7 and h.config["lr"] == 0.02 and h.config["seed"] == 9


def test_stacked_mlp_forward_is_each_models_forward():
    from distill.train import stacked_mlp_forward
    from torch.func import stack_module_state
    many = [make_copier("mlp", 8, input_shape=(1, 4, 4), num_classes=3, seed=s) for s in (0, 1, 2)]
    params, _ = stack_module_state(many)
    x = torch.randn(3, 5, 1, 4, 4)  # (N, B, C, H, W): each model its own batch
    out = stacked_mlp_forward(many[0])(params, x)
    ref = torch.stack([m(xi) for m, xi in zip(many, x)])
    assert out.shape == (3, 5, 3) and torch.allclose(out, ref, atol=1e-6)
    assert stacked_mlp_forward(make_copier("cnn", 4, input_shape=(1, 8, 8), num_classes=3)) is None
