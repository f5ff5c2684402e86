"""A sweep directory's report: summary.csv, the markdown table and verdict of report.md, and the plots."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fdpo._io import read_csv, write_csv, write_text
from fdpo.errors import NoResultsError
from fdpo.report.curves import CURVE_MEASURES, plot_curves
from fdpo.report.machine import MACHINE_FILE, machine_lines, read_machine
from fdpo.report.plots import plot_tradeoff, plot_tradeoff_html
from fdpo.report.replicates import sweep_replicates
from fdpo.report.study import CONTROLS_FILE, CURVES_FILE, judge_study, study_lines
from fdpo.report.summary import finite, format_cell, load_summary, spread_kind, summarize
from fdpo.report.verdict import verdict, verdict_lines

_TABLE_COLUMNS = (
    ("reward (logit)", "reward_logit"),
    ("reward (prob)", "reward_prob"),
    ("pred. entropy", "predictive_entropy"),
    ("token entropy", "token_entropy"),
    ("distinct-1", "distinct_1"),
    ("distinct-2", "distinct_2"),
    ("words", "completion_words"),
    ("KL to ref", "kl_to_ref"),
    ("self-BLEU", "self_bleu"),
    ("train s", "train_seconds"),
)


def markdown_table(summary: Sequence[Mapping[str, Any]] | str | os.PathLike, digits: int = 3) -> str:
    """The summary as a markdown table: one line per configuration, cells ``mean ± standard error`` across seeds
    and prompts (``mean ± 95% CI half-width`` across seeds for a summary.csv without ``_se`` columns)."""
    rows = load_summary(summary)
    spread = spread_kind(rows)
    columns = [
        (title, metric)
        for title, metric in _TABLE_COLUMNS
        if any(finite(r.get(f"{metric}_mean")) for r in rows)
    ]
    header = ["configuration", "loss", "β", "n", *(title for title, _ in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * len(columns)) + "|"]
    for row in rows:
        beta = row.get("beta")
        cells = [
            str(row.get("label") or row.get("divergence")),
            str(row.get("loss_type") or ""),
            f"{float(beta):g}" if finite(beta) else "",
            str(row.get("n", "")),
        ]
        cells += [
            format_cell(row.get(f"{metric}_mean"), row.get(f"{metric}_{spread}"), digits)
            for _, metric in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summarize_sweep(
    root: str | os.PathLike,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict, list[str]]:
    """Reads a sweep's results.csv and generations and summarizes it with standard errors across seeds and
    prompts. Returns ``(rows, summary, replicates, notes)``."""
    root = Path(root)
    rows = read_csv(root / "results.csv")
    replicates, notes = sweep_replicates(root, rows)
    return rows, summarize(rows, replicates=replicates), replicates, notes


_VERDICT_HEADING = "## Verdict"
_STUDY_HEADING = "## Divergences at matched reward and KL"


def read_verdict(output_dir: str | os.PathLike) -> list[str]:
    """The verdict lines ``write_report`` wrote into ``output_dir``/report.md (none if it has no Verdict section):
    what ``fdpo sweep`` and ``fdpo demo`` print after the table, without recomputing them."""
    path = Path(output_dir) / "report.md"
    if not path.is_file():
        return []
    _, found, after = path.read_text(encoding="utf-8").partition(f"\n{_VERDICT_HEADING}\n\n")
    return after.split("\n\n", 1)[0].splitlines() if found else []


def _study_section(root: Path, title: str | None) -> tuple[str, dict[str, Any]]:
    """The curves' part of report.md (``judge_study``), comparisons.csv and the curves plots."""
    curves = read_csv(root / CURVES_FILE)
    controls = read_csv(root / CONTROLS_FILE) if (root / CONTROLS_FILE).is_file() else []
    study = judge_study(curves, controls)
    comparisons = write_csv(root / "comparisons.csv", study.comparisons)
    paths: dict[str, Any] = {"comparisons": comparisons, "study": study}
    text = f"\n{_STUDY_HEADING}\n\n" + "\n".join(study_lines(study)) + "\n"
    # the default panels, or, for curves measured without them (an earlier fdpo's metrics), what the study judged
    panels = [m for m in CURVE_MEASURES if m in study.measures] or [
        m for m in study.measures if m != "completion_tokens"
    ]
    for axis, name in (("reward_logit_mean", "curves.png"), ("kl_to_ref", "curves_kl.png")):
        if not panels or not any(isinstance(row.get(axis), (int, float)) for row in curves):
            continue
        paths[name] = plot_curves(
            curves,
            root / name,
            measures=panels,
            axis=axis,
            control_rows=controls,
            labels=study.labels,
            title=title,
        )
        text += f"\n![diversity along the curves against {axis}]({name})\n"
    return text, paths


def write_report(
    output_dir: str | os.PathLike,
    *,
    diversity: str = "predictive_entropy",
    reward: str = "reward_logit",
    title: str | None = None,
    html: bool = False,
    note: str | None = None,
) -> dict[str, Any]:
    """Writes summary.csv, tradeoff.png and report.md for a sweep directory (and, when the sweep traced curves,
    comparisons.csv, curves.png and curves_kl.png: ``fdpo.report.study``).

    summary.csv is rebuilt from results.csv and the runs' generations (standard errors across seeds and prompts)
    when results.csv exists; a directory holding only a summary.csv is reported from it, without a verdict.
    report.md holds the table, the verdict on the paper's trade-off (``verdict``), notes on runs whose standard
    errors count seeds only, and the plot, then ``note`` (a closing paragraph) and the machine the sweep ran on
    (machine.json). With ``html``, also tradeoff.html, the interactive plot (needs plotly).

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
    elif root.is_dir():
        raise NoResultsError(
            f"{root} exists but holds no results: neither results.csv nor summary.csv is in it. Give the folder that "
            f"'fdpo sweep' or 'fdpo demo' wrote, or run a sweep into this one first (fdpo sweep CONFIG --output-dir "
            f"{root})."
        )
    else:
        raise FileNotFoundError(
            f"{root} has neither summary.csv nor results.csv: run a sweep into it first (fdpo sweep CONFIG "
            f"--output-dir {root})."
        )
    plot = plot_tradeoff(summary, root / "tradeoff.png", diversity=diversity, reward=reward, title=title)
    if spread_kind(summary) == "se":
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
    paths: dict[str, Any] = {"plot": plot, "summary": summary_path, "verdict": lines}
    if (root / CURVES_FILE).is_file():
        study_text, study_paths = _study_section(root, title)
        text += study_text
        paths.update(study_paths)
    if note:
        text += f"\n{note.strip()}\n"
    if (root / MACHINE_FILE).is_file():  # what the numbers above were measured with
        text += "\n## Machine\n\n" + "\n".join(machine_lines(read_machine(root))) + "\n"
    paths["markdown"] = write_text(root / "report.md", text)
    if html:
        paths["html"] = plot_tradeoff_html(
            summary, root / "tradeoff.html", diversity=diversity, reward=reward, title=title
        )
    return paths
