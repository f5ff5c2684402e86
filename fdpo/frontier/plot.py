"""The frontier plot: reward against each diversity measure, every configuration with its interval, the fronts."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fdpo._io import atomic_open
from fdpo._optional import require
from fdpo.frontier.table import DOMINANCE_MEASURES
from fdpo.report import pareto_front
from fdpo.report.curves import mean_curves
from fdpo.report.summary import finite

__all__ = ["curve_means", "plot_frontier"]

_LABELS = {
    "reward": "reward (positive-class logit)",
    "predictive_entropy": "predictive entropy (nats / token)",
    "token_entropy": "token entropy (nats)",
    "distinct_2": "distinct-2",
}
_LEVER_STYLE = {  # marker, colour
    "sft": ("s", "black"),
    "divergence": ("o", "tab:blue"),
    "divpo": ("D", "tab:red"),
    "temperature": ("^", "tab:orange"),
    "interpolation": ("v", "tab:green"),
    "realignment": ("P", "tab:purple"),
}


def _short_label(setting: str, baseline: tuple[str, str] | None) -> str:
    """A plot label: the baseline's setting left out of a DivPO setting (``DivPO logprob q=0.5 RKL β=0.1``)."""
    if baseline is not None and setting.startswith("DivPO") and setting.endswith(f" {baseline[1]}"):
        return setting[: -len(baseline[1]) - 1]
    return setting


def curve_means(curve: Sequence[Mapping[str, Any]], measure: str) -> tuple[list[float], list[float]]:
    """Per step, in step order, the mean over seeds of the curve's reward and ``measure``, at the steps where every
    seed's values are finite (``fdpo.report.curves.mean_curves`` of the pooled rows)."""
    pooled = [{**row, "divergence": None, "loss_type": None, "beta": None} for row in curve]
    curves = mean_curves(pooled, "reward_logit_mean", measure)
    if not curves:
        return [], []
    (means,) = curves.values()
    complete = [i for i, n in enumerate(means["n"]) if n == means["n"].max()]
    return [float(means["x"][i]) for i in complete], [float(means["y"][i]) for i in complete]


def plot_frontier(
    table: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    baseline: tuple[str, str] | None = None,
    curve: Sequence[Mapping[str, Any]] = (),
    title: str = "Reward and diversity: the levers and their front",
) -> Path:
    """One panel per diversity measure: reward (x) against it (y), mean ± 95% interval of every configuration.

    Levers are told apart by marker and colour, and levers applied to a DivPO policy by hollow markers; every point
    carries its configuration's number, which the key under the panels names (bold: dominates the baseline); the
    Pareto front of each panel is a dashed line; the baseline is ringed. ``curve`` (the baseline's evaluations
    along training: ``step``, ``reward_logit_mean`` and the measures, one row per seed and step) is drawn as a thin
    line through its means over seeds at each step, the SFT model (step 0) first: a lever above it is more diverse
    than the baseline was at the same reward. Written with matplotlib's Agg canvas.
    """
    require("matplotlib", "study", "The frontier plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [row for row in table if finite(row.get("reward_mean"))]
    if not rows:
        raise ValueError("Nothing to plot: no configuration has a finite mean reward.")
    numbers = {id(row): index for index, row in enumerate(rows, 1)}
    key = [f"{numbers[id(row)]} {_short_label(row['setting'], baseline)}" for row in rows]
    key_lines = [" · ".join(key[start : start + 6]) for start in range(0, len(key), 6)]
    figure = Figure(figsize=(6.2 * len(DOMINANCE_MEASURES), 5.6 + 0.22 * len(key_lines)))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(DOMINANCE_MEASURES))
    for axis, measure in zip(axes, DOMINANCE_MEASURES, strict=True):
        shown = [row for row in rows if finite(row.get(f"{measure}_mean"))]
        seen: set[str] = set()
        for row in shown:
            lever = row["lever"]
            marker, colour = _LEVER_STYLE.get(lever, ("X", "tab:gray"))
            on_divpo = lever != "divpo" and str(row["setting"]).startswith("DivPO")
            axis.errorbar(
                row["reward_mean"],
                row[f"{measure}_mean"],
                xerr=row.get("reward_ci95") if finite(row.get("reward_ci95")) else None,
                yerr=row.get(f"{measure}_ci95") if finite(row.get(f"{measure}_ci95")) else None,
                fmt=marker,
                color=colour,
                ecolor=colour,
                alpha=0.85,
                markersize=7,
                markerfacecolor="white" if on_divpo else colour,
                capsize=2,
                elinewidth=0.8,
                label=None if lever in seen else lever,
            )
            seen.add(lever)
            axis.annotate(
                str(numbers[id(row)]),
                (row["reward_mean"], row[f"{measure}_mean"]),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=7,
                fontweight="bold" if row.get("dominates_rkl") else "normal",
            )
            is_baseline = baseline is not None and (lever, row["setting"]) == tuple(baseline)
            if is_baseline:
                axis.plot(row["reward_mean"], row[f"{measure}_mean"], "o", ms=16, mfc="none", mec="black")
        path_x, path_y = curve_means(curve, measure)
        if len(path_x) > 1:
            axis.plot(
                path_x,
                path_y,
                "-",
                marker=".",
                color="tab:blue",
                alpha=0.45,
                linewidth=1.2,
                label=f"{baseline[1] if baseline else 'baseline'} along training (mean over seeds)",
            )
        front = pareto_front([(row["reward_mean"], row[f"{measure}_mean"]) for row in shown])
        if len(front) > 1:
            axis.plot(
                [shown[i]["reward_mean"] for i in front],
                [shown[i][f"{measure}_mean"] for i in front],
                "--",
                color="gray",
                linewidth=1,
                label="Pareto front",
            )
        axis.set_xlabel(_LABELS["reward"])
        axis.set_ylabel(_LABELS[measure])
        axis.grid(alpha=0.3)
    if any(str(row["setting"]).startswith("DivPO") and row["lever"] != "divpo" for row in rows):
        axes[0].plot([], [], "o", color="gray", markerfacecolor="white", label="hollow: on the DivPO policy")
    # The legend goes under the panels, beside the key, where it hides no point.
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=8, loc="lower right", ncol=3, frameon=False)
    figure.suptitle(title + ("  (ringed: baseline; bold: dominates it)" if baseline else ""))
    figure.text(0.01, 0.01, "\n".join(key_lines), fontsize=8, va="bottom", ha="left")
    figure.tight_layout(rect=(0, 0.035 * max(len(key_lines), math.ceil(len(labels) / 3)) + 0.02, 1, 1))
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, dpi=130, format="png")
    return path
