"""Query strategies: they see the teacher only through the API, spend their budget exactly, read
smaller budgets as prefixes, and their mechanics match references (hand-computed Jacobian steps,
autograd for the zeroth-order gradient, scipy for entropy, ART's output defences)."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from distill import strategies as st
from distill.api import TeacherAPI, as_targets
from distill.errors import DistillError


class Linear(nn.Module):
    """A fixed random linear 'teacher' over 28x28 images with 10 classes."""

    def __init__(self, scale=0.2):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(784, 10)
        with torch.no_grad():
            self.fc.weight.mul_(scale * 10)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def teacher():
    return Linear().eval()


FAST = {"copier": ("mlp", 8), "steps": 20}


def test_schedule_doubles_and_stops_at_the_budget():
    assert st.schedule(1000) == [100, 200, 400, 800, 1000]
    assert st.schedule(50) == [50]
    assert st.schedule(400, first=100) == [100, 200, 400]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(DistillError, match="budget is a whole number"):
            st.schedule(bad)


@pytest.mark.parametrize("strategy, options", [
    ("random", {"source": "noise"}),
    ("jacobian", FAST),
    ("active", {**FAST, "pool_size": 1000}),
    ("generator", {"copier": ("mlp", 8)}),
])
@pytest.mark.parametrize("output", ["probs", "label"])
def test_every_strategy_spends_its_budget_exactly_through_the_api(fashion, teacher, strategy, options, output):
    if strategy == "generator" and output == "label":
        pytest.skip("the generator needs scores (tested below)")
    api = TeacherAPI(teacher, output, budget=800, cache=False)
    q = st.collect(strategy, api, 800, fashion, seed=1, **options)
    assert api.queries_used == 800 and len(q.X) == 800 and len(q.targets) == 800
    assert q.X.shape[1:] == fashion.input_shape and torch.isfinite(q.X).all()
    assert q.rounds[-1] == 800
    # every target is the API's answer to the input it was sent with
    again = as_targets(TeacherAPI(teacher, output, cache=False).query(q.X), 10)
    assert torch.allclose(again.float(), q.targets.float(), atol=1e-6)
    lo, hi = (0 - fashion.mean) / fashion.std, (1 - fashion.mean) / fashion.std
    if strategy != "random":  # generated and augmented images stay (almost) valid pictures
        assert q.X.min() >= lo - 0.01 and q.X.max() <= hi + 0.01


@pytest.mark.parametrize("strategy, options, small", [
    ("jacobian", FAST, 400), ("active", {**FAST, "pool_size": 2000}, 400), ("generator", {"copier": ("mlp", 8)}, 800)])
def test_a_smaller_budget_is_a_prefix_of_a_larger_one(fashion, teacher, strategy, options, small):
    big = st.collect(strategy, TeacherAPI(teacher, "probs", cache=False), 1600, fashion, seed=2, **options)
    little = st.collect(strategy, TeacherAPI(teacher, "probs", cache=False), small, fashion, seed=2, **options)
    assert small in big.rounds
    X, t = big.prefix(small)
    assert torch.allclose(X, little.X, atol=1e-6) and torch.allclose(t, little.targets, atol=1e-6)


def test_different_seeds_ask_different_questions(fashion, teacher):
    a = st.collect("jacobian", TeacherAPI(teacher, "label"), 200, fashion, seed=0, **FAST)
    b = st.collect("jacobian", TeacherAPI(teacher, "label"), 200, fashion, seed=1, **FAST)
    assert not torch.equal(a.X, b.X)


def test_collect_seeds_is_one_collect_per_seed_each_with_its_own_api(fashion, teacher):
    runs = st.collect_seeds("jacobian", teacher, 200, fashion, [3, 5], answers={"output": "label"}, **FAST)
    for s, q in zip([3, 5], runs):
        alone = st.collect("jacobian", TeacherAPI(teacher, "label", budget=200, seed=s), 200, fashion, seed=s, **FAST)
        assert torch.equal(q.X, alone.X) and torch.equal(q.targets, alone.targets) and q.rounds == alone.rounds
    noisy = st.collect_seeds("random", teacher, 100, fashion, [0, 1], answers={"output": "probs", "noise": 0.1})
    assert torch.equal(noisy[0].X, st.collect("random", TeacherAPI(teacher), 100, fashion, seed=0).X)
    assert not torch.equal(noisy[0].targets, st.collect_seeds("random", teacher, 100, fashion, [0])[0].targets)


@pytest.mark.parametrize("kwargs, message", [
    (dict(seeds=[]), "needs at least one seed"),
    (dict(seeds=[0], answers="label"), "answers are the TeacherAPI's settings as a dict"),
    (dict(seeds=[0], answers={"output": "label", "budget": 5}), "answers cannot set budget"),
    (dict(seeds=[0], answers={"outptu": "label"}), "answers has a setting TeacherAPI does not take"),
])
def test_collect_seeds_bad_input_is_one_line(fashion, teacher, kwargs, message):
    with pytest.raises(DistillError) as e:
        st.collect_seeds("random", teacher, 100, fashion, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_jacobian_step_matches_the_hand_computed_sign_of_the_class_weights():
    """For a linear copy, d logit_c / dx = W[c]: the step is lam * sign(W[c]) exactly."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 3))
    X = torch.randn(4, 1, 2, 3)
    classes = torch.tensor([0, 2, 1, 2])
    moved = st.jacobian_step(model, X, classes, 0.5)
    W = model[1].weight.detach()
    expected = X + 0.5 * W[classes].sign().view(4, 1, 2, 3)
    assert torch.allclose(moved, expected)


def test_forward_differences_estimate_the_autograd_gradient():
    """DFME's zeroth-order estimate, averaged over many directions, points along the true gradient."""
    A = torch.randn(12, 12, generator=torch.Generator().manual_seed(0))

    def loss_of(x):  # a smooth per-row loss: sum of squares of a linear map, plus a sine
        f = x.flatten(1)
        return (f @ A).pow(2).sum(1) + f.sin().sum(1)

    x = torch.randn(3, 1, 3, 4, generator=torch.Generator().manual_seed(1))
    est, base = st.forward_difference_gradient(loss_of, x, 4000, 1e-3, torch.Generator().manual_seed(2))
    xr = x.clone().requires_grad_(True)
    (true,) = torch.autograd.grad(loss_of(xr).sum(), xr)
    cos = nn.functional.cosine_similarity(est.flatten(1), true.flatten(1))
    assert (cos > 0.9).all(), cos
    assert torch.allclose(base, loss_of(x))
    assert 0.7 < est.norm() / true.norm() < 1.3


def test_entropy_matches_scipy():
    from scipy.stats import entropy as scipy_entropy
    logits = torch.randn(5, 7)
    ref = scipy_entropy(torch.softmax(logits, -1).numpy().T)
    assert np.allclose(st.entropy(logits).numpy(), ref, atol=1e-6)


def test_active_asks_about_the_images_the_copy_is_least_sure_of(fashion, teacher, monkeypatch):
    """With a fixed round copy, round two asks exactly the most uncertain images not yet asked."""
    fixed = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    monkeypatch.setattr(st, "round_copy", lambda *a, **k: fixed)
    q = st.collect("active", TeacherAPI(teacher, "probs"), 200, fashion, seed=0, pool_size=500, **FAST)
    pool = st.query_pool("train", fashion, 500, seed=0)
    with torch.no_grad():
        h = st.entropy(fixed(pool))
    h[:100] = -float("inf")                      # the first round: the first 100 pool images
    assert torch.equal(q.X[100:], pool[h.topk(100).indices])


def test_the_pseudo_logits_recover_logits_up_to_a_constant():
    logits = torch.randn(4, 10)
    rec = st.pseudo_logits(torch.softmax(logits, -1))
    assert torch.allclose(rec, logits - logits.mean(-1, keepdim=True), atol=1e-4)
    assert torch.allclose(st.disagreement(logits + 3.0, torch.softmax(logits, -1)), torch.zeros(4), atol=1e-3)


@pytest.mark.parametrize("call, message", [
    (lambda api, ds: st.collect("knockoff", api, 100, ds), "unknown query strategy 'knockoff'; choose one of random"),
    (lambda api, ds: st.collect("generator", TeacherAPI(api.model, "label"), 400, ds), "needs scores"),
    (lambda api, ds: st.collect("random", TeacherAPI(api.model, budget=50), 100, ds), "50 queries left"),
    (lambda api, ds: st.collect("random", api, 100, ds, lam=0.1), "does not take lam"),
    (lambda api, ds: st.collect("active", api, 600, ds, pool_size=500), "smaller than the budget"),
    (lambda api, ds: st.collect("random", object(), 100, ds), "queries a TeacherAPI"),
    (lambda api, ds: st.collect("jacobian", api, 0, ds), "budget is a whole number"),
])
def test_bad_input_is_one_line(fashion, teacher, call, message):
    with pytest.raises(DistillError) as e:
        call(TeacherAPI(teacher), fashion)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_prefix_refuses_more_than_was_asked(fashion, teacher):
    q = st.collect("random", TeacherAPI(teacher), 100, fashion, source="noise")
    with pytest.raises(DistillError, match="sent 100 queries; cannot take the first 200"):
        q.prefix(200)


def test_adaptive_strategies_leave_the_api_cache_setting_alone(fashion, teacher, tmp_path):
    api = TeacherAPI(teacher, "probs", cache=True)
    st.collect("jacobian", api, 200, fashion, **FAST)
    assert api.cache is True


# ---- the Adversarial Robustness Toolbox as a reference for the API's output defences ---------

art = pytest.importorskip("art")


def test_rounded_and_label_answers_match_art_postprocessors(teacher):
    from art.defences.postprocessor import ClassLabels, Rounded
    X = torch.randn(50, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        p = torch.softmax(teacher(X), -1).numpy()
    ours = TeacherAPI(teacher, "rounded", decimals=2).query(X).numpy()
    assert np.allclose(ours, Rounded(decimals=2)(p), atol=1e-6)
    labels = TeacherAPI(teacher, "label").query(X).numpy()
    # one row at a time: ART 1.20's ClassLabels marks, in every row, the top class of every row of
    # the batch (`class_labels[:, index_labels] = 1`), so a whole batch comes back all ones
    art_labels = np.concatenate([ClassLabels()(p[i:i + 1]) for i in range(len(p))])
    assert np.array_equal(np.eye(10)[labels], art_labels)


def test_copy_records_match_one_copy_at_a_time(fashion, teacher):
    """All seeds at once, each on its own queries: the same copies as `api.copy_record` seed by seed."""
    import dataclasses

    from distill.api import copy_record
    from distill.recipes import STUDENT_TRAIN
    cfg = dataclasses.replace(STUDENT_TRAIN, steps=15)
    runs = [st.collect("jacobian", TeacherAPI(teacher, "probs"), 200, fashion, seed=s, **FAST) for s in (0, 1)]
    recs = st.copy_records(runs, [0, 1], fashion, [100, 200], family="mlp", size=8, T={100: 4.0, 200: 1.0},
                           config=cfg, strategy="jacobian")
    assert [(r["n"], r["seed"], r["T"], r["strategy"]) for r in recs] == [
        (100, 0, 4.0, "jacobian"), (100, 1, 4.0, "jacobian"), (200, 0, 1.0, "jacobian"), (200, 1, 1.0, "jacobian")]
    for r in recs:
        X, t = runs[r["seed"]].prefix(r["n"])
        one = copy_record(X, t, fashion, seed=r["seed"], family="mlp", size=8, T=r["T"], config=cfg)
        assert (one["test_logits"] - r["test_logits"]).abs().max() < 1e-4
    with pytest.raises(DistillError, match="one run per seed: 2 runs, 1 seeds"):
        st.copy_records(runs, [0], fashion, [100])
