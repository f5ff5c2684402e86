"""The study's picture: every configuration's curve of a diversity measure against reward (or KL).

One panel per measure. A configuration's curve is the mean over seeds, at each evaluated step, of the axis and of
the measure (the SFT model first, shared by every curve, drawn as a black star), with ±1 standard error across
seeds on the measure at the last step. The positive control (the SFT model sampled at other temperatures) is drawn
as grey triangles labelled with their temperature: a measure that does not move between them cannot see diversity.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fdpo._optional import require
from fdpo.report.study import configuration_key
from fdpo.report.summary import configuration_label

__all__ = ["CURVE_MEASURES", "mean_curves", "plot_curves"]

#: The panels ``plot_curves`` draws by default.
CURVE_MEASURES = ("sequence_entropy", "entropy_rate", "distinct_2_rarefied", "within_prompt_diversity")
_AXIS_NAMES = {"reward_logit_mean": "reward (logit)", "kl_to_ref": "KL to the SFT model (nats)"}
_MARKERS = "osD^vP*Xh<>"


def mean_curves(
    rows: Sequence[Mapping[str, Any]], axis: str, measure: str
) -> dict[str, dict[str, np.ndarray]]:
    """Per configuration (``configuration_key``; rows without divergence, loss type and beta form one), in step
    order: ``step``, the mean over seeds of ``axis`` (``x``) and of ``measure`` (``y``), the measure's standard
    error across seeds (``se``) and the seeds averaged (``n``). Rows where either value is not finite are left
    out."""
    grouped: dict[str, dict[float, list[tuple[float, float]]]] = {}
    for row in rows:
        x, y = row.get(axis), row.get(measure)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (x, y)):
            continue
        grouped.setdefault(configuration_key(row), {}).setdefault(float(row["step"]), []).append((x, y))
    curves = {}
    for key, by_step in grouped.items():
        steps = sorted(by_step)
        points = [np.asarray(by_step[s]) for s in steps]
        curves[key] = {
            "step": np.asarray(steps),
            "x": np.array([p[:, 0].mean() for p in points]),
            "y": np.array([p[:, 1].mean() for p in points]),
            "se": np.array(
                [p[:, 1].std(ddof=1) / math.sqrt(len(p)) if len(p) > 1 else np.nan for p in points]
            ),
            "n": np.array([len(p) for p in points]),
        }
    return curves


def plot_curves(
    curve_rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    measures: Sequence[str] = CURVE_MEASURES,
    axis: str = "reward_logit_mean",
    control_rows: Sequence[Mapping[str, Any]] = (),
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Path:
    """Draws one panel per measure (those present in the rows) against ``axis`` and writes a PNG to ``path``.

    Args:
        curve_rows: curves.csv rows (divergence, loss_type, beta, seed, step, metrics).
        path: the PNG to write.
        measures: the panels' measures.
        axis: ``reward_logit_mean`` or ``kl_to_ref``.
        control_rows: controls.csv rows (seed, temperature, metrics): drawn as grey triangles.
        labels: configuration key (``configuration_key``) -> legend label (default: the divergence).
        title: the figure's title.

    Raises:
        ValueError: no row has ``axis`` and any of ``measures``.
    """
    require("matplotlib", "study", "The study's curves plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    present = [m for m in measures if any(isinstance(row.get(m), (int, float)) for row in curve_rows)]
    if not present or not any(isinstance(row.get(axis), (int, float)) for row in curve_rows):
        raise ValueError(
            f"No curve row has {axis!r} and any of {list(measures)}: was the sweep run with evaluation.checkpoints "
            "and these metrics?"
        )
    columns = 2 if len(present) > 1 else 1
    rows_n = math.ceil(len(present) / columns)
    figure = Figure(figsize=(6.2 * columns, 4.4 * rows_n), dpi=120)
    FigureCanvasAgg(figure)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for index, measure in enumerate(present):
        ax = figure.add_subplot(rows_n, columns, index + 1)
        curves = mean_curves(curve_rows, axis, measure)
        keys = list(curves)
        start = None
        for rank, key in enumerate(keys):
            curve = curves[key]
            color = cmap(0.9 * rank / max(len(keys) - 1, 1))
            label = (labels or {}).get(key) or configuration_label(key.split("|")[0])
            ax.plot(
                curve["x"],
                curve["y"],
                marker=_MARKERS[rank % len(_MARKERS)],
                markersize=5,
                linewidth=1.4,
                color=color,
                label=label,
                zorder=3,
            )
            ax.errorbar(
                curve["x"][-1], curve["y"][-1], yerr=curve["se"][-1], color=color, capsize=3, zorder=3
            )
            if curve["step"][0] == 0:
                start = (curve["x"][0], curve["y"][0])
        if start is not None:
            ax.plot(*start, marker="*", markersize=15, color="black", linestyle="none", label="SFT", zorder=4)
        temperatures = sorted(
            {float(r["temperature"]) for r in control_rows if r.get("temperature") is not None}
        )
        for temperature in temperatures:
            if temperature == 1.0:
                continue
            points = [
                (r.get(axis), r.get(measure))
                for r in control_rows
                if float(r.get("temperature", math.nan)) == temperature
            ]
            points = [
                (x, y) for x, y in points if isinstance(x, (int, float)) and isinstance(y, (int, float))
            ]
            if not points:
                continue
            x, y = np.mean(points, axis=0)
            ax.plot(x, y, marker="^", markersize=9, color="0.5", linestyle="none", zorder=4)
            ax.annotate(
                f"SFT T={temperature:g}", (x, y), textcoords="offset points", xytext=(6, -10), fontsize=8
            )
        ax.set_xlabel(_AXIS_NAMES.get(axis, axis))
        ax.set_ylabel(measure.replace("_", " "))
        ax.grid(alpha=0.3)
        if index == 0:
            ax.legend(fontsize=8, loc="best")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    figure.savefig(temporary, format="png")
    os.replace(temporary, target)
    return target
