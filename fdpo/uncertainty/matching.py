"""Configurations compared at matched reward or matched KL, along each run's curve.

Every (configuration, seed) run traces a curve: the SFT model first (step 0), then the policy at its training
checkpoints in step order, each point holding the reward, the KL to the reference and the diversity measures. Two
configurations that end at different KL cannot be compared point to point ("more diverse" could mean "moved
less"). They are compared where they reach the same reward (or KL) instead:

* ``value_at``: along one curve, a measure read off by linear interpolation at the first point where the axis
  (reward or KL) reaches a target.
* ``common_targets``: targets at fractions of the range every configuration covers on average: from the mean
  starting value to the smallest, over configurations, of the mean over seeds of each run's largest value.
* ``matched_values``: the measure of every run at every target.
* ``matched_comparisons``: per configuration, target and measure, the per-seed differences configuration −
  baseline at the same target and the same seed (paired: both share the seed's prompts and sampling seed), judged
  by ``fdpo.uncertainty.inference.paired_comparison``. A run that never reaches a target is left out of that
  comparison and counted in ``n_missing``.

Curves come as ``{(configuration, seed): {column: values in step order}}`` (``curves_from_rows`` builds that from
rows such as a read curves.csv: one dict per evaluation with the configuration, seed, step and metrics).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from fdpo.uncertainty.inference import COMPARISON_COLUMNS, paired_comparison

__all__ = [
    "MATCH_FRACTIONS",
    "MATCHED_COLUMNS",
    "EmptyRangeError",
    "common_targets",
    "curves_from_rows",
    "matched_comparisons",
    "matched_values",
    "points_against_curve",
    "value_at",
]

#: Default targets: these fractions of the common range, from the mean starting value to the common reach.
MATCH_FRACTIONS = (0.5, 0.8)
#: Keys of each row of ``matched_comparisons``, in order.
MATCHED_COLUMNS = (
    "configuration",
    "baseline",
    "axis",
    "fraction",
    "target",
    "measure",
    "n_seeds",
    "value",
    "baseline_value",
    *COMPARISON_COLUMNS,
)


class EmptyRangeError(ValueError):
    """The configurations' curves share no range on the matching axis: nothing can be compared there."""


Curve = Mapping[str, Sequence[float] | np.ndarray]
Curves = Mapping[tuple[Any, Any], Curve]


def _vector(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per curve point), got shape {array.shape}.")
    return array


def value_at(x: Sequence[float], y: Sequence[float], target: float) -> float:
    """``y`` linearly interpolated at the first point where ``x`` reaches ``target`` along one curve.

    The points are in step order, the first the SFT model. The crossing is the first segment with
    ``x[i−1] < target ≤ x[i]``: on a curve that rises, falls and rises again the first rise counts. Points whose
    ``x`` is NaN are skipped (their place on the curve is unknown). NaN when the curve never reaches the target,
    when it starts beyond it (nothing to interpolate: only a start exactly at the target counts), or when ``y``
    is NaN at either end of the crossing segment.

    Args:
        x: the matching axis (reward or KL) at each point. Shape: (P,).
        y: the measure at each point. Shape: (P,).
        target: the axis value to match.
    """
    x, y = _vector("x", x), _vector("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y need one value per curve point each, got {x.size} and {y.size}.")
    if not math.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target}.")
    known = ~np.isnan(x)
    x, y = x[known], y[known]
    if x.size == 0:
        return math.nan
    if x[0] >= target:
        return float(y[0]) if x[0] == target else math.nan
    reached = np.flatnonzero(x >= target)
    if reached.size == 0:
        return math.nan
    i = int(reached[0])
    if x[i] == target:
        return float(y[i])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(y0 + (target - x0) / (x1 - x0) * (y1 - y0))


def common_targets(
    curves_by_config: Mapping[Any, Iterable[Sequence[float] | np.ndarray]],
    fractions: Sequence[float] = MATCH_FRACTIONS,
) -> np.ndarray:
    """Targets at ``fractions`` of the range every configuration covers: start + fraction · (reach − start).

    ``start`` is the mean over all runs of the first finite axis value (the SFT point); ``reach`` the smallest,
    over configurations, of the mean over that configuration's seeds of each run's largest finite axis value.

    Args:
        curves_by_config: for each configuration, the axis values of each seed's curve (points in step order).
        fractions: in [0, 1].

    Returns:
        The targets, one per fraction. Shape: (len(fractions),).

    Raises:
        ValueError: a fraction outside [0, 1] or a configuration without a measured run; EmptyRangeError (a
            ValueError) for a common range that is
            empty (some configuration does not, on average, rise above the start).
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or not ((fractions >= 0) & (fractions <= 1)).all():
        raise ValueError(f"fractions must be numbers in [0, 1], got {fractions.tolist()}.")
    starts, reaches = [], {}
    for configuration, runs in curves_by_config.items():
        maxima = []
        for run in runs:
            x = _vector(f"the axis of {configuration!r}", run)
            x = x[~np.isnan(x)]
            if x.size:
                starts.append(x[0])
                maxima.append(x.max())
        if not maxima:
            raise ValueError(f"Configuration {configuration!r} has no run with a measured axis value.")
        reaches[configuration] = float(np.mean(maxima))
    if not reaches:
        raise ValueError("No configuration given: curves_by_config is empty.")
    start = float(np.mean(starts))
    limiting = min(reaches, key=reaches.get)
    if not reaches[limiting] > start:
        raise EmptyRangeError(
            f"The common range is empty: configuration {limiting!r} reaches {reaches[limiting]:.4g} on average, "
            f"not above the mean starting value {start:.4g}. Match on another axis or leave that configuration out."
        )
    return start + fractions * (reaches[limiting] - start)


def curves_from_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    configuration: str = "configuration",
    seed: str = "seed",
    step: str = "step",
) -> dict[tuple[Any, Any], dict[str, np.ndarray]]:
    """``{(configuration, seed): {column: values in step order}}`` from one row per evaluation (such as a read
    curves.csv). Every numeric column becomes a float array (None and empty cells NaN); other columns are dropped.

    Raises:
        ValueError: a row without the configuration, seed or step key, or two rows with the same step in one run.
    """
    runs: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for row in rows:
        missing = [key for key in (configuration, seed, step) if row.get(key) is None]
        if missing:
            raise ValueError(
                f"A curve row lacks {missing} (it needs {configuration!r}, {seed!r} and {step!r}): {row}"
            )
        runs.setdefault((row[configuration], row[seed]), []).append(row)
    curves = {}
    for key, members in runs.items():
        members = sorted(members, key=lambda row: float(row[step]))
        steps = [float(row[step]) for row in members]
        if len(set(steps)) != len(steps):
            raise ValueError(f"Run {key} has two rows with the same {step!r}: one row per checkpoint.")
        columns = dict.fromkeys(name for row in members for name in row if name not in (configuration, seed))
        curve = {}
        for name in columns:
            values = [row.get(name) for row in members]
            if all(v is None or v == "" or _is_number(v) for v in values):
                curve[name] = np.asarray(
                    [math.nan if v is None or v == "" else v for v in values], dtype=np.float64
                )
        curves[key] = curve
    return curves


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _column(curves: Curves, key: tuple[Any, Any], name: str) -> np.ndarray:
    curve = curves[key]
    if name not in curve:
        raise ValueError(f"Run {key} has no column {name!r}; it has {sorted(curve)}.")
    return _vector(name, curve[name])


def matched_values(
    curves: Curves, axis: str, measure: str, targets: Sequence[float]
) -> dict[tuple[Any, Any], np.ndarray]:
    """``{(configuration, seed): measure at each target}`` (``value_at`` along each run's curve; NaN where the run
    never reaches a target)."""
    return {
        key: np.array(
            [value_at(_column(curves, key, axis), _column(curves, key, measure), t) for t in targets]
        )
        for key in curves
    }


def matched_comparisons(
    curves: Curves | Iterable[Mapping[str, Any]],
    baseline: Any,
    measure: str | Sequence[str],
    axis: str,
    fractions: Sequence[float] = MATCH_FRACTIONS,
    bounds: Mapping[str, float | None] | None = None,
    *,
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """Every other configuration against ``baseline`` at matched ``axis``, paired by seed.

    The targets are ``common_targets`` of all configurations' curves on ``axis``. For each configuration, target
    and measure, the per-seed differences (configuration − baseline at the same target and seed) go to
    ``paired_comparison``. Seeds where either run misses the target (or the measure is NaN there), or that only one
    of the two ran, are left out and counted in ``n_missing``.

    Args:
        curves: ``{(configuration, seed): {column: values in step order}}``, or rows with ``configuration``,
            ``seed``, ``step`` and the metrics (``curves_from_rows``).
        baseline: the configuration compared against (reverse KL).
        measure: one measure (column) or several.
        axis: the column to match on (``reward_logit_mean`` or ``kl_to_ref``).
        fractions: where the targets lie in the common range.
        bounds: per measure, the equivalence bound for TOST (missing or None: no equivalence test).
        level: the intervals' coverage.

    Returns:
        One row per (configuration, fraction, measure), keys ``MATCHED_COLUMNS``: ``value`` and ``baseline_value``
        are the two sides' means over the seeds compared, then the ``Comparison`` fields (``n`` = ``n_seeds``).

    Raises:
        ValueError: ``baseline`` has no curve, a run lacks ``axis`` or a measure, or the common range is empty
            (``EmptyRangeError``, a ValueError).
    """
    if not isinstance(curves, Mapping):
        curves = curves_from_rows(curves)
    measures = [measure] if isinstance(measure, str) else list(measure)
    configurations = list(dict.fromkeys(configuration for configuration, _ in curves))
    if baseline not in configurations:
        raise ValueError(f"No curve of the baseline {baseline!r}; the curves hold {configurations}.")
    by_config = {c: [_column(curves, key, axis) for key in curves if key[0] == c] for c in configurations}
    targets = common_targets(by_config, fractions)
    values = {name: matched_values(curves, axis, name, targets) for name in measures}
    seeds = {c: [seed for config, seed in curves if config == c] for c in configurations}
    rows = []
    for configuration in configurations:
        if configuration == baseline:
            continue
        common = [seed for seed in seeds[configuration] if seed in seeds[baseline]]
        ran = len(set(seeds[configuration]) | set(seeds[baseline]))
        for index, (fraction, target) in enumerate(zip(fractions, targets, strict=True)):
            for name in measures:
                mine = np.array([values[name][(configuration, seed)][index] for seed in common])
                theirs = np.array([values[name][(baseline, seed)][index] for seed in common])
                both = ~(np.isnan(mine) | np.isnan(theirs))
                comparison = paired_comparison(
                    mine[both] - theirs[both], bound=(bounds or {}).get(name), level=level
                )
                row = {
                    "configuration": configuration,
                    "baseline": baseline,
                    "axis": axis,
                    "fraction": float(fraction),
                    "target": float(target),
                    "measure": name,
                    "n_seeds": int(both.sum()),
                    "value": float(mine[both].mean()) if both.any() else math.nan,
                    "baseline_value": float(theirs[both].mean()) if both.any() else math.nan,
                    **comparison.as_row(),
                }
                row["n_missing"] = ran - row["n_seeds"]
                rows.append(row)
    return rows


def points_against_curve(
    curves: Curves | Iterable[Mapping[str, Any]],
    baseline: Any,
    points: Iterable[Mapping[str, Any]],
    measure: str | Sequence[str],
    axis: str,
    bounds: Mapping[str, float | None] | None = None,
    *,
    configuration: str = "configuration",
    seed: str = "seed",
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """Each configuration's points against the baseline's curve at the point's own ``axis`` value, paired by seed.

    For a point of seed s, the baseline's value is ``value_at`` along the baseline's curve of seed s at the point's
    axis value; the per-seed differences point − curve go to ``paired_comparison``. A point beyond the curve's reach
    (or below its start), a seed the baseline did not run, or a NaN leaves that seed out (``n_missing``).

    Args:
        curves: the curves, as for ``matched_comparisons``; only the baseline's are read.
        baseline: the baseline's configuration key in ``curves``.
        points: one row per (configuration, seed) with the axis and measure columns.
        measure: one measure or several.
        axis: the column to match on.
        bounds: per measure, the equivalence bound for TOST.
        configuration, seed: the points' key columns.

    Returns:
        One row per (configuration, measure): ``MATCHED_COLUMNS`` with ``fraction`` NaN and ``target`` the mean
        axis value of the points compared.
    """
    if not isinstance(curves, Mapping):
        curves = curves_from_rows(curves)
    measures = [measure] if isinstance(measure, str) else list(measure)
    base = {key[1]: key for key in curves if key[0] == baseline}
    if not base:
        raise ValueError(
            f"No curve of the baseline {baseline!r}; the curves hold {sorted({k[0] for k in curves})}."
        )
    grouped: dict[Any, list[Mapping[str, Any]]] = {}
    for point in points:
        grouped.setdefault(point[configuration], []).append(point)
    rows = []
    for name, members in grouped.items():
        for measure_name in measures:
            mine, theirs, at = [], [], []
            for point in members:
                key = base.get(point[seed])
                x = _number(point.get(axis))
                y = _number(point.get(measure_name))
                if key is None or math.isnan(x) or math.isnan(y):
                    continue
                curve_value = value_at(_column(curves, key, axis), _column(curves, key, measure_name), x)
                if math.isnan(curve_value):
                    continue
                mine.append(y)
                theirs.append(curve_value)
                at.append(x)
            differences = np.asarray(mine) - np.asarray(theirs)
            comparison = paired_comparison(differences, bound=(bounds or {}).get(measure_name), level=level)
            rows.append(
                {
                    "configuration": name,
                    "baseline": baseline,
                    "axis": axis,
                    "fraction": math.nan,
                    "target": float(np.mean(at)) if at else math.nan,
                    "measure": measure_name,
                    "n_seeds": len(mine),
                    "value": float(np.mean(mine)) if mine else math.nan,
                    "baseline_value": float(np.mean(theirs)) if theirs else math.nan,
                    **comparison.as_row(),
                    "n_missing": len(members) - len(mine),
                }
            )
    return rows


def _number(value: Any) -> float:
    try:
        return math.nan if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return math.nan
