"""Tests for fdpo/uncertainty/claims.py: Spearman against scipy, and the verdict on families whose outcome is
known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fdpo.uncertainty import (
    CLAIMS,
    CONFIDENCE,
    RHO_THRESHOLD,
    Claim,
    Gap,
    judge,
    spearman,
)


def test_spearman_matches_scipy():
    rng = np.random.default_rng(7)
    for values in ([3.0, 2.0, 2.0, 1.0, 0.5], rng.normal(size=7), [1.0, 4.0, 2.0]):
        expected = stats.spearmanr(values, np.arange(len(values))).statistic
        assert spearman(values) == pytest.approx(expected, rel=1e-12)
    assert spearman([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == pytest.approx(1.0)
    # one swap of neighbours among six: 1 − 6·2/(6·35)
    assert spearman([1.0, 3.0, 2.0, 4.0, 5.0, 6.0]) == pytest.approx(1 - 12 / 210)
    assert math.isnan(spearman([2.0, 2.0, 2.0])) and math.isnan(spearman([1.0]))


def _gap(z: float, df: float = 2.0) -> Gap:
    """A gap of ``z`` standard errors (se 1) with ``df`` degrees of freedom (three seeds paired by default)."""
    return Gap(value=z, se=1.0, se_seeds=1.0, se_prompts=None, z=z, paired_seeds=True, df=df, n=int(df) + 1)


#: Student t, 97.5% quantile, 2 d.o.f.: (2p − 1)/√(2p(1 − p)) with p = 0.975; 9 d.o.f. from scipy.
T_975_2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)
T_975_9 = stats.t.ppf(0.975, 9)


@pytest.mark.parametrize(
    ("claim", "means", "z", "outcome"),
    [
        (CLAIMS[0], [3.0, 2.8, 2.5, 2.2, 2.0, 1.5], -8.0, "holds"),  # reward falls cleanly
        (
            CLAIMS[0],
            [3.0, 2.8, 2.5, 2.2, 2.0, 1.5],
            -4.0,
            "does not hold",
        ),  # monotone, −4 SE at 2 df: p 0.057
        (CLAIMS[1], [1.0, 1.3, 1.1, 1.4, 0.9, 1.5], 5.0, "does not hold"),  # ends apart, order scrambled
        (CLAIMS[1], [1.6, 1.55, 1.5, 1.52, 1.45, 1.4], -5.0, "reversed"),  # entropy falls significantly
        (CLAIMS[1], [1.6, 1.55, 1.5, 1.52, 1.45, 1.4], -3.0, "does not hold"),  # falls, p 0.095 at 2 df
        (CLAIMS[3], [0.2, 0.2, 0.2], math.nan, "does not hold"),  # all equal
    ],
)
def test_judge_outcomes(claim, means, z, outcome):
    verdict = judge(claim, means, _gap(z))
    assert verdict.outcome == outcome
    assert verdict.claim is claim and verdict.means == tuple(means)


def test_judge_with_zero_standard_error_holds_on_an_exact_gap():
    exact = Gap(
        value=-25.0, se=0.0, se_seeds=0.0, se_prompts=None, z=-math.inf, paired_seeds=True, df=2.0, n=3
    )
    verdict = judge(CLAIMS[4], [30.0, 25.0, 20.0, 15.0, 10.0, 5.0], exact)
    assert verdict.outcome == "holds" and verdict.comparison.interval == (-25.0, -25.0)


def test_judge_cuts_at_the_student_t_quantile_of_the_gaps_degrees_of_freedom():
    """The gap must exceed t_{0.975, df} standard errors: 4.303 with three seeds, 2.262 with ten; the old normal
    cut-offs (3, 1.96) are not enough with three."""
    claim = Claim("distinct_2", +1, "distinct-2 rises")
    one_swap = [1.0, 3.0, 2.0, 4.0, 5.0, 6.0]  # ρ = 0.943
    assert T_975_2 == pytest.approx(stats.t.ppf(0.975, 2), rel=1e-12)
    assert judge(claim, one_swap, _gap(T_975_2 + 1e-6)).outcome == "holds"
    assert judge(claim, one_swap, _gap(T_975_2 - 1e-6)).outcome == "does not hold"
    assert judge(claim, one_swap, _gap(3.0)).outcome == "does not hold"
    assert judge(claim, one_swap, _gap(T_975_9 + 1e-6, df=9.0)).outcome == "holds"
    assert judge(claim, one_swap, _gap(T_975_9 - 1e-6, df=9.0)).outcome == "does not hold"
    assert judge(claim, one_swap, _gap(5.0), rho_threshold=0.95).outcome == "does not hold"
    assert judge(claim, one_swap, _gap(3.0), confidence=0.9).outcome == "holds"  # t_{0.95, 2} = 2.92
    verdict = judge(claim, one_swap, _gap(5.0))
    low, high = verdict.comparison.interval
    assert (low, high) == pytest.approx((5.0 - T_975_2, 5.0 + T_975_2), rel=1e-12)
    assert verdict.comparison.p_value == pytest.approx(2 * stats.t.sf(5.0, 2), rel=1e-12)
    assert RHO_THRESHOLD == 0.8 and CONFIDENCE == 0.95


def test_judge_says_equivalent_only_when_tost_puts_the_gap_within_the_bound():
    """TOST at α 0.05: the 90% interval (± t_{0.95, df}·se) must lie inside ±bound. Gap 0.5, se 1, 9 df:
    0.5 ± 1.833 lies inside ±2.5 but not inside ±2.0."""
    claim = CLAIMS[1]
    means = [1.5, 1.5, 1.51, 1.49, 1.5, 1.5]
    gap = Gap(value=0.5, se=1.0, se_seeds=1.0, se_prompts=None, z=0.5, paired_seeds=True, df=9.0, n=10)
    assert judge(claim, means, gap, bound=2.5).outcome == "equivalent"
    assert judge(claim, means, gap, bound=2.0).outcome == "does not hold"
    assert judge(claim, means, gap).outcome == "does not hold"
    assert judge(claim, means, gap, bound=2.5).comparison.tost_p == pytest.approx(
        stats.t.cdf(-2.0, 9), rel=1e-12
    )
