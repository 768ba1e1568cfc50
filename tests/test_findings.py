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


def test_lab_trains_identical_students_once(fashion, monkeypatch):
    """Two labs with the same images and identical targets share their students; a changed target does not."""
    import distill.recipes as recipes
    from distill.recipes import STUDENT_TRAIN
    calls = []
    real = recipes.student_records
    monkeypatch.setattr(recipes, "student_records", lambda *a, **k: calls.append(1) or real(*a, **k))
    X, y = fashion.X_train[:200], fashion.y_train[:200]
    cfg = dataclasses.replace(STUDENT_TRAIN, steps=2)
    a = Lab(fashion, X, y=y, config=cfg, tags={"defence": "a"}).records("labels", seeds=[0], family="mlp", size=4)
    b = Lab(fashion, X, y=y.clone(), config=cfg, tags={"defence": "b"}).records("labels", seeds=[0], family="mlp", size=4)
    assert len(calls) == 1 and a[0]["test_accuracy"] == b[0]["test_accuracy"] and b[0]["defence"] == "b"
    y2 = y.clone()
    y2[0] = (y2[0] + 1) % 10
    Lab(fashion, X, y=y2, config=cfg).records("labels", seeds=[0], family="mlp", size=4)
    assert len(calls) == 2


# ---- 06 -------------------------------------------------------------------------------------

def api_records(label_gap: float):
    """MLP and CNN copies at budgets 100..10000: probs above labels by `label_gap` at 100 queries only."""
    out = []
    for f, s, base in (("mlp", 128, 0.70), ("cnn", 8, 0.75)):
        for n, acc in ((100, base), (1000, base + 0.08), (10000, base + 0.15)):
            out += recs(acc, source="train", output="label", family=f, size=s, n=n, shift=1)
            out += recs(acc + (label_gap if n == 100 else 0.0), spread=1.0 if n == 100 else 3.0, shift=6,
                        source="train", output="probs", family=f, size=s, n=n)
    out += recs(0.12, source="noise", output="probs", family="mlp", size=128, n=1000)
    return out


def test_queries_to_reach_interpolates_the_mean_curve():
    runs = api_records(0.0)
    # mlp label: 0.70 at 100, 0.78 at 1000 -> 0.74 is halfway in log(budget): 10**2.5
    assert findings.queries_to_reach(runs, [100, 1000, 10000], 0.74, source="train", output="label", family="mlp") \
        == pytest.approx(10 ** 2.5)
    assert findings.queries_to_reach(runs, [100, 1000, 10000], 0.99, source="train", output="label", family="mlp") is None
    table = findings.queries_table(runs, [100, 1000, 10000], [0.8, 0.9], 0.9,
                                   {"mlp, label": dict(source="train", output="label", family="mlp")})
    # 80% of 0.9 = 0.72: a quarter of the way from 0.70 (100) to 0.78 (1,000) in log budget: 10**2.25 = 178
    assert "| mlp, label | 178 | 2,683 | 85.0% |" in table


@pytest.mark.parametrize("gap, called", [(0.03, True), (0.0005, False)])
def test_api_copies_calls_probabilities_only_beyond_the_interval(gap, called):
    text = findings.api_copies(api_records(gap), budgets={"train": [100, 1000, 10000], "noise": [1000]},
                               copiers={"mlp": 128, "cnn": 8}, formats={"mlp": ["probs", "label"], "cnn": ["probs", "label"]},
                               teacher_acc=0.9, confidence=0.95, shares=[0.8, 0.9])
    assert ("At 100 queries probabilities beat labels by 3.0 points" in text) is called
    assert "the CNN was clearly better at 100, 1,000 and 10,000 queries" in text
    assert "`noise` queries reached at most 12.0%" in text


# ---- 07 -------------------------------------------------------------------------------------

DEFENCES = ["none (probabilities)", "label only", "noise (sd 0.1)", "watermark (1% wrong)"]


def defence_records(noise_drop: float):
    out = []
    for d in DEFENCES:
        drop = noise_drop if d.startswith("noise") else 0.0
        for copier in ("naive", "adaptive"):
            rec = recs(0.88 - (drop if copier == "naive" else 0.0), defence=d, copier=copier, family="mlp", size=128,
                       n=1000, shift=DEFENCES.index(d) + (copier == "adaptive"))
            out += [dict(r, test_agreement=r["test_accuracy"]) for r in rec]
    return out


def wm_records(copy_rate: float):
    out = []
    for steps in (100, 3000):
        for who in ("copy", "independent"):
            rate = copy_rate if (who == "copy" and steps == 3000) else 0.05
            out += [dict(r, match_rate=r["test_accuracy"], p_value=1e-6 if rate > 0.5 else 0.5)
                    for r in recs(rate, who=who, steps=steps, shift=steps % 7 + (who == "copy"))]
    return out


@pytest.mark.parametrize("drop, wm, called", [(0.05, 0.9, True), (0.0005, 0.0505, False)])
def test_defences_call_only_clear_effects(drop, wm, called):
    users = {d: (0.93, 0.01) for d in DEFENCES}
    changed = {d: 0.0 for d in DEFENCES}
    flagged = {(t, c): 0.05 for t in ("reference", "normality")
               for c in ("honest users (test images)", "copier: train", "copier: noise")}
    text = findings.defences(defence_records(drop), users, changed, defences=DEFENCES, copiers={"mlp": 128},
                             budgets={"mlp": [1000]}, wm_runs=wm_records(wm), passes={100: 6, 3000: 192},
                             wm_queries=2000, marked=17, flagged=flagged, attacks=["train", "noise"], fpr=0.05)
    assert (f"{1 if called else 0} of 3 defences lowered fidelity clearly" in text)
    assert ("the copy repeats more of them than the independent model" in text) is called
    assert ("p < 0.001 for every seed's copy from 192 passes on" in text) is called
    card = findings.defence_scorecard(defence_records(drop), users, defences=DEFENCES, copiers={"mlp": 128},
                                      budgets={"mlp": [1000]}, n_test=10000)
    assert card.count("\n| ") == len(DEFENCES) + 1 and "10 seeds" in card


# ---- 04 and 05 --------------------------------------------------------------------------------

def test_transfer_data_chooses_sizes_on_validation():
    runs = []
    for source, acc in (("train", 0.80), ("heldout", 0.80), ("noise", 0.15)):
        for n in (100, 1000):
            rs = recs(acc + (0.02 if n == 1000 else 0.0), source=source, family="mlp", size=64, n=n, shift=n % 3)
            for r in rs:  # validation prefers 100 images; test would prefer 1000
                r["val_accuracy"] = 0.9 if n == 100 else 0.1
            runs += rs
    runs += recs(0.85, source="train", family="cnn", size=8, n=1000, shift=4)
    assert findings.best_size(runs, [100, 1000], source="train", family="mlp") == 100
    text = findings.transfer_data(runs, sources=["train", "heldout", "noise"], sizes={s: [100, 1000] for s in
                                  ("train", "heldout", "noise")}, families={"mlp": 64, "cnn": 8}, teacher_acc=0.9,
                                  seed_size=100)
    assert "at 100 images (the size validation chose)" in text
    assert "no clear difference between fresh images of the same kind and the teacher's training images" in text
    assert "task-like images beat `noise` by 65.0 points" in text
    assert "the CNN copy beats the MLP copy by 3.0 points" in text


@pytest.mark.parametrize("gain, called", [(0.2, True), (0.0, False)])
def test_never_seen_calls_soft_targets_only_when_clear(gain, called):
    rows = []
    for c in (0, 1):
        for m in ("hard", "soft"):
            for r in recs(0.3 + (gain if m == "soft" else 0.0), method=m, shift=3 * (m == "soft") + c):
                rows.append({**r, "class": c, "withheld": r["test_accuracy"], "withheld_corrected": r["test_accuracy"]})
    two = [{**r, "withheld_corrected": r["test_accuracy"]} for size in (64, 512) for m in ("hard", "soft")
           for r in recs(0.2 + (gain if m == "soft" and size == 512 else 0.0), method=m, size=size, shift=5 * (m == "soft"))]
    text = findings.never_seen(rows, two, classes=[0, 1], class_names=["a", "b", "c", "d"], teacher_per_class=[0.9, 0.9],
                               two_classes=[2, 3], sizes={64: 55050, 512: 669706}, T_one=4, T_two=8, teacher_acc=0.93)
    assert ("soft targets beat hard labels by 20.0 points" in text) is called
    assert ("did clearly better with the larger student" in text) is called
    assert ("wrong on 7.0% of test images" in text) is not called
    assert ("A copier does not need examples of everything" in text) is called


@pytest.mark.parametrize("gain, called", [(0.1, True), (0.0, False)])
def test_language_model_calls_full_distributions_only_when_clear(gain, called):
    runs = []
    for n, base in ((1000, 0.1), (2000, 0.85)):
        runs += [dict(r, exact_match=r["test_accuracy"], well_formed=1.0, digit_accuracy=0.5)
                 for r in recs(base, kind="text", n=n, shift=1)]
        runs += [dict(r, exact_match=r["test_accuracy"], well_formed=1.0, digit_accuracy=0.5)
                 for r in recs(base + gain, kind="full", n=n, shift=6)]
    work = [dict(r, exact_match=r["test_accuracy"]) for r in recs(0.1 + 8 * gain, kind="working", n=1000, shift=3)]
    text = findings.language_model(runs, work, budgets=[1000, 2000], trained={"text": [1000, 2000], "full": [1000, 2000]},
                                   top_k=3, confidence=0.9997, sampled_differs=0.001, per_problem={"text": 4, "full": 52},
                                   work_budget=1000, work_len=7, answer_len=4, teacher_em=1.0, times_smaller=3.8)
    assert ("Full distributions clearly beat greedy text at 1,000 and 2,000 queries" in text) is called
    assert ("copies shown the working beat copies given the sum alone by 80.0 points" in text) is called
    assert "after 1,000 queries and" in text and "nan" not in text.lower()


def test_copy_costs_bill_the_smallest_budget_that_kept_the_share():
    from distill import ledger
    runs = api_records(0.0)   # mlp label: 0.70, 0.78, 0.85 at 100, 1,000, 10,000
    teacher = ledger.teacher_cost({"train_config": {"epochs": 10}, "flops_per_example": 1e7}, n_train=55000)
    text = findings.copy_costs(runs, budgets=[100, 1000, 10000], teacher_acc=0.9, teacher=teacher, steps=400,
                               batch_size=128, teacher_flops=1e7, copy_flops={"mlp": 2e5},
                               rows={"mlp, label": dict(source="train", family="mlp", output="label")})
    # 0.85 / 0.9 = 94% >= 90% first at 10,000 queries; 3 * 2e5 * 51,200 / (3 * 1e7 * 550,000) = 0.19%
    assert "mlp, label: a copy keeping 94% of the teacher's accuracy cost 0.19% of the teacher's training compute, " \
           "10,000 queries and no labels" in text
    assert "cheapest of these: mlp, label" in text


def test_mean_ci_of_a_share_stays_within_0_and_100_percent():
    assert mean_ci([0.99, 1.0, 0.9, 1.0, 1.0]).endswith("to 100.0)")
    assert "95% CI 0.0 to" in mean_ci([0.0, 0.0, 0.1, 0.0, 0.0])
    assert "to 100.0)" not in mean_ci([0.99, 1.0, 0.9, 1.0, 1.0], bounds=None)


# ---- 09 · copying without the data ---------------------------------------------------------------

def _strategy_runs(active_gain: float, spread: float = 1.0) -> list[dict]:
    rs = []
    for o in ("probs", "label"):
        for n in (100, 400):
            rs += recs(0.80, strategy="pool", output=o, n=n) + recs(0.80 + (active_gain if n == 400 else 0), spread,
                                                                    shift=3, strategy="active", output=o, n=n)
            rs += recs(0.70, strategy="jac", output=o, n=n, shift=5)
    rs += recs(0.11, strategy="gen", output="probs", n=1600) + recs(0.12, strategy="gen", output="probs", n=3200)
    return rs


def _defended(drop: float) -> list[dict]:
    return (recs(0.85, strategy="pool", defence="none", n=400)
            + recs(0.85 - drop, strategy="pool", defence="noise", n=400, shift=2))


def _without(runs, defended, flagged=None):
    flagged = flagged or {("pool", 25): 0.02, ("pool", 200): 0.04, ("jac", 25): 0.1, ("jac", 200): 1.0}
    return findings.without_data(runs, defended, budgets={"pool": [100, 400], "active": [100, 400], "jac": [100, 400],
                                                          "gen": [1600, 3200]},
                                 starts={"pool": "a pool", "active": "a pool", "jac": "100 images", "gen": "nothing"},
                                 formats=["probs", "label"], teacher_acc=0.9, pool="pool", seeded="jac", active="active",
                                 generator="gen", def_budget=400, defences=["none", "noise"], flagged=flagged,
                                 honest={25: 0.05, 200: 0.05}, fpr=0.05)


def test_without_data_calls_only_differences_whose_interval_excludes_zero():
    text = _without(_strategy_runs(0.02), _defended(0.02))
    assert "at 400 queries choosing queries beat random queries by 2.0 points" in text
    assert "Choosing was clearly better at 400 queries" in text
    assert "no defence keeps fidelity above *noise* by 2.0 points" in text and "1 of 1 defences lowered" in text
    assert "| active | a pool | 400 | 82.0%" in text and "| gen | nothing | 3,200 | 12.0%" in text
    assert "Spreading its queries over accounts of 25 hid jac: the cost is 8 times as many accounts." in text
    quiet = _without(_strategy_runs(0.001, spread=8.0), _defended(0.0005))
    assert "no clear difference between choosing queries and random queries at 10 seeds" in quiet
    assert "Choosing was clearly better at no budget" in quiet and "0 of 1 defences lowered" in quiet


def test_without_data_jacobian_sentence_pairs_the_largest_budget_with_the_seed_images():
    rs = _strategy_runs(0.0)
    rs = [r for r in rs if not (r["strategy"] == "jac" and r["n"] == 400)] + recs(0.75, strategy="jac", output="probs",
                                                                                   n=400, shift=1) \
        + recs(0.70, strategy="jac", output="label", n=400, shift=1)
    text = _without(rs, _defended(0.0))
    assert "400 queries beat the 100 seed images alone by 5.0 points" in text
    assert "no clear difference between 400 queries and the 100 seed images alone at 10 seeds" in text


def test_beyond_imitation_calls_the_gap_only_when_its_interval_excludes_zero():
    def lm_recs(asked, inside, outside, shift=0):
        return [dict(r, asked=asked, exact_match_inside=r["test_accuracy"], exact_match_outside=outside + (r["test_accuracy"] - inside),
                     well_formed_outside=0.99) for r in recs(inside, shift=shift)]
    text = findings.beyond_imitation(lm_recs("narrow", 0.9, 0.3), lm_recs("broad", 0.9, 0.8, shift=4), covered=1, budget=2000)
    assert "the copy that asked about every kind beat the copy that asked only about easy problems by 50.0 points" in text
    assert "on the easy ones, no clear difference between the broad copy and the narrow copy at 10 seeds" in text
    assert "at most 1 carry" in text and "99.0% (95% CI 99.0 to 99.0)" in text


def test_strategy_needs_reports_mean_seconds_per_strategy_and_says_what_the_ledger_leaves_out():
    from distill.findings import strategy_needs
    text = strategy_needs({"random pool": [2.0, 4.0], "active": [30.0, 50.0]},
                          {"random pool": [100, 6400], "active": [100, 6400]}, adaptive=["active"])
    assert "random pool 3 s for 6,400 queries; active 40 s for 6,400 queries" in text
    assert "mean over 2 seeds" in text and "interim copies" in text and "only the final copy" in text
    assert "interim" not in strategy_needs({"random pool": [1.0]}, {"random pool": [100]})
    with pytest.raises(DistillError, match="at least one strategy"):
        strategy_needs({}, {})
