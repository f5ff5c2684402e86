"""The reward-vs-diversity plot of a summary: a PNG with matplotlib (Agg canvas: no display, no global backend
switch) or an interactive HTML page with plotly; both import their library only when called."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdpo._io import write_text
from fdpo._optional import require
from fdpo.report.summary import (
    BASELINE,
    GROUP_KEYS,
    SUMMARY_METRICS,
    finite,
    format_cell,
    load_summary,
    spread_kind,
    summary_column,
    summary_name,
)
from fdpo.settings import DIVERSITY_MEASURES, REWARD_MEASURES

_AXIS_LABELS = {
    "reward_logit": "reward (positive-class logit)",
    "reward_prob": "reward (positive-class probability)",
    "predictive_entropy": "predictive entropy (nats / token)",
    "token_entropy": "token entropy (nats)",
    "sequence_entropy": "sequence entropy (nats / completion)",
    "entropy_rate": "entropy rate (nats / token)",
    "prefix_entropy": "prefix entropy (nats)",
    "distinct_2_rarefied": "distinct-2, rarefied",
    "within_prompt_diversity": "within-prompt diversity",
}


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates when both coordinates are maximized, sorted by x.

    Point i is dominated if some j has x_j ≥ x_i and y_j ≥ y_i with at least one strict; equal points do not
    dominate each other. Points with a non-finite coordinate are ignored.
    """
    valid = [i for i, (x, y) in enumerate(points) if finite(x) and finite(y)]
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
    rows = load_summary(summary)
    x_mean, y_mean = summary_column(reward, "mean"), summary_column(diversity, "mean")
    points = [(row.get(x_mean), row.get(y_mean)) for row in rows]
    plotted = [i for i, (x, y) in enumerate(points) if finite(x) and finite(y)]
    if not plotted:
        raise ValueError(
            f"No configuration has both {x_mean} and {y_mean}: nothing to plot. Was the metric "
            f"{diversity!r} left out of evaluation.metrics?"
        )
    trained = [i for i in plotted if rows[i].get("divergence") != BASELINE]
    baseline = [i for i in plotted if rows[i].get("divergence") == BASELINE]
    front = [trained[k] for k in pareto_front([points[i] for i in trained])]
    spread = spread_kind(rows)
    seeds = sorted({int(rows[i]["n"]) for i in trained if finite(rows[i].get("n"))})
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
        summary_column(reward, spread),
        summary_column(diversity, spread),
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
    return float(value) if finite(value) else None


def plot_tradeoff(
    summary: Sequence[Mapping[str, Any]] | str | os.PathLike,
    path: str | os.PathLike,
    diversity: str = "predictive_entropy",
    *,
    reward: str = "reward_logit",
    title: str | None = None,
    html: bool = False,
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
        diversity: one of ``DIVERSITY_MEASURES``.
        reward: ``"reward_logit"`` or ``"reward_prob"``.
        html: write the interactive page of ``plot_tradeoff_html`` instead.
    """
    from fdpo._io import atomic_open

    if html:
        require("plotly.graph_objects", "study", "The interactive HTML plot")
        require("matplotlib.colors", "study", "The interactive HTML plot")
    else:
        require("matplotlib", "study", "The reward-vs-diversity plot")
    tradeoff = _tradeoff(summary, diversity, reward)
    if html:
        page = _plotly_figure(tradeoff, diversity, reward, title).to_html(
            include_plotlyjs=True, full_html=True
        )
        return write_text(path, page)
    figure = _tradeoff_figure(tradeoff, diversity, reward, title)
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png")
    return path


def plot_tradeoff_html(
    summary: Sequence[Mapping[str, Any]] | str | os.PathLike,
    path: str | os.PathLike,
    *args: Any,
    **kwargs: Any,
) -> Path:
    """Writes the plot of ``plot_tradeoff`` as a self-contained interactive HTML page (plotly.js embedded, so it
    opens offline): one legend entry, marker and colour per configuration (click one to hide it), and hovering a
    point shows its configuration, every summary metric with its standard error, and its run count.

    Needs plotly: ``pip install "fdpo[study]"``. Arguments as for ``plot_tradeoff``.
    """
    return plot_tradeoff(summary, path, *args, html=True, **kwargs)


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


def _plotly_figure(tradeoff: _Tradeoff, diversity: str, reward: str, title: str | None):
    """The plotly ``Figure`` of ``plot_tradeoff_html``."""
    import plotly.graph_objects as go
    from matplotlib.colors import to_hex

    rows, points = tradeoff.rows, tradeoff.points
    spread = "se" if tradeoff.y_bar.endswith("_se") else "ci95"

    def hover(row: Mapping[str, Any]) -> str:
        lines = [f"<b>{row.get('label') or row.get('divergence')}</b>"]
        lines += [f"{key}: {row[key]}" for key in (*GROUP_KEYS, "n") if row.get(key) not in (None, "")]
        for metric in SUMMARY_METRICS:
            mean = row.get(summary_column(metric, "mean"))
            if finite(mean):
                lines.append(
                    f"{summary_name(metric)}: {format_cell(mean, row.get(summary_column(metric, spread)))}"
                )
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
                mode="lines+markers",  # ringed, as in the PNG
                line={"dash": "dash", "color": "gray", "width": 1},
                marker={"symbol": "circle-open", "size": 22, "color": "gray", "line": {"width": 1}},
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
    return figure


def _axis_limits(means: Sequence[float], bars: Sequence[Any]) -> tuple[float, float, bool]:
    """Axis limits around ``means``: their range padded by 12%, widened to show each error bar up to half a range
    more on either side. Returns ``(low, high, clipped)``, ``clipped`` when an error bar reaches beyond the
    limits."""
    low, high = min(means), max(means)
    span = high - low or max(abs(high), 1.0) * 0.1
    bar_low = min(m - (c if finite(c) else 0.0) for m, c in zip(means, bars, strict=True))
    bar_high = max(m + (c if finite(c) else 0.0) for m, c in zip(means, bars, strict=True))
    lower = max(min(low - 0.12 * span, bar_low - 0.04 * span), low - 0.5 * span)
    upper = min(max(high + 0.12 * span, bar_high + 0.04 * span), high + 0.5 * span)
    return lower, upper, bar_low < lower or bar_high > upper


def _colormap(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return lambda rank: cmap(0.9 * rank / max(n - 1, 1))
