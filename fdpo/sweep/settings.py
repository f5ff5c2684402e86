"""The sections of a sweep config: ``prompts:``, ``reward:``, ``pairs:``, ``evaluation:`` and ``report:`` are the
stage settings of ``fdpo.settings``; ``grid:`` is the sweep's own (``fdpo.sweep.grid``)."""

from fdpo.settings import EvaluationSettings, PairSettings, PromptSettings, ReportSettings, RewardSettings
from fdpo.sweep.grid import GridSettings

__all__ = [
    "EvaluationSettings",
    "GridSettings",
    "PairSettings",
    "PromptSettings",
    "ReportSettings",
    "RewardSettings",
]
