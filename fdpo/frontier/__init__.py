"""The frontier study: which levers beyond the divergence raise reward and diversity together, against standard DPO.

The modules, from the numbers up:

* ``table``: the front of many configurations and the verdicts against the baseline (``frontier_table``,
  ``dominates``, frontier.csv's columns and markdown); pure tables.
* ``plot``: frontier.png (``plot_frontier``).
* ``matched``: every lever against standard DPO's training curve at its own reward and KL (``frontier_matched``,
  frontier_matched.csv's columns and markdown); pure tables.
* ``policy_transforms``: ways to sample a trained policy differently without training it again: sampling
  temperature, weight interpolation with the SFT model (``interpolate_weights``), decoding-time realignment.
* ``settings``: ``FrontierSettings`` (the ``frontier:`` section of a sweep YAML) and ``frontier_config`` (a sweep
  YAML or dict and its overrides, validated).
* ``plan``: what the study trains and evaluates, as typed values (``plan_frontier``).
* ``study``: ``run_frontier``, which runs the plan and writes its files (``write_frontier``).
"""

from __future__ import annotations

from fdpo.frontier.matched import (
    MATCHED_AXES,
    MATCHED_MEASURES,
    frontier_matched,
    matched_columns,
    matched_markdown,
)
from fdpo.frontier.plan import Configuration, DivPOPairs, FrontierPlan, TrainedPolicy, plan_frontier
from fdpo.frontier.plot import plot_frontier
from fdpo.frontier.policy_transforms import (
    Interpolation,
    PolicyTransform,
    Realignment,
    Temperature,
    interpolate_weights,
    with_temperature,
)
from fdpo.frontier.settings import FrontierSettings, frontier_config
from fdpo.frontier.study import run_frontier, write_frontier
from fdpo.frontier.table import (
    DOMINANCE_MEASURES,
    FRONTIER_METRICS,
    dominates,
    frontier_columns,
    frontier_markdown,
    frontier_table,
    separated,
    summarize_configurations,
)

__all__ = [
    "DOMINANCE_MEASURES",
    "FRONTIER_METRICS",
    "MATCHED_AXES",
    "MATCHED_MEASURES",
    "Configuration",
    "DivPOPairs",
    "FrontierPlan",
    "FrontierSettings",
    "Interpolation",
    "PolicyTransform",
    "Realignment",
    "Temperature",
    "TrainedPolicy",
    "dominates",
    "frontier_columns",
    "frontier_config",
    "frontier_markdown",
    "frontier_matched",
    "frontier_table",
    "interpolate_weights",
    "matched_columns",
    "matched_markdown",
    "plan_frontier",
    "plot_frontier",
    "run_frontier",
    "separated",
    "summarize_configurations",
    "with_temperature",
    "write_frontier",
]
