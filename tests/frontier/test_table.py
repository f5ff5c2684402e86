"""Tests for fdpo/frontier/table.py: the summary across seeds, separated intervals, dominance, the fronts."""

from __future__ import annotations

import math

import pytest
from _frontier_data import BASELINE, ROWS, evaluations

from fdpo.frontier.table import (
    dominates,
    frontier_columns,
    frontier_markdown,
    frontier_table,
    separated,
    summarize_configurations,
)

T_975_2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # Student t, 97.5% quantile, 2 d.o.f.: (2p − 1)/√(2p(1 − p))


def test_summary_has_mean_std_and_student_t_half_width_per_configuration():
    summary = summarize_configurations(ROWS)
    assert [(row["lever"], row["setting"], row["n"]) for row in summary] == [
        ("divergence", "RKL β=0.1", 3),
        ("divpo", "logprob", 3),
        ("temperature", "T=0.8", 3),
        ("interpolation", "t=0.5", 3),
        ("sft", "SFT", 1),
    ]
    rkl = summary[0]
    assert rkl["reward_mean"] == pytest.approx(3.0, abs=1e-12)
    assert rkl["reward_std"] == pytest.approx(0.1, abs=1e-12)
    assert rkl["reward_ci95"] == pytest.approx(T_975_2 * 0.1 / math.sqrt(3), rel=1e-12)
    assert rkl["distinct_2_ci95"] == pytest.approx(T_975_2 * 0.01 / math.sqrt(3), rel=1e-9)
    assert rkl["kl_to_ref_mean"] == pytest.approx(11.0)
    assert summary[-1]["reward_mean"] == 0.0 and summary[-1]["reward_std"] is None
    assert summary[-1]["reward_ci95"] is None
    with pytest.raises(ValueError, match="non-empty string 'setting'"):
        summarize_configurations([{"lever": "sft", "setting": ""}])


def test_separated_needs_the_gap_to_exceed_both_half_widths():
    baseline = {"reward_mean": 1.0, "reward_ci95": 0.25}
    assert not separated({"reward_mean": 1.5, "reward_ci95": 0.25}, baseline, "reward")  # gap = 0.5 exactly
    assert separated({"reward_mean": 1.5000001, "reward_ci95": 0.25}, baseline, "reward")
    assert not separated({"reward_mean": 0.4, "reward_ci95": 0.25}, baseline, "reward")  # lower
    assert not separated({"reward_mean": 9.0, "reward_ci95": None}, baseline, "reward")  # one seed: no claim
    assert not separated({"reward_mean": 9.0, "reward_ci95": 0.1}, {"reward_mean": None}, "reward")


def test_dominates_needs_reward_and_two_of_three_diversity_measures():
    def row(reward, predictive, token, distinct):
        values = {
            "reward": reward,
            "predictive_entropy": predictive,
            "token_entropy": token,
            "distinct_2": distinct,
        }
        return {
            **{f"{k}_mean": v for k, v in values.items()},
            **{f"{k}_ci95": 0.1 for k in values},
        }

    base = row(0.0, 0.0, 0.0, 0.0)
    assert dominates(row(1, 1, 1, 0), base)
    assert dominates(row(1, 0, 1, 1), base)
    assert not dominates(row(1, 1, 0, 0), base)  # one measure alone
    assert not dominates(row(0.15, 1, 1, 1), base)  # reward within the intervals
    assert dominates(row(1, 1, 0, 0), base, at_least=1)
    with pytest.raises(ValueError, match="at_least must be between 1 and 3"):
        dominates(base, base, at_least=4)


def test_frontier_table_marks_the_fronts_and_what_dominates_the_baseline():
    """Token entropy front: divpo (3.6, 5.5) and interpolation (3.2, 6.0); RKL, T=0.8 (3.6, 5.0) and SFT (0, 5.1)
    are dominated. Distinct-2 front: the same two. Predictive entropy: interpolation (3.2, 2.6) and divpo/T=0.8 at
    reward 3.6 (divpo's 1.7 beats T=0.8's 1.6)."""
    table = frontier_table(summarize_configurations(ROWS), BASELINE)
    by_lever = {row["lever"]: row for row in table}
    assert {lever for lever, row in by_lever.items() if row["on_front"]} == {"divpo", "interpolation"}
    assert {lever for lever, row in by_lever.items() if row["on_front_distinct_2"]} == {
        "divpo",
        "interpolation",
    }
    assert {lever for lever, row in by_lever.items() if row["on_front_predictive_entropy"]} == {
        "divpo",
        "interpolation",
    }
    assert [lever for lever, row in by_lever.items() if row["dominates_rkl"]] == ["divpo"]
    divpo = by_lever["divpo"]
    assert divpo["reward_vs_rkl"] == pytest.approx(0.6)
    assert divpo["reward_vs_rkl_ci95"] == pytest.approx(2 * T_975_2 * 0.1 / math.sqrt(3))
    assert by_lever["sft"]["reward_vs_rkl_ci95"] is None
    assert by_lever["divergence"]["reward_vs_rkl"] == 0.0 and not by_lever["divergence"]["dominates_rkl"]
    on_distinct = frontier_table(summarize_configurations(ROWS), BASELINE, diversity="distinct_2")
    assert [row["on_front"] for row in on_distinct] == [row["on_front_distinct_2"] for row in table]
    with pytest.raises(ValueError, match="No configuration divergence/FKL"):
        frontier_table(summarize_configurations(ROWS), ("divergence", "FKL"))
    with pytest.raises(ValueError, match="not a diversity measure"):
        frontier_table(summarize_configurations(ROWS), BASELINE, diversity="self_bleu")


def test_paired_differences_subtract_the_baseline_at_the_same_seed():
    """T=0.8 minus RKL per seed: reward +0.6, +0.6, +0.6 (no spread: half-width 0, above 0); token entropy +0.1 at
    every seed; predictive entropy and distinct-2 0. Paired, T=0.8 wins on reward and token entropy only: one
    measure, no dominance. Unpaired its token entropy (+0.1 against 2 × 0.248) is not even separated."""
    shifted = evaluations(
        "temperature", "T=0.8", [3.6, 3.7, 3.5], [1.6, 1.7, 1.5], [5.0, 5.1, 4.9], [0.22, 0.23, 0.21]
    )
    rows = [row for row in ROWS if row["lever"] != "temperature"] + shifted
    table = frontier_table(summarize_configurations(rows), BASELINE, evaluations=rows)
    by_lever = {row["lever"]: row for row in table}
    temperature = by_lever["temperature"]
    assert temperature["reward_paired_vs_rkl"] == pytest.approx(0.6)
    assert temperature["reward_paired_vs_rkl_ci95"] == pytest.approx(0.0, abs=1e-12)
    assert temperature["token_entropy_paired_vs_rkl"] == pytest.approx(0.1)
    assert not temperature["dominates_rkl_paired"] and not temperature["dominates_rkl"]
    assert by_lever["divpo"]["dominates_rkl_paired"] and not by_lever["divergence"]["dominates_rkl_paired"]
    # a lever shifted by a constant above the baseline at every seed dominates when paired, not unpaired
    lifted = evaluations(
        "interpolation", "t=0.5", [3.2, 3.3, 3.1], [1.7, 1.8, 1.6], [5.0, 5.1, 4.9], [0.23, 0.24, 0.22]
    )
    rows = [row for row in ROWS if row["lever"] != "interpolation"] + lifted
    table = frontier_table(summarize_configurations(rows), BASELINE, evaluations=rows)
    interpolation = next(row for row in table if row["lever"] == "interpolation")
    assert interpolation["dominates_rkl_paired"] and not interpolation["dominates_rkl"]
    assert by_lever["sft"]["reward_paired_vs_rkl"] == pytest.approx(-3.0)  # seed 0 only: no interval
    assert (
        by_lever["sft"]["reward_paired_vs_rkl_ci95"] is None and not by_lever["sft"]["dominates_rkl_paired"]
    )


def _lifted(setting: str, differences: list[float]) -> list[dict]:
    """RKL's evaluations plus ``differences`` (per seed) on reward, token entropy and distinct-2."""
    rkl = [row for row in ROWS if (row["lever"], row["setting"]) == BASELINE]
    return [
        {**row, "lever": "temperature", "setting": setting}
        | {m: row[m] + d for m in ("reward_logit_mean", "token_entropy", "distinct_2")}
        for row, d in zip(rkl, differences, strict=True)
    ]


def test_gap_dominance_cuts_at_the_student_t_quantile_of_the_gaps_df():
    """Three seeds paired: 2 df, so a gap must exceed t_{0.975, 2} = 4.303 of its standard errors, not 1.96.
    Differences (0.1, 0.3, 0.5): mean 0.3, se 0.2/√3, t 2.60: outside ±1.96 but inside ±4.30, so no dominance.
    Differences (0.25, 0.3, 0.35): t 10.4, dominance."""
    rkl = [row for row in ROWS if (row["lever"], row["setting"]) == BASELINE]
    rows = rkl + _lifted("wide", [0.1, 0.3, 0.5]) + _lifted("tight", [0.25, 0.3, 0.35])
    table = frontier_table(summarize_configurations(rows), BASELINE, evaluations=rows)
    wide, tight = table[1], table[2]
    assert wide["reward_gap_z"] == pytest.approx(0.3 / (0.2 / math.sqrt(3)), rel=1e-9)
    assert 1.96 < wide["reward_gap_z"] < T_975_2
    assert wide["reward_gap_df"] == 2.0 and wide["distinct_2_gap_df"] == 2.0
    assert wide["reward_gap_ci95"] == pytest.approx(T_975_2 * 0.2 / math.sqrt(3), rel=1e-9)
    assert not wide["dominates_rkl_se"] and tight["dominates_rkl_se"]
    assert (
        table[0]["reward_gap_df"] is None
        and table[0]["reward_gap_ci95"] is None
        and not table[0]["dominates_rkl_se"]
    )
    columns = frontier_columns()
    assert {"reward_gap_z", "reward_gap_df", "reward_gap_ci95", "dominates_rkl_se"} <= set(columns)
    assert all(set(columns) <= set(row) for row in table)
    text = frontier_markdown(table)
    assert "gap t (df) vs RKL" in text and f"{wide['reward_gap_z']:+.1f} (2)" in text
