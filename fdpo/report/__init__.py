"""Tables, the verdict and the reward-vs-diversity plot of a sweep.

``summarize`` (``fdpo.report.summary``) turns results rows (one per run) into one row per configuration
(divergence × loss_type × β) with the mean over seeds, the standard deviation, the half-width of a 95% Student-t
interval across seeds, and the standard error across seeds and evaluation prompts (``fdpo.uncertainty``;
``sweep_replicates`` in ``fdpo.report.replicates`` reads the runs' saved generations for the prompt part).
``verdict`` (``fdpo.report.verdict``) judges the paper's claims along reverse KL → forward KL. ``plot_tradeoff``
(``fdpo.report.plots``) draws reward against diversity, one marker and colour per configuration with ±1 standard
error bars, the Pareto frontier of the trained configurations and the SFT baseline (``plot_tradeoff_html``: the
same plot, interactive, with plotly); ``markdown_table`` prints the summary and ``write_report`` writes all of them
for a sweep directory (``fdpo.report.document``). Only matplotlib's Agg canvas is used (no display, no global
backend switch).

Data flows one way: ``summary`` ← ``replicates``, ``plots``, ``verdict`` ← ``document``.
"""

from fdpo.report.document import markdown_table, read_verdict, summarize_sweep, write_report
from fdpo.report.plots import pareto_front, plot_tradeoff, plot_tradeoff_html
from fdpo.report.replicates import NUM_RESAMPLES, RESAMPLING_SEED, sweep_replicates
from fdpo.report.summary import (
    BASELINE,
    SUMMARY_METRICS,
    confidence_interval,
    configuration_gap,
    configuration_label,
    member_replicates,
    metric_statistics,
    summarize,
    summary_name,
)
from fdpo.report.verdict import Verdict, verdict, verdict_lines

__all__ = [
    "configuration_gap",
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
