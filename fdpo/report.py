"""Tables, the verdict and the reward-vs-diversity plot of a sweep.

``summarize`` turns results rows (one per run) into one row per configuration (divergence × loss_type × β) with
the mean over seeds, the standard deviation, the half-width of a 95% Student-t interval across seeds, and the
standard error across seeds and evaluation prompts (``fdpo.uncertainty``; ``sweep_replicates`` reads the runs'
saved generations for the prompt part). ``verdict`` judges the paper's claims along reverse KL → forward KL.
``plot_tradeoff`` draws reward against diversity, one marker and colour per configuration with ±1 standard error
bars, the Pareto frontier of the trained configurations and the SFT baseline (``plot_tradeoff_html``: the same
plot, interactive, with plotly); ``markdown_table`` prints the summary; ``write_report`` writes all of them for a
sweep directory. Only matplotlib's Agg canvas is used (no display, no global backend switch).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fdpo import uncertainty
from fdpo._io import read_csv, read_json, read_jsonl, write_csv, write_text
from fdpo._optional import require
from fdpo.evaluation import DIVERSITY_MEASURES, METRIC_COLUMNS, REWARD_MEASURES
from fdpo.uncertainty import Replicates

__all__ = [
    "member_replicates",
    "metric_statistics",
    "BASELINE",
    "SUMMARY_METRICS",
    "confidence_interval",
    "summary_name",
    "summarize",
    "pareto_front",
    "configuration_label",
    "plot_tradeoff",
    "plot_tradeoff_html",
    "markdown_table",
    "write_report",
    "NUM_RESAMPLES",
    "RESAMPLING_SEED",
    "Verdict",
    "summarize_sweep",
    "sweep_replicates",
    "read_verdict",
    "verdict",
    "verdict_lines",
]

#: Metrics of results.csv that summary.csv aggregates across seeds.
SUMMARY_METRICS = (*METRIC_COLUMNS, "self_bleu", "train_seconds")
_GROUP_KEYS = ("divergence", "loss_type", "beta")
#: Divergence label of the baseline row: the SFT model evaluated as it is.
BASELINE = "sft"
_SHORT_NAMES = {
    BASELINE: "SFT",
    "reverse_kl": "RKL",
    "forward_kl": "FKL",
    "jensen_shannon": "JS",
    "chi_squared_kl": "χ²+KL",
}
_AXIS_LABELS = {
    "reward_logit": "reward (positive-class logit)",
    "reward_prob": "reward (positive-class probability)",
    "predictive_entropy": "predictive entropy (nats / token)",
    "token_entropy": "token entropy (nats)",
}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def confidence_interval(
    values: Sequence[float], confidence: float = 0.95
) -> tuple[float, float | None, float | None]:
    """Mean, sample standard deviation (ddof 1) and the half-width of the Student-t confidence interval.

    The interval is ``mean ± t_{(1+confidence)/2, n−1} · std / √n``. Non-finite values and ``None`` are dropped.

    Returns:
        ``(mean, std, half_width)``; ``std`` and ``half_width`` are ``None`` with fewer than two values, and the mean
        is NaN with none.
    """
    from scipy import stats

    kept = [float(v) for v in values if _finite(v)]
    n = len(kept)
    if n == 0:
        return math.nan, None, None
    mean = math.fsum(kept) / n
    if n < 2:
        return mean, None, None
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in kept) / (n - 1))
    half_width = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
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
    if with_beta and _finite(beta):
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
    groups = _configurations(rows)
    metrics = [m for m in SUMMARY_METRICS if any(_finite(row.get(m)) for row in rows)]
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


def _configurations(rows: Sequence[Mapping[str, Any]]) -> dict[tuple, list[Mapping[str, Any]]]:
    """The rows of each configuration (divergence, loss_type, beta), in first-seen order."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        beta = row.get("beta")
        key = (row.get("divergence"), row.get("loss_type") or "", float(beta) if _finite(beta) else None)
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
        if not _finite(member.get(metric)):
            continue
        run = replicates.get(str(member.get("run_id")), {})
        if metric not in run:
            return None
        found.append(run[metric])
    return found or None


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
        [v for v in values if _finite(v)], member_replicates(members, metric, replicates)
    )
    return {
        "mean": None if math.isnan(mean) else mean,
        "std": std,
        "ci95": half_width,
        "se": estimate.se,
        "se_seeds": estimate.se_seeds,
        "se_prompts": estimate.se_prompts,
    }


#: Bootstrap resamples of the prompt sets, and the seed that draws them (the same for every run of a sweep).
NUM_RESAMPLES = 1000
RESAMPLING_SEED = 0


def sweep_replicates(
    root: str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    *,
    num_resamples: int = NUM_RESAMPLES,
    seed: int = RESAMPLING_SEED,
) -> tuple[dict[str, dict[str, Replicates]], list[str]]:
    """Reads every run's ``runs/<run_id>/generations.jsonl`` and recomputes its metrics on resampled prompt sets.

    The per-sample fields a sweep saves with each generation (``reward_logit``, ``reward_prob``,
    ``predictive_entropy``, ``num_tokens``, ``policy_logp``, ``ref_logp``, the prompt and the completion) give the
    per-sample metrics; token entropy re-tokenizes the completions (or whole texts) with the tokenizer the sweep
    used (``sweep.json``: the SFT model's or the reward model's). A metric is left out for a run, with a note,
    when its values are not there (an older sweep, fewer generations kept than sampled) or when recomputing it
    from the generations does not give the run's own value in results.csv.

    Returns:
        ``(replicates, notes)``: per run id, per result column, the ``Replicates``; and one line per problem.
    """
    root = Path(root)
    config = _sweep_settings(root)
    notes: list[str] = []
    records: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        run_id = str(row.get("run_id"))
        path = root / "runs" / run_id / "generations.jsonl"
        if not path.is_file():
            notes.append(f"{run_id}: no generations.jsonl; its standard errors count seeds only.")
            continue
        loaded = read_jsonl(path)
        expected = row.get("num_eval_samples")
        if _finite(expected) and len(loaded) != int(expected):
            notes.append(
                f"{run_id}: generations.jsonl keeps {len(loaded)} of its {int(expected)} samples "
                "(evaluation.num_saved_generations); its standard errors count seeds only."
            )
            continue
        if loaded:
            records[run_id] = loaded
    prompt_sets = {run_id: frozenset(r.get("prompt") for r in recs) for run_id, recs in records.items()}
    if len(set(prompt_sets.values())) > 1:
        notes.append("The runs were evaluated on different prompts: no paired resampling; seeds only.")
        return {}, notes
    if not records:
        return {}, notes
    prompt_index = {prompt: i for i, prompt in enumerate(sorted(next(iter(prompt_sets.values())), key=str))}
    tokenizer, texts_field = (
        _entropy_tokenizer(config, notes)
        if any(_finite(row.get("token_entropy")) for row in rows)
        else (None, None)
    )
    samples = {
        run_id: _run_samples(recs, prompt_index, tokenizer, texts_field, row)
        for row in rows
        if (run_id := str(row.get("run_id"))) in records and (recs := records[run_id])
    }
    replicates = uncertainty.replicates_by_run(samples, num_resamples, seed)
    by_id = {str(row.get("run_id")): row for row in rows}
    for run_id, run in replicates.items():
        for column, replicate in list(run.items()):
            reported = by_id[run_id].get(column)
            if not _finite(reported):
                del run[column]
            elif not math.isclose(replicate.estimate, reported, rel_tol=1e-6, abs_tol=1e-9):
                del run[column]
                notes.append(
                    f"{run_id}: {column} recomputed from generations.jsonl is {replicate.estimate:.6g}, "
                    f"results.csv has {reported:.6g}; its standard error counts seeds only."
                )
    lacking = [
        column
        for column in (*uncertainty.PER_SAMPLE_METRICS, *uncertainty.POOLED_METRICS)
        if any(_finite(by_id[run_id].get(column)) and column not in run for run_id, run in replicates.items())
        and not any(column in note for note in notes)
    ]
    if lacking:
        notes.append(
            f"{', '.join(lacking)}: the saved generations lack the per-sample values (a sweep written by an "
            "earlier fdpo); their standard errors count seeds only."
        )
    return replicates, notes


def _sweep_settings(root: Path) -> dict[str, Any]:
    path = root / "sweep.json"
    return read_json(path).get("config", {}) if path.is_file() else {}


def _entropy_tokenizer(config: Mapping[str, Any], notes: list[str]):
    """The tokenizer token entropy was counted with, and whether it counted completions or whole texts."""
    evaluation = config.get("evaluation", {}) or {}
    which = evaluation.get("token_entropy_tokenizer", "policy")
    model = config.get("reward_model" if which == "reward" else "sft_model")
    texts_field = "texts" if evaluation.get("token_entropy_on", "completions") == "texts" else "completions"
    if not model:
        notes.append(
            "No sweep.json naming the model whose tokenizer counts token entropy: seeds only for it."
        )
        return None, texts_field
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model), texts_field
    except Exception as error:  # noqa: BLE001 — any failure to load only costs the prompt part of one metric
        notes.append(f"Could not load the tokenizer of {model} ({error}): token entropy counts seeds only.")
        return None, texts_field


def _run_samples(records, prompt_index, tokenizer, texts_field, row) -> uncertainty.RunSamples:
    """One run's generations as ``RunSamples``; a field absent from any record is left out."""

    def column(name: str, missing=None) -> np.ndarray | None:
        if any(name not in r for r in records):
            return None
        return np.array([missing if r[name] is None else r[name] for r in records], dtype=np.float64)

    log_ratios = None
    policy, reference = column("policy_logp"), column("ref_logp")
    if policy is not None and reference is not None:
        log_ratios = policy - reference
    elif row.get("kl_to_ref") == 0.0:
        log_ratios = np.zeros(len(records))  # the baseline: the policy is the reference
    token_ids = None
    if tokenizer is not None:
        texts = [
            (r.get("query", "") + r["completion"]) if texts_field == "texts" else r["completion"]
            for r in records
        ]
        encoded = tokenizer(texts, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        pad = tokenizer.pad_token_id
        token_ids = [[t for t in ids if t != pad] for ids in encoded] if pad is not None else encoded
    completions = [r["completion"] for r in records] if all("completion" in r for r in records) else None
    num_tokens = column("num_tokens")
    entropy = column("predictive_entropy", math.nan) if num_tokens is not None else None
    return uncertainty.RunSamples(
        np.array([prompt_index[r.get("prompt")] for r in records], dtype=np.int64),
        len(prompt_index),
        reward_logit=column("reward_logit"),
        reward_prob=column("reward_prob"),
        predictive_entropy=entropy,
        num_tokens=num_tokens,
        log_ratios=log_ratios,
        token_ids=token_ids,
        completions=completions,
    )


def summarize_sweep(
    root: str | os.PathLike,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict, list[str]]:
    """Reads a sweep's results.csv and generations and summarizes it with standard errors across seeds and
    prompts. Returns ``(rows, summary, replicates, notes)``."""
    root = Path(root)
    rows = read_csv(root / "results.csv")
    replicates, notes = sweep_replicates(root, rows)
    return rows, summarize(rows, replicates=replicates), replicates, notes


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates when both coordinates are maximized, sorted by x.

    Point i is dominated if some j has x_j ≥ x_i and y_j ≥ y_i with at least one strict; equal points do not
    dominate each other. Points with a non-finite coordinate are ignored.
    """
    valid = [i for i, (x, y) in enumerate(points) if _finite(x) and _finite(y)]
    front = []
    for i in valid:
        xi, yi = points[i]
        dominated = any(
            points[j][0] >= xi and points[j][1] >= yi and (points[j][0] > xi or points[j][1] > yi)
            for j in valid
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def _load_summary(summary: Sequence[Mapping[str, Any]] | str | os.PathLike) -> list[dict[str, Any]]:
    if isinstance(summary, (str, os.PathLike)):
        return read_csv(summary)
    return [dict(row) for row in summary]


def _column(metric: str, kind: str) -> str:
    return f"{summary_name(metric)}_{kind}"


@dataclass
class _Tradeoff:
    """What both plots draw: the summary rows and, by index into them, the points and their roles."""

    rows: list[dict[str, Any]]
    points: list[tuple[Any, Any]]  # (reward mean, diversity mean) of every row
    plotted: list[int]  # rows with both means finite
    trained: list[int]  # plotted rows other than the SFT baseline
    baseline: list[int]  # the SFT row, if plotted
    front: list[int]  # the Pareto frontier of ``trained``, by increasing reward
    x_bar: str  # the column of the error bars: <metric>_se, or <metric>_ci95 for an older summary.csv
    y_bar: str
    bar_text: str  # what the bars are, for the caption

    def label(self, i: int) -> str:
        return str(self.rows[i].get("label") or self.rows[i].get("divergence"))


def _tradeoff(summary, diversity: str, reward: str) -> _Tradeoff:
    if diversity not in DIVERSITY_MEASURES:
        raise ValueError(f"diversity={diversity!r}: use {' or '.join(map(repr, DIVERSITY_MEASURES))}.")
    if reward not in REWARD_MEASURES:
        raise ValueError(f"reward={reward!r}: use {' or '.join(map(repr, REWARD_MEASURES))}.")
    rows = _load_summary(summary)
    x_mean, y_mean = _column(reward, "mean"), _column(diversity, "mean")
    points = [(row.get(x_mean), row.get(y_mean)) for row in rows]
    plotted = [i for i, (x, y) in enumerate(points) if _finite(x) and _finite(y)]
    if not plotted:
        raise ValueError(
            f"No configuration has both {x_mean} and {y_mean}: nothing to plot. Was the metric "
            f"{diversity!r} left out of evaluation.metrics?"
        )
    trained = [i for i in plotted if rows[i].get("divergence") != BASELINE]
    baseline = [i for i in plotted if rows[i].get("divergence") == BASELINE]
    front = [trained[k] for k in pareto_front([points[i] for i in trained])]
    spread = _spread(rows)
    seeds = sorted({int(rows[i]["n"]) for i in trained if _finite(rows[i].get("n"))})
    seeds_text = "/".join(map(str, seeds)) if seeds else "the"
    bar_text = (
        f"mean over {seeds_text} seeds ± 1 standard error (seeds and evaluation prompts)"
        if spread == "se"
        else f"mean over {seeds_text} seeds ± 95% CI across seeds"
    )
    return _Tradeoff(
        rows,
        points,
        plotted,
        trained,
        baseline,
        front,
        _column(reward, spread),
        _column(diversity, spread),
        bar_text,
    )


#: One marker per configuration, in family order; the colour runs along the family too, so that both tell the
#: configurations apart (the marker survives grey-scale printing and colour blindness).
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h", "<", ">", "p", "d", "8", "H")
_PLOTLY_SYMBOLS = (
    "circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "hexagon", "triangle-left",
    "triangle-right", "pentagon", "diamond-wide", "octagon", "hexagon2",
)  # fmt: skip


def _bar(row: Mapping[str, Any], column: str) -> float | None:
    value = row.get(column)
    return float(value) if _finite(value) else None


def plot_tradeoff(
    summary: Sequence[Mapping[str, Any]] | str | os.PathLike,
    path: str | os.PathLike,
    diversity: str = "predictive_entropy",
    *,
    reward: str = "reward_logit",
    title: str | None = None,
) -> Path:
    """Writes a PNG of reward (x) against diversity (y), one point per configuration.

    Every configuration has its own marker and colour (the colour runs along the grid's order, reverse KL to
    forward KL in the paper's family), named in a legend beside the axes, so no label can hide a point. The thin,
    light bars are ±1 standard error across seeds and evaluation prompts (± the 95% CI across seeds for a
    summary.csv without standard errors), as the note under the title says. The dashed line joins the Pareto
    frontier of the trained configurations (more reward and more diversity are both better); the SFT baseline is a
    black star.

    Args:
        summary: rows of ``summarize`` or the path of a summary.csv.
        path: the PNG to write (atomically).
        diversity: ``"predictive_entropy"`` or ``"token_entropy"``.
        reward: ``"reward_logit"`` or ``"reward_prob"``.
    """
    from fdpo._io import atomic_open

    require("matplotlib", "study", "The reward-vs-diversity plot")

    figure = _tradeoff_figure(_tradeoff(summary, diversity, reward), diversity, reward, title)
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png")
    return path


def _tradeoff_figure(tradeoff: _Tradeoff, diversity: str, reward: str, title: str | None):
    """The matplotlib ``Figure`` of ``plot_tradeoff`` (Agg canvas: no display, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, points, plotted = tradeoff.rows, tradeoff.points, tradeoff.plotted
    trained, baseline, front = tradeoff.trained, tradeoff.baseline, tradeoff.front

    figure = Figure(figsize=(8.6, 5.4), dpi=130)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    cmap = _colormap(len(trained))
    if front:
        axes.plot(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            linestyle="--",
            color="0.55",
            linewidth=1.0,
            marker="o",
            markersize=15,
            markerfacecolor="none",
            markeredgecolor="0.6",
            markeredgewidth=1.0,
            label="Pareto frontier",
            zorder=1,
        )

    def draw(i: int, color, label: str, marker: str, size: float, alpha: float, zorder: int) -> None:
        axes.errorbar(
            points[i][0],
            points[i][1],
            xerr=_bar(rows[i], tradeoff.x_bar),
            yerr=_bar(rows[i], tradeoff.y_bar),
            fmt="none",
            ecolor=color,
            elinewidth=0.9,
            alpha=alpha,
            capsize=0,
            zorder=2,
        )
        axes.plot(
            points[i][0],
            points[i][1],
            marker=marker,
            markersize=size,
            markerfacecolor=color,
            markeredgecolor="white",
            markeredgewidth=0.7,
            linestyle="none",
            label=label,
            zorder=zorder,
        )

    for rank, i in enumerate(trained):
        draw(i, cmap(rank), tradeoff.label(i), _MARKERS[rank % len(_MARKERS)], 9, 0.45, 3)
    for i in baseline:
        draw(i, "black", "SFT baseline", "*", 15, 0.35, 4)
    axes.set_xlabel(_AXIS_LABELS[reward])
    axes.set_ylabel(_AXIS_LABELS[diversity])
    axes.set_title(title or "Reward–diversity trade-off", fontsize=11, loc="left", pad=18)
    axes.text(0.0, 1.015, tradeoff.bar_text, transform=axes.transAxes, fontsize=8, color="0.35", va="bottom")
    axes.grid(True, alpha=0.25)
    clipped = False
    for axis, means, bars in (
        ("x", [points[i][0] for i in plotted], [_bar(rows[i], tradeoff.x_bar) for i in plotted]),
        ("y", [points[i][1] for i in plotted], [_bar(rows[i], tradeoff.y_bar) for i in plotted]),
    ):
        low, high, cut = _axis_limits(means, bars)
        clipped |= cut
        (axes.set_xlim if axis == "x" else axes.set_ylim)(low, high)
    if clipped:
        # An interval many times the spread of the means would squeeze the points together; the axes follow the
        # means so that the points stay readable, and say so.
        axes.annotate(
            "some error bars extend beyond the axes",
            xy=(0.01, 0.01),
            xycoords="axes fraction",
            fontsize=7.5,
            color="0.4",
        )
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False, borderaxespad=0.0)
    figure.tight_layout()
    return figure


def plot_tradeoff_html(
    summary: Sequence[Mapping[str, Any]] | str | os.PathLike,
    path: str | os.PathLike,
    diversity: str = "predictive_entropy",
    *,
    reward: str = "reward_logit",
    title: str | None = None,
) -> Path:
    """Writes the plot of ``plot_tradeoff`` as a self-contained interactive HTML page (plotly.js embedded, so it
    opens offline): one legend entry, marker and colour per configuration (click one to hide it), and hovering a
    point shows its configuration, every summary metric with its standard error, and its run count.

    Needs plotly: ``pip install "fdpo[study]"``. Arguments as for ``plot_tradeoff``.
    """
    go = require("plotly.graph_objects", "study", "The interactive HTML plot")
    to_hex = require("matplotlib.colors", "study", "The interactive HTML plot").to_hex

    tradeoff = _tradeoff(summary, diversity, reward)
    rows, points = tradeoff.rows, tradeoff.points
    spread = "se" if tradeoff.y_bar.endswith("_se") else "ci95"

    def hover(row: Mapping[str, Any]) -> str:
        lines = [f"<b>{row.get('label') or row.get('divergence')}</b>"]
        lines += [f"{key}: {row[key]}" for key in (*_GROUP_KEYS, "n") if row.get(key) not in (None, "")]
        for metric in SUMMARY_METRICS:
            mean = row.get(_column(metric, "mean"))
            if _finite(mean):
                lines.append(f"{summary_name(metric)}: {_format(mean, row.get(_column(metric, spread)))}")
        return "<br>".join(lines)

    def errors(i: int, column: str) -> dict[str, Any]:
        value = _bar(rows[i], column)
        return {"type": "data", "array": [value or 0.0], "visible": True, "thickness": 1, "width": 0}

    def point(i: int, name: str, marker: dict[str, Any]):
        return go.Scatter(
            x=[points[i][0]],
            y=[points[i][1]],
            error_x={**errors(i, tradeoff.x_bar), "color": marker["color"]},
            error_y={**errors(i, tradeoff.y_bar), "color": marker["color"]},
            mode="markers",
            marker={**marker, "line": {"color": "white", "width": 1}},
            hovertext=[hover(rows[i])],
            hoverinfo="text",
            name=name,
        )

    figure = go.Figure()
    if tradeoff.front:
        figure.add_trace(
            go.Scatter(
                x=[points[i][0] for i in tradeoff.front],
                y=[points[i][1] for i in tradeoff.front],
                mode="lines",
                line={"dash": "dash", "color": "gray", "width": 1},
                hoverinfo="skip",
                name="Pareto frontier",
            )
        )
    cmap = _colormap(len(tradeoff.trained))
    for rank, i in enumerate(tradeoff.trained):
        symbol = _PLOTLY_SYMBOLS[rank % len(_PLOTLY_SYMBOLS)]
        figure.add_trace(
            point(i, tradeoff.label(i), {"symbol": symbol, "size": 12, "color": to_hex(cmap(rank))})
        )
    for i in tradeoff.baseline:
        figure.add_trace(point(i, "SFT baseline", {"symbol": "star", "size": 16, "color": "black"}))
    figure.update_layout(
        title=f"{title or 'Reward–diversity trade-off'}<br><sup>{tradeoff.bar_text}</sup>",
        xaxis_title=_AXIS_LABELS[reward],
        yaxis_title=_AXIS_LABELS[diversity],
        template="plotly_white",
    )
    return write_text(path, figure.to_html(include_plotlyjs=True, full_html=True))


def _axis_limits(means: Sequence[float], bars: Sequence[Any]) -> tuple[float, float, bool]:
    """Axis limits around ``means``: their range padded by 12%, widened to show each error bar up to half a range
    more on either side. Returns ``(low, high, clipped)``, ``clipped`` when an error bar reaches beyond the
    limits."""
    low, high = min(means), max(means)
    span = high - low or max(abs(high), 1.0) * 0.1
    bar_low = min(m - (c if _finite(c) else 0.0) for m, c in zip(means, bars, strict=True))
    bar_high = max(m + (c if _finite(c) else 0.0) for m, c in zip(means, bars, strict=True))
    lower = max(min(low - 0.12 * span, bar_low - 0.04 * span), low - 0.5 * span)
    upper = min(max(high + 0.12 * span, bar_high + 0.04 * span), high + 0.5 * span)
    return lower, upper, bar_low < lower or bar_high > upper


def _colormap(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return lambda rank: cmap(0.9 * rank / max(n - 1, 1))


def _format(mean: Any, ci: Any, digits: int = 3) -> str:
    if not _finite(mean):
        return "–"
    text = f"{mean:.{digits}f}"
    if _finite(ci):
        text += f" ± {ci:.{digits}f}"
    return text


_TABLE_COLUMNS = (
    ("reward (logit)", "reward_logit"),
    ("reward (prob)", "reward_prob"),
    ("pred. entropy", "predictive_entropy"),
    ("token entropy", "token_entropy"),
    ("distinct-1", "distinct_1"),
    ("distinct-2", "distinct_2"),
    ("KL to ref", "kl_to_ref"),
    ("self-BLEU", "self_bleu"),
    ("train s", "train_seconds"),
)


def _spread(rows: Sequence[Mapping[str, Any]]) -> str:
    """``se`` for a summary with standard errors (this version's), ``ci95`` for an older summary.csv."""
    return "se" if any(key.endswith("_se") for row in rows for key in row) else "ci95"


def markdown_table(summary: Sequence[Mapping[str, Any]] | str | os.PathLike, digits: int = 3) -> str:
    """The summary as a markdown table: one line per configuration, cells ``mean ± standard error`` across seeds
    and prompts (``mean ± 95% CI half-width`` across seeds for a summary.csv without ``_se`` columns)."""
    rows = _load_summary(summary)
    spread = _spread(rows)
    columns = [
        (title, metric)
        for title, metric in _TABLE_COLUMNS
        if any(_finite(r.get(f"{metric}_mean")) for r in rows)
    ]
    header = ["configuration", "loss", "β", "n", *(title for title, _ in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * len(columns)) + "|"]
    for row in rows:
        beta = row.get("beta")
        cells = [
            str(row.get("label") or row.get("divergence")),
            str(row.get("loss_type") or ""),
            f"{float(beta):g}" if _finite(beta) else "",
            str(row.get("n", "")),
        ]
        cells += [
            _format(row.get(f"{metric}_mean"), row.get(f"{metric}_{spread}"), digits) for _, metric in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# The verdict

_FAMILY_ENDS = ("reverse_kl", "forward_kl")


def _in_family(divergence: Any) -> bool:
    return divergence in ("reverse_kl", "jensen_shannon", "forward_kl") or str(divergence).startswith(
        "alpha:"
    )


@dataclass(frozen=True)
class Verdict:
    """The claims of ``uncertainty.CLAIMS`` judged along one family (one loss type): ``labels`` in family order,
    from reverse KL to forward KL; ``reason`` says why there is no verdict (then ``claims`` is empty)."""

    loss_type: str
    labels: tuple[str, ...]
    claims: tuple[uncertainty.ClaimVerdict, ...] = ()
    reason: str = ""


def verdict(
    rows: Sequence[Mapping[str, Any]], replicates: Mapping[str, Mapping[str, Replicates]] | None = None
) -> list[Verdict]:
    """Judges the paper's trade-off along the sweep's family of divergences, one ``Verdict`` per loss type.

    The family is the sweep's reverse KL, JS, α and forward KL configurations in the order the results list them
    (the grid's order), which must run from ``reverse_kl`` to ``forward_kl`` (or the other way: then it is
    reversed); other divergences are left out. Each claim of ``uncertainty.CLAIMS`` is judged by
    ``uncertainty.judge`` from the configuration means and the forward-KL-minus-reverse-KL gap in standard errors
    (seeds and, with ``replicates``, paired prompt resampling). No verdict, with the reason, when an end is
    missing, an end has fewer than two seeds, or a divergence appears with several β in one loss type.
    """
    groups = {key: members for key, members in _configurations(rows).items() if _in_family(key[0])}
    loss_types = list(dict.fromkeys(key[1] for key in groups))
    if not loss_types:
        return [Verdict("", (), reason="The sweep has no reverse KL, JS, α or forward KL configuration.")]
    verdicts = []
    for loss_type in loss_types:
        keys = [key for key in groups if key[1] == loss_type]
        labels = tuple(configuration_label(key[0]) for key in keys)
        divergences = [key[0] for key in keys]
        missing = [name for name in _FAMILY_ENDS if name not in divergences]
        reason = ""
        if missing:
            reason = (
                f"no {' and no '.join(missing)} configuration: the claims compare the ends of the family reverse "
                "KL → forward KL. Add the missing end to grid.divergences."
            )
        elif len(set(divergences)) < len(divergences):
            reason = (
                "a divergence appears with several β: the family is ambiguous. Report one β per divergence."
            )
        elif divergences[0] == "forward_kl" and divergences[-1] == "reverse_kl":
            keys.reverse()
            labels = labels[::-1]
        elif divergences[0] != "reverse_kl" or divergences[-1] != "forward_kl":
            reason = (
                f"the grid lists {' → '.join(labels)}: order grid.divergences from reverse_kl to forward_kl "
                "(the family's positions are the grid's order)."
            )
        if not reason and min(len(groups[keys[0]]), len(groups[keys[-1]])) < 2:
            reason = "the ends need at least two seeds each for a seed-to-seed error. Add seeds (grid.seeds)."
        if reason:
            verdicts.append(Verdict(loss_type, labels, reason=f"No verdict: {reason}"))
            continue
        claims = []
        for claim in uncertainty.CLAIMS:
            values = [
                [m.get(claim.metric) for m in groups[key] if _finite(m.get(claim.metric))] for key in keys
            ]
            if any(len(v) == 0 for v in values):
                claims.append(uncertainty.ClaimVerdict(claim, "no verdict", reason="not measured"))
                continue
            ends = [groups[keys[0]], groups[keys[-1]]]
            end_replicates = [member_replicates(members, claim.metric, replicates) for members in ends]
            end_gap = uncertainty.gap(values[0], values[-1], *end_replicates)
            claims.append(uncertainty.judge(claim, [float(np.mean(v)) for v in values], end_gap))
        verdicts.append(Verdict(loss_type, labels, tuple(claims)))
    return verdicts


def _signed(value: float, digits: int = 2) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def verdict_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """The verdicts as text, one line per claim (markdown list items), preceded by what the family is and the rule."""
    lines = []
    for family in verdicts:
        loss = f" ({family.loss_type} loss)" if family.loss_type and len(verdicts) > 1 else ""
        if family.reason:
            lines.append(f"{family.reason}{loss}")
            continue
        lines.append(
            f"Along {' → '.join(family.labels)}{loss}: a claim holds when the Spearman ρ of the configuration "
            f"means with the position has the claimed sign and |ρ| ≥ {uncertainty.RHO_THRESHOLD:g}, and "
            f"{family.labels[-1]} − {family.labels[0]} is at least {uncertainty.GAP_THRESHOLD:g} standard errors "
            "(seeds and paired prompt resampling) in the claimed direction; reversed when both hold the other way."
        )
        for judged in family.claims:
            if judged.outcome == "no verdict":
                lines.append(f"- {judged.claim.text}: no verdict ({judged.reason})")
                continue
            end_gap = judged.gap
            parts = "seeds only" if end_gap.se_prompts is None else "seeds and prompts"
            se = "–" if end_gap.se is None else f"{end_gap.se:.3g}"
            z = "–" if math.isnan(end_gap.z) else _signed(end_gap.z, 1)
            rho = "–" if math.isnan(judged.rho) else _signed(judged.rho)
            lines.append(
                f"- {judged.claim.text}: **{judged.outcome}** — ρ = {rho}; {family.labels[-1]} − "
                f"{family.labels[0]} = {_signed(end_gap.value, 3)} ± {se} ({parts}), {z} SE"
            )
    return lines


_VERDICT_HEADING = "## Verdict"


def read_verdict(output_dir: str | os.PathLike) -> list[str]:
    """The verdict lines ``write_report`` wrote into ``output_dir``/report.md (none if it has no Verdict section):
    what ``fdpo sweep`` and ``fdpo demo`` print after the table, without recomputing them."""
    path = Path(output_dir) / "report.md"
    if not path.is_file():
        return []
    _, found, after = path.read_text(encoding="utf-8").partition(f"\n{_VERDICT_HEADING}\n\n")
    return after.split("\n\n", 1)[0].splitlines() if found else []


def write_report(
    output_dir: str | os.PathLike,
    *,
    diversity: str = "predictive_entropy",
    reward: str = "reward_logit",
    title: str | None = None,
    html: bool = False,
) -> dict[str, Any]:
    """Writes summary.csv, tradeoff.png and report.md for a sweep directory.

    summary.csv is rebuilt from results.csv and the runs' generations (standard errors across seeds and prompts)
    when results.csv exists; a directory holding only a summary.csv is reported from it, without a verdict.
    report.md holds the table, the verdict on the paper's trade-off (``verdict``), notes on runs whose standard
    errors count seeds only, and the plot. With ``html``, also tradeoff.html, the interactive plot (needs plotly).

    Returns:
        ``{"plot", "markdown", "summary"}`` (paths), ``"html"`` with ``html``, and ``"verdict"``: the verdict lines.
    """
    root = Path(output_dir)
    summary_path = root / "summary.csv"
    results_path = root / "results.csv"
    notes: list[str] = []
    if results_path.is_file():
        rows, summary, replicates, notes = summarize_sweep(root)
        write_csv(summary_path, summary)
        lines = verdict_lines(verdict(rows, replicates))
    elif summary_path.is_file():
        summary = read_csv(summary_path)
        lines = ["No verdict: the directory has no results.csv (one row per run) to judge from."]
    else:
        raise FileNotFoundError(
            f"{root} has neither summary.csv nor results.csv: run a sweep into it first (fdpo sweep CONFIG "
            f"--output-dir {root})."
        )
    plot = plot_tradeoff(summary, root / "tradeoff.png", diversity=diversity, reward=reward, title=title)
    if _spread(summary) == "se":
        legend = (
            "Mean over seeds ± one standard error that counts both the seed-to-seed variation and the choice of "
            "evaluation prompts (a paired bootstrap over prompts for per-sample metrics, a delete-one-prompt "
            "jackknife for the pooled token entropy and distinct-n; summary.csv has both parts and the 95% "
            "Student-t interval across seeds). `n` runs per configuration."
        )
    else:
        legend = "Mean ± half-width of the 95% confidence interval across seeds (Student t); `n` runs per configuration."
    text = f"# {title or 'Sweep report'}\n\n{legend}\n\n{markdown_table(summary)}\n{_VERDICT_HEADING}\n\n"
    text += "\n".join(lines) + "\n"
    if notes:
        text += "\n**Notes on the standard errors**\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    text += f"\n![reward vs {diversity}](tradeoff.png)\n"
    markdown = write_text(root / "report.md", text)
    paths: dict[str, Any] = {"plot": plot, "markdown": markdown, "summary": summary_path, "verdict": lines}
    if html:
        paths["html"] = plot_tradeoff_html(
            summary, root / "tradeoff.html", diversity=diversity, reward=reward, title=title
        )
    return paths
