"""The frontier table: the reward/diversity front of many configurations, and which of them beat standard DPO.

A *configuration* is one way of producing a policy's samples: a lever (``divergence``, ``divpo``,
``temperature``, ``interpolation``, ``realignment``, or ``sft``, the untrained model) at one setting. Each is
evaluated once per seed; ``summarize_configurations`` gives, per configuration, the mean, standard deviation and
95% interval half-width across seeds of the reward and of the three diversity measures. ``frontier_table`` adds:

* ``on_front``: the configuration is on the Pareto front of reward against the chosen diversity measure (no other
  configuration has at least its mean reward and mean diversity, one of them higher); ``on_front_<measure>`` for
  each of the three measures.
* ``dominates_rkl``: it beats the baseline (standard DPO: reverse KL, β 0.1) on reward and on at least two of the
  three diversity measures, each *with the intervals separated*: the difference of the means exceeds the sum of
  the two 95% half-widths (so the two intervals do not overlap). One measure alone is not enough: on a small model
  the predictive entropy grows with the distance from the reference even when the samples repeat each other.
  ``<metric>_vs_rkl`` is the difference of the means, ``<metric>_vs_rkl_ci95`` the sum of the half-widths.
* with the evaluations given, the same comparison *paired by seed*: ``<metric>_paired_vs_rkl`` is the mean over
  seeds of (configuration − baseline) at the same seed and ``_paired_vs_rkl_ci95`` its Student-t half-width;
  ``dominates_rkl_paired`` asks each paired interval to lie above 0. Pairing removes what the two share at a
  seed (the same trained policy for an evaluation-only lever, the same training and sampling seeds otherwise);
  ``dominates_rkl`` stays the unpaired, stricter verdict.
* with the runs' prompt replicates given (``fdpo.report.sweep_replicates``), the divergence study's standard
  errors (``fdpo.uncertainty``: seeds and a resampling of the evaluation prompts): ``<metric>_se`` per
  configuration, ``<metric>_gap_z`` the gap to the baseline in standard errors of the gap (its prompt part paired:
  the same resampled prompt sets for both), ``<metric>_gap_df`` the gap's degrees of freedom (S − 1 paired by
  seed, Welch–Satterthwaite otherwise, widened by the prompt part) and ``<metric>_gap_ci95`` the half-width of its
  95% Student-t interval at that df, and ``dominates_rkl_se``: reward and two diversity measures each with that
  interval above 0 (the gap exceeds t_{0.975, df} standard errors: 4.30 with three seeds paired, not 1.96).

``frontier_columns`` are the columns of frontier.csv and ``frontier_markdown`` renders the table; the plot is in
``fdpo.frontier.plot`` and ``fdpo.frontier.study.write_frontier`` writes both files. Pure tables: nothing here loads
a model or draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fdpo.report import confidence_interval, configuration_gap, metric_statistics, pareto_front
from fdpo.report.summary import finite
from fdpo.uncertainty import Comparison, Replicates

__all__ = [
    "DOMINANCE_MEASURES",
    "FRONTIER_METRICS",
    "dominates",
    "frontier_columns",
    "frontier_markdown",
    "frontier_table",
    "separated",
    "summarize_configurations",
]

#: The diversity measures a configuration must win on (two of the three) to dominate the baseline.
DOMINANCE_MEASURES = ("predictive_entropy", "token_entropy", "distinct_2")
#: Reward first, then the diversity measures.
FRONTIER_METRICS = ("reward", *DOMINANCE_MEASURES)
#: Where each frontier metric is found in an evaluation's metrics (``fdpo.pipeline.evaluate_policy``).
_SOURCES = {"reward": "reward_logit_mean", "kl_to_ref": "kl_to_ref"}
_EXTRA_METRICS = ("kl_to_ref",)


def _groups(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """The evaluation rows of each configuration (``lever``, ``setting``), in first-seen order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        for key in ("lever", "setting"):
            if not isinstance(row.get(key), str) or not row.get(key):
                raise ValueError(
                    f"Every evaluation row needs a non-empty string {key!r}; got {row.get(key)!r}."
                )
        groups.setdefault((row["lever"], row["setting"]), []).append(row)
    return groups


def summarize_configurations(
    rows: Sequence[Mapping[str, Any]],
    confidence: float = 0.95,
    replicates: Mapping[str, Mapping[str, Replicates]] | None = None,
) -> list[dict[str, Any]]:
    """One row per configuration (``lever``, ``setting``), in first-seen order, from one row per evaluation.

    Each evaluation row holds ``lever``, ``setting`` and the metrics of ``fdpo.pipeline.evaluate_policy``
    (``reward_logit_mean``, ``predictive_entropy``, ``token_entropy``, ``distinct_2``, ``kl_to_ref``). Returns
    ``lever``, ``setting``, ``n`` (evaluations, one per seed) and for each of ``FRONTIER_METRICS`` and kl_to_ref
    ``<metric>_mean``, ``_std`` and ``_ci95`` (the half-width of the Student-t interval across seeds; None with
    one seed), and ``<metric>_se`` (``fdpo.uncertainty.combine``: seeds, and prompts when ``replicates``, per
    ``run_id`` and result column, are given).
    """
    summary = []
    for (lever, setting), members in _groups(rows).items():
        out: dict[str, Any] = {"lever": lever, "setting": setting, "n": len(members)}
        for metric in (*FRONTIER_METRICS, *_EXTRA_METRICS):
            statistics = metric_statistics(members, _SOURCES.get(metric, metric), replicates, confidence)
            for suffix in ("mean", "std", "ci95", "se"):
                out[f"{metric}_{suffix}"] = statistics[suffix]
        summary.append(out)
    return summary


def separated(candidate: Mapping[str, Any], baseline: Mapping[str, Any], metric: str) -> bool:
    """True when the candidate's mean exceeds the baseline's by more than the sum of their 95% half-widths.

    False when a mean or a half-width is missing (a single seed has no interval: nothing can be claimed).
    """
    values = [candidate.get(f"{metric}_{kind}") for kind in ("mean", "ci95")]
    values += [baseline.get(f"{metric}_{kind}") for kind in ("mean", "ci95")]
    if not all(finite(v) for v in values):
        return False
    mean, half_width, baseline_mean, baseline_half_width = values
    return mean - baseline_mean > half_width + baseline_half_width


def dominates(
    candidate: Mapping[str, Any],
    baseline: Mapping[str, Any],
    *,
    measures: Sequence[str] = DOMINANCE_MEASURES,
    at_least: int = 2,
) -> bool:
    """Higher reward and higher diversity on at least ``at_least`` of ``measures``, each with the intervals apart."""
    if not 1 <= at_least <= len(measures):
        raise ValueError(
            f"at_least must be between 1 and {len(measures)} (the measures given), got {at_least}."
        )
    if not separated(candidate, baseline, "reward"):
        return False
    return sum(separated(candidate, baseline, measure) for measure in measures) >= at_least


def _paired(
    evaluations: Sequence[Mapping[str, Any]], configuration: tuple[str, str], baseline: tuple[str, str]
) -> dict[str, Any]:
    """Paired-by-seed differences configuration − baseline of every frontier metric, with their half-widths."""
    by_seed: dict[tuple[str, str], dict[Any, Mapping[str, Any]]] = {}
    for row in evaluations:
        by_seed.setdefault((row["lever"], row["setting"]), {})[row.get("seed")] = row
    mine, theirs = by_seed.get(tuple(configuration), {}), by_seed.get(tuple(baseline), {})
    seeds = [seed for seed in mine if seed in theirs]
    out: dict[str, Any] = {}
    for metric in FRONTIER_METRICS:
        source = _SOURCES.get(metric, metric)
        differences = [
            mine[s][source] - theirs[s][source]
            for s in seeds
            if finite(mine[s].get(source)) and finite(theirs[s].get(source))
        ]
        mean, _, half_width = confidence_interval(differences)
        out[f"{metric}_paired_vs_rkl"] = None if math.isnan(mean) else mean
        out[f"{metric}_paired_vs_rkl_ci95"] = half_width
    return out


def _paired_above(row: Mapping[str, Any], metric: str) -> bool:
    mean, half_width = row.get(f"{metric}_paired_vs_rkl"), row.get(f"{metric}_paired_vs_rkl_ci95")
    return finite(mean) and finite(half_width) and mean - half_width > 0


def _gap(members, baseline_members, metric: str, replicates) -> dict[str, Any]:
    """``<metric>_gap_z``, ``_gap_df`` and ``_gap_ci95`` of configuration − baseline (None where unmeasured), and
    whether its 95% Student-t interval lies above 0."""
    source = _SOURCES.get(metric, metric)
    gap = configuration_gap(baseline_members, members, source, replicates)
    comparison: Comparison = gap.comparison(level=0.95)
    known = not math.isnan(gap.z) and math.isfinite(comparison.df)
    half_width = comparison.interval[1] - comparison.estimate if known else None
    return {
        f"{metric}_gap_z": None if math.isnan(gap.z) else gap.z,
        f"{metric}_gap_df": comparison.df if known else None,
        f"{metric}_gap_ci95": half_width,
        "above": comparison.outcome == "higher",
    }


def frontier_table(
    summary: Sequence[Mapping[str, Any]],
    baseline: tuple[str, str],
    *,
    diversity: str = "token_entropy",
    evaluations: Sequence[Mapping[str, Any]] | None = None,
    replicates: Mapping[str, Mapping[str, Replicates]] | None = None,
) -> list[dict[str, Any]]:
    """The summary rows with the front and the comparison to the baseline configuration added.

    Args:
        summary: rows of ``summarize_configurations``.
        baseline: ``(lever, setting)`` of standard DPO, the configuration to beat.
        diversity: the measure of the ``on_front`` column (every measure has its ``on_front_<measure>``).
        evaluations: the rows ``summary`` was made from (with ``seed``), for the paired and standard-error columns.
        replicates: per ``run_id`` of the evaluations, their prompt replicates (``fdpo.report.sweep_replicates``).

    Raises:
        ValueError: an unknown diversity measure, or no row is the baseline.
    """
    if diversity not in DOMINANCE_MEASURES:
        raise ValueError(
            f"diversity={diversity!r} is not a diversity measure; use one of {DOMINANCE_MEASURES}."
        )
    rows = [dict(row) for row in summary]
    matches = [row for row in rows if (row.get("lever"), row.get("setting")) == tuple(baseline)]
    if not matches:
        known = ", ".join(f"{row.get('lever')}/{row.get('setting')}" for row in rows)
        raise ValueError(
            f"No configuration {baseline[0]}/{baseline[1]} to compare with; the rows hold: {known}."
        )
    reference = matches[0]
    for measure in DOMINANCE_MEASURES:
        front = set(pareto_front([(row.get("reward_mean"), row.get(f"{measure}_mean")) for row in rows]))
        for index, row in enumerate(rows):
            row[f"on_front_{measure}"] = index in front
    for row in rows:
        row["on_front"] = row[f"on_front_{diversity}"]
        is_baseline = row is reference
        row["dominates_rkl"] = not is_baseline and dominates(row, reference)
        for metric in FRONTIER_METRICS:
            values = (row.get(f"{metric}_mean"), reference.get(f"{metric}_mean"))
            row[f"{metric}_vs_rkl"] = values[0] - values[1] if all(map(finite, values)) else None
            widths = (row.get(f"{metric}_ci95"), reference.get(f"{metric}_ci95"))
            row[f"{metric}_vs_rkl_ci95"] = sum(widths) if all(map(finite, widths)) else None
        if evaluations is not None:
            row.update(_paired(evaluations, (row["lever"], row["setting"]), tuple(baseline)))
            row["dominates_rkl_paired"] = (
                not is_baseline
                and _paired_above(row, "reward")
                and sum(_paired_above(row, m) for m in DOMINANCE_MEASURES) >= 2
            )
            groups = _groups(evaluations)
            members, baseline_members = groups[(row["lever"], row["setting"])], groups[tuple(baseline)]
            above = []
            for metric in FRONTIER_METRICS:
                gap = {"above": False} if is_baseline else _gap(members, baseline_members, metric, replicates)
                for suffix in ("z", "df", "ci95"):
                    row[f"{metric}_gap_{suffix}"] = gap.get(f"{metric}_gap_{suffix}")
                above.append(gap["above"])
            row["dominates_rkl_se"] = above[0] and sum(above[1:]) >= 2
    return rows


def frontier_columns() -> list[str]:
    """Columns of frontier.csv, in order."""
    columns = ["lever", "setting"]
    for metric in FRONTIER_METRICS:
        columns += [f"{metric}_mean", f"{metric}_std", f"{metric}_ci95"]
    columns += ["n", "on_front", "dominates_rkl"]
    columns += [f"on_front_{measure}" for measure in DOMINANCE_MEASURES]
    for metric in FRONTIER_METRICS:
        columns += [f"{metric}_vs_rkl", f"{metric}_vs_rkl_ci95"]
    columns += [f"kl_to_ref_{kind}" for kind in ("mean", "std", "ci95")]
    columns += ["dominates_rkl_paired"]
    for metric in FRONTIER_METRICS:
        columns += [f"{metric}_paired_vs_rkl", f"{metric}_paired_vs_rkl_ci95"]
    columns += ["dominates_rkl_se"]
    for metric in FRONTIER_METRICS:
        columns += [f"{metric}_se", f"{metric}_gap_z"]
    for metric in FRONTIER_METRICS:
        columns += [f"{metric}_gap_df", f"{metric}_gap_ci95"]
    return columns


def frontier_markdown(table: Sequence[Mapping[str, Any]], digits: int = 3, notes: Sequence[str] = ()) -> str:
    """frontier.csv as a markdown table: mean ± 95% half-width across seeds, the front, the gaps to the baseline
    in standard errors with their degrees of freedom (reward / predictive entropy / token entropy / distinct-2) and
    the three dominance verdicts (intervals apart / paired by seed / the gap's 95% t interval above 0); then
    ``notes``."""

    def cell(row, metric):
        mean, half_width = row.get(f"{metric}_mean"), row.get(f"{metric}_ci95")
        if mean is None:
            return ""
        return f"{mean:.{digits}f}" + (f" ± {half_width:.{digits}f}" if half_width is not None else "")

    def z(row):
        metrics = ("reward", *DOMINANCE_MEASURES)
        values = [(row.get(f"{metric}_gap_z"), row.get(f"{metric}_gap_df")) for metric in metrics]
        if not any(v is not None for v, _ in values):
            return ""
        return " / ".join(
            "" if v is None else f"{v:+.1f}" + ("" if df is None else f" ({df:.0f})") for v, df in values
        )

    def mark(value):
        return "✓" if value else ""

    header = (
        "| lever | setting | reward | pred. entropy | token entropy | distinct-2 | KL to ref | n | front |"
    )
    header += " gap t (df) vs RKL | dominates RKL (intervals / paired / t) |"
    lines = [header, "|---|---|" + "---:|" * 6 + ":---:|---:|:---:|"]
    for row in table:
        metrics = " | ".join(cell(row, m) for m in ("reward", *DOMINANCE_MEASURES, "kl_to_ref"))
        verdicts = " / ".join(
            mark(row.get(k)) or "·" for k in ("dominates_rkl", "dominates_rkl_paired", "dominates_rkl_se")
        )
        lines.append(
            f"| {row['lever']} | {row['setting']} | {metrics} | {row['n']} | {mark(row['on_front'])} | {z(row)} "
            f"| {verdicts} |"
        )
    lines += ["", *(f"- {note}" for note in notes)] if notes else []
    return "\n".join(lines) + "\n"
