"""The levers judged at matched reward: each configuration's diversity against the baseline's training curve.

A configuration's end point and standard DPO's end point can sit at different rewards, and "more diverse" then
may only mean "moved less". With ``evaluation.checkpoints`` the frontier traces the baseline policy's curve while
training it (``policies/<policy>/curve.jsonl``: step 0 the SFT model, then each checkpoint, the final policy last).
``frontier_matched`` reads, for every other configuration and seed, the baseline's curve of that seed at the
configuration's own reward (and, as a second axis, its own KL to the reference) and takes the difference
configuration − curve, paired by seed (``fdpo.uncertainty.matching.points_against_curve``).

``matched_markdown`` renders the rows as frontier.md's section. Pure tables: nothing here loads a model or a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fdpo.report.summary import finite
from fdpo.uncertainty.matching import MATCHED_COLUMNS, curves_from_rows, points_against_curve

__all__ = [
    "MATCHED_AXES",
    "MATCHED_MEASURES",
    "frontier_matched",
    "matched_columns",
    "matched_markdown",
]

#: The axes a configuration is matched on: its reward first, then its KL to the reference.
MATCHED_AXES = ("reward_logit_mean", "kl_to_ref")
#: The diversity measures compared at matched reward (those the evaluation measured).
MATCHED_MEASURES = (
    "sequence_entropy",
    "entropy_rate",
    "distinct_2_rarefied",
    "within_prompt_diversity",
    "completion_tokens",
)
#: Levers left out of the comparison: the SFT model is the curve's own start (its difference is 0 by construction).
_NOT_JUDGED = ("sft",)
#: Levers that sample from a mixture of two models (realignment: softmax(λ·logits_policy + (1 − λ)·logits_SFT)),
#: while the evaluation scores log-probabilities under the policy alone: their entropies and KL estimate are not
#: the sampling distribution's, so only the measures read off the samples themselves are compared.
_MIXTURE_LEVERS = ("realignment",)
_SCORED_UNDER_THE_POLICY = (
    "sequence_entropy",
    "entropy_rate",
    "predictive_entropy",
    "prefix_entropy",
    "kl_to_ref",
)


def matched_columns() -> list[str]:
    """The columns of frontier_matched.csv: the configuration's lever, then ``MATCHED_COLUMNS`` (``configuration``
    is its setting)."""
    return ["lever", *MATCHED_COLUMNS]


def frontier_matched(
    curve_points: Iterable[Mapping[str, Any]],
    evaluations: Sequence[Mapping[str, Any]],
    baseline: tuple[str, str],
    *,
    axes: Sequence[str] = MATCHED_AXES,
    measures: Sequence[str] = MATCHED_MEASURES,
) -> list[dict[str, Any]]:
    """Every configuration but the baseline and the SFT model against the baseline's curves, per axis and measure.

    Args:
        curve_points: the baseline's curves: one row per seed and step (``seed``, ``step`` and the metrics), as
            the policies' curve.jsonl hold them.
        evaluations: frontier.csv's source rows: one per configuration and seed (``lever``, ``setting``, ``seed``
            and the metrics).
        baseline: the baseline's ``(lever, setting)``.
        axes: the columns matched on; those no curve point holds are skipped.
        measures: the diversity measures; those no curve point holds are skipped.

    Realignment (a mixture of two models, scored under the policy alone) is compared only on the measures read
    off the samples, and only at matched reward: its entropies and KL are not its sampling distribution's.

    Returns:
        One row per (axis, configuration, measure), keys ``matched_columns()``: ``configuration`` is the setting,
        ``value`` the configuration's mean over the seeds compared, ``baseline_value`` the curve's at their axis
        values, ``estimate`` the paired difference with its interval (``low``, ``high``), ``df`` and ``outcome``.
    """
    _, baseline_setting = baseline
    curve_points = [{**point, "configuration": baseline_setting} for point in curve_points]
    present = [name for name in measures if any(finite(point.get(name)) for point in curve_points)]
    axes = [axis for axis in axes if any(finite(point.get(axis)) for point in curve_points)]
    points, levers = [], {}
    for row in evaluations:
        key = (row["lever"], row["setting"])
        if key == tuple(baseline) or row["lever"] in _NOT_JUDGED:
            continue
        if levers.setdefault(row["setting"], row["lever"]) != row["lever"]:
            raise ValueError(
                f"Setting {row['setting']!r} belongs to two levers ({levers[row['setting']]!r} and "
                f"{row['lever']!r}); each configuration needs its own setting to be matched."
            )
        points.append(row)
    if not points or not present:
        return []
    curves = curves_from_rows(curve_points)
    rows = []
    for axis in axes:
        matched = points_against_curve(
            curves, baseline_setting, points, present, axis, configuration="setting"
        )
        rows += [
            {"lever": levers[row["configuration"]], **row}
            for row in matched
            if not (
                levers[row["configuration"]] in _MIXTURE_LEVERS
                and (axis in _SCORED_UNDER_THE_POLICY or row["measure"] in _SCORED_UNDER_THE_POLICY)
            )
        ]
    return rows


_AXIS_NAMES = {"reward_logit_mean": "reward", "kl_to_ref": "KL to the reference"}


def matched_markdown(
    rows: Sequence[Mapping[str, Any]] | None, baseline: str, *, why_not: str = "", digits: int = 3
) -> str:
    """frontier.md's section on the comparison at matched reward (and KL); ``rows`` None: ``why_not`` instead.

    Per axis, one line per configuration and measure: the difference configuration − the baseline's curve at the
    configuration's own axis value (mean over seeds), its 95% Student-t interval, df (seeds compared − 1), the
    outcome (higher / lower: the interval excludes 0; else inconclusive) and the seeds compared (left out: beyond
    the curve's range, or a measure not measured)."""
    lines = [f"## Diversity at matched reward, against {baseline}'s curve", ""]
    if rows is None:
        return "\n".join([*lines, why_not, ""])
    lines += [
        f"Each configuration's evaluation at seed s is compared with {baseline}'s training curve of seed s (its "
        "checkpoints, linearly interpolated) at the configuration's own reward, or KL: the difference configuration "
        "− curve, mean over seeds, with its 95% t interval paired by seed. A seed whose value lies outside the "
        "curve's range is left out (missing).",
    ]
    if any(row["lever"] in _MIXTURE_LEVERS for row in rows):
        lines[-1] += (
            " Realignment samples from a mixture of the policy and the SFT model while its log-probabilities are "
            "scored under the policy alone, so its entropies and its KL are not the sampling distribution's: it is "
            "compared on the measures read off the samples (distinct-2, within-prompt diversity, length), at "
            "matched reward only."
        )
    if not rows:
        return "\n".join(
            [*lines, "", "Nothing to compare: no configuration besides the baseline and the SFT model.", ""]
        )

    def number(value):
        return f"{value:+.{digits}f}" if finite(value) else ""

    def plain(value):
        return f"{value:.{digits}f}" if finite(value) else ""

    for axis in dict.fromkeys(row["axis"] for row in rows):
        name = _AXIS_NAMES.get(axis, axis)
        lines += [
            "",
            f"### At matched {name} ({axis})",
            "",
            f"| lever | setting | measure | {name} | difference | 95% interval | df | outcome | seeds (missing) |",
            "|---|---|---|---:|---:|---|---:|---|---:|",
        ]
        for row in rows:
            if row["axis"] != axis:
                continue
            interval = (
                f"[{number(row['low'])}, {number(row['high'])}]"
                if finite(row.get("low")) and finite(row.get("high"))
                else ""
            )
            df = f"{row['df']:.0f}" if finite(row.get("df")) else ""
            lines.append(
                f"| {row['lever']} | {row['configuration']} | {row['measure']} | {plain(row['target'])} "
                f"| {number(row['estimate'])} | {interval} | {df} | {row['outcome']} "
                f"| {row['n_seeds']} ({row['n_missing']}) |"
            )
    return "\n".join(lines) + "\n"
