"""Tests for fdpo/frontier/matched.py: the levers against the baseline's curves at their own reward, by hand."""

from __future__ import annotations

import pytest

from fdpo.frontier.matched import frontier_matched, matched_columns, matched_markdown

BASELINE = ("divergence", "RKL β=0.1")
#: Three seeds' curves: reward 0 → 1 → 2 with entropy 10 → 8 → 6 (seeds 0 and 2), reward 0 → 2 → 4 with entropy
#: 10 → 9 → 6 (seed 1). No KL column: that axis is skipped.
CURVES = [
    {"seed": seed, "step": step, "reward_logit_mean": reward, "sequence_entropy": entropy}
    for seed, rewards, entropies in (
        (0, (0, 1, 2), (10, 8, 6)),
        (1, (0, 2, 4), (10, 9, 6)),
        (2, (0, 1, 2), (10, 8, 6)),
    )
    for step, reward, entropy in zip((0, 1, 2), rewards, entropies, strict=True)
]


def _row(lever, setting, seed, reward, entropy):
    return {
        "lever": lever,
        "setting": setting,
        "seed": seed,
        "reward_logit_mean": reward,
        "sequence_entropy": entropy,
    }


EVALUATIONS = [
    *(_row("divergence", "RKL β=0.1", seed, 2.0, 6.0) for seed in (0, 1, 2)),  # the baseline: not judged
    *(_row("sft", "SFT", seed, 0.0, 10.0) for seed in (0, 1, 2)),  # the curves' start: not judged
    # curve at reward 1.5 (seed 0) = 7, at 3 (seed 1) = 7.5, at 1 (seed 2) = 8: differences +1, +1.5, +1.2
    _row("temperature", "RKL β=0.1 T=0.8", 0, 1.5, 8.0),
    _row("temperature", "RKL β=0.1 T=0.8", 1, 3.0, 9.0),
    _row("temperature", "RKL β=0.1 T=0.8", 2, 1.0, 9.2),
    # seed 1 beyond its curve's reach (4): left out
    _row("interpolation", "RKL β=0.1 t=0.5", 0, 1.0, 8.0),
    _row("interpolation", "RKL β=0.1 t=0.5", 1, 5.0, 8.0),
]


def test_each_lever_is_judged_against_the_curve_at_its_own_reward():
    """Temperature: differences +1, +1.5, +1.2, mean 1.2333, sd 0.25166, se 0.14530, t(0.975, 2) = 4.3027:
    [0.6082, 1.8585] (half-width 0.62516), above 0 (higher). Interpolation: one seed left, no interval (inconclusive)."""
    rows = frontier_matched(CURVES, EVALUATIONS, BASELINE, measures=("sequence_entropy", "entropy_rate"))
    assert [(row["lever"], row["configuration"], row["axis"], row["measure"]) for row in rows] == [
        ("temperature", "RKL β=0.1 T=0.8", "reward_logit_mean", "sequence_entropy"),
        ("interpolation", "RKL β=0.1 t=0.5", "reward_logit_mean", "sequence_entropy"),
    ]  # entropy_rate and kl_to_ref are not in the curves
    temperature, interpolation = rows
    assert list(temperature) == matched_columns()
    assert temperature["estimate"] == pytest.approx(3.7 / 3, abs=1e-12)
    assert (temperature["low"], temperature["high"]) == pytest.approx((0.6082, 1.8585), abs=1e-4)
    assert temperature["df"] == 2 and temperature["outcome"] == "higher"
    assert temperature["baseline_value"] == pytest.approx(22.5 / 3) and temperature[
        "target"
    ] == pytest.approx(5.5 / 3)
    assert (interpolation["n_seeds"], interpolation["n_missing"], interpolation["outcome"]) == (
        1,
        1,
        "inconclusive",
    )

    markdown = matched_markdown(rows, "RKL β=0.1")
    assert "### At matched reward (reward_logit_mean)" in markdown and "matched KL" not in markdown
    assert (
        "| temperature | RKL β=0.1 T=0.8 | sequence_entropy | 1.833 | +1.233 | [+0.608, +1.858] | 2 | higher | 3 (0) |"
        in markdown
    )


def test_nothing_to_judge_without_other_configurations_and_the_reason_without_curves():
    assert frontier_matched(CURVES, EVALUATIONS[:6], BASELINE) == []
    why = "This comparison needs the baseline's curves."
    assert matched_markdown(None, "RKL β=0.1", why_not=why).endswith(f"curve\n\n{why}\n")
    with pytest.raises(ValueError, match="belongs to two levers"):
        frontier_matched(
            CURVES, [*EVALUATIONS, _row("realignment", "RKL β=0.1 T=0.8", 0, 1.0, 8.0)], BASELINE
        )


def test_realignment_is_compared_only_on_what_its_samples_show():
    """A realigned sample comes from a mixture of two models but is scored under the policy alone: its entropies
    and its KL are left out, its lexical measures kept, and the section says why."""
    curves = [
        {**point, "kl_to_ref": point["step"] * 2.0, "distinct_2_rarefied": 0.9 - 0.1 * point["step"]}
        for point in CURVES
    ]
    realigned = [
        {
            **_row("realignment", "RKL β=0.1 λ=0.5", seed, 1.0, 8.5),
            "kl_to_ref": 1.0,
            "distinct_2_rarefied": 0.85,
        }
        for seed in (0, 1, 2)
    ]
    tempered = [
        {
            **_row("temperature", "RKL β=0.1 T=0.8", seed, 1.0, 8.5),
            "kl_to_ref": 1.0,
            "distinct_2_rarefied": 0.85,
        }
        for seed in (0, 1, 2)
    ]
    rows = frontier_matched(curves, [*EVALUATIONS[:6], *realigned, *tempered], BASELINE)
    kept = {(row["lever"], row["axis"], row["measure"]) for row in rows}
    assert ("realignment", "reward_logit_mean", "distinct_2_rarefied") in kept
    assert not {key for key in kept if key[0] == "realignment" and key[2] == "sequence_entropy"}
    assert not {key for key in kept if key[0] == "realignment" and key[1] == "kl_to_ref"}
    assert {
        ("temperature", "reward_logit_mean", "sequence_entropy"),
        ("temperature", "kl_to_ref", "distinct_2_rarefied"),
    } <= kept
    assert "scored under the policy alone" in matched_markdown(rows, "RKL β=0.1")
    assert "scored under the policy alone" not in matched_markdown(
        [r for r in rows if r["lever"] != "realignment"], "RKL β=0.1"
    )
