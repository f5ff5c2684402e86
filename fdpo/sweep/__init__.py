"""Sweeps: a grid of f-DPO runs over one set of pairs, evaluated and reported, resumable after any interruption.

``SweepConfig`` (``config``) describes a sweep and checks it (``SweepConfig.check``); its sections (the stage settings
of ``fdpo.settings``, the grid and its cells in ``grid``, the ``training:`` arguments in ``training``) find their
problems with the shared checks of ``fdpo.checks`` and the machine checks of ``preflight``. ``yamlio`` reads YAML and
dotted overrides, ``store`` keeps the runs on disk, ``worlds`` supplies models and prompts a config leaves unset,
``executors`` says where the runs go (this process or Ray), and ``run_sweep`` (``runner``) runs it. See
docs/sweeps.md.
"""

from fdpo.errors import SweepConfigError, SweepError
from fdpo.sweep.config import RunSpec, SweepConfig, make_run_id
from fdpo.sweep.runner import SweepResources, evaluation_prompts, prepare_pairs, run_sweep
from fdpo.sweep.settings import (
    EvaluationSettings,
    GridSettings,
    PairSettings,
    PromptSettings,
    ReportSettings,
    RewardSettings,
)
from fdpo.sweep.store import RESULT_COLUMNS, RunStore
from fdpo.sweep.worlds import World, get_world, list_worlds, register_world
from fdpo.sweep.yamlio import apply_overrides, deep_merge, load_yaml, parse_override

__all__ = [
    # config, errors
    "SweepConfig",
    "RunSpec",
    "make_run_id",
    "SweepConfigError",
    "SweepError",
    # the sections of a config
    "PromptSettings",
    "RewardSettings",
    "PairSettings",
    "GridSettings",
    "EvaluationSettings",
    "ReportSettings",
    # YAML and overrides
    "load_yaml",
    "parse_override",
    "apply_overrides",
    "deep_merge",
    # worlds
    "World",
    "register_world",
    "get_world",
    "list_worlds",
    # the run store and the runner
    "RESULT_COLUMNS",
    "RunStore",
    "run_sweep",
    "SweepResources",
    "prepare_pairs",
    "evaluation_prompts",
]
