"""Tests for fdpo/uncertainty/claims.py: Spearman against scipy, and the verdict on families whose outcome is
known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fdpo.uncertainty import (
    CLAIMS,
    GAP_THRESHOLD,
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


def _gap(z: float) -> Gap:
    return Gap(value=z, se=1.0, se_seeds=0.5, se_prompts=0.5, z=z)


@pytest.mark.parametrize(
    ("claim", "means", "z", "outcome"),
    [
        (CLAIMS[0], [3.0, 2.8, 2.5, 2.2, 2.0, 1.5], -8.0, "holds"),  # reward falls cleanly
        (CLAIMS[0], [3.0, 2.8, 2.5, 2.2, 2.0, 1.5], -2.0, "does not hold"),  # monotone but ends within 3 SE
        (CLAIMS[1], [1.0, 1.3, 1.1, 1.4, 0.9, 1.5], 5.0, "does not hold"),  # ends apart, order scrambled
        (CLAIMS[1], [1.6, 1.55, 1.5, 1.52, 1.45, 1.4], -4.4, "reversed"),  # entropy falls significantly
        (CLAIMS[1], [1.6, 1.55, 1.5, 1.52, 1.45, 1.4], -2.5, "does not hold"),  # falls, not significantly
        (CLAIMS[4], [30.0, 25.0, 20.0, 15.0, 10.0, 5.0], -math.inf, "holds"),  # zero SE, nonzero gap
        (CLAIMS[3], [0.2, 0.2, 0.2], math.nan, "does not hold"),  # all equal
    ],
)
def test_judge_outcomes(claim, means, z, outcome):
    verdict = judge(claim, means, _gap(z))
    assert verdict.outcome == outcome
    assert verdict.claim is claim and verdict.means == tuple(means)


def test_judge_thresholds_are_inclusive_and_adjustable():
    claim = Claim("distinct_2", +1, "distinct-2 rises")
    one_swap = [1.0, 3.0, 2.0, 4.0, 5.0, 6.0]  # ρ = 0.943
    assert judge(claim, one_swap, _gap(GAP_THRESHOLD)).outcome == "holds"
    assert judge(claim, one_swap, _gap(GAP_THRESHOLD - 1e-9)).outcome == "does not hold"
    assert judge(claim, one_swap, _gap(5.0), rho_threshold=0.95).outcome == "does not hold"
    assert RHO_THRESHOLD == 0.8 and GAP_THRESHOLD == 3.0
