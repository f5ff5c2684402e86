"""Tests for fdpo/uncertainty/inference.py: t, p and intervals against scipy and by hand, the exact sign-flip test
enumerated by hand, power against simulation, and the outcome's error rates under the null and at the bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fdpo.uncertainty import (
    COMPARISON_COLUMNS,
    Comparison,
    equivalence_power,
    paired_comparison,
    power,
    replicates_for_power,
    sign_flip_p_value,
    t_comparison,
    welch_comparison,
)


def test_paired_comparison_matches_scipy_and_a_hand_computation():
    """d = (2, 3, 4): mean 3, s 1, se 1/√3, t 3√3 = 5.196 at 2 df; the interval 3 ± t_{0.975,2}/√3 = 3 ± 2.484
    excludes 0. d = (1, 2, 3): t 2√3 = 3.46, "3.5 SE", but 2 ± 2.484 includes 0 at 2 df."""
    c = paired_comparison([2.0, 3.0, 4.0])
    t_975_2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # closed form of the 97.5% t quantile at 2 df
    assert (c.estimate, c.df, c.n, c.n_missing) == (3.0, 2.0, 3, 0)
    assert c.standard_error == pytest.approx(1 / math.sqrt(3), rel=1e-12)
    assert c.t == pytest.approx(3 * math.sqrt(3), rel=1e-12)
    assert c.interval == pytest.approx((3 - t_975_2 / math.sqrt(3), 3 + t_975_2 / math.sqrt(3)), rel=1e-12)
    # two-sided p at 2 df in closed form: 1 − t/√(2 + t²)
    assert c.p_value == pytest.approx(1 - c.t / math.sqrt(2 + c.t**2), rel=1e-12)
    assert c.outcome == "higher" and c.level == 0.95
    assert paired_comparison([1.0, 2.0, 3.0]).outcome == "inconclusive"
    rng = np.random.default_rng(3)
    for size in (3, 6, 15):
        d = rng.normal(0.3, 1.0, size)
        c, reference = paired_comparison(d, level=0.9), stats.ttest_1samp(d, 0.0)
        assert c.t == pytest.approx(reference.statistic, rel=1e-10)
        assert c.p_value == pytest.approx(reference.pvalue, rel=1e-10)
        assert c.df == reference.df
        assert c.interval == pytest.approx(tuple(reference.confidence_interval(0.9)), rel=1e-10)


def test_welch_comparison_matches_scipy_and_the_satterthwaite_formula():
    """a = (1, 2, 3), b = (0, 0, 0, 4): var/n 1/3 and 1; df (4/3)² / ((1/3)²/2 + 1²/3) = 4.571."""
    c = welch_comparison([1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 4.0])
    assert c.estimate == pytest.approx(1.0) and c.standard_error == pytest.approx(math.sqrt(4 / 3))
    assert c.df == pytest.approx((4 / 3) ** 2 / ((1 / 3) ** 2 / 2 + 1 / 3), rel=1e-12)
    assert c.n == 7 and c.sign_flip_p is None
    rng = np.random.default_rng(4)
    for sizes in ((3, 3), (5, 9), (12, 4)):
        a, b = rng.normal(0.5, 1.0, sizes[0]), rng.normal(0.0, 2.0, sizes[1])
        c, reference = welch_comparison(a, b), stats.ttest_ind(a, b, equal_var=False)
        assert c.t == pytest.approx(reference.statistic, rel=1e-10)
        assert c.p_value == pytest.approx(reference.pvalue, rel=1e-10)
        assert c.df == pytest.approx(reference.df, rel=1e-10)
        assert c.interval == pytest.approx(tuple(reference.confidence_interval(0.95)), rel=1e-10)
    same = welch_comparison([1.0, 1.0, 1.0], [0.0, 0.0])  # no spread: exact, df n_a + n_b − 2
    assert same.df == 3.0 and same.t == math.inf and same.interval == (1.0, 1.0) and same.outcome == "higher"


def test_sign_flip_p_value_enumerates_all_sign_patterns():
    """d = (1, 2, 3): the 8 sums ±1 ±2 ±3 are 6, 4, 2, 0, 0, −2, −4, −6; |sum| ≥ 6 for 2 of them: p = 1/4.
    d = (3, −1, 1): sums ±3 ±1 ±1 are 5, 3, 3, 1, −1, −3, −3, −5; |sum| ≥ 3 for 6: p = 3/4."""
    assert sign_flip_p_value([1.0, 2.0, 3.0]) == 0.25
    assert sign_flip_p_value([3.0, -1.0, 1.0]) == 0.75
    assert sign_flip_p_value([0.5, 0.5, 0.5, 0.5]) == 2 / 16
    assert sign_flip_p_value([0.0, 0.0, 0.0]) == 1.0
    assert math.isnan(sign_flip_p_value([math.nan]))
    assert paired_comparison([1.0, 2.0, math.nan, 3.0]).sign_flip_p == 0.25
    rng = np.random.default_rng(5)
    d = rng.normal(0.2, 1.0, 12)
    exact = sign_flip_p_value(d)
    signs = np.array(np.meshgrid(*[[1.0, -1.0]] * 12)).reshape(12, -1).T  # every pattern, brute force
    assert exact == pytest.approx(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12), abs=1e-15)
    # above the exact limit: Monte-Carlo, within its binomial error of the exact value
    estimate = sign_flip_p_value(d, max_exact=5, draws=40_000, seed=1)
    assert abs(estimate - exact) < 4 * math.sqrt(exact * (1 - exact) / 40_000)


def test_missing_values_are_dropped_and_counted():
    c = paired_comparison([1.0, math.nan, 2.0, 3.0, math.nan])
    assert (c.n, c.n_missing, c.estimate) == (3, 2, 2.0)
    for few in ([1.0, math.nan], [], [math.nan, math.nan]):
        c = paired_comparison(few, bound=0.5)
        assert c.outcome == "inconclusive" and c.n_missing == len(few) - c.n
        assert all(math.isnan(v) for v in (c.estimate, c.standard_error, c.df, c.t, *c.interval, c.p_value))
        assert math.isnan(c.tost_p) and c.describe().startswith("no estimate")
    c = welch_comparison([1.0, math.nan, 2.0], [0.0])
    assert math.isnan(c.estimate) and (c.n, c.n_missing) == (3, 1)
    with pytest.raises(ValueError, match="infinite value"):
        paired_comparison([1.0, math.inf])
    with pytest.raises(ValueError, match="1-D"):
        paired_comparison([[1.0, 2.0]])


def test_tost_outcomes_and_bounds():
    """d̄ 0.1, se 0.1, 9 df: the interval 0.1 ± 2.262·0.1 includes 0; TOST p = P(T > (0.1 + b)/0.1) vs
    P(T < (0.1 − b)/0.1): at b = 0.5, max(P(T > 6), P(T < −4)) = P(T < −4)."""
    c = t_comparison(0.1, 0.1, 9.0, n=10, bound=0.5)
    assert c.tost_p == pytest.approx(stats.t.cdf(-4.0, 9), rel=1e-12) and c.outcome == "equivalent"
    assert t_comparison(0.1, 0.1, 9.0, n=10, bound=0.2).outcome == "inconclusive"  # 0.1 + 1.833·0.1 > 0.2
    assert t_comparison(0.1, 0.1, 9.0, n=10).tost_p is None
    assert t_comparison(0.1, 0.1, 9.0, n=10, bound=math.nan).bound is None  # an unmeasured bound: no test
    assert t_comparison(-0.5, 0.1, 9.0, n=10, bound=1.0).outcome == "lower"  # significant beats equivalent
    assert t_comparison(0.0, 0.0, 2.0, n=3, bound=0.1).outcome == "equivalent"  # exact zero
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="bound must be a positive"):
            t_comparison(0.1, 0.1, 9.0, n=10, bound=bad)
    with pytest.raises(ValueError, match="level must be in"):
        paired_comparison([1.0, 2.0], level=95)


def test_describe_and_as_row():
    c = t_comparison(0.042, 0.02, 5.0, n=6)
    assert c.describe() == "+0.042 [−0.009, +0.093] (t +2.1, df 5, p 0.09)"
    assert t_comparison(0.042, 0.02, 4.3, n=6).describe().endswith("(t +2.1, df 4.3, p 0.099)")
    row = paired_comparison([1.0, 2.0, 3.0], bound=5.0).as_row()
    assert tuple(row) == COMPARISON_COLUMNS
    assert row["low"] < row["estimate"] < row["high"] and row["sign_flip_p"] == 0.25
    assert "sign-flip p 0.25; TOST p" in paired_comparison([1.0, 2.0, 3.0], bound=5.0).describe()
    assert isinstance(c, Comparison)


def _simulated_t_power(effect: float, sd: float, n: int, draws: int, seed: int) -> float:
    d = np.random.default_rng(seed).normal(effect, sd, (draws, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    return float(np.mean(np.abs(t) > stats.t.ppf(0.975, n - 1)))


@pytest.mark.parametrize(
    ("effect", "sd", "n"), [(0.5, 1.0, 10), (0.06, 0.12, 3), (1.0, 1.0, 5), (0.0, 1.0, 4)]
)
def test_power_matches_a_seeded_simulation(effect, sd, n):
    draws = 40_000
    expected = power(effect, sd, n)
    simulated = _simulated_t_power(effect, sd, n, draws, seed=11)
    assert abs(simulated - expected) < 4 * math.sqrt(expected * (1 - expected) / draws)
    if effect == 0:
        assert expected == pytest.approx(0.05, rel=1e-9)


def test_replicates_for_power_is_the_first_n_reaching_the_target():
    """Half an SD needs 34 seeds for 80% power (two-sided paired t at 5%); the normal approximation gives
    ((1.96 + 0.84)/0.5)² = 31.4, a little fewer."""
    n = replicates_for_power(0.5, 1.0)
    assert n == 34 and power(0.5, 1.0, n) >= 0.8 > power(0.5, 1.0, n - 1)
    assert replicates_for_power(-0.5, 1.0) == 34  # the sign does not matter
    assert replicates_for_power(0.01, 1.0, max_n=50) is None
    large = replicates_for_power(3.0, 1.0)  # three SDs: a handful of seeds, not two
    assert large == 4 and power(3.0, 1.0, 4) >= 0.8 > power(3.0, 1.0, 3)
    with pytest.raises(ValueError, match="sd must be a positive"):
        replicates_for_power(0.5, 0.0)
    with pytest.raises(ValueError, match="power must be in"):
        replicates_for_power(0.5, 1.0, power=0.01)
    with pytest.raises(ValueError, match="n must be an integer"):
        power(0.5, 1.0, 1)


@pytest.mark.parametrize(("effect", "n"), [(0.0, 10), (0.3, 20), (1.0, 6)])
def test_equivalence_power_matches_a_seeded_simulation(effect, n):
    bound, sd, draws = 1.0, 1.0, 40_000
    d = np.random.default_rng(12).normal(effect, sd, (draws, n))
    mean, se = d.mean(axis=1), d.std(axis=1, ddof=1) / math.sqrt(n)
    critical = stats.t.ppf(0.95, n - 1)
    simulated = np.mean((mean - critical * se > -bound) & (mean + critical * se < bound))
    expected = equivalence_power(bound, sd, n, effect=effect)
    assert abs(simulated - expected) < 4 * math.sqrt(max(expected * (1 - expected), 1e-4) / draws)


def _outcomes(effect: float, n: int, draws: int, seed: int, bound: float | None = None) -> list[str]:
    rng = np.random.default_rng(seed)
    return [paired_comparison(rng.normal(effect, 1.0, n), bound=bound).outcome for _ in range(draws)]


@pytest.mark.parametrize("n", [3, 10])
def test_false_positive_rate_under_the_null_is_nominal(n):
    """No true difference: "higher" or "lower" at 5%, within 4 binomial standard errors over 4000 seeded studies
    (a normal cut-off at 3 SE would give 9.5% at three seeds)."""
    draws = 4000
    outcomes = _outcomes(0.0, n, draws, seed=100 + n)
    rate = np.mean([o in ("higher", "lower") for o in outcomes])
    assert abs(rate - 0.05) < 4 * math.sqrt(0.05 * 0.95 / draws), rate


@pytest.mark.parametrize("n", [3, 10])
def test_tost_declares_equivalence_at_most_at_alpha_when_the_effect_equals_the_bound(n):
    draws, bound = 4000, 0.5
    outcomes = _outcomes(bound, n, draws, seed=200 + n, bound=bound)
    rate = np.mean([o == "equivalent" for o in outcomes])
    assert rate <= 0.05 + 4 * math.sqrt(0.05 * 0.95 / draws), rate
    assert rate <= equivalence_power(bound, 1.0, n, effect=bound) + 4 * math.sqrt(0.05 * 0.95 / draws)
