"""The series' one statistical rule, and the words a result allows.

Every comparison in the series is **paired by seed**: setting A and setting B are trained with the
same seeds, and a seed fixes a student's initial weights and its data order, so the difference
d_i = a_i - b_i cancels most of a seed's luck. Over n seeds,

    d = mean(d_i),   s = sd(d_i) (n - 1 in the denominator),   se = s / sqrt(n)
    95% interval:   d +- t_{0.975, n-1} * se          (Student's t, n - 1 degrees of freedom)

which is the interval of a paired t-test (`scipy.stats.ttest_rel(a, b).confidence_interval()`,
checked in tests). A difference is **called** only when its interval excludes 0; the sentence then
reads "A beats B by d (95% CI lo to hi, n seeds)". Otherwise it reads "no clear difference at
n seeds". Notebooks never build comparatives from means: they call `compare(...).sentence()`.

Why t and not a bootstrap: with 5 to 10 seeds a bootstrap interval is too narrow (it cannot see
more spread than the few values it resamples); the t interval is exact for normal differences and
conservative enough otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .errors import DistillError

LEVEL = 0.95


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of A against B over n seeds: mean difference and its 95% interval."""

    a: str
    b: str
    diff: float      # mean of a_i - b_i
    lo: float        # 95% interval
    hi: float
    n: int
    sd: float        # standard deviation of the differences
    scale: float = 100.0   # values are shares; shown as points (x 100)
    unit: str = "points"

    @property
    def called(self) -> bool:
        """True when the interval excludes 0: the data say which is higher."""
        return self.lo > 0 or self.hi < 0

    @property
    def winner(self) -> str | None:
        return (self.a if self.diff > 0 else self.b) if self.called else None

    def interval(self) -> str:
        return f"95% CI {bound(self.lo * self.scale)} to {bound(self.hi * self.scale)}"

    def sentence(self, verb: str = "beats") -> str:
        """"A beats B by d points (95% CI lo to hi, n seeds)" or "no clear difference ... at n seeds"."""
        d = abs(self.diff) * self.scale
        if self.called:
            first, second = (self.a, self.b) if self.diff > 0 else (self.b, self.a)
            lo, hi = sorted((abs(self.lo) * self.scale, abs(self.hi) * self.scale))
            return f"{first} {verb} {second} by {bound(d)} {self.unit} (95% CI {bound(lo)} to {bound(hi)}, {self.n} seeds)"
        return (f"no clear difference between {self.a} and {self.b} at {self.n} seeds "
                f"({self.diff * self.scale:+.1f} {self.unit}, {self.interval()})")


def bound(value: float) -> str:
    """An interval's end, in points, with one decimal; with one significant digit if one decimal would
    print a non-zero bound as 0.0 (a called difference whose interval starts at 0.02 reads "0.02 to
    10.4", not "0.0 to 10.4", which would look as if it touched 0)."""
    text = f"{value:.1f}"
    if value != 0 and math.isfinite(value) and float(text) == 0:
        text = f"{value:.{-math.floor(math.log10(abs(value)))}f}"
    return text


def t_quantile(n: int, level: float = LEVEL) -> float:
    """Two-sided Student's t critical value for n paired values (n - 1 degrees of freedom)."""
    from scipy.stats import t
    return float(t.ppf(0.5 + level / 2, n - 1))


def paired(a: Sequence[float], b: Sequence[float], names: tuple[str, str] = ("A", "B"), *,
           scale: float = 100.0, unit: str = "points") -> Comparison:
    """Compare A and B measured on the same seeds (a[i] and b[i] from seed i)."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if len(a) != len(b):
        raise DistillError(f"a paired comparison needs one value of each per seed: got {len(a)} and {len(b)}")
    n = len(a)
    if n < 2:
        raise DistillError(f"a paired comparison needs at least 2 seeds for an interval, got {n}")
    if not all(math.isfinite(x) for x in a + b):
        raise DistillError("a paired comparison got a NaN or infinite value")
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = t_quantile(n) * sd / math.sqrt(n)
    return Comparison(names[0], names[1], mean, mean - half, mean + half, n, sd, scale, unit)


def mean_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi): a value's mean over seeds with its t interval (one setting, not a comparison)."""
    v = [float(x) for x in values]
    if len(v) < 2:
        raise DistillError(f"an interval needs at least 2 seeds, got {len(v)}")
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    half = t_quantile(len(v), level) * sd / math.sqrt(len(v))
    return m, m - half, m + half
