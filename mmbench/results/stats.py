"""Small-sample statistics for comparing runs over seeds: Student t distribution, CIs, paired tests.

Pure Python (no scipy at runtime). The t distribution goes through the regularized incomplete beta function,
evaluated by its continued fraction with the modified Lentz method (Numerical Recipes, 3rd ed., §6.4);
results agree with scipy to about 1e-12 relative in the tested range.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from functools import lru_cache
from statistics import mean, stdev
from typing import Any

_EPS = 4 * sys.float_info.epsilon  # relative size of the last continued-fraction update
_TINY = 1e-300  # keeps Lentz's denominators away from zero
_MAX_ITER = 100_000  # the continued fraction needs O(sqrt(max(a, b))) terms
_LARGE_DF = 1e4  # above, Student t goes through Hill's normal expansion instead of the incomplete beta


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz); converges fast for x < (a+1)/(a+b+2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            delta = d * c
            h *= delta
        if abs(delta - 1.0) <= _EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge for a={a}, b={b}, x={x}")


def _stirling_rest(x: float) -> float:
    """lgamma(x) minus its Stirling approximation (x - 1/2) log x - x + log(2 pi)/2, for x >= 100."""
    x2 = 1.0 / (x * x)
    return (1 / 12 - x2 * (1 / 360 - x2 * (1 / 1260 - x2 * (1 / 1680 - x2 / 1188)))) / x


def _log_inv_beta(a: float, b: float) -> float:
    """log(1 / B(a, b)) = lgamma(a+b) - lgamma(a) - lgamma(b), without cancellation when one argument is huge."""
    big, small = max(a, b), min(a, b)
    if big < 100.0:
        return math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    # lgamma(big + small) - lgamma(big) from the Stirling series: the plain difference of two ~1e10 numbers
    # would keep only ~6 digits at df = 1e9
    diff = ((big + small - 0.5) * math.log1p(small / big) + small * math.log(big) - small
            + _stirling_rest(big + small) - _stirling_rest(big))
    return diff - math.lgamma(small)


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """I_x(a, b) with ``y = 1 - x`` passed separately, so callers who know it avoid cancellation near x = 1."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log1p(-y) if x > 0.5 else math.log(x)  # a * log(x) amplifies any rounding of x by a
    log_y = math.log1p(-x) if y > 0.5 else math.log(y)
    log_front = _log_inv_beta(a, b) + a * log_x + b * log_y
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, y) / b


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1 (as scipy.special.betainc).

    Raises:
        ValueError: a or b not positive, or x outside [0, 1].
    """
    if not (a > 0 and b > 0):
        raise ValueError(f"betainc needs a > 0 and b > 0, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs 0 <= x <= 1, got x={x}")
    return _betainc(a, b, x, 1.0 - x)


def _check_df(df: float) -> None:
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got df={df}")


def _hill_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0 and large df by Hill's normalizing transformation (CACM Algorithm 395, 1970).

    The continued fraction is ill-conditioned for huge df (rounding of x near 1 is amplified by df/2: 2e-8
    relative error at df = 1e9); Hill's expansion maps t to a normal deviate with ~1e-13 error for df >= 1e4.
    """
    a = df - 0.5
    b = 48.0 * a * a
    y = a * math.log1p(t / df * t)
    z = (((((-0.4 * y - 3.3) * y - 24.0) * y - 85.5) / (0.8 * y * y + 100.0 + b) + y + 3.0) / b + 1.0) * math.sqrt(y)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def t_sf(t: float, df: float) -> float:
    """Upper tail P(T > t) of Student's t with ``df`` degrees of freedom, accurate far into either tail."""
    _check_df(df)
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    if df > _LARGE_DF:
        tail = _hill_tail(abs(t), df)
    elif abs(t) > 1e150:  # t * t would overflow, yet the tail is still representable for small df
        tail = 0.5 * _betainc(0.5 * df, 0.5, df / abs(t) / abs(t), 1.0)
    else:
        # P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2); both x and 1 - x are formed without subtracting
        t2 = t * t
        tail = 0.5 * _betainc(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2))
    return tail if t > 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution P(T <= t) of Student's t with ``df`` (> 0, may be inf) degrees of freedom.

    Raises:
        ValueError: df is not positive.
    """
    return t_sf(-t, df)


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t: the t with ``t_cdf(t, df) == q`` (-inf at q = 0, inf at q = 1).

    Raises:
        ValueError: q outside [0, 1] or df not positive.
    """
    _check_df(df)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile level must lie in [0, 1], got q={q}")
    if q == 0.5:
        return 0.0
    if q in (0.0, 1.0):
        return math.inf if q == 1.0 else -math.inf
    # solve in the tail on the short side: the upper-tail probability keeps full precision there
    tail, sign = (1.0 - q, 1.0) if q > 0.5 else (q, -1.0)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > tail:
        lo, hi = hi, hi * 2.0
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:  # the bracket is down to adjacent floats
            break
        if t_sf(mid, df) > tail:
            lo = mid
        else:
            hi = mid
    return sign * 0.5 * (lo + hi)


@lru_cache(maxsize=256)
def _t_two_sided(level: float, df: float) -> float:
    return t_ppf(0.5 + 0.5 * level, df)


def ci95(values: Sequence[float]) -> float | None:
    """Half-width of the 95% confidence interval of the mean (Student t); None (undefined, not zero) for fewer
    than 2 values: csv leaves the cell empty, json writes null."""
    n = len(values)
    if n < 2:
        return None
    return _t_two_sided(0.95, n - 1) * stdev(values) / math.sqrt(n)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Two-sided paired t-test of mean(a - b) != 0, e.g. student vs teacher over the same seeds.

    Args:
        a: One value per seed for the first model.
        b: The value of the same seed for the second model, in the same order.

    Returns:
        ``{"n", "mean_diff", "t", "df", "p"}``. With fewer than 2 pairs ``t``, ``df`` and ``p`` are None
        (``mean_diff`` too when there is no pair). Differences that are all equal have no spread:
        all zero gives t = 0 and p = 1; a nonzero constant gives t = ±inf and p = 0.

    Raises:
        ValueError: ``a`` and ``b`` differ in length, or hold a value that is not finite.
    """
    if len(a) != len(b):
        raise ValueError(f"paired t-test needs one value per seed on both sides, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    if not all(math.isfinite(d) for d in diffs):
        raise ValueError("paired t-test needs finite values; a NaN or inf metric means a failed run")
    n = len(diffs)
    out: dict[str, Any] = {"n": n, "mean_diff": mean(diffs) if diffs else None, "t": None, "df": None, "p": None}
    if n < 2:
        return out
    out["df"] = n - 1
    sd = stdev(diffs)  # exact rational arithmetic: equal differences give exactly 0
    if sd == 0.0:
        zero = out["mean_diff"] == 0.0
        out["t"], out["p"] = (0.0, 1.0) if zero else (math.copysign(math.inf, out["mean_diff"]), 0.0)
        return out
    t = out["mean_diff"] / (sd / math.sqrt(n))
    out["t"] = t
    out["p"] = min(1.0, 2.0 * t_sf(abs(t), n - 1))
    return out


def prediction_interval(values: Sequence[float], level: float = 0.99) -> tuple[float, float]:
    """Mean and half-width of the interval where the result of one new, independent seed should land.

    The half-width is ``t_{(1+level)/2, n-1} * sd * sqrt(1 + 1/n)``: wider than the CI of the mean, since
    it covers the spread of a single seed plus the uncertainty of the mean.

    Raises:
        ValueError: fewer than 2 values, or ``level`` outside (0, 1).
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"a prediction interval needs at least 2 values (seeds), got {n}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return mean(values), _t_two_sided(level, n - 1) * stdev(values) * math.sqrt(1.0 + 1.0 / n)
