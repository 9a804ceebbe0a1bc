"""Student t, confidence and prediction intervals, paired t-test: checked against scipy over a grid."""

from __future__ import annotations

import math
from statistics import mean, stdev

import pytest
from scipy import special
from scipy import stats as sps

from mmbench.results import leaderboard
from mmbench.results.stats import betainc, ci95, paired_t_test, prediction_interval, t_cdf, t_ppf, t_sf

DFS = [0.5, 1, 2, 3, 4, 7.5, 30, 99, 101, 1000, 9999, 10001, 1e5, 1e9]
TS = [-1e6, -300.0, -40.0, -8.0, -2.5, -1.0, -1e-3, 0.0, 1e-8, 0.3, 1.0, 1.96, 2.5, 8.0, 40.0, 300.0, 1e6]
# the rounded table leaderboard.py used before: two-sided 95% quantiles for df 1..30
T95_TABLE = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
             2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
             2.045, 2.042]


def close(got: float, want: float, rel: float = 1e-10) -> bool:
    """Relative agreement, or both below the smallest normal double (scipy and we may underflow differently)."""
    if abs(want) < 1e-300:
        return abs(got) < 1e-290
    return abs(got - want) <= rel * abs(want)


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 15.0, 500.0])
@pytest.mark.parametrize("b", [0.5, 1.0, 3.0, 40.0, 500.0])
def test_betainc_matches_scipy(a: float, b: float) -> None:
    for x in [0.0, 1e-12, 1e-4, 0.05, 0.3, 0.5, 0.51, 0.7, 0.95, 0.999, 1 - 1e-9, 1.0]:
        want = float(special.betainc(a, b, x))
        got = betainc(a, b, x)
        assert abs(got - want) <= 1e-10 * max(want, 1e-300) or abs(got - want) < 1e-15, (a, b, x, got, want)


def test_betainc_rejects_bad_arguments() -> None:
    for a, b, x in [(0.0, 1.0, 0.5), (1.0, -1.0, 0.5), (1.0, 1.0, -0.1), (1.0, 1.0, 1.1), (1.0, 1.0, math.nan)]:
        with pytest.raises(ValueError):
            betainc(a, b, x)


def reference_sf(t: float, df: float) -> float:
    """P(T > t): closed forms for df 1 and 2 (scipy's df = 1 is off by 1.6e-9 at t = 1e-8), scipy otherwise."""
    if df == 1:
        return math.atan2(1.0, t) / math.pi
    if df == 2:
        root = math.sqrt(2 + t * t)
        return 0.5 - t / (2 * root) if t <= 0 else 1 / (root * (root + t))  # no cancellation for t > 0
    return float(sps.t.sf(t, df))


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_and_sf_match_scipy(df: float) -> None:
    for t in TS:
        assert close(t_cdf(t, df), reference_sf(-t, df)), (t, df)
        # the upper tail keeps relative precision far out (t_cdf is 1.0 there)
        assert close(t_sf(t, df), reference_sf(t, df)), (t, df)
        if df not in (1, 2):
            assert close(t_cdf(t, df), float(sps.t.cdf(t, df))), (t, df)


def test_t_cdf_limits_and_symmetry() -> None:
    for df in (1, 4, 30):
        assert t_cdf(0.0, df) == 0.5
        assert t_cdf(math.inf, df) == 1.0 and t_cdf(-math.inf, df) == 0.0
        for t in (0.7, 3.0):
            assert t_cdf(-t, df) == pytest.approx(1 - t_cdf(t, df), rel=1e-14)
    assert math.isnan(t_cdf(math.nan, 3))
    # df = 1 is the Cauchy distribution: P(T > t) = atan(1/t)/pi, also beyond where t*t overflows
    for t in (1e3, 1e160):
        assert t_sf(t, 1) == pytest.approx(math.atan2(1.0, t) / math.pi, rel=1e-10)
    # df = inf is the standard normal
    assert t_cdf(1.96, math.inf) == pytest.approx(float(sps.norm.cdf(1.96)), rel=1e-14)
    assert t_cdf(1.96, 1e15) == pytest.approx(float(sps.norm.cdf(1.96)), rel=1e-12)
    with pytest.raises(ValueError):
        t_cdf(1.0, 0)
    with pytest.raises(ValueError):
        t_cdf(1.0, -3)


@pytest.mark.parametrize("df", DFS)
def test_t_ppf_matches_scipy_and_inverts_cdf(df: float) -> None:
    for q in [1e-12, 1e-5, 0.005, 0.025, 0.1, 0.4, 0.5, 0.6, 0.9, 0.975, 0.995, 1 - 1e-5]:
        want = float(sps.t.ppf(q, df))
        got = t_ppf(q, df)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (q, df)
        assert t_cdf(got, df) == pytest.approx(q, rel=1e-9)


def test_t_ppf_edges() -> None:
    assert t_ppf(0.5, 3) == 0.0
    assert t_ppf(1.0, 3) == math.inf and t_ppf(0.0, 3) == -math.inf
    assert t_ppf(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-12)  # Cauchy closed form
    for q in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError):
            t_ppf(q, 3)
    with pytest.raises(ValueError):
        t_ppf(0.9, 0)


def test_ci95_reproduces_the_old_table() -> None:
    values = [0.030, 0.034, 0.032, 0.029, 0.035, 0.031, 0.036, 0.028, 0.033, 0.030, 0.034, 0.032, 0.031, 0.030,
              0.029, 0.033, 0.035, 0.032, 0.030, 0.031, 0.034, 0.036, 0.029, 0.030, 0.033, 0.032, 0.031, 0.035,
              0.030, 0.034, 0.032]
    for n in range(2, 32):
        vals = values[:n]
        old = T95_TABLE[n - 2] * stdev(vals) / math.sqrt(n)
        assert ci95(vals) == pytest.approx(old, rel=1e-3), n
        exact = float(sps.t.ppf(0.975, n - 1)) * stdev(vals) / math.sqrt(n)
        assert ci95(vals) == pytest.approx(exact, rel=1e-10), n


def test_ci95_small_and_large_samples() -> None:
    assert ci95([]) is None and ci95([0.5]) is None
    assert ci95([1.0, 1.0, 1.0]) == 0.0
    vals = [float(i) for i in range(40)]  # beyond the old table: the exact t, no longer the normal 1.96
    assert ci95(vals) == pytest.approx(float(sps.t.ppf(0.975, 39)) * stdev(vals) / math.sqrt(40), rel=1e-10)
    assert leaderboard.ci95 is ci95


@pytest.mark.parametrize("a, b", [
    ([0.31, 0.29, 0.33], [0.30, 0.30, 0.30]),
    ([1.0, 2.0, 3.0, 4.0], [1.1, 2.3, 2.9, 4.5]),
    ([0.5, 0.7], [0.4, 0.3]),
    ([0.2501, 0.2498, 0.2503, 0.2500, 0.2499, 0.2502], [0.2400, 0.2410, 0.2405, 0.2395, 0.2402, 0.2399]),
    ([float(i) ** 1.5 for i in range(50)], [float(i) ** 1.49 for i in range(50)]),
])
def test_paired_t_test_matches_scipy(a: list[float], b: list[float]) -> None:
    got = paired_t_test(a, b)
    want = sps.ttest_rel(a, b)
    assert got["n"] == len(a) and got["df"] == len(a) - 1
    assert got["mean_diff"] == pytest.approx(mean(x - y for x, y in zip(a, b)), rel=1e-12)
    assert got["t"] == pytest.approx(float(want.statistic), rel=1e-9)
    assert got["p"] == pytest.approx(float(want.pvalue), rel=1e-9)
    flipped = paired_t_test(b, a)
    assert flipped["t"] == pytest.approx(-got["t"], rel=1e-12) and flipped["p"] == pytest.approx(got["p"], rel=1e-12)


def test_paired_t_test_edge_cases() -> None:
    assert paired_t_test([], []) == {"n": 0, "mean_diff": None, "t": None, "df": None, "p": None}
    one = paired_t_test([0.5], [0.4])
    assert one["n"] == 1 and one["t"] is None and one["p"] is None and one["mean_diff"] == pytest.approx(0.1)
    same = paired_t_test([0.3, 0.4, 0.5], [0.3, 0.4, 0.5])
    assert same["t"] == 0.0 and same["p"] == 1.0 and same["mean_diff"] == 0.0
    up = paired_t_test([1.5, 2.5, 3.5], [1.0, 2.0, 3.0])  # every seed better by exactly 0.5
    assert up["t"] == math.inf and up["p"] == 0.0
    down = paired_t_test([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert down["t"] == -math.inf and down["p"] == 0.0
    with pytest.raises(ValueError, match="3 and 2"):
        paired_t_test([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        paired_t_test([1.0, math.nan], [1.0, 2.0])


def test_prediction_interval() -> None:
    vals = [0.30, 0.32, 0.31, 0.35, 0.29]
    centre, half = prediction_interval(vals)
    n = len(vals)
    assert centre == pytest.approx(mean(vals), rel=1e-12)
    assert half == pytest.approx(float(sps.t.ppf(0.995, n - 1)) * stdev(vals) * math.sqrt(1 + 1 / n), rel=1e-10)
    _, half95 = prediction_interval(vals, level=0.95)
    assert half95 == pytest.approx(float(sps.t.ppf(0.975, n - 1)) * stdev(vals) * math.sqrt(1 + 1 / n), rel=1e-10)
    assert half95 > ci95(vals)  # one new seed scatters more than the mean of five
    with pytest.raises(ValueError, match="at least 2"):
        prediction_interval([0.3])
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="level"):
            prediction_interval(vals, level=level)
