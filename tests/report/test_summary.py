"""Tests for fdpo/report/summary.py: confidence intervals against scipy and the per-configuration summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _report_data import results
from scipy import stats

from fdpo.report import (
    confidence_interval,
    configuration_label,
    summarize,
)


@pytest.mark.parametrize(
    "values", [[1.0, 2.0], [2.5, 2.7, 2.4], [0.1, -0.3, 0.7, 1.9, 0.0], list(np.linspace(-3, 5, 11))]
)
def test_confidence_interval_matches_scipy_t_interval(values):
    mean, std, half_width = confidence_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12)
    assert std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert mean - half_width == pytest.approx(low, rel=1e-10, abs=1e-12)
    assert mean + half_width == pytest.approx(high, rel=1e-10, abs=1e-12)


def test_confidence_interval_of_two_values_by_hand():
    """[1, 3]: mean 2, std √2, half-width t_{0.975,1}·√2/√2 = 12.7062."""
    mean, std, half_width = confidence_interval([1.0, 3.0])
    assert (mean, std) == (2.0, pytest.approx(math.sqrt(2.0)))
    assert half_width == pytest.approx(12.706204736, rel=1e-9)


def test_confidence_interval_degenerate_inputs():
    assert confidence_interval([4.0]) == (4.0, None, None)
    mean, std, half_width = confidence_interval([])
    assert math.isnan(mean) and std is None and half_width is None
    # None and non-finite values are dropped
    assert confidence_interval([1.0, None, float("nan"), 3.0])[0] == 2.0


def test_summarize_groups_by_configuration_with_scipy_intervals():
    rows = results()
    summary = summarize(rows)
    assert [row["divergence"] for row in summary] == [
        "sft",
        "reverse_kl",
        "jensen_shannon",
        "alpha:0.5",
        "forward_kl",
    ]
    assert [row["n"] for row in summary] == [1, 3, 3, 3, 3]
    assert [row["label"] for row in summary] == ["SFT", "RKL", "JS", "α=0.5", "FKL"]
    for row in summary[1:]:
        members = [r for r in rows if r["divergence"] == row["divergence"]]
        for metric, column in (
            ("reward_logit", "reward_logit_mean"),
            ("predictive_entropy", "predictive_entropy"),
        ):
            values = [m[column] for m in members]
            low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
            assert row[f"{metric}_mean"] == pytest.approx(np.mean(values))
            assert row[f"{metric}_ci95"] == pytest.approx((high - low) / 2)
            assert row[f"{metric}_std"] == pytest.approx(np.std(values, ddof=1))
    baseline = summary[0]
    assert baseline["reward_logit_mean"] == 0.2 and baseline["reward_logit_ci95"] is None
    assert baseline["train_seconds_mean"] is None  # no finite value for the baseline


def test_summarize_labels_name_loss_and_beta_only_when_they_vary():
    rows = [
        dict(divergence="alpha:0.3", loss_type="sigmoid", beta=0.01, reward_logit_mean=1.0),
        dict(divergence="alpha:0.3", loss_type="hinge", beta=0.01, reward_logit_mean=1.0),
        dict(divergence="alpha:0.3", loss_type="hinge", beta=0.1, reward_logit_mean=1.0),
    ]
    assert [row["label"] for row in summarize(rows)] == [
        "α=0.3 sigmoid β=0.01",
        "α=0.3 hinge β=0.01",
        "α=0.3 hinge β=0.1",
    ]
    assert configuration_label("chi_squared_kl") == "χ²+KL"
    assert configuration_label("my_divergence:2") == "my_divergence:2"
