"""The study's judgement: divergences compared along their curves at matched reward and KL, with controls.

A sweep with ``evaluation.checkpoints`` writes curves.csv (every run's evaluations in step order, the SFT model
first) and, with ``evaluation.control_temperatures``, controls.csv (the SFT model of every seed sampled at other
temperatures). ``judge_study`` reads both:

1. **Positive control.** Per measure, the per-seed paired difference "SFT at the control temperature nearest 1 −
   SFT at its own" (``paired_comparison``, t at S − 1 degrees of freedom). A measure whose 95% interval does not
   exclude 0 cannot see a known change in diversity at this study's size, and is not used for a verdict.
2. **Smallest effect of interest.** Per measure, ``equivalence_fraction`` × |the control's effect|: the bound of
   the equivalence test (TOST) before the report says "no difference".
3. **Matched comparisons.** Every configuration against the baseline (reverse KL) at fractions of the common
   reward range and of the common KL range (``fdpo.uncertainty.matching``), paired by seed.
4. **Negative control (A/A).** The baseline's seeds split into two disjoint halves (sorted seeds: first half against
   second), compared with Welch's t at the same targets. The number of judged comparisons that call a difference is
   read against its own null distribution: the same count over every split of those seeds into two halves (or
   ``AA_SPLITS`` random ones). The comparisons of one split share its seeds and correlated measures move together,
   so the count is not binomial; a split whose count is reached by more than 5% of the splits passes
   (``AACheck``).
5. **Power.** Per measure, the power the study had to detect a difference of the bound (noncentral t at the
   per-seed standard deviation measured against the baseline), and the replicates 80% power needs.

Only numpy and the statistics of ``fdpo.uncertainty``: no model is run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fdpo.report.summary import configuration_label, finite
from fdpo.uncertainty.inference import paired_comparison, power, replicates_for_power, welch_comparison
from fdpo.uncertainty.matching import (
    MATCH_FRACTIONS,
    EmptyRangeError,
    common_targets,
    curves_from_rows,
    matched_comparisons,
    matched_values,
)

__all__ = [
    "CONTROLS_FILE",
    "CURVES_FILE",
    "MATCH_AXES",
    "STUDY_MEASURES",
    "Study",
    "AA_SPLITS",
    "AACheck",
    "aa_split_counts",
    "configuration_key",
    "judge_study",
    "study_lines",
]

#: The diversity measures a study judges (and completion length beside them), in report order.
STUDY_MEASURES = (
    "sequence_entropy",
    "entropy_rate",
    "predictive_entropy",
    "prefix_entropy",
    "distinct_2_rarefied",
    "within_prompt_diversity",
    "token_entropy",
    "completion_tokens",
)
#: Axis name -> the curves.csv column configurations are matched on.
MATCH_AXES = {"reward": "reward_logit_mean", "KL": "kl_to_ref"}
#: The sweep's files the study reads: every run's evaluations in step order, and the SFT model's controls.
CURVES_FILE = "curves.csv"
CONTROLS_FILE = "controls.csv"
#: Completion length is reported beside the diversity measures but judged by none of the controls.
_LENGTH = "completion_tokens"
_BASELINE = "reverse_kl"
#: Random splits of the baseline's seeds the A/A count is read against, when there are more splits than this.
AA_SPLITS = 500


def configuration_key(row: Mapping[str, Any]) -> str:
    """``divergence|loss_type|beta``: one configuration of a sweep's grid."""
    return f"{row.get('divergence')}|{row.get('loss_type')}|{row.get('beta')}"


def _label(key: str, keys: Sequence[str]) -> str:
    divergence, loss_type, beta = key.split("|")
    others = [k.split("|") for k in keys]
    return configuration_label(
        divergence,
        loss_type,
        beta,
        with_loss=len({k[1] for k in others}) > 1,
        with_beta=len({k[2] for k in others}) > 1,
    )


@dataclass(frozen=True)
class AACheck:
    """The A/A count against its null: how often a split of the same seeds into halves calls as many differences.

    Attributes:
        comparisons: judged comparisons in one split (measures whose positive control was detected × targets).
        calls: how many of them the study's split (first half of the sorted seeds against the second) called
            higher or lower.
        splits: the splits of the null: every split of the seeds into two halves when ``exhaustive``, else
            ``AA_SPLITS`` random ones plus the study's own.
        exhaustive: whether every split was counted.
        p_value: the fraction of the null's splits with at least ``calls`` calls (a permutation p-value).
        allowance: the 95th percentile of the null's counts: at most this many calls in 95% of the splits.
        call_rate: the mean fraction of comparisons called per split: the per-comparison false-positive rate of
            the test on these data (nominal 5%).
    """

    comparisons: int
    calls: int
    splits: int
    exhaustive: bool
    p_value: float
    allowance: int
    call_rate: float

    @property
    def passed(self) -> bool:
        """The study's split is not unusual among the splits of the same seeds (p > 0.05)."""
        return self.p_value > 0.05


@dataclass
class Study:
    """What ``judge_study`` found. Rows are plain dicts, ready for a CSV.

    Attributes:
        measures: the measures judged, in order.
        labels: configuration key -> plot label.
        baseline: the baseline's configuration key.
        seeds: the seeds of the baseline's curves.
        control_temperature: the temperature of the positive control (None without controls.csv rows).
        controls: one row per measure: the control's effect (``Comparison`` fields), ``detected`` and ``bound``.
        comparisons: ``matched_comparisons`` rows for every axis, with ``used`` (the measure's control was
            detected; completion length is never used).
        aa: the A/A rows: ``axis``, ``fraction``, ``measure``, the halves' seeds and the Welch ``Comparison`` fields.
        aa_check: the A/A count of the judged measures against its permutation null (None without a judged
            comparison or with fewer than four baseline seeds).
        power: one row per (configuration, measure): per-seed SD, power at the bound, replicates for 80%.
        skipped: axis name -> why nothing was compared on it (no common range: some configuration's curves do
            not, on average, rise above the SFT model on that axis).
    """

    measures: list[str]
    labels: dict[str, str]
    baseline: str
    seeds: list[Any]
    control_temperature: float | None
    controls: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    aa: list[dict[str, Any]] = field(default_factory=list)
    aa_check: AACheck | None = None
    power: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def bounds(self) -> dict[str, float | None]:
        return {row["measure"]: row["bound"] for row in self.controls}

    def used(self) -> list[str]:
        """The measures a verdict may use: their positive control was detected."""
        return [row["measure"] for row in self.controls if row["detected"]]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _control_rows(
    controls: Sequence[Mapping[str, Any]], measures: Sequence[str], equivalence_fraction: float
) -> tuple[float | None, list[dict[str, Any]]]:
    """The positive control per measure: SFT at the temperature ≠ 1 nearest to 1 against SFT at 1, paired by seed."""
    temperatures = sorted({_number(row.get("temperature")) for row in controls} - {1.0, math.nan})
    temperatures = [t for t in temperatures if math.isfinite(t)]
    if not temperatures:
        return None, [
            {"measure": m, "temperature": None, "detected": False, "bound": None, "estimate": math.nan}
            for m in measures
        ]
    temperature = min(temperatures, key=lambda t: abs(t - 1.0))  # the smallest change: the strictest control
    by_seed: dict[Any, dict[float, Mapping[str, Any]]] = {}
    for row in controls:
        by_seed.setdefault(row.get("seed"), {})[_number(row.get("temperature"))] = row
    seeds = [seed for seed, rows in by_seed.items() if 1.0 in rows and temperature in rows]
    rows = []
    for measure in measures:
        differences = [
            _number(by_seed[s][temperature].get(measure)) - _number(by_seed[s][1.0].get(measure))
            for s in seeds
        ]
        comparison = paired_comparison(differences)
        detected = measure != _LENGTH and comparison.outcome in ("higher", "lower")
        bound = equivalence_fraction * abs(comparison.estimate) if finite(comparison.estimate) else None
        rows.append(
            {
                "measure": measure,
                "temperature": temperature,
                "detected": detected,
                **comparison.as_row(),
                "bound": bound if bound else None,
            }
        )
    return temperature, rows


def _halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The study's A/A split of ``n`` sorted seeds: the first ⌊n/2⌋ against the next ⌊n/2⌋."""
    half = n // 2
    return np.arange(half), np.arange(half, 2 * half)


def _aa_rows(curves, baseline: str, measures, axis_name: str, column: str, fractions, bounds):
    """The baseline's seeds in two disjoint halves (``_halves`` of the sorted seeds), Welch's t at the targets of
    all configurations' common range on ``column``. Returns the rows and, per row, the baseline's per-seed values
    at its target (sorted seeds), for ``aa_split_counts``."""
    seeds = sorted(seed for config, seed in curves if config == baseline)
    first, second = _halves(len(seeds))
    if first.size < 2:
        return [], []
    by_config: dict[str, list[np.ndarray]] = {}
    for (config, _), curve in curves.items():
        by_config.setdefault(config, []).append(curve[column])
    targets = common_targets(by_config, fractions)
    rows, per_seed = [], []
    for measure in measures:
        values = matched_values(curves, column, measure, targets)
        for index, (fraction, target) in enumerate(zip(fractions, targets, strict=True)):
            at_target = np.array([values[(baseline, seed)][index] for seed in seeds], dtype=float)
            comparison = welch_comparison(at_target[first], at_target[second], bound=bounds.get(measure))
            rows.append(
                {
                    "axis": axis_name,
                    "fraction": float(fraction),
                    "target": float(target),
                    "measure": measure,
                    "first_seeds": " ".join(str(seeds[i]) for i in first),
                    "second_seeds": " ".join(str(seeds[i]) for i in second),
                    **comparison.as_row(),
                }
            )
            per_seed.append(at_target)
    return rows, per_seed


def _calls(values: np.ndarray, first: np.ndarray, second: np.ndarray) -> int:
    return sum(welch_comparison(row[first], row[second]).outcome in ("higher", "lower") for row in values)


def _splits(n: int, max_splits: int, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """Splits of ``n`` seeds into two halves of ⌊n/2⌋ (one seed left out when ``n`` is odd), each counted once:
    all of them when there are at most ``max_splits``, else ``max_splits`` random ones."""
    half = n // 2
    total = math.comb(n, 2 * half) * math.comb(2 * half, half) // 2
    if total <= max_splits:
        splits = []
        for kept in itertools.combinations(range(n), 2 * half):
            for rest in itertools.combinations(kept[1:], half - 1):
                first = (kept[0], *rest)
                splits.append((np.array(first), np.array([i for i in kept if i not in first])))
        return splits, True
    generator = np.random.default_rng(seed)
    splits = []
    for _ in range(max_splits):
        order = generator.permutation(n)
        splits.append((order[:half], order[half : 2 * half]))
    return splits, False


def aa_split_counts(
    values: np.ndarray, *, max_splits: int = AA_SPLITS, seed: int = 0
) -> tuple[int, np.ndarray, bool]:
    """The A/A count and its permutation null.

    Args:
        values: (comparisons, seeds): one configuration's per-seed value of each comparison (NaN: the seed has no
            value there, left out as ``welch_comparison`` does).
        max_splits: enumerate every split when there are at most this many, else draw this many at random.
        seed: the random generator's seed (the null is the same every time it is computed).

    Returns:
        The study's split's count (``_halves``: first half of the seeds against the second, Welch's t, calls =
        outcomes "higher" or "lower"), the counts of the null's splits (the study's own included: it is one of
        every split, and is added to a random draw), and whether the null is exhaustive.

    Raises:
        ValueError: ``values`` not two-dimensional, or fewer than four seeds (halves of at least two).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] < 4:
        raise ValueError(
            f"values must be (comparisons, seeds) with at least 4 seeds (halves of 2), got shape {values.shape}."
        )
    first, second = _halves(values.shape[1])
    calls = _calls(values, first, second)
    splits, exhaustive = _splits(values.shape[1], max_splits, seed)
    counts = [_calls(values, a, b) for a, b in splits]
    if not exhaustive:
        counts.append(calls)
    return calls, np.array(counts, dtype=int), exhaustive


def _aa_check(per_seed: Sequence[np.ndarray], max_splits: int) -> AACheck | None:
    if not per_seed:
        return None
    calls, counts, exhaustive = aa_split_counts(np.stack(per_seed), max_splits=max_splits)
    return AACheck(
        comparisons=len(per_seed),
        calls=calls,
        splits=int(counts.size),
        exhaustive=exhaustive,
        p_value=float(np.mean(counts >= calls)),
        allowance=int(np.quantile(counts, 0.95, method="inverted_cdf")),
        call_rate=float(counts.mean() / len(per_seed)),
    )


def _power_rows(comparisons, bounds, measures, labels) -> list[dict[str, Any]]:
    """Per configuration and measure: the largest per-seed SD of its matched differences, the power the study
    had at the bound with its seeds, and the seeds 80% power needs."""
    rows = []
    for config in dict.fromkeys(row["configuration"] for row in comparisons):
        for measure in measures:
            bound = bounds.get(measure)
            mine = [r for r in comparisons if r["configuration"] == config and r["measure"] == measure]
            sds = [
                r["standard_error"] * math.sqrt(r["n"])
                for r in mine
                if finite(r["standard_error"]) and r["n"] >= 2
            ]
            n = min((r["n"] for r in mine), default=0)
            sd = max(sds, default=math.nan)
            usable = bound is not None and finite(sd) and sd > 0 and n >= 2
            rows.append(
                {
                    "configuration": labels.get(config, config),
                    "measure": measure,
                    "bound": bound,
                    "sd": sd,
                    "n": n,
                    "power": power(bound, sd, n) if usable else math.nan,
                    "replicates_for_80": replicates_for_power(bound, sd) if usable else None,
                }
            )
    return rows


def judge_study(
    curve_rows: Sequence[Mapping[str, Any]],
    control_rows: Sequence[Mapping[str, Any]] = (),
    *,
    measures: Sequence[str] = STUDY_MEASURES,
    baseline: str = _BASELINE,
    fractions: Sequence[float] = MATCH_FRACTIONS,
    equivalence_fraction: float = 0.5,
    aa_splits: int = AA_SPLITS,
) -> Study:
    """Judges a study from curves.csv rows (and controls.csv rows); see the module docstring.

    Args:
        curve_rows: one row per evaluation: divergence, loss_type, beta, seed, step and the metric columns.
        control_rows: one row per (seed, temperature) of the SFT model: seed, temperature and the metrics.
        measures: the measures to judge (those missing from the curves are skipped).
        baseline: the baseline's divergence (its first configuration in the curves is the baseline).
        fractions: where in the common reward and KL ranges configurations are compared.
        equivalence_fraction: the smallest effect of interest as a fraction of the positive control's effect.
        aa_splits: the A/A count's null: every split of the baseline's seeds into halves when there are at most
            this many, else this many random splits.

    Raises:
        ValueError: no curve of the baseline, or a fraction or the equivalence fraction out of range.
    """
    if not 0 < equivalence_fraction <= 1:
        raise ValueError(f"equivalence_fraction must be in (0, 1], got {equivalence_fraction!r}.")
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1], got {list(fractions)!r}.")
    rows = [{**row, "configuration": configuration_key(row)} for row in curve_rows]
    keys = list(dict.fromkeys(row["configuration"] for row in rows))
    base = next((key for key in keys if key.split("|")[0] == baseline), None)
    if base is None:
        raise ValueError(
            f"No curve of the baseline {baseline!r}: the curves hold {sorted({k.split('|')[0] for k in keys})}. "
            f"Add {baseline} to grid.divergences."
        )
    curves = curves_from_rows(rows)
    present = [m for m in measures if all(m in curve for curve in curves.values())]
    labels = {key: _label(key, keys) for key in keys}
    temperature, controls = _control_rows(control_rows, present, equivalence_fraction)
    study = Study(
        measures=present,
        labels=labels,
        baseline=base,
        seeds=sorted(seed for config, seed in curves if config == base),
        control_temperature=temperature,
        controls=controls,
    )
    bounds = study.bounds()
    used = set(study.used())
    aa_values: list[np.ndarray] = []
    for axis_name, column in MATCH_AXES.items():
        if not all(column in curve for curve in curves.values()):
            continue
        judged = [m for m in present if m != column]
        try:
            matched = matched_comparisons(curves, base, judged, column, fractions, bounds)
        except EmptyRangeError as error:
            study.skipped[axis_name] = str(error)
            continue
        for row in matched:
            row["axis"] = axis_name
            row["configuration"] = labels[row["configuration"]]
            row["baseline"] = labels[row["baseline"]]
            row["used"] = row["measure"] in used
            study.comparisons.append(row)
        rows_aa, values_aa = _aa_rows(curves, base, judged, axis_name, column, fractions, bounds)
        study.aa += rows_aa
        aa_values += [v for row, v in zip(rows_aa, values_aa, strict=True) if row["measure"] in used]
    study.aa_check = _aa_check(aa_values, aa_splits)
    study.power = _power_rows(study.comparisons, bounds, present, labels)
    return study


def _verdict_word(row: Mapping[str, Any]) -> str:
    if not row.get("used"):
        return "not judged (its positive control was not detected)" if row["measure"] != _LENGTH else "length"
    return {
        "higher": "higher",
        "lower": "lower",
        "equivalent": "no difference (equivalent within the bound)",
        "inconclusive": "inconclusive",
    }[row["outcome"]]


def _interval(row: Mapping[str, Any], digits: int = 3) -> str:
    if not finite(row.get("estimate")):
        return "n/a"
    return f"{row['estimate']:+.{digits}f} [{row['low']:+.{digits}f}, {row['high']:+.{digits}f}]"


def study_lines(study: Study) -> list[str]:
    """The study's section of report.md: the controls, the matched comparisons, the A/A check and the power."""
    lines = [
        f"Baseline: {study.labels[study.baseline]}, seeds {', '.join(str(s) for s in study.seeds)} "
        f"({len(study.seeds)} replicates; every interval is a 95% Student-t interval at the real degrees of "
        'freedom, paired by seed; "no difference" means the two one-sided tests at 5% put the difference inside '
        "the equivalence bound, that is its 90% interval lies within ±bound).",
        "",
        "**Positive control.**",
    ]
    if study.control_temperature is None:
        lines.append(
            "None: the sweep sampled no control temperature (evaluation.control_temperatures), so no measure is "
            "known to see a change in diversity at this size, and no verdict is given."
        )
    else:
        lines.append(
            f"The SFT model of every seed sampled at T = {study.control_temperature:g} against T = 1 (same prompts, "
            "same sampling seed). A measure is judged only if this known change is detected; its equivalence bound "
            "is the stated fraction of the change."
        )
        lines += ["", "| measure | control effect | detected | equivalence bound |", "|---|---|---|---:|"]
        for row in study.controls:
            bound = f"±{row['bound']:.3g}" if row["bound"] else "-"
            detected = (
                "length, not judged" if row["measure"] == _LENGTH else "yes" if row["detected"] else "no"
            )
            lines.append(f"| {row['measure']} | {_interval(row)} | {detected} | {bound} |")
    for axis_name in MATCH_AXES:
        rows = [row for row in study.comparisons if row["axis"] == axis_name]
        if axis_name in study.skipped:
            lines += ["", f"**At matched {axis_name}:** nothing compared. {study.skipped[axis_name]}"]
        if not rows:
            continue
        lines += [
            "",
            f"**At matched {axis_name}** (configuration − baseline, read off each curve where it first reaches the "
            "target):",
            "",
            f"| configuration | {axis_name} target | measure | value | baseline | difference [95% CI] | df | "
            "seeds (missing) | verdict |",
            "|---|---:|---|---:|---:|---|---:|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row['configuration']} | {row['target']:.3g} ({row['fraction']:.0%}) | {row['measure']} | "
                f"{row['value']:.4g} | {row['baseline_value']:.4g} | {_interval(row)} | "
                f"{row['df']:.0f} | {row['n_seeds']} ({row['n_missing']}) | {_verdict_word(row)} |"
                if finite(row["df"])
                else f"| {row['configuration']} | {row['target']:.3g} ({row['fraction']:.0%}) | {row['measure']} | "
                f"- | - | n/a | - | {row['n_seeds']} ({row['n_missing']}) | not enough seeds reach the target |"
            )
    if study.aa:
        lines += [
            "",
            f"**Negative control (A/A).** {study.labels[study.baseline]} on seeds "
            f"{study.aa[0]['first_seeds']} against seeds {study.aa[0]['second_seeds']} (Welch's t):",
            "",
        ]
        used = set(study.used())
        judged = [row for row in study.aa if row["measure"] in used]
        wrong = [row for row in judged if row["outcome"] in ("higher", "lower")]
        equivalent = sum(row["outcome"] == "equivalent" for row in judged)
        lines.append(
            f"{len(judged)} comparisons of judged measures: {len(wrong)} called a difference, {equivalent} "
            f"equivalent within the bound, {len(judged) - len(wrong) - equivalent} inconclusive (two halves of the "
            "seeds give each side half the replicates: the A/A check has less power than the comparisons above)."
        )
        for row in wrong:
            lines.append(
                f"- {row['measure']} at matched {row['axis']} ({row['fraction']:.0%}): {_interval(row)}, "
                "a difference between two halves of one configuration's seeds"
            )
        check = study.aa_check
        if check is not None:
            which = (
                f"all {check.splits:,} splits"
                if check.exhaustive
                else f"{check.splits - 1:,} random splits (and this one)"
            )
            lines += [
                "",
                f"Against {which} of the same seeds into two halves, the null of this count (the comparisons of "
                "one split share its seeds, and correlated measures move together, so the count is not "
                f"binomial): {check.calls} or more calls came in {check.p_value:.0%} of the splits (p "
                f"{check.p_value:.3g}; 95% of the splits called at most {check.allowance}): the check "
                f"{'passes' if check.passed else 'FAILS'}. Per comparison, the splits called a difference "
                f"{check.call_rate:.1%} of the time (nominal 5%).",
            ]
            if check.exhaustive and check.splits < 20:
                lines[-1] += (
                    f" With {check.splits} splits p cannot go below 1/{check.splits}: too few seeds for this check to "
                    "fail."
                )
    if study.power:
        lines += [
            "",
            "**Power** to detect a difference of the equivalence bound (paired t, 5% two-sided), at the largest "
            "per-seed SD measured against the baseline:",
            "",
            "| configuration | measure | bound | per-seed SD | seeds | power | seeds for 80% |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in study.power:
            if row["bound"] is None:
                continue
            need = row["replicates_for_80"]
            lines.append(
                f"| {row['configuration']} | {row['measure']} | {row['bound']:.3g} | {row['sd']:.3g} | {row['n']} | "
                f"{row['power']:.0%} | {need if need is not None else '-'} |"
            )
    return lines
