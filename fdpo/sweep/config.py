"""``SweepConfig``: one sweep (models, prompts, sampling, pairs, training arguments, the grid, evaluation, report),
and its grid cells (``RunSpec``, ``make_run_id``).

A config that sets ``world: NAME[:VARIANT]`` (or the shorthand ``NAME: VARIANT``, e.g. ``demo: quick``) takes the
models, prompts, template and generation settings it leaves unset from that world (``fdpo.sweep.worlds``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fdpo.sweep import settings as sections
from fdpo.sweep.errors import SweepConfigError, SweepError
from fdpo.sweep.settings import (
    format_problems,
    generation_problems,
    model_reference_problems,
    unknown_key_problem,
)
from fdpo.sweep.worlds import get_world, list_worlds, world_problems
from fdpo.sweep.yamlio import apply_overrides, load_yaml

__all__ = [
    "RunSpec",
    "SweepConfig",
    "SweepConfigError",
    "SweepError",
    "make_run_id",
]

_SECTIONS: dict[str, type] = {
    "prompts": sections.PromptSettings,
    "reward": sections.RewardSettings,
    "pairs": sections.PairSettings,
    "grid": sections.GridSettings,
    "evaluation": sections.EvaluationSettings,
    "report": sections.ReportSettings,
}
# FDPOConfig fields the grid sets for each run; a value under `training:` would be ambiguous.
_GRID_OWNED_TRAINING_KEYS = {
    "output_dir": "the sweep writes each run under <output_dir>/runs/<run_id>",
    "divergence": "use grid.divergences",
    "alpha": "use a divergence spec such as alpha:0.3 in grid.divergences",
    "loss_type": "use grid.loss_types",
    "beta": "use grid.betas or grid.beta_per_divergence",
    "seed": "use grid.seeds",
}
# Keys of the config that do not change what a finished run computed.
_PER_RUN_KEYS = ("name", "grid", "report", "device", "save_models", "world", "world_cache_dir")


# ----------------------------------------------------------------------------------------------------------------
# The config


@dataclass
class SweepConfig:
    """A sweep: models, prompts, sampling, pairs, training arguments, the grid, evaluation and report settings.

    Build one from YAML with ``SweepConfig.from_yaml(path, overrides=["training.learning_rate=1e-5"])`` or from a
    dict with ``from_dict``; ``validate()`` checks everything that can be checked without loading a model (it runs in
    ``from_yaml``/``from_dict`` and again in ``run_sweep``). See docs/sweeps.md for every key.
    """

    sft_model: str = field(
        default="", metadata={"help": "Local directory or hub id (org/name) of the SFT model."}
    )
    reward_model: str = field(
        default="", metadata={"help": "Local directory or hub id of the reward classifier."}
    )
    name: str = field(default="sweep", metadata={"help": "Name shown in the report."})
    device: str | None = field(
        default=None, metadata={"help": "cuda, cpu, ... (default: cuda when available)."}
    )
    prompts: sections.PromptSettings = field(default_factory=sections.PromptSettings)
    generation: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "generate() settings (top_k, max_new_tokens, ...) for sampling."},
    )
    reward: sections.RewardSettings = field(default_factory=sections.RewardSettings)
    pairs: sections.PairSettings = field(default_factory=sections.PairSettings)
    training: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "FDPOConfig (TRL DPOConfig) arguments shared by every run."}
    )
    grid: sections.GridSettings = field(default_factory=sections.GridSettings)
    evaluation: sections.EvaluationSettings = field(default_factory=sections.EvaluationSettings)
    report: sections.ReportSettings = field(default_factory=sections.ReportSettings)
    reuse_reference_log_probs: bool = field(
        default=True, metadata={"help": "Compute the reference log-probs of the pairs once and reuse them."}
    )
    save_models: bool = field(
        default=False, metadata={"help": "Save each trained policy under runs/<id>/model."}
    )
    world: str | None = field(
        default=None,
        metadata={
            "help": "NAME[:VARIANT] of a registered world (e.g. demo:quick; shorthand: demo: quick) that supplies the "
            "models, prompts, template and generation settings left unset (built on first use, cached)."
        },
    )
    world_cache_dir: str | None = field(
        default=None, metadata={"help": "Cache of the world (default: the world's own, e.g. $FDPO_CACHE)."}
    )

    # -- construction ---------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "config",
        validate: bool = True,
        check_models: bool = True,
    ) -> SweepConfig:
        """Builds a config from nested dicts (as in the YAML file).

        Raises:
            SweepConfigError: an unknown key (with the closest known one), a section that is not a mapping, or any
                problem ``validate`` finds.
        """
        if not isinstance(data, Mapping):
            raise SweepConfigError(f"{source}: a sweep config must be a mapping, got {type(data).__name__}.")
        problems: list[str] = []
        top = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in top and key in list_worlds():  # shorthand: `demo: quick` is `world: demo:quick`
                if value is None:
                    continue
                if data.get("world") is not None:
                    problems.append(
                        f"{key}: {value!r} and world: {data['world']!r} both name a world; keep one."
                    )
                kwargs["world"] = f"{key}:{value}"
                continue
            if key not in top:
                problems.append(unknown_key_problem(str(key), top, "top-level key"))
                continue
            section = _SECTIONS.get(key)
            if section is None:
                kwargs.setdefault(key, value)
                continue
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                problems.append(f"{key} must be a mapping of {section.__name__} keys, got {value!r}.")
                continue
            known = {f.name: f for f in dataclasses.fields(section)}
            unknown = [str(k) for k in value if k not in known]
            problems.extend(unknown_key_problem(k, known, f"key of {key}", prefix=f"{key}.") for k in unknown)
            kwargs[key] = section(**{k: v for k, v in value.items() if k in known})
        if problems:
            raise SweepConfigError(format_problems(source, problems))
        config = cls(**kwargs)
        if validate:
            config.validate(source=source, check_models=check_models)
        return config

    @classmethod
    def from_yaml(
        cls,
        path: str | os.PathLike,
        overrides: Sequence[str] = (),
        *,
        validate: bool = True,
        check_models: bool = True,
    ) -> SweepConfig:
        """Reads a YAML sweep config, applies dotted ``overrides`` (``"grid.seeds=[0,1,2]"``) and validates it."""
        data = apply_overrides(load_yaml(path), overrides)
        return cls.from_dict(data, source=str(path), validate=validate, check_models=check_models)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts (what ``from_dict`` reads back)."""
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: Sequence[str], *, check_models: bool = True) -> SweepConfig:
        """A copy with dotted overrides applied, validated."""
        return SweepConfig.from_dict(
            apply_overrides(self.to_dict(), overrides), source="overrides", check_models=check_models
        )

    # -- validation -----------------------------------------------------------------------------------------------

    def validate(self, *, source: str = "config", check_models: bool = True) -> None:
        """Checks everything that does not need a model loaded: fails in seconds, before any download or load.

        Checks: model paths (an existing local directory with a config.json, or a hub id ``org/name``; offline, the
        hub id must be in the local cache), the world, prompts, template, pair strategy, the grid (known divergences
        and loss types, β > 0, ``beta_per_divergence`` keys matching a divergence, no duplicates, at least one run),
        training arguments (known ``FDPOConfig`` fields, none the grid sets, and an ``FDPOConfig`` per grid cell
        builds), generation keys, evaluation metrics and report axes (each section's ``problems()``).

        Args:
            check_models: also check that ``sft_model`` and ``reward_model`` exist (turn off to check a config
                meant for another machine).

        Raises:
            SweepConfigError: listing every problem, each with the bad value, what was expected and the fix.
        """
        problems: list[str] = []
        if self.world is not None:
            problems += world_problems(self.world)
        if check_models:
            # With a world, an unset model is the world's (filled in by `resolved()`).
            for name in ("sft_model", "reward_model"):
                if not (self.world and not getattr(self, name)):
                    problems += model_reference_problems(name, getattr(self, name))
        problems += self.prompts.problems(required=not self.world)
        problems += generation_problems("generation", self.generation)
        problems += self.pairs.problems()
        problems += self.reward.problems()
        grid_problems = self.grid.problems()
        problems += grid_problems
        problems += self.evaluation.problems()
        problems += self.training_problems(check_cells=not grid_problems)
        problems += self.report.problems()
        if problems:
            raise SweepConfigError(format_problems(source, problems))

    def training_problems(self, *, check_cells: bool = True) -> list[str]:
        """Problems of ``training``: unknown ``FDPOConfig`` fields, fields the grid sets, and (with ``check_cells``)
        the first grid cell whose ``FDPOConfig`` does not build."""
        from fdpo.config import FDPOConfig

        if not isinstance(self.training, Mapping):
            return [f"training must be a mapping of FDPOConfig arguments, got {self.training!r}."]
        problems = []
        known = {f.name: f for f in dataclasses.fields(FDPOConfig) if f.init}
        for key in self.training:
            if key in _GRID_OWNED_TRAINING_KEYS:
                problems.append(
                    f"training.{key} is set per run by the sweep: {_GRID_OWNED_TRAINING_KEYS[key]}."
                )
            elif key not in known:
                problems.append(
                    unknown_key_problem(str(key), known, "FDPOConfig argument", prefix="training.")
                )
        if problems or not check_cells:
            return problems
        # Build the FDPOConfig of every distinct (divergence, loss_type, beta): refused settings, bad α, bad β and
        # TRL's own checks fail here, before a model is loaded (each build takes about a millisecond).
        cells = {(run.divergence, run.loss_type, run.beta): run for run in self.runs()}
        for run in cells.values():
            try:
                self.fdpo_config(run, output_dir=os.devnull)
            except (ValueError, TypeError) as error:
                problems.append(f"training arguments for {run.run_id}: {error}")
                break
        return problems

    # -- the grid -------------------------------------------------------------------------------------------------

    def betas_for(self, divergence: str) -> list[float]:
        """β values for a divergence spec: ``beta_per_divergence[spec]``, else ``[name]``, else ``grid.betas``."""
        spec = _canonical_spec(divergence)
        name = spec.partition(":")[0]
        # A key with parameters ("alpha:0.30") is canonicalized; a bare name ("alpha") stays a name, even when the
        # registry would resolve it to a default spec, so that it covers every α.
        table = {_beta_key(str(key)): value for key, value in self.grid.beta_per_divergence.items()}
        for key in (spec, name):
            if key in table:
                value = table[key]
                return [float(v) for v in (value if isinstance(value, list) else [value])]
        return [float(v) for v in self.grid.betas]

    def runs(self) -> list[RunSpec]:
        """The grid's runs in order: divergence, then loss type, then β, then seed."""
        runs = []
        for divergence in self.grid.divergences:
            spec = _canonical_spec(str(divergence))
            for loss_type in self.grid.loss_types:
                for beta in self.betas_for(spec):
                    for seed in self.grid.seeds:
                        runs.append(RunSpec(spec, str(loss_type), float(beta), int(seed)))
        return runs

    def training_defaults(self) -> dict[str, Any]:
        """FDPOConfig arguments the sweep sets unless ``training`` overrides them."""
        import torch

        on_gpu = torch.cuda.is_available() and self.resolved_device().startswith("cuda")
        return {
            "report_to": "none",
            "save_strategy": "no",
            "disable_tqdm": True,
            "logging_steps": 1,
            "bf16": bool(on_gpu and torch.cuda.is_bf16_supported()),
            "use_cpu": not on_gpu,
        }

    def fdpo_config(self, run: RunSpec, output_dir: str | os.PathLike, **extra: Any):
        """The ``FDPOConfig`` of one run: sweep defaults, then ``training``, then the run's grid cell."""
        from fdpo.config import FDPOConfig

        kwargs = {**self.training_defaults(), **self.training, **extra}
        kwargs.update(
            output_dir=str(output_dir),
            divergence=run.divergence,
            loss_type=run.loss_type,
            beta=run.beta,
            seed=run.seed,
        )
        return FDPOConfig(**kwargs)

    def resolved(self, *, show_progress: bool = True) -> SweepConfig:
        """The config with its world filled in where ``world`` is set; the config itself otherwise.

        Builds (first use) or loads the world, and takes from it what the config leaves unset: ``sft_model``,
        ``reward_model``, ``prompts.texts`` (when neither texts nor file is given), ``prompts.template`` (when it is
        the default), ``generation`` (the config's own keys win) and ``evaluation.prompts`` (the world's held-out
        prompts, when no evaluation prompts are given).
        """
        if not self.world:
            return self
        name, _, variant = self.world.partition(":")
        world = get_world(name)
        given = world.resolve(variant or world.variants[0], self.world_cache_dir, show_progress)
        data = self.to_dict()
        data["sft_model"] = self.sft_model or str(given["sft_model"])
        data["reward_model"] = self.reward_model or str(given["reward_model"])
        if not self.prompts.texts and self.prompts.file is None:
            data["prompts"]["texts"] = list(given["prompts"])
        if self.prompts.template == "{prompt}":
            data["prompts"]["template"] = given["prompt_template"]
        data["generation"] = {**dict(given["generation"]), **self.generation}
        eval_prompts = list(given.get("eval_prompts") or [])
        if eval_prompts and self.evaluation.prompts is None and self.evaluation.prompts_file is None:
            data["evaluation"]["prompts"] = eval_prompts  # prompts the pairs were not built from
        return SweepConfig.from_dict(data, source=f"world {self.world}")

    def resolved_device(self) -> str:
        """``device``, or ``"cuda"`` when a GPU is available and ``"cpu"`` otherwise."""
        if self.device:
            return str(self.device)
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def shared_dict(self) -> dict[str, Any]:
        """The part of the config every run depends on: changing it invalidates finished runs."""
        data = self.to_dict()
        for key in _PER_RUN_KEYS:
            data.pop(key)
        return json.loads(json.dumps(data, default=str))


@dataclass(frozen=True)
class RunSpec:
    """One grid cell: a divergence spec (canonical), a loss type, β and a seed."""

    divergence: str
    loss_type: str
    beta: float
    seed: int

    @property
    def run_id(self) -> str:
        """Directory name of the run, e.g. ``alpha-0.3__sigmoid__beta0.01__seed0``."""
        return make_run_id(self.divergence, self.loss_type, self.beta, self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, **dataclasses.asdict(self)}


def make_run_id(divergence: str, loss_type: str, beta: float, seed: int) -> str:
    """A file-system-safe, unique, readable run id: ``<divergence>__<loss_type>__beta<β>__seed<seed>``.

    Characters outside ``[A-Za-z0-9._-]`` in the divergence spec become ``-`` (``alpha:0.3`` → ``alpha-0.3``).
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", divergence).strip("-")
    return f"{slug}__{loss_type}__beta{float(beta):g}__seed{int(seed)}"


def _canonical_spec(divergence: str) -> str:
    from fdpo.divergences import get_divergence

    try:
        return get_divergence(divergence).spec
    except (ValueError, TypeError, KeyError):
        return divergence


def _beta_key(key: str) -> str:
    return _canonical_spec(key) if ":" in key else key
