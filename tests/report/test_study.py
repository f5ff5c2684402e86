"""Tests for fdpo/report/study.py and fdpo/report/curves.py: the study judged from curves and controls."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from fdpo._io import read_csv, write_csv
from fdpo.report import write_report
from fdpo.report.curves import plot_curves
from fdpo.report.study import CONTROLS_FILE, CURVES_FILE, aa_split_counts, judge_study, study_lines

SEEDS = [0, 1, 2, 3, 4, 5]
STEPS = [0, 10, 20, 30]


def _curves(offsets: dict[str, list[float]], slope: dict[str, float]) -> list[dict]:
    """Linear curves: reward = slope·step/10 and kl = step/10 for every run; the measure is 5 + reward·(1 + offset)
    with a per-run offset (so 5 at step 0, where every run is the SFT model)."""
    rows = []
    for divergence, per_seed in offsets.items():
        for seed, offset in zip(SEEDS, per_seed, strict=True):
            for step in STEPS:
                reward = slope[divergence] * step / 10
                rows.append(
                    {
                        "divergence": divergence,
                        "loss_type": "sigmoid",
                        "beta": 0.1,
                        "seed": seed,
                        "step": step,
                        "reward_logit_mean": reward,
                        "kl_to_ref": step / 10,
                        "entropy_rate": 5.0 + reward * (1.0 + offset),
                        "token_entropy": 4.0 + reward * offset,
                    }
                )
    return rows


def _controls(effects: list[float]) -> list[dict]:
    rows = []
    for seed, effect in zip(SEEDS, effects, strict=True):
        rows.append(
            {
                "seed": seed,
                "temperature": 1.0,
                "reward_logit_mean": 0.0,
                "kl_to_ref": 0.0,
                "entropy_rate": 5.0,
            }
        )
        rows.append(
            {
                "seed": seed,
                "temperature": 0.85,
                "reward_logit_mean": 0.0,
                "kl_to_ref": 0.1,
                "entropy_rate": 5.0 + effect,
            }
        )
    return rows


RKL = [0.0, 0.1, -0.1, 0.05, -0.05, 0.0]
FKL = [0.5, 0.7, 0.4, 0.6, 0.45, 0.65]
CONTROL = [-0.4, -0.5, -0.45, -0.42, -0.48, -0.5]


def test_matched_reward_differences_are_the_per_seed_offsets_at_real_df():
    """Both configurations reach rewards 0..3 and KL 0..3: at matched reward r (1.5 at 50%, 2.4 at 80%) the measure
    differs by r × (the runs' offset difference), read off the linear curves exactly, so the comparison is a paired
    t on those differences with 5 degrees of freedom, as scipy computes it."""
    study = judge_study(
        _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1.0, "forward_kl": 1.0}),
        _controls(CONTROL),
    )
    rows = [r for r in study.comparisons if r["axis"] == "reward" and r["measure"] == "entropy_rate"]
    assert [r["target"] for r in rows] == pytest.approx([1.5, 2.4])
    for row in rows:
        differences = row["target"] * np.subtract(FKL, RKL)
        expected = stats.ttest_1samp(differences, 0.0)
        half = stats.t.ppf(0.975, 5) * differences.std(ddof=1) / math.sqrt(6)
        assert row["estimate"] == pytest.approx(differences.mean())
        assert row["df"] == 5 and row["n_seeds"] == 6 and row["n_missing"] == 0
        assert row["p_value"] == pytest.approx(expected.pvalue)
        assert (row["low"], row["high"]) == pytest.approx(
            (differences.mean() - half, differences.mean() + half)
        )
        assert row["outcome"] == "higher" and row["used"] and row["configuration"] == "FKL"


def test_positive_control_sets_detection_and_the_equivalence_bound():
    study = judge_study(
        _curves({"reverse_kl": RKL, "forward_kl": RKL}, {"reverse_kl": 1, "forward_kl": 1}),
        _controls(CONTROL),
    )
    (control,) = [r for r in study.controls if r["measure"] == "entropy_rate"]
    assert study.control_temperature == 0.85
    assert control["estimate"] == pytest.approx(np.mean(CONTROL)) and control["detected"]
    assert control["bound"] == pytest.approx(0.5 * abs(np.mean(CONTROL)))
    # identical curves: the difference is exactly 0 at every target
    rows = [r for r in study.comparisons if r["measure"] == "entropy_rate"]
    assert all(r["estimate"] == 0 for r in rows)


def test_an_undetected_control_leaves_the_measure_unjudged():
    noise = [0.01, -0.01, 0.02, -0.02, 0.0, 0.005]
    study = judge_study(
        _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 1}), _controls(noise)
    )
    assert study.used() == []
    assert not any(r["used"] for r in study.comparisons)
    text = "\n".join(study_lines(study))
    assert "not judged (its positive control was not detected)" in text


def test_without_controls_no_measure_is_judged():
    study = judge_study(_curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 1}))
    assert study.control_temperature is None and study.used() == []
    assert "no verdict is given" in "\n".join(study_lines(study))


def test_matched_kl_compares_where_the_kl_is_equal_not_where_the_step_is():
    """FKL gains reward twice as fast per nat. At matched reward r the measures differ by r·(offset difference);
    at matched KL k FKL has reward 2k and RKL k, so they differ by 2k·(1 + o_F) − k·(1 + o_R)."""
    study = judge_study(
        _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1.0, "forward_kl": 2.0}),
        _controls(CONTROL),
    )
    by_axis = {(r["axis"], r["fraction"]): r for r in study.comparisons if r["measure"] == "entropy_rate"}
    fkl, rkl = np.asarray(FKL), np.asarray(RKL)
    # common reward range: RKL reaches 3, FKL 6 -> target 1.5 at 50%
    assert by_axis["reward", 0.5]["estimate"] == pytest.approx(1.5 * (fkl - rkl).mean())
    # common KL range 0..3 -> KL 1.5 at 50%
    assert by_axis["KL", 0.5]["estimate"] == pytest.approx((3.0 * (1 + fkl) - 1.5 * (1 + rkl)).mean())


def test_a_run_that_never_reaches_the_target_is_counted_missing():
    rows = _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1.0, "forward_kl": 1.0})
    for row in rows:  # FKL seed 0 stops at reward 2
        if row["divergence"] == "forward_kl" and row["seed"] == 0 and row["step"] == 30:
            row["reward_logit_mean"] = 2.0
    study = judge_study(rows, _controls(CONTROL))
    (at80,) = [
        r
        for r in study.comparisons
        if r["axis"] == "reward" and r["fraction"] == 0.8 and r["measure"] == "entropy_rate"
    ]
    assert at80["n_seeds"] == 5 and at80["n_missing"] == 1 and at80["df"] == 4


def test_aa_splits_the_baselines_seeds_in_halves_with_welch():
    study = judge_study(
        _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 1}),
        _controls(CONTROL),
    )
    (row,) = [
        r
        for r in study.aa
        if r["axis"] == "reward" and r["fraction"] == 0.5 and r["measure"] == "entropy_rate"
    ]
    assert (row["first_seeds"], row["second_seeds"]) == ("0 1 2", "3 4 5")
    expected = stats.ttest_ind(RKL[:3], RKL[3:], equal_var=False)
    assert row["estimate"] == pytest.approx(np.mean(RKL[:3]) - np.mean(RKL[3:]))
    assert row["p_value"] == pytest.approx(expected.pvalue)


def _welch_calls(values: np.ndarray, first, second) -> int:
    return sum(
        stats.ttest_ind(v[list(first)], v[list(second)], equal_var=False).pvalue < 0.05 for v in values
    )


def test_aa_count_is_read_against_every_split_of_the_seeds():
    """Six seeds: the ten splits into halves of three, each counted by scipy's Welch test independently of fdpo's;
    the check's p-value is the fraction of splits with at least the study's count."""
    rkl = [0.0, 0.4, -0.3, 0.35, -0.5, 0.1]
    study = judge_study(
        _curves({"reverse_kl": rkl, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 1}),
        _controls(CONTROL),
    )
    judged = [r for r in study.aa if r["measure"] in study.used()]
    values = []
    for row in (
        judged
    ):  # entropy_rate at matched reward r is 5 + r·(1 + offset); at matched KL k (slope 1), the same
        values.append(5.0 + row["target"] * (1.0 + np.asarray(rkl)))
    values = np.array(values)
    splits = [
        (first, tuple(i for i in range(6) if i not in first)) for first in itertools.combinations(range(6), 3)
    ]
    splits = [split for split in splits if 0 in split[0]]
    counts = np.array([_welch_calls(values, a, b) for a, b in splits])
    check = study.aa_check
    assert check.exhaustive and check.splits == 10 == math.comb(6, 3) // 2
    assert check.comparisons == len(judged) == 4
    assert (
        check.calls
        == sum(r["outcome"] in ("higher", "lower") for r in judged)
        == _welch_calls(values, (0, 1, 2), (3, 4, 5))
    )
    assert check.p_value == pytest.approx(np.mean(counts >= check.calls))
    assert check.call_rate == pytest.approx(counts.mean() / 4)
    assert check.allowance == int(np.sort(counts)[math.ceil(0.95 * 10) - 1])
    text = "\n".join(study_lines(study))
    assert "Against all 10 splits of the same seeds into two halves" in text
    assert f"{check.calls} or more calls came in {check.p_value:.0%} of the splits" in text
    assert "With 10 splits p cannot go below 1/10: too few seeds for this check to fail." in text


def test_aa_split_counts_enumerates_small_designs_and_samples_large_ones():
    rng = np.random.default_rng(3)
    calls, counts, exhaustive = aa_split_counts(rng.normal(size=(2, 5)))
    assert exhaustive and counts.size == 5 * math.comb(4, 2) // 2  # one seed left out, then halves of two
    values = rng.normal(size=(3, 20))
    calls, counts, exhaustive = aa_split_counts(values, max_splits=50, seed=1)
    assert not exhaustive and counts.size == 51 and counts[-1] == calls
    assert calls == _welch_calls(values, range(10), range(10, 20))
    again = aa_split_counts(values, max_splits=50, seed=1)[1]
    assert np.array_equal(counts, again)
    with pytest.raises(ValueError, match="at least 4 seeds"):
        aa_split_counts(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="comparisons, seeds"):
        aa_split_counts(np.zeros(8))


def test_aa_check_fails_when_the_halves_of_the_seeds_differ():
    """Seeds 0–4 and 5–9 drawn around different means (a pipeline whose later seeds behave differently): every
    comparison calls, and almost no other split of the same seeds does."""
    rng = np.random.default_rng(0)
    values = rng.normal(scale=0.1, size=(4, 10)) + np.r_[np.zeros(5), np.ones(5)]
    calls, counts, exhaustive = aa_split_counts(values)
    assert exhaustive and counts.size == 126 and calls == 4
    assert np.mean(counts >= calls) <= 0.05


def test_aa_check_keeps_its_level_when_measures_move_together():
    """300 A/A studies on exchangeable seeds (8 seeds, two independent quantities each measured three times, so
    six comparisons in two perfectly correlated groups): the check fails in at most its 5% plus 2.5 Monte Carlo
    standard errors. A binomial allowance (independent comparisons) fails whenever one group calls."""
    rng = np.random.default_rng(11)
    failed = 0
    for _ in range(300):
        values = np.repeat(rng.normal(size=(2, 8)), 3, axis=0)
        calls, counts, _ = aa_split_counts(values)
        failed += np.mean(counts >= calls) <= 0.05
    assert failed / 300 <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / 300)


def test_bad_input_is_refused_with_the_fix():
    rows = _curves({"forward_kl": FKL}, {"forward_kl": 1})
    with pytest.raises(
        ValueError, match="No curve of the baseline 'reverse_kl'.*Add reverse_kl to grid.divergences"
    ):
        judge_study(rows)
    with pytest.raises(ValueError, match="equivalence_fraction must be in"):
        judge_study(rows, equivalence_fraction=0)
    with pytest.raises(ValueError, match="fractions must lie in"):
        judge_study(rows, fractions=[1.5])


def test_plot_curves_writes_a_png_and_refuses_rows_without_the_measures(tmp_path):
    rows = _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 1})
    path = plot_curves(rows, tmp_path / "c.png", measures=["entropy_rate"], control_rows=_controls(CONTROL))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="evaluation.checkpoints"):
        plot_curves(rows, tmp_path / "d.png", measures=["sequence_entropy"])


def test_write_report_adds_the_study_when_the_sweep_traced_curves(tmp_path):
    curves = _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 1})
    write_csv(tmp_path / CURVES_FILE, curves)
    write_csv(tmp_path / CONTROLS_FILE, _controls(CONTROL))
    finals = [{**r, "run_id": f"{r['divergence']}-s{r['seed']}"} for r in curves if r["step"] == 30]
    write_csv(tmp_path / "results.csv", finals)
    paths = write_report(tmp_path, diversity="token_entropy")
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Divergences at matched reward and KL" in text and "![diversity" in text
    written = read_csv(paths["comparisons"])
    assert {r["axis"] for r in written} == {"reward", "KL"} and {r["configuration"] for r in written} == {
        "FKL"
    }
    assert (tmp_path / "curves.png").is_file() and (tmp_path / "curves_kl.png").is_file()


def test_curves_without_the_default_panels_are_drawn_with_what_the_study_judged(tmp_path):
    """curves.csv from a sweep that measured only the earlier metrics: the plot shows token entropy, not an error."""
    curves = _curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 1})
    curves = [{k: v for k, v in row.items() if k != "entropy_rate"} for row in curves]
    write_csv(tmp_path / CURVES_FILE, curves)
    write_csv(tmp_path / "results.csv", [{**r, "run_id": f"{r['divergence']}-s{r['seed']}"} for r in curves])
    paths = write_report(tmp_path, diversity="token_entropy")
    assert paths["curves.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        "![diversity along the curves against kl_to_ref](curves_kl.png)"
        in (tmp_path / "report.md").read_text()
    )


def test_an_axis_without_a_common_range_is_skipped_with_the_reason():
    """Forward KL's reward stays at the SFT model's: nothing can be matched on reward, KL still compares."""
    study = judge_study(_curves({"reverse_kl": RKL, "forward_kl": FKL}, {"reverse_kl": 1, "forward_kl": 0}))
    assert set(study.skipped) == {"reward"} and "common range is empty" in study.skipped["reward"]
    assert {row["axis"] for row in study.comparisons} == {"KL"}
    assert any(line.startswith("**At matched reward:** nothing compared.") for line in study_lines(study))
