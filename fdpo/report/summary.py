"""One row per configuration: the mean, spread and standard error of every metric over a configuration's runs.

``summarize`` turns results rows (one per run) into one row per configuration (divergence × loss_type × β) with
the mean over seeds, the standard deviation, the half-width of a 95% Student-t interval across seeds, and the
standard error across seeds and evaluation prompts (``fdpo.uncertainty``; ``fdpo.report.replicates`` gives the
prompt part). The other modules of ``fdpo.report`` read summaries through the helpers at the end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from fdpo import uncertainty
from fdpo._io import read_csv
from fdpo.settings import METRIC_COLUMNS
from fdpo.uncertainty import Replicates

#: Metrics of results.csv that summary.csv aggregates across seeds.
SUMMARY_METRICS = (*METRIC_COLUMNS, "self_bleu", "completion_words", "train_seconds")
GROUP_KEYS = ("divergence", "loss_type", "beta")
#: Divergence label of the baseline row: the SFT model evaluated as it is.
BASELINE = "sft"
_SHORT_NAMES = {
    BASELINE: "SFT",
    "reverse_kl": "RKL",
    "forward_kl": "FKL",
    "jensen_shannon": "JS",
    "chi_squared_kl": "χ²+KL",
}


def finite(value: Any) -> bool:
    """A real number (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def confidence_interval(
    values: Sequence[float], confidence: float = 0.95
) -> tuple[float, float | None, float | None]:
    """Mean, sample standard deviation (ddof 1) and the half-width of the Student-t confidence interval
    (``fdpo.uncertainty.t_interval``) of the finite values; non-finite values and ``None`` are dropped.

    Returns:
        ``(mean, std, half_width)``; ``std`` and ``half_width`` are ``None`` with fewer than two values, and the mean
        is NaN with none.
    """
    kept = [float(v) for v in values if finite(v)]
    mean, std, half_width = uncertainty.t_interval(kept, confidence)
    if len(kept) < 2:
        return mean, None, None
    return mean, std, half_width


def configuration_label(
    divergence: str,
    loss_type: str = "",
    beta: Any = None,
    *,
    with_loss: bool = False,
    with_beta: bool = False,
) -> str:
    """A short plot label: ``RKL``, ``JS``, ``FKL``, ``α=0.3``, ``SFT``, optionally with loss type and β."""
    name, _, argument = str(divergence).partition(":")
    if name == "alpha" and argument:
        label = f"α={argument}"
    else:
        label = _SHORT_NAMES.get(str(divergence), str(divergence))
    if with_loss and loss_type:
        label += f" {loss_type}"
    if with_beta and finite(beta):
        label += f" β={float(beta):g}"
    return label


def summary_name(metric: str) -> str:
    """Name of a metric in summary.csv: results' ``reward_logit_mean`` is summarized as ``reward_logit``."""
    return metric[: -len("_mean")] if metric.endswith("_mean") else metric


def summarize(
    rows: Sequence[Mapping[str, Any]],
    confidence: float = 0.95,
    replicates: Mapping[str, Mapping[str, Replicates]] | None = None,
) -> list[dict[str, Any]]:
    """One row per configuration (divergence, loss_type, beta), in first-seen order.

    Columns: divergence, loss_type, beta, label, n (number of runs), then for each metric of ``SUMMARY_METRICS``
    present in ``rows``: ``<name>_mean``, ``<name>_std`` and ``<name>_ci95`` (the half-width of the 95% CI across
    seeds; empty with one seed), where ``<name>`` is the metric without a trailing ``_mean`` (``reward_logit_mean``
    of a run becomes ``reward_logit_mean``, ``reward_logit_std``, ``reward_logit_ci95`` of a configuration); and
    ``<name>_se``, the standard error across seeds and evaluation prompts (``fdpo.uncertainty``), with its two
    parts ``<name>_se_seeds`` (s/√n across seeds; empty with one seed) and ``<name>_se_prompts`` (from the
    resampled prompt sets of ``replicates``; empty when the runs' per-sample values are not given).

    Args:
        replicates: per run id, per result column, the run's ``fdpo.uncertainty.Replicates`` (see
            ``sweep_replicates``); a configuration gets a prompt part only when all its runs have one.
    """
    groups = configurations(rows)
    metrics = [m for m in SUMMARY_METRICS if any(finite(row.get(m)) for row in rows)]
    trained = [key for key in groups if key[0] != BASELINE]
    with_loss = len({key[1] for key in trained}) > 1
    betas_per_divergence: dict[Any, set] = {}
    for divergence, _, beta in trained:
        betas_per_divergence.setdefault(divergence, set()).add(beta)
    summary = []
    for (divergence, loss_type, beta), members in groups.items():
        out: dict[str, Any] = {
            "divergence": divergence,
            "loss_type": loss_type,
            "beta": beta,
            "label": configuration_label(
                divergence,
                loss_type,
                beta,
                with_loss=with_loss,
                with_beta=len(betas_per_divergence.get(divergence, ())) > 1,
            ),
            "n": len(members),
        }
        for metric in metrics:
            name = summary_name(metric)
            for suffix, value in metric_statistics(members, metric, replicates, confidence).items():
                out[f"{name}_{suffix}"] = value
        summary.append(out)
    return summary


def configurations(rows: Sequence[Mapping[str, Any]]) -> dict[tuple, list[Mapping[str, Any]]]:
    """The rows of each configuration (divergence, loss_type, beta), in first-seen order."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        beta = row.get("beta")
        key = (row.get("divergence"), row.get("loss_type") or "", float(beta) if finite(beta) else None)
        groups.setdefault(key, []).append(row)
    return groups


def member_replicates(
    members: Sequence[Mapping[str, Any]],
    metric: str,
    replicates: Mapping[str, Mapping[str, Replicates]] | None,
) -> list[Replicates] | None:
    """The replicates of ``metric`` of every member run with a finite value, or None if one of them has none."""
    if not replicates:
        return None
    found = []
    for member in members:
        if not finite(member.get(metric)):
            continue
        run = replicates.get(str(member.get("run_id")), {})
        if metric not in run:
            return None
        found.append(run[metric])
    return found or None


def configuration_gap(
    a_members: Sequence[Mapping[str, Any]],
    b_members: Sequence[Mapping[str, Any]],
    metric: str,
    replicates: Mapping[str, Mapping[str, Replicates]] | None = None,
) -> uncertainty.Gap:
    """``uncertainty.gap`` of configuration b over configuration a (their runs' rows) for ``metric``.

    When both ran the same seeds, once each, the seed part is that of the per-seed differences (``paired_seeds``):
    a sweep's runs of one seed share that seed's pair draw and evaluation sampling seed, so what a seed does to
    both cancels. Otherwise the runs are compared as independent. The prompt part is paired when every run has
    ``replicates``.
    """
    first, last = _by_seed(a_members, metric), _by_seed(b_members, metric)
    reps = (
        member_replicates(a_members, metric, replicates),
        member_replicates(b_members, metric, replicates),
    )
    if first is not None and last is not None and first.keys() == last.keys():
        seeds = sorted(first)
        return uncertainty.gap([first[s] for s in seeds], [last[s] for s in seeds], *reps, paired_seeds=True)
    a_values = [m.get(metric) for m in a_members if finite(m.get(metric))]
    b_values = [m.get(metric) for m in b_members if finite(m.get(metric))]
    return uncertainty.gap(a_values, b_values, *reps)


def _by_seed(members: Sequence[Mapping[str, Any]], metric: str) -> dict[Any, float] | None:
    """``{seed: value}`` of one configuration's runs, or None when a seed repeats or a value is missing."""
    values = {member.get("seed"): member.get(metric) for member in members}
    if len(values) != len(members) or None in values or not all(finite(v) for v in values.values()):
        return None
    return {seed: float(value) for seed, value in values.items()}


def metric_statistics(
    members: Sequence[Mapping[str, Any]],
    metric: str,
    replicates: Mapping[str, Mapping[str, Replicates]] | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``metric`` over the runs of one configuration: ``mean`` (None when no run has a finite value), ``std`` and
    ``ci95`` across runs (``confidence_interval``), and the standard error ``se`` with its ``se_seeds`` and
    ``se_prompts`` parts (``uncertainty.combine``; prompts only when every run has replicates of ``metric``)."""
    values = [m.get(metric) for m in members]
    mean, std, half_width = confidence_interval(values, confidence)
    estimate = uncertainty.combine(
        [v for v in values if finite(v)], member_replicates(members, metric, replicates)
    )
    return {
        "mean": None if math.isnan(mean) else mean,
        "std": std,
        "ci95": half_width,
        "se": estimate.se,
        "se_seeds": estimate.se_seeds,
        "se_prompts": estimate.se_prompts,
    }


# ----------------------------------------------------------------------------------------------------------------
# Reading a summary (for the table, the plots and the report)


def load_summary(summary: Sequence[Mapping[str, Any]] | str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``summarize`` as given, or read from a summary.csv path."""
    if isinstance(summary, (str, os.PathLike)):
        return read_csv(summary)
    return [dict(row) for row in summary]


def summary_column(metric: str, kind: str) -> str:
    """summary.csv's column of ``kind`` for ``metric``: ``reward_logit_mean``, ``se`` → ``reward_logit_se``."""
    return f"{summary_name(metric)}_{kind}"


def spread_kind(rows: Sequence[Mapping[str, Any]]) -> str:
    """``se`` for a summary with standard errors (this version's), ``ci95`` for an older summary.csv."""
    return "se" if any(key.endswith("_se") for row in rows for key in row) else "ci95"


def format_cell(mean: Any, ci: Any, digits: int = 3) -> str:
    """``mean ± spread`` with ``digits`` decimals; ``–`` for a missing mean, the mean alone without a spread."""
    if not finite(mean):
        return "–"
    text = f"{mean:.{digits}f}"
    if finite(ci):
        text += f" ± {ci:.{digits}f}"
    return text
