"""Tests for fdpo/uncertainty/matching.py: values read off curves at matched reward or KL, the common targets, and
the paired comparisons at those targets, on curves whose answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fdpo.uncertainty import (
    MATCHED_COLUMNS,
    common_targets,
    curves_from_rows,
    matched_comparisons,
    matched_values,
    paired_comparison,
    points_against_curve,
    value_at,
)


def test_value_at_interpolates_linearly_on_a_straight_curve():
    """y = 2 + 3x sampled at x = 0, 1, 2, 4: at x = 2.5, y = 9.5; an exact hit returns the point's value."""
    x = np.array([0.0, 1.0, 2.0, 4.0])
    y = 2 + 3 * x
    assert value_at(x, y, 2.5) == pytest.approx(9.5, rel=1e-15)
    assert value_at(x, y, 0.25) == pytest.approx(2.75, rel=1e-15)
    assert value_at(x, y, 2.0) == 8.0 and value_at(x, y, 4.0) == 14.0
    assert value_at(x, y, 0.0) == 2.0  # the start, exactly on the target
    assert math.isnan(value_at(x, y, 4.5))  # never reached
    assert math.isnan(value_at(x + 1.0, y, 0.5))  # starts beyond the target: nothing to interpolate


def test_value_at_takes_the_first_crossing_of_a_non_monotone_curve():
    """x rises to 3, falls to 1, rises to 5: target 2 is first crossed between x = 0 and 3 (y from 0 to 30, so 20),
    not on the way back down or up again."""
    x = [0.0, 3.0, 1.0, 5.0]
    y = [0.0, 30.0, -10.0, 50.0]
    assert value_at(x, y, 2.0) == pytest.approx(20.0)
    assert value_at(x, y, 4.0) == pytest.approx(
        -10.0 + (4.0 - 1.0) / 4.0 * 60.0
    )  # only the second rise gets there


def test_value_at_handles_missing_values():
    x = [0.0, math.nan, 2.0, 4.0]
    y = [0.0, 100.0, 2.0, 4.0]
    assert value_at(x, y, 1.0) == pytest.approx(1.0)  # the point of unknown place is skipped
    assert math.isnan(value_at([0.0, 1.0, 2.0], [0.0, math.nan, 2.0], 0.5))  # measure missing at the crossing
    assert value_at([0.0, 1.0, 2.0], [0.0, math.nan, 2.0], 2.0) == 2.0
    assert math.isnan(value_at([math.nan, None], [1.0, 2.0], 0.0))
    with pytest.raises(ValueError, match="one value per curve point"):
        value_at([0.0, 1.0], [0.0], 0.5)
    with pytest.raises(ValueError, match="target must be a finite"):
        value_at([0.0, 1.0], [0.0, 1.0], math.nan)


def test_common_targets_span_from_the_mean_start_to_the_smallest_mean_reach():
    """Starts 0 and 2 (mean 1); reaches: A (10 + 6)/2 = 8, B (4 + 6)/2 = 5: the common range is [1, 5]."""
    curves = {"A": [[0.0, 10.0, 9.0], [2.0, 6.0]], "B": [[0.0, 4.0], [2.0, 3.0, 6.0]]}
    assert common_targets(curves, (0.0, 0.5, 0.8, 1.0)) == pytest.approx([1.0, 3.0, 4.2, 5.0])
    with pytest.raises(ValueError, match="common range is empty: configuration 'B'"):
        common_targets({"A": [[0.0, 1.0]], "B": [[0.0, -1.0]]})
    with pytest.raises(ValueError, match="fractions must be numbers in"):
        common_targets(curves, (0.5, 1.5))
    with pytest.raises(ValueError, match="'B' has no run"):
        common_targets({"A": [[0.0, 1.0]], "B": [[math.nan]]})


def _linear_curves(slopes: dict[str, list[float]], offsets: dict[str, list[float]], steps: int = 5):
    """Run (configuration, seed) goes x = 0, 1, ..., steps−1 (KL) with diversity = offset + slope · x."""
    x = np.arange(steps, dtype=np.float64)
    return {
        (configuration, seed): {"kl_to_ref": x, "entropy": offset + slope * x, "step": 10 * x}
        for configuration in slopes
        for seed, (slope, offset) in enumerate(
            zip(slopes[configuration], offsets[configuration], strict=True)
        )
    }


def test_matched_comparisons_pair_the_seeds_at_each_target():
    """KL runs 0 → 4 for every run: targets 2 (0.5) and 3.2 (0.8). At KL k, FKL − RKL per seed is
    (offset difference) + (slope difference)·k: seeds' slope differences 0.1, 0.2, 0.3 and offsets equal, so the
    differences are 0.1k, 0.2k, 0.3k: mean 0.2k, sd 0.1k."""
    curves = _linear_curves(
        {"RKL": [-1.0, -1.0, -1.0], "FKL": [-0.9, -0.8, -0.7]},
        {"RKL": [5.0, 5.1, 4.9], "FKL": [5.0, 5.1, 4.9]},
    )
    rows = matched_comparisons(curves, "RKL", "entropy", "kl_to_ref", bounds={"entropy": 5.0})
    assert [(row["configuration"], row["fraction"], row["target"]) for row in rows] == [
        ("FKL", 0.5, pytest.approx(2.0)),
        ("FKL", 0.8, pytest.approx(3.2)),
    ]
    for row in rows:
        k = row["target"]
        expected = paired_comparison([0.1 * k, 0.2 * k, 0.3 * k], bound=5.0)
        assert tuple(row) == MATCHED_COLUMNS
        assert row["estimate"] == pytest.approx(expected.estimate) and row["df"] == 2.0
        assert row["standard_error"] == pytest.approx(0.1 * k / math.sqrt(3))
        assert row["low"] == pytest.approx(expected.interval[0]) and row["tost_p"] == pytest.approx(
            expected.tost_p
        )
        assert row["value"] == pytest.approx(5.0 - 0.8 * k) and row["baseline_value"] == pytest.approx(
            5.0 - k
        )
        assert (row["n_seeds"], row["n_missing"], row["n"]) == (3, 0, 3)
        assert row["measure"] == "entropy" and row["axis"] == "kl_to_ref" and row["baseline"] == "RKL"
    # at KL 2: 0.4 ± 4.303·0.115 includes 0 (t 3.46 at 2 df), and its 90% interval lies well inside ±5
    assert rows[0]["bound"] == 5.0 and rows[0]["outcome"] == "equivalent"


def test_a_run_that_never_reaches_the_target_is_left_out_and_counted():
    """One FKL seed stops at KL 2.5: it reaches target 2 (0.5 of the range) but not 3.2 (0.8). The common reach
    is the mean of FKL's maxima: (4 + 4 + 2.5)/3 = 3.5 from start 0, so targets 1.75 and 2.8."""
    curves = _linear_curves({"RKL": [1.0] * 3, "FKL": [2.0] * 3}, {"RKL": [0.0] * 3, "FKL": [0.0] * 3})
    short = curves[("FKL", 2)]
    short["kl_to_ref"] = np.array([0.0, 1.0, 2.0, 2.5, math.nan])
    rows = matched_comparisons(curves, "RKL", ["entropy"], "kl_to_ref")
    assert [row["target"] for row in rows] == pytest.approx([1.75, 2.8])
    assert [(row["n_seeds"], row["n_missing"]) for row in rows] == [(3, 0), (2, 1)]
    assert rows[1]["estimate"] == pytest.approx(2.8)  # (2 − 1)·2.8 at the two seeds that got there
    values = matched_values(curves, "kl_to_ref", "entropy", [2.8])
    assert math.isnan(values[("FKL", 2)][0]) and values[("FKL", 0)][0] == pytest.approx(5.6)


def test_a_seed_only_one_side_ran_counts_as_missing():
    curves = _linear_curves({"RKL": [1.0] * 3, "FKL": [2.0] * 3}, {"RKL": [0.0] * 3, "FKL": [0.0] * 3})
    del curves[("FKL", 1)]
    (row,) = matched_comparisons(curves, "RKL", "entropy", "kl_to_ref", fractions=(0.5,))
    assert (row["n_seeds"], row["n_missing"]) == (2, 1)
    with pytest.raises(ValueError, match="No curve of the baseline 'SFT'"):
        matched_comparisons(curves, "SFT", "entropy", "kl_to_ref")
    with pytest.raises(ValueError, match="no column 'distinct_2'"):
        matched_comparisons(curves, "RKL", "distinct_2", "kl_to_ref")


def test_rows_like_a_read_curves_csv_give_the_same_comparisons():
    """Rows in any order, with a text column and empty cells, become the same curves as the arrays."""
    curves = _linear_curves({"RKL": [1.0] * 3, "FKL": [1.5, 2.0, 2.5]}, {"RKL": [0.0] * 3, "FKL": [0.0] * 3})
    rows = []
    for (configuration, seed), curve in curves.items():
        for i in range(len(curve["step"])):
            rows.append(
                {
                    "configuration": configuration,
                    "seed": seed,
                    "run_id": f"{configuration}-{seed}",
                    "note": None,
                }
                | {name: float(values[i]) for name, values in curve.items()}
            )
    rows.reverse()
    parsed = curves_from_rows(rows)
    assert set(parsed) == set(curves) and "run_id" not in parsed[("FKL", 0)]
    np.testing.assert_array_equal(parsed[("FKL", 2)]["entropy"], curves[("FKL", 2)]["entropy"])
    assert np.isnan(parsed[("RKL", 0)]["note"]).all()
    from_rows = matched_comparisons(rows, "RKL", "entropy", "kl_to_ref")
    from_arrays = matched_comparisons(curves, "RKL", "entropy", "kl_to_ref")
    assert [r["estimate"] for r in from_rows] == pytest.approx([r["estimate"] for r in from_arrays])
    with pytest.raises(ValueError, match="lacks \\['step'\\]"):
        curves_from_rows([{"configuration": "RKL", "seed": 0}])
    with pytest.raises(ValueError, match="two rows with the same 'step'"):
        curves_from_rows([{"configuration": "RKL", "seed": 0, "step": 1}] * 2)


def test_points_are_judged_against_the_baselines_curve_at_their_own_axis_value():
    """RKL's curve of seed s: entropy = 5 − (1 + s/10)·k over KL 0..4. A lever point of seed s at KL k_s with
    entropy e_s is compared with the curve at k_s: 5 − (1 + s/10)·k_s."""
    curves = _linear_curves({"RKL": [-1.0, -1.1, -1.2]}, {"RKL": [5.0, 5.0, 5.0]})
    kl = [1.0, 2.5, 3.0]
    entropy = [4.5, 2.6, 1.6]
    points = [
        {"configuration": "T=0.85", "seed": s, "kl_to_ref": kl[s], "entropy": entropy[s]} for s in range(3)
    ] + [
        {"configuration": "far", "seed": 0, "kl_to_ref": 9.0, "entropy": 1.0},  # beyond the curve's reach
        {"configuration": "far", "seed": 1, "kl_to_ref": 1.0, "entropy": 5.0},
        {"configuration": "far", "seed": 7, "kl_to_ref": 1.0, "entropy": 5.0},  # a seed RKL did not run
        {"configuration": "far", "seed": 2, "kl_to_ref": 1.0, "entropy": 4.0},
    ]
    rows = points_against_curve(curves, "RKL", points, "entropy", "kl_to_ref", bounds={"entropy": 0.05})
    first, second = rows
    on_curve = [5 - (1 + s / 10) * kl[s] for s in range(3)]
    expected = paired_comparison([e - c for e, c in zip(entropy, on_curve, strict=True)], bound=0.05)
    assert first["configuration"] == "T=0.85" and first["n_seeds"] == 3 and first["n_missing"] == 0
    assert first["estimate"] == pytest.approx(expected.estimate) and first["df"] == 2.0
    assert first["low"] == pytest.approx(expected.interval[0]) and first["tost_p"] == pytest.approx(
        expected.tost_p
    )
    assert first["baseline_value"] == pytest.approx(np.mean(on_curve))
    assert first["target"] == pytest.approx(np.mean(kl)) and math.isnan(first["fraction"])
    # "far": seed 0 is beyond the reach and seed 7 has no curve: two seeds compared, +1.1 and +0.2
    assert (second["n_seeds"], second["n_missing"]) == (2, 2)
    assert second["estimate"] == pytest.approx(np.mean([5.0 - 3.9, 4.0 - 3.8]))
    with pytest.raises(ValueError, match="No curve of the baseline 'DPO'"):
        points_against_curve(curves, "DPO", points, "entropy", "kl_to_ref")
