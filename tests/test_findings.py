"""The notebooks' findings: records in, sentences out, by the one statistical rule (distill/stats.py).

Each finding is fed numbers on both sides of the threshold: a difference whose 95% interval
excludes 0 must be called ("A beat B by ..."), one whose interval includes 0 must not.
"""

import dataclasses

import pytest
import torch
from scipy import stats as scipy_stats

from distill import findings
from distill.errors import DistillError
from distill.experiment import Lab, choose, compare, mean_ci, select, values

SEEDS = list(range(10))
# per-seed noise that sums to zero, so a constant offset is the exact mean difference
NOISE = [0.004, -0.004, 0.003, -0.003, 0.002, -0.002, 0.001, -0.001, 0.0, 0.0]


def recs(value: float, spread: float = 1.0, shift: int = 0, **setting) -> list[dict]:
    """One record per seed: test accuracy `value` plus seed noise (scaled by `spread`, rotated by `shift`)."""
    noise = NOISE[shift:] + NOISE[:shift]
    return [{**setting, "seed": s, "test_accuracy": value + spread * noise[s], "val_accuracy": value + spread * noise[s],
             "test_agreement": value + spread * noise[s]} for s in SEEDS]


# ---- experiment helpers --------------------------------------------------------------------

def test_compare_pairs_by_seed_and_matches_scipy():
    rs = recs(0.80, method="labels") + recs(0.82, shift=3, method="soft")
    c = compare(rs, {"method": "soft"}, {"method": "labels"}, ("soft", "labels"))
    a, b = values(rs, method="soft"), values(rs, method="labels")
    ci = scipy_stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (c.lo, c.hi) == pytest.approx((ci.low, ci.high))
    assert c.n == 10 and c.diff == pytest.approx(0.02)


def test_compare_refuses_unpaired_seeds():
    rs = recs(0.80, method="labels") + [r for r in recs(0.82, method="soft") if r["seed"] != 3]
    with pytest.raises(DistillError, match="same seeds"):
        compare(rs, {"method": "soft"}, {"method": "labels"}, ("soft", "labels"))


def test_values_refuses_an_ambiguous_setting():
    rs = recs(0.80, method="soft", T=1) + recs(0.81, method="soft", T=4)
    with pytest.raises(DistillError, match="more than one record per seed"):
        values(rs, method="soft")
    assert values(rs, method="soft", T=4)[0] == pytest.approx(0.81 + NOISE[0])
    with pytest.raises(DistillError, match="no records match"):
        values(rs, method="hard")


def test_choose_uses_validation_and_refuses_test():
    rs = recs(0.80, method="soft", T=1) + recs(0.85, method="soft", T=4)
    for r in rs:  # test accuracy says otherwise: it must not be what chooses
        r["test_accuracy"] = 1.0 if r["T"] == 1 else 0.0
    assert choose(rs, ("T",)) == (4,)
    with pytest.raises(DistillError, match="validation"):
        choose(rs, ("T",), select_on="test_accuracy")


def test_select_orders_by_seed_and_never_matches_a_missing_field():
    rs = list(reversed(recs(0.8, method="labels"))) + recs(0.8, method="soft", T=2)
    assert [r["seed"] for r in select(rs, method="labels")] == SEEDS
    assert select(rs, T=2) == select(rs, method="soft")  # labels records have no T


def test_mean_ci_matches_scipy():
    v = [0.81, 0.83, 0.80, 0.84, 0.82]
    lo, hi = scipy_stats.t.interval(0.95, 4, loc=sum(v) / 5, scale=scipy_stats.sem(v))
    assert mean_ci(v) == f"82.0% (95% CI {100 * lo:.1f} to {100 * hi:.1f})"


def test_lab_trains_every_seed_on_a_prefix_of_the_pool(fashion):
    from distill.recipes import STUDENT_TRAIN
    lab = Lab(fashion, fashion.X_train[:300], y=fashion.y_train[:300],
              config=dataclasses.replace(STUDENT_TRAIN, steps=3), defaults={"family": "mlp", "size": 4})
    out = lab.grid([{"method": "labels", "n": 100}, {"method": "labels", "n": 300, "size": 8}], [0, 1], desc="t")
    assert [(r["n"], r["size"], r["seed"]) for r in out] == [(100, 4, 0), (100, 4, 1), (300, 8, 0), (300, 8, 1)]
    with pytest.raises(DistillError, match="pool holds 300"):
        lab.records("labels", seeds=[0], n=301)


# ---- 02 -------------------------------------------------------------------------------------

def soft_target_records(gain_small: float, spread_full: float, hard_gap_small: float):
    """labels/hard/soft records at sizes 250 and 55000 (and the 250-image sweep)."""
    by_size = []
    for n in (250, 55000):
        gain = gain_small if n == 250 else 0.0
        by_size += recs(0.70, method="labels", n=n)
        by_size += recs(0.70 + gain - (hard_gap_small if n == 250 else 0.0), method="hard", n=n, shift=5)
        by_size += recs(0.70 + gain, spread=1.0 if n == 250 else spread_full, shift=2, method="soft", T=4, n=n)
    sweep = select(by_size, n=250)
    return sweep, by_size


@pytest.mark.parametrize("gain, called", [(0.03, True), (0.0005, False)])
def test_soft_targets_calls_a_gain_only_when_the_interval_excludes_zero(gain, called):
    sweep, by_size = soft_target_records(gain, spread_full=5.0, hard_gap_small=gain)
    text = findings.soft_targets(sweep, [], by_size, small_n=250, sizes=[250, 55000], T_best=4, alpha_best=1.0,
                                 T_at={250: 4, 55000: 4}, teacher_acc=0.9, times_smaller=7)
    assert ("soft targets beat true labels at 250 images" in text) is called
    assert "no clear difference between soft targets and true labels at 10 seeds" in text  # 55000: noisy, no call
    policy = text.split("For policy readers.")[1]
    assert ("Returning probabilities instead of labels gave a" in policy and "better copy" in policy) is called
    assert "10 seeds" in text and "nan" not in text.lower()


# ---- 03 -------------------------------------------------------------------------------------

PARAMS = {("mlp", 4): 3210, ("mlp", 64): 55050, ("cnn", 2): 2066, ("cnn", 4): 4266}


def size_records(cnn_kept: float, mlp_kept: float, teacher: float = 0.9):
    out = []
    for n in (55000, 2000):
        for (f, s), k in (((("mlp", 4)), mlp_kept - 0.2), (("mlp", 64), mlp_kept), (("cnn", 2), cnn_kept - 0.05),
                          (("cnn", 4), cnn_kept)):
            out += recs(teacher * k, family=f, size=s, n=n, method="labels", shift=1)
            out += recs(teacher * k + 0.01, family=f, size=s, n=n, method="soft", shift=4)
    return out


def test_student_size_names_the_smallest_copy_keeping_90_percent():
    runs = size_records(cnn_kept=0.93, mlp_kept=0.92)
    mistakes = [dict(r, same_wrong_answer=0.5 + (0.05 if r["method"] == "soft" else 0) + NOISE[r["seed"]])
                for r in select(runs, family="cnn", size=4, n=2000)]
    cost = {"teacher": (390634, 15e6, 1e-3, 0.6), **{k: (p, 1e5, 1e-4, 0.01) for k, p in PARAMS.items()}}
    text = findings.student_size(runs, families={"mlp": [4, 64], "cnn": [2, 4]}, regimes=[55000, 2000], params=PARAMS,
                                 teacher_acc=0.9, teacher_params=390634, cost=cost, mistakes=mistakes,
                                 mistakes_at={"family": "cnn", "size": 4, "n": 2000})
    assert "The smallest copy keeping 90%** of the teacher's accuracy is a small CNN of 4,266 parameters" in text
    assert "The smallest MLP doing so has 55,050 parameters" in text
    assert "distilled beat scratch for 4" in text  # +1 point with tiny noise: called at every size
    assert "the distilled copy shares more of them than the scratch copy by 5.0 points" in text


def test_student_size_says_when_no_copy_keeps_90_percent():
    runs = size_records(cnn_kept=0.85, mlp_kept=0.80)
    mistakes = [dict(r, same_wrong_answer=0.5 + NOISE[(r["seed"] + 3 * (r["method"] == "soft")) % 10])
                for r in select(runs, family="cnn", size=4, n=2000)]
    cost = {"teacher": (1, 1, 1, 1), **{k: (p, 1, 1, 1) for k, p in PARAMS.items()}}
    text = findings.student_size(runs, families={"mlp": [4, 64], "cnn": [2, 4]}, regimes=[55000, 2000], params=PARAMS,
                                 teacher_acc=0.9, teacher_params=390634, cost=cost, mistakes=mistakes,
                                 mistakes_at={"family": "cnn", "size": 4, "n": 2000})
    assert "No copy tried kept 90%" in text
    assert "no clear difference between the distilled copy and the scratch copy at 10 seeds" in text


def test_closest_pair_compares_like_sizes():
    assert findings.closest_pair(PARAMS, "cnn", [2, 4], "mlp", [4, 64]) == (4, 4)


def test_table_shows_mean_and_interval_half_width():
    rs = recs(0.80, method="labels", n=250)
    lo, hi = scipy_stats.t.interval(0.95, 9, loc=0.80, scale=scipy_stats.sem(values(rs)))
    row = findings.table(rs, [250], {"labels": {"method": "labels"}}, "n").splitlines()[1]
    assert "80.00" in row and f"{100 * (hi - 0.80):.2f}" in row


def test_shared_mistakes_are_added_per_record():
    y = torch.tensor([0, 1, 2, 3])
    teacher = torch.tensor([1, 1, 0, 3])            # wrong on 0 and 2
    rec = {"seed": 0, "test_logits": torch.nn.functional.one_hot(torch.tensor([1, 0, 1, 3]), 4).float()}
    (out,) = findings.with_shared_mistakes([rec], teacher, y)
    assert out["same_wrong_answer"] == pytest.approx(0.5)   # both wrong on 0 and 2; same answer on 0 only
