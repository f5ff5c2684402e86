"""Tables and the reward-vs-diversity plot of a sweep.

``summarize`` turns results rows (one per run) into one row per configuration (divergence × loss_type × β) with
mean, standard deviation and the half-width of a 95% Student-t confidence interval across seeds. ``plot_tradeoff``
draws reward against diversity with those intervals as error bars, the Pareto frontier of the trained
configurations and the SFT baseline (``plot_tradeoff_html``: the same plot, interactive, with plotly);
``markdown_table`` prints the summary; ``write_report`` writes them for a sweep directory. Only matplotlib's Agg
canvas is used (no display, no global backend switch).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdpo._io import read_csv, write_csv, write_text
from fdpo._optional import require
from fdpo.evaluation import DIVERSITY_MEASURES, METRIC_COLUMNS, REWARD_MEASURES

__all__ = [
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


def summarize(rows: Sequence[Mapping[str, Any]], confidence: float = 0.95) -> list[dict[str, Any]]:
    """One row per configuration (divergence, loss_type, beta), in first-seen order.

    Columns: divergence, loss_type, beta, label, n (number of runs), then for each metric of ``SUMMARY_METRICS``
    present in ``rows``: ``<name>_mean``, ``<name>_std`` and ``<name>_ci95`` (the half-width of the 95% CI across
    seeds; empty with one seed), where ``<name>`` is the metric without a trailing ``_mean`` (``reward_logit_mean``
    of a run becomes ``reward_logit_mean``, ``reward_logit_std``, ``reward_logit_ci95`` of a configuration).
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        beta = row.get("beta")
        key = (row.get("divergence"), row.get("loss_type") or "", float(beta) if _finite(beta) else None)
        groups.setdefault(key, []).append(row)
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
            mean, std, half_width = confidence_interval([m.get(metric) for m in members], confidence)
            name = summary_name(metric)
            out[f"{name}_mean"] = None if math.isnan(mean) else mean
            out[f"{name}_std"] = std
            out[f"{name}_ci95"] = half_width
        summary.append(out)
    return summary


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
    x_ci: str
    y_ci: str


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
    return _Tradeoff(
        rows, points, plotted, trained, baseline, front, _column(reward, "ci95"), _column(diversity, "ci95")
    )


def plot_tradeoff(
    summary: Sequence[Mapping[str, Any]] | str | os.PathLike,
    path: str | os.PathLike,
    diversity: str = "predictive_entropy",
    *,
    reward: str = "reward_logit",
    title: str | None = None,
) -> Path:
    """Writes a PNG of reward (x) against diversity (y), one labelled point per configuration.

    Error bars are the 95% CIs across seeds (none for a single seed); the dashed line joins the Pareto frontier of
    the trained configurations (more reward and more diversity are both better); the SFT baseline is a star.

    Args:
        summary: rows of ``summarize`` or the path of a summary.csv.
        path: the PNG to write (atomically).
        diversity: ``"predictive_entropy"`` or ``"token_entropy"``.
        reward: ``"reward_logit"`` or ``"reward_prob"``.
    """
    require("matplotlib", "study", "The reward-vs-diversity plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from fdpo._io import atomic_open

    tradeoff = _tradeoff(summary, diversity, reward)
    rows, points, plotted = tradeoff.rows, tradeoff.points, tradeoff.plotted
    trained, baseline, front = tradeoff.trained, tradeoff.baseline, tradeoff.front
    x_ci, y_ci = tradeoff.x_ci, tradeoff.y_ci

    figure = Figure(figsize=(7.0, 5.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    cmap = _colormap(len(trained))
    for rank, i in enumerate(trained):
        row = rows[i]
        xerr = row.get(x_ci) if _finite(row.get(x_ci)) else None
        yerr = row.get(y_ci) if _finite(row.get(y_ci)) else None
        axes.errorbar(
            points[i][0],
            points[i][1],
            xerr=xerr,
            yerr=yerr,
            fmt="o",
            color=cmap(rank),
            ecolor=cmap(rank),
            elinewidth=1,
            capsize=3,
            markersize=6,
            zorder=3,
        )
        axes.annotate(
            row.get("label") or str(row.get("divergence")),
            points[i],
            textcoords="offset points",
            xytext=(6, 5 if rank % 2 == 0 else -13),
            fontsize=9,
            zorder=4,
        )
    if front:
        axes.plot(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            linestyle="--",
            color="0.35",
            linewidth=1.2,
            marker="o",
            markerfacecolor="none",
            markersize=11,
            label="Pareto frontier",
            zorder=2,
        )
    for i in baseline:
        axes.plot(
            points[i][0],
            points[i][1],
            marker="*",
            markersize=15,
            color="black",
            linestyle="none",
            label="SFT baseline",
            zorder=5,
        )
        axes.annotate(
            "SFT", points[i], textcoords="offset points", xytext=(7, -12), fontsize=9, weight="bold"
        )
    axes.set_xlabel(_AXIS_LABELS[reward])
    axes.set_ylabel(_AXIS_LABELS[diversity])
    axes.set_title(title or "Reward–diversity trade-off (mean ± 95% CI across seeds)")
    axes.grid(True, alpha=0.3)
    clipped = False
    for axis, means, cis in (
        ("x", [points[i][0] for i in plotted], [rows[i].get(x_ci) for i in plotted]),
        ("y", [points[i][1] for i in plotted], [rows[i].get(y_ci) for i in plotted]),
    ):
        low, high, cut = _axis_limits(means, cis)
        clipped |= cut
        (axes.set_xlim if axis == "x" else axes.set_ylim)(low, high)
    if clipped:
        # With two or three seeds a t interval can be many times the spread of the means; the axes follow the
        # means so that the points stay readable, and say so.
        axes.annotate(
            "some 95% CIs extend beyond the axes (few seeds)",
            xy=(0.01, 0.01),
            xycoords="axes fraction",
            fontsize=8,
            color="0.4",
        )
    axes.legend(loc="best", fontsize=9)
    figure.tight_layout()
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png")
    return path


def plot_tradeoff_html(
    summary: Sequence[Mapping[str, Any]] | str | os.PathLike,
    path: str | os.PathLike,
    diversity: str = "predictive_entropy",
    *,
    reward: str = "reward_logit",
    title: str | None = None,
) -> Path:
    """Writes the plot of ``plot_tradeoff`` as a self-contained interactive HTML page (plotly.js embedded, so it
    opens offline): hovering a point shows its configuration, every summary metric with its CI, and its run count.

    Needs plotly: ``pip install "fdpo[study]"``. Arguments as for ``plot_tradeoff``.
    """
    go = require("plotly.graph_objects", "study", "The interactive HTML plot")

    tradeoff = _tradeoff(summary, diversity, reward)
    rows, points = tradeoff.rows, tradeoff.points

    def hover(row: Mapping[str, Any]) -> str:
        lines = [f"<b>{row.get('label') or row.get('divergence')}</b>"]
        lines += [f"{key}: {row[key]}" for key in (*_GROUP_KEYS, "n") if row.get(key) not in (None, "")]
        for metric in SUMMARY_METRICS:
            mean = row.get(_column(metric, "mean"))
            if _finite(mean):
                lines.append(f"{summary_name(metric)}: {_format(mean, row.get(_column(metric, 'ci95')))}")
        return "<br>".join(lines)

    def scatter(indices: list[int], name: str, **style: Any):
        return go.Scatter(
            x=[points[i][0] for i in indices],
            y=[points[i][1] for i in indices],
            error_x=_plotly_errors(rows, indices, tradeoff.x_ci),
            error_y=_plotly_errors(rows, indices, tradeoff.y_ci),
            mode="markers+text",
            text=[rows[i].get("label") or str(rows[i].get("divergence")) for i in indices],
            hovertext=[hover(rows[i]) for i in indices],
            hoverinfo="text",
            name=name,
            **style,
        )

    figure = go.Figure()
    if tradeoff.trained:
        figure.add_trace(
            scatter(
                tradeoff.trained,
                "configurations",
                textposition="top right",
                marker={"size": 10, "color": list(range(len(tradeoff.trained))), "colorscale": "Viridis"},
            )
        )
    if tradeoff.front:
        figure.add_trace(
            go.Scatter(
                x=[points[i][0] for i in tradeoff.front],
                y=[points[i][1] for i in tradeoff.front],
                mode="lines",
                line={"dash": "dash", "color": "gray"},
                hoverinfo="skip",
                name="Pareto frontier",
            )
        )
    if tradeoff.baseline:
        figure.add_trace(
            scatter(
                tradeoff.baseline,
                "SFT baseline",
                textposition="bottom right",
                marker={"symbol": "star", "size": 16, "color": "black"},
            )
        )
    figure.update_layout(
        title=title or "Reward–diversity trade-off (mean ± 95% CI across seeds)",
        xaxis_title=_AXIS_LABELS[reward],
        yaxis_title=_AXIS_LABELS[diversity],
        template="plotly_white",
    )
    return write_text(path, figure.to_html(include_plotlyjs=True, full_html=True))


def _plotly_errors(rows: Sequence[Mapping[str, Any]], indices: Sequence[int], column: str) -> dict[str, Any]:
    values = [rows[i].get(column) for i in indices]
    return {"type": "data", "array": [value if _finite(value) else 0.0 for value in values], "visible": True}


def _axis_limits(means: Sequence[float], cis: Sequence[Any]) -> tuple[float, float, bool]:
    """Axis limits around ``means``: their range padded by 15%, widened to show each error bar up to one more range
    on either side. Returns ``(low, high, clipped)``, ``clipped`` when an error bar reaches beyond the limits."""
    low, high = min(means), max(means)
    span = high - low or max(abs(high), 1.0) * 0.1
    bar_low = min(m - (c if _finite(c) else 0.0) for m, c in zip(means, cis, strict=True))
    bar_high = max(m + (c if _finite(c) else 0.0) for m, c in zip(means, cis, strict=True))
    lower = max(min(low - 0.15 * span, bar_low - 0.05 * span), low - span)
    upper = min(max(high + 0.15 * span, bar_high + 0.05 * span), high + span)
    return lower, upper, bar_low < lower or bar_high > upper


def _colormap(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return lambda rank: cmap(0.05 + 0.85 * rank / max(n - 1, 1))


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


def markdown_table(summary: Sequence[Mapping[str, Any]] | str | os.PathLike, digits: int = 3) -> str:
    """The summary as a markdown table: one line per configuration, cells ``mean ± 95% CI half-width``."""
    rows = _load_summary(summary)
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
            _format(row.get(f"{metric}_mean"), row.get(f"{metric}_ci95"), digits) for _, metric in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    output_dir: str | os.PathLike,
    *,
    diversity: str = "predictive_entropy",
    reward: str = "reward_logit",
    title: str | None = None,
    html: bool = False,
) -> dict[str, Path]:
    """Writes tradeoff.png and report.md for a sweep directory (summary.csv, made from results.csv if missing).

    With ``html``, also tradeoff.html, the interactive version of the plot (needs plotly).

    Returns:
        the paths written: ``{"plot": ..., "markdown": ..., "summary": ...}``, and ``"html"`` with ``html``.
    """
    root = Path(output_dir)
    summary_path = root / "summary.csv"
    if not summary_path.is_file():
        results_path = root / "results.csv"
        if not results_path.is_file():
            raise FileNotFoundError(
                f"{root} has neither summary.csv nor results.csv: run a sweep into it first (fdpo sweep CONFIG "
                f"--output-dir {root})."
            )
        write_csv(summary_path, summarize(read_csv(results_path)))
    summary = read_csv(summary_path)
    plot = plot_tradeoff(summary, root / "tradeoff.png", diversity=diversity, reward=reward, title=title)
    table = markdown_table(summary)
    text = (
        f"# {title or 'Sweep report'}\n\n"
        f"Mean ± half-width of the 95% confidence interval across seeds (Student t); `n` runs per configuration.\n\n"
        f"{table}\n![reward vs {diversity}](tradeoff.png)\n"
    )
    markdown = write_text(root / "report.md", text)
    paths = {"plot": plot, "markdown": markdown, "summary": summary_path}
    if html:
        paths["html"] = plot_tradeoff_html(
            summary, root / "tradeoff.html", diversity=diversity, reward=reward, title=title
        )
    return paths
