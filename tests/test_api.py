"""The API contract: each output format exposes no more than it should, the budget is
exact, and each defence does what it claims."""
import pytest
import torch
import torch.nn as nn

from distill.api import (OUTPUTS, BudgetExceeded, QueryMonitor, TeacherAPI, TopK, as_targets, copy_method,
                         min_distances, reverse_runner_ups, watermark_choice, watermark_test)
from distill.errors import DistillError


class Tiny(nn.Module):
    """A fixed random linear model over 1x4x4 images with 5 classes."""

    def __init__(self, K=5, scale=3.0):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(16, K)
        with torch.no_grad():
            self.fc.weight.mul_(scale)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture
def model():
    return Tiny()


@pytest.fixture
def X():
    return torch.randn(64, 1, 4, 4, generator=torch.Generator().manual_seed(1))


def reference_probs(model, X):
    with torch.no_grad():
        return torch.softmax(model(X), -1)


def test_probs_are_the_model_softmax(model, X):
    out = TeacherAPI(model, "probs").query(X)
    assert out.shape == (64, 5) and torch.allclose(out, reference_probs(model, X), atol=1e-6)


def test_label_returns_integers_only(model, X):
    out = TeacherAPI(model, "label").query(X)
    assert out.dtype == torch.int64 and out.shape == (64,)
    assert torch.equal(out, reference_probs(model, X).argmax(-1))


def test_topk_leaks_nothing_outside_the_top_k(model, X):
    out = TeacherAPI(model, "topk", k=2).query(X)
    assert isinstance(out, TopK) and out.classes.shape == (64, 2) and out.probs.shape == (64, 2)
    p = reference_probs(model, X)
    ref_p, ref_c = p.topk(2, -1)
    assert torch.equal(out.classes, ref_c) and torch.allclose(out.probs, ref_p, atol=1e-6)
    # the targets a copier builds from it depend on nothing but those k values
    t = as_targets(out, 5)
    assert torch.allclose(t.sum(-1), torch.ones(64))
    rest = t.clone().scatter_(1, out.classes, 0.0)
    expected = ((1 - out.probs.sum(-1)) / 3)[:, None].expand(64, 5)
    mask = torch.ones_like(t, dtype=torch.bool).scatter_(1, out.classes, False)
    assert torch.allclose(rest[mask], expected[mask], atol=1e-6)


def test_rounded_has_the_given_decimals_and_sums_to_about_one(model, X):
    out = TeacherAPI(model, "rounded", decimals=1).query(X)
    assert torch.allclose(out * 10, (out * 10).round(), atol=1e-5)
    assert ((out.sum(-1) - 1).abs() <= 5 * 0.05 + 1e-6).all()  # at most K half-steps off


def test_logprobs_are_log_softmax(model, X):
    out = TeacherAPI(model, "logprobs").query(X)
    with torch.no_grad():
        assert torch.allclose(out, torch.log_softmax(model(X), -1), atol=1e-5)
    assert torch.allclose(as_targets(out, 5), reference_probs(model, X), atol=1e-5)


def test_budget_is_exact_and_a_refused_query_returns_and_counts_nothing(model, X):
    api = TeacherAPI(model, "probs", budget=100)
    api.query(X[:60])
    api.query(X[:40])
    assert api.queries_used == 100 and api.remaining == 0
    with pytest.raises(BudgetExceeded, match=r"budget of 100 queries \(100 used, 0 left\)"):
        api.query(X[:1])
    assert api.queries_used == 100
    api2 = TeacherAPI(model, "probs", budget=50)
    with pytest.raises(BudgetExceeded, match="query of 64 images"):
        api2.query(X)
    assert api2.queries_used == 0
    assert len(api2.query(X[:50])) == 50


def test_query_log_keeps_inputs_in_order(model, X):
    api = TeacherAPI(model, log=True)
    api.query(X[:10]); api.query(X[10:30])
    assert torch.equal(api.logged_inputs(), X[:30])
    with pytest.raises(DistillError, match="log=True"):
        TeacherAPI(model).logged_inputs()


def test_perturbation_never_changes_the_top1_label_or_its_probability(model, X):
    X = torch.randn(2000, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    p = reference_probs(model, X)
    for b in (0.3, 1.0):
        out = TeacherAPI(model, "probs", perturb=b).query(X)
        assert torch.equal(out.argmax(-1), p.argmax(-1))
        assert torch.allclose(out.max(-1).values, p.max(-1).values, atol=1e-6)
        assert torch.allclose(out.sum(-1), torch.ones(len(X)), atol=1e-5)
    full = TeacherAPI(model, "probs", perturb=1.0).query(X)
    assert not torch.allclose(full, p, atol=1e-3)  # it does change what a copier learns


def test_reverse_runner_ups_by_hand():
    assert reverse_runner_ups(torch.tensor([[0.6, 0.3, 0.1]]))[0].tolist() == pytest.approx([0.6, 0.1, 0.3])
    q = torch.tensor([[0.1, 0.2, 0.3, 0.4]])  # ranks 4 > 3 > 2 > 1: runner-ups 0.3, 0.2, 0.1 reversed
    assert reverse_runner_ups(q)[0].tolist() == pytest.approx([0.3, 0.2, 0.1, 0.4])


def test_noise_keeps_distributions_and_costs_some_top1(model, X):
    X = torch.randn(2000, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    out = TeacherAPI(model, "probs", noise=0.2).query(X)
    assert (out >= 0).all() and torch.allclose(out.sum(-1), torch.ones(len(X)), atol=1e-5)
    assert (out.argmax(-1) != reference_probs(model, X).argmax(-1)).any()


def test_watermark_is_reproducible_from_the_key_and_wrong_on_the_marked_inputs(model):
    X = torch.randn(3000, 1, 4, 4, generator=torch.Generator().manual_seed(4))
    api = TeacherAPI(model, "label", watermark=0.05, key="secret")
    answers = api.query(X)
    top = reference_probs(model, X).argmax(-1)
    marked, wm = TeacherAPI(model, "label", watermark=0.05, key="secret").watermark_answers(X)
    assert 0.03 < marked.float().mean() < 0.07
    assert torch.equal(answers[marked], wm[marked]) and (wm[marked] != top[marked]).all()
    assert torch.equal(answers[~marked], top[~marked])
    other, _ = watermark_choice(X, "another key", 0.05, 5)
    assert not torch.equal(other, marked)
    # with the key, ownership of a model that copied the answers is established
    res = watermark_test(answers[marked], wm[marked], 5)
    assert res["match_rate"] == 1.0 and res["p_value"] < 1e-10
    res = watermark_test(top[marked], wm[marked], 5)  # a model that never saw the watermark
    assert res["matches"] == 0 and res["p_value"] == 1.0


def test_watermark_p_value_is_the_binomial_tail():
    # 3 matches out of 4 with chance bound 1/4: P(X >= 3) = 4 * (1/4)^3 * 3/4 + (1/4)^4 = 13/256
    res = watermark_test(torch.tensor([1, 1, 1, 0]), torch.tensor([1, 1, 1, 1]), num_classes=5)
    assert res["p_value"] == pytest.approx(13 / 256)


def test_bad_arguments_are_clear_errors(model, X):
    cases = [({"output": "json"}, "unknown output format 'json'"), ({"budget": -1}, "budget"),
             ({"output": "topk", "k": 9}, "k must be"), ({"perturb": 2.0}, "perturb"),
             ({"noise": -0.1}, "noise"), ({"watermark": 0.1}, "secret key"), ({"decimals": 12}, "decimals")]
    for kwargs, msg in cases:
        with pytest.raises(DistillError, match=msg):
            TeacherAPI(model, **kwargs)
    api = TeacherAPI(model)
    with pytest.raises(DistillError, match="x.unsqueeze"):
        api.query(X[0])
    with pytest.raises(DistillError, match="float tensor"):
        api.query(X.long())
    with pytest.raises(DistillError, match="NaN"):
        api.query(torch.full((1, 1, 4, 4), float("nan")))
    assert api.queries_used == 0


def test_as_targets_by_format(model, X):
    for output in OUTPUTS:
        t = as_targets(TeacherAPI(model, output).query(X), 5)
        if output == "label":
            assert t.dtype == torch.int64 and copy_method(t) == "labels"
        else:
            assert t.shape == (64, 5) and torch.allclose(t.sum(-1), torch.ones(64), atol=1e-5)
            assert copy_method(t) == "probs"
    with pytest.raises(DistillError, match="no probability mass"):
        as_targets(torch.zeros(2, 5), 5)


def test_min_distances_by_hand():
    X = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0], [0.0, 1.0]]).reshape(4, 1, 1, 2)
    assert min_distances(X).tolist() == pytest.approx([5.0, 1.0, 1.0])


@pytest.mark.parametrize("test", ["normality", "reference"])
def test_query_monitor_flags_near_duplicates_but_rarely_natural_looking_streams(test):
    g = torch.Generator().manual_seed(5)
    natural = [torch.randn(200, 1, 8, 8, generator=g) for _ in range(20)]
    monitor = QueryMonitor.calibrate(natural, test, false_positive_rate=0.05)
    seeds = torch.randn(5, 1, 8, 8, generator=g)  # a copier perturbing 5 seed images a little
    synthetic = seeds[torch.randint(5, (200,), generator=g)] + 0.01 * torch.randn(200, 1, 8, 8, generator=g)
    assert monitor.flags(synthetic)
    assert sum(monitor.flags(s) for s in natural) <= 2
    fresh = [torch.randn(200, 1, 8, 8, generator=g) for _ in range(20)]
    assert sum(monitor.flags(s) for s in fresh) <= 4


def test_query_monitor_errors():
    with pytest.raises(DistillError, match="at least 4"):
        QueryMonitor().score(torch.zeros(3, 1, 2, 2))
    with pytest.raises(DistillError, match="unknown test"):
        QueryMonitor("entropy")
    with pytest.raises(DistillError, match="calibrate"):
        QueryMonitor("reference")


def test_query_pool_extends_train_with_mirrors(fashion):
    from distill.api import query_pool
    X = query_pool("train", fashion, 55010)
    assert X.shape == (55010, 1, 28, 28)
    assert torch.equal(X[55000:], X[:10].flip(-1))
    with pytest.raises(DistillError, match="at most 110000"):
        query_pool("train", fashion, 110001)
    assert query_pool("noise", fashion, 5).shape == (5, 1, 28, 28)


def test_copy_record_trains_on_labels_or_probabilities_as_the_answers_are(fashion):
    import dataclasses
    import torch
    from distill import api
    from distill.recipes import STUDENT_TRAIN
    X = fashion.X_train[:64]
    cfg = dataclasses.replace(STUDENT_TRAIN, steps=2)
    labels = api.copy_record(X, fashion.y_train[:64], fashion, config=cfg, family="mlp", size=4)
    probs = api.copy_record(X, torch.full((64, 10), 0.1), fashion, config=cfg, family="mlp", size=4)
    assert labels["method"] == "labels" and probs["method"] == "probs"
    assert 0 <= labels["test_accuracy"] <= 1 and 0 <= probs["test_accuracy"] <= 1


def test_split_streams_and_flag_rate():
    from distill.api import split_streams
    X = torch.arange(50.0).view(50, 1, 1, 1)
    parts = split_streams(X, 20)
    assert [len(p) for p in parts] == [20, 20] and torch.equal(parts[1][0], X[20])
    with pytest.raises(DistillError, match="do not fill one account of 60"):
        split_streams(X, 60)
    with pytest.raises(DistillError, match="whole number >= 1"):
        split_streams(X, 0)
    m = QueryMonitor("normality", threshold=0.5)
    g = torch.Generator().manual_seed(0)
    natural = [torch.randn(40, 1, 4, 4, generator=g) for _ in range(3)]
    repeated = [torch.zeros(40, 1, 4, 4)]          # all distances 0: score 1, always flagged
    assert m.flag_rate(repeated) == 1.0
    assert m.flag_rate(natural + repeated) == sum(m.flags(s) for s in natural + repeated) / 4
    with pytest.raises(DistillError, match="at least one stream"):
        m.flag_rate([])
