"""The series' statistical rule against scipy's paired t-test, and the words it allows."""
import math

import pytest
from scipy import stats as sps

from distill.errors import DistillError
from distill.stats import Comparison, bound, mean_interval, paired


def test_interval_matches_scipy_paired_t_test():
    a = [0.871, 0.880, 0.866, 0.875, 0.879, 0.870, 0.868, 0.881, 0.877, 0.872]
    b = [0.860, 0.871, 0.862, 0.866, 0.869, 0.867, 0.861, 0.872, 0.865, 0.866]
    c = paired(a, b, ("soft", "hard"))
    ref = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert math.isclose(c.lo, ref.low, rel_tol=1e-9) and math.isclose(c.hi, ref.high, rel_tol=1e-9)
    assert c.n == 10 and c.called and c.winner == "soft"
    assert c.sentence() == f"soft beats hard by {c.diff * 100:.1f} points (95% CI {c.lo * 100:.1f} to {c.hi * 100:.1f}, 10 seeds)"


def test_by_hand_three_seeds():
    # differences 1, 2, 3: mean 2, sd 1, se 1/sqrt(3), t(0.975, 2) = 4.302653
    c = paired([2, 3, 4], [1, 1, 1], scale=1, unit="")
    assert math.isclose(c.diff, 2) and math.isclose(c.sd, 1)
    assert math.isclose(c.hi - c.diff, 4.302653 / math.sqrt(3), rel_tol=1e-6)


def test_an_interval_that_includes_zero_calls_nothing():
    c = paired([0.80, 0.82, 0.79, 0.81, 0.80], [0.81, 0.80, 0.80, 0.80, 0.81], ("probs", "labels"))
    assert c.lo < 0 < c.hi and not c.called and c.winner is None
    assert c.sentence().startswith("no clear difference between probs and labels at 5 seeds (")


def test_a_negative_difference_names_the_other_side_first():
    c = paired([0.1, 0.2, 0.15, 0.12], [0.5, 0.6, 0.55, 0.58], ("A", "B"))
    assert c.called and c.winner == "B" and c.sentence().startswith("B beats A by 41.5 points (95% CI ")


@pytest.mark.parametrize("value, text", [
    (3.44, "3.4"), (-3.46, "-3.5"), (0.0, "0.0"), (102.4, "102.4"), (0.05, "0.1"),
    (0.02, "0.02"), (-0.02, "-0.02"), (0.049, "0.05"), (-0.0042, "-0.004"), (0.00003, "0.00003"),
])
def test_a_bound_shows_its_side_of_zero(value, text):
    assert bound(value) == text


def test_a_called_difference_never_prints_a_bound_of_zero():
    # 08's case: full distributions beat greedy text by 5.2 points, interval 0.02 to 10.4
    c = Comparison("full", "text", diff=0.052, lo=0.0002, hi=0.104, n=10, sd=0.07)
    assert c.called and c.sentence() == "full beats text by 5.2 points (95% CI 0.02 to 10.4, 10 seeds)"
    tiny = Comparison("A", "B", diff=0.0004, lo=0.0001, hi=0.0007, n=10, sd=0.0004)
    assert tiny.sentence() == "A beats B by 0.04 points (95% CI 0.01 to 0.1, 10 seeds)"
    near = Comparison("A", "B", diff=0.01, lo=-0.0003, hi=0.0203, n=5, sd=0.01)
    assert not near.called and near.sentence().endswith("(+1.0 points, 95% CI -0.03 to 2.0)")


@pytest.mark.parametrize("a, b, message", [
    ([1, 2], [1], "one value of each per seed"),
    ([1], [2], "at least 2 seeds"),
    ([1, float("nan")], [1, 2], "NaN or infinite"),
])
def test_bad_input_is_one_line(a, b, message):
    with pytest.raises(DistillError, match=message):
        paired(a, b)


def test_mean_interval_matches_scipy():
    v = [0.5, 0.6, 0.55, 0.52, 0.58]
    m, lo, hi = mean_interval(v)
    ref = sps.t.interval(0.95, len(v) - 1, loc=sum(v) / len(v), scale=sps.sem(v))
    assert math.isclose(lo, ref[0]) and math.isclose(hi, ref[1])
