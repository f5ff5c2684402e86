"""``SweepConfig``: one sweep (models, prompts, sampling, pairs, training arguments, the grid, evaluation, report).

It reads YAML or dicts into its sections (the stage settings of ``fdpo.settings``; the grid and its cells ``RunSpec``
in ``fdpo.sweep.grid``, re-exported here with ``make_run_id``), gathers their problems in one entry point, ``check``
(the shared checks in ``fdpo.checks``, those that look at the machine in ``fdpo.sweep.preflight``, the ``training:``
arguments in ``fdpo.sweep.training``) and builds each run's ``FDPOConfig``.

A config that sets ``world: NAME[:VARIANT]`` (or the shorthand ``NAME: VARIANT``, e.g. ``demo: quick``) takes the
models, prompts, template and generation settings it leaves unset from that world (``fdpo.sweep.worlds``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fdpo.checks import format_problems, generation_problems, seed_problems, unknown_key_problem
from fdpo.errors import SweepConfigError, SweepError
from fdpo.sweep import settings as sections
from fdpo.sweep.grid import RunSpec, make_run_id
from fdpo.sweep.preflight import (
    classifier_label_problems,
    device_problems,
    hub_problems,
    max_length_problems,
    model_reference_problems,
    sample_memory_problems,
)
from fdpo.sweep.training import argument_problems, training_defaults
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
# An HTML tag, comment or character reference in a name that the report would render (a bare "<" as in "β < 1" is
# text).
_MARKUP = re.compile(r"<[A-Za-z/!?]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")
# Keys of the config that do not change what a finished run computed (the world and its seed change the models, and
# so sft_model, reward_model and the prompts, which stay).
_PER_RUN_KEYS = ("name", "grid", "report", "device", "save_models", "world", "world_cache_dir", "world_seed")
# Keys of `evaluation` left out of the shared settings at these values, so that a sweep started before they existed
# keeps its digest; control_temperatures is always left out: controls are evaluations of the SFT model, stored
# per temperature, and adding one changes no run.
_EVALUATION_KEYS_WHEN_SET = {"checkpoints": [], "prompt_draw": "fixed"}
_EVALUATION_KEYS_NOT_SHARED = ("control_temperatures",)
# The stream the per-seed draws of evaluation prompts come from (numpy SeedSequence entropy, with the seed).
_PROMPT_DRAW_STREAM = 20_251_205


# ----------------------------------------------------------------------------------------------------------------
# The config


@dataclass
class SweepConfig:
    """A sweep: models, prompts, sampling, pairs, training arguments, the grid, evaluation and report settings.

    Build one from YAML with ``SweepConfig.from_yaml(path, overrides=["training.learning_rate=1e-5"])`` or from a
    dict with ``from_dict``; ``check()`` checks everything that can be checked without loading a model (its quick
    part runs in ``from_yaml``/``from_dict``, all of it in ``run_sweep``). See docs/sweeps.md for every key.
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
    world_seed: int | None = field(
        default=None,
        metadata={
            "help": "Seed the world is built with (a world that takes one, such as demo: its corpus, tokenizer, SFT "
            "model and classifier), cached apart from the others; null: the world's default (demo: 0)."
        },
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
            SweepConfigError: an unknown key (with the closest known one), a section that is not a mapping, or (with
                ``validate``) any problem the quick checks of ``check`` find.
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
            config.check(quick=True, source=source, check_models=check_models)
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

    def check(
        self,
        *,
        quick: bool = False,
        source: str = "config",
        check_models: bool = True,
        names: Mapping[str, str] | None = None,
        hub_timeout: float = 10.0,
    ) -> None:
        """Checks the config and raises one ``SweepConfigError`` that lists every problem found (file, key and fix).

        Without a file read or the network (what ``quick=True`` runs alone, in milliseconds; ``from_dict`` and
        ``from_yaml`` run it): model references (an existing local folder with a config.json, or a valid hub id such
        as ``gpt2`` or ``org/name``; offline, the hub id must be in the local cache), the world, name, device,
        prompts, template, pair strategy, the grid (known divergences and loss types, β > 0, seeds numpy accepts,
        ``beta_per_divergence`` keys matching a divergence, no duplicates, at least one run, no two cells with one
        run id), training arguments (known ``FDPOConfig`` fields of the right type and range, none the grid sets,
        and the ``FDPOConfig`` of every grid cell builds), generation keys, evaluation metrics and report axes.

        Then, unless ``quick`` (and when the above passes), the checks that read files or ask the hub, still without
        loading a model: what ``fdpo sweep --dry-run`` runs, and what ``run_sweep`` runs before it creates anything
        in the output folder. The prompt files are read (UTF-8, at least one prompt); a hub model that is not in the
        local cache is looked up once, with ``hub_timeout`` seconds and no retries (missing, private, gated, or no
        answer: the message says what to do); and when ``sft_model`` is a local folder or cached, its tokenizer
        measures the longest prompt, which must leave room for a completion within ``training.max_length``. A config
        with a world (``demo: quick``) whose models the world supplies gets these checks when ``run_sweep`` has
        resolved it.

        Args:
            quick: only the checks that need neither a file, nor the network, nor a tokenizer.
            check_models: also check ``sft_model`` and ``reward_model`` (turn off to check a config meant for another
                machine).
            names: what the user wrote for config keys, e.g. ``{"grid.betas": "--beta"}`` (see
                ``fdpo.checks.rename_keys``), so that messages name the option the user knows.

        Raises:
            SweepConfigError: listing every problem, each with the bad value, what was expected and the fix.
        """
        problems = self._problems(check_models=check_models)
        if not problems and not quick:
            problems = self._file_and_hub_problems(check_models=check_models, hub_timeout=hub_timeout)
        if problems:
            raise SweepConfigError(format_problems(source, problems, names))

    def _problems(self, *, check_models: bool) -> list[str]:
        """What the quick checks of ``check`` find wrong, as a list of messages (empty: valid)."""
        problems: list[str] = []
        if self.world is not None:
            problems += world_problems(self.world)
        if check_models:
            # With a world, an unset model is the world's (filled in by `resolved()`).
            for name in ("sft_model", "reward_model"):
                if not (self.world and not getattr(self, name)):
                    problems += model_reference_problems(name, getattr(self, name))
        if not isinstance(self.name, str) or not self.name.isprintable():
            problems.append(
                f"name={self.name!r} must be one line of text (it heads the report): remove line breaks, tabs and "
                "other control characters."
            )
        elif _MARKUP.search(self.name):
            problems.append(
                f"name={self.name!r} holds HTML markup, which the report (Markdown, HTML plot) would render rather "
                "than show: write the name as plain text."
            )
        problems += device_problems(self.device)
        problems += self.prompts.problems(required=not self.world)
        problems += generation_problems("generation", self.generation)
        problems += self.pairs.problems()
        problems += self.reward.problems()
        grid_problems = self.grid.problems()
        problems += grid_problems
        evaluation_problems = self.evaluation.problems()
        problems += evaluation_problems
        training_problems = self._training_problems(check_cells=not grid_problems)
        problems += training_problems
        if not (grid_problems or evaluation_problems or training_problems):
            problems += self._checkpoint_problems()
        problems += self.report.problems()
        problems += self._world_seed_problems()
        if check_models:  # a local classifier's classes; samples that cannot fit in this machine's memory
            problems += classifier_label_problems(
                "reward_model", self.reward_model, self.reward.positive_index
            )
            problems += self._sample_memory_problems()
        if self.evaluation.control_temperatures and not evaluation_problems:
            generation = self.evaluation_generation()
            if isinstance(generation, Mapping) and generation.get("do_sample") is False:
                problems.append(
                    f"evaluation.control_temperatures={self.evaluation.control_temperatures!r}, but the evaluation "
                    "decodes without sampling (do_sample: false), where the temperature changes nothing: sample "
                    "(do_sample: true) or remove control_temperatures."
                )
        return problems

    def _sample_memory_problems(self) -> list[str]:
        from fdpo.pipeline import load_prompts

        try:
            num_prompts = len(load_prompts(self.prompts.texts, self.prompts.file))
        except (OSError, ValueError):  # the file's own problems are reported by prompts.problems
            num_prompts = len(self.prompts.texts or [])
        new_tokens = self.generation.get("max_new_tokens") if isinstance(self.generation, Mapping) else None
        return sample_memory_problems(self.pairs.samples_per_prompt, num_prompts, new_tokens)

    def _world_seed_problems(self) -> list[str]:
        if self.world_seed is None:
            return []
        problems = seed_problems("world_seed", [self.world_seed])
        if not self.world:
            problems.append(
                f"world_seed={self.world_seed!r} needs a world to build (e.g. world: demo:full); remove it, or name "
                "the world."
            )
        elif not world_problems(self.world) and not get_world(self.world.partition(":")[0]).seeded:
            problems.append(
                f"world_seed={self.world_seed!r}: the world {self.world!r} is not built from a seed; remove world_seed."
            )
        return problems

    def _checkpoint_problems(self) -> list[str]:
        """Checkpoints beyond the last training step, where the config says how many steps a run takes:
        ``training.max_steps``, or with ``pairs.num_pairs`` an upper bound on the steps of an epoch-based run (TRL may
        drop pairs; the exact count is checked when each run starts)."""
        steps = self.evaluation.checkpoints
        runs = self.runs()
        if not steps or not runs:
            return []
        args = self.fdpo_config(runs[0], output_dir=os.devnull)
        if args.max_steps is not None and args.max_steps > 0:
            last, how = args.max_steps, f"training.max_steps={args.max_steps}"
        elif self.pairs.num_pairs is not None:
            per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
            batches = math.ceil(self.pairs.num_pairs / args.per_device_train_batch_size)
            last = math.ceil(args.num_train_epochs * math.ceil(batches / args.gradient_accumulation_steps))
            how = (
                f"at most {self.pairs.num_pairs} pairs (pairs.num_pairs) in {args.num_train_epochs:g} epoch(s) of "
                f"{per_step} pairs per step"
            )
        else:
            return []  # the pairs' count decides: checked when each run starts training
        beyond = [step for step in steps if step > last]
        if not beyond:
            return []
        return [
            f"evaluation.checkpoints has step(s) {beyond} beyond a run's last step, {last} ({how}). List steps from "
            f"1 to {last}, or train longer."
        ]

    def _training_problems(self, *, check_cells: bool) -> list[str]:
        """Problems of ``training``: unknown ``FDPOConfig`` fields, fields the grid sets, values of the wrong type
        or range, and (with ``check_cells``, for a valid grid) run ids that collide and grid cells whose
        ``FDPOConfig`` does not build."""
        problems = argument_problems(self.training)
        if problems or not check_cells:
            return problems
        problems += self.grid.run_id_problems()
        # Build the FDPOConfig of every grid cell: refused settings, bad α or β and TRL's own checks fail here, before
        # a model is loaded (a build takes well under a millisecond).
        failures: dict[str, list[str]] = {}
        for run in self.runs():
            try:
                self.fdpo_config(run, output_dir=os.devnull)
            except Exception as error:  # noqa: BLE001 -- any failure to build is the cell's problem, reported here
                failures.setdefault(f"{type(error).__name__}: {error}", []).append(run.run_id)
        for message, run_ids in failures.items():
            others = f" (and {len(run_ids) - 1} more cells)" if len(run_ids) > 1 else ""
            problems.append(
                f"training arguments for {run_ids[0]}{others} do not build an FDPOConfig: {message}"
            )
        return problems

    def _file_and_hub_problems(self, *, check_models: bool, hub_timeout: float) -> list[str]:
        """The checks of ``check`` that read files, ask the hub or load a tokenizer (for a config that passed the
        others)."""
        problems = []
        if check_models:
            for name in ("sft_model", "reward_model"):
                if getattr(self, name):
                    problems += hub_problems(name, getattr(self, name), timeout=hub_timeout)
        if problems:
            return problems
        prompts, problems = self._prompt_texts()
        if not problems and check_models and self.sft_model:
            runs = self.runs()
            max_length = self.fdpo_config(runs[0], output_dir=os.devnull).max_length if runs else None
            problems += max_length_problems(
                self.sft_model, max_length, prompts, self.prompts.template, self.generation
            )
        return problems

    def _prompt_texts(self) -> tuple[list[str], list[str]]:
        """The training prompts (``prompts.texts`` and ``prompts.file``) and the problems met reading the files: a file
        that is not UTF-8 text, or that holds only blank lines (a file given for nothing is a mistake)."""
        from fdpo.pipeline import load_prompts

        problems = []
        files = {"prompts.file": self.prompts.file, "evaluation.prompts_file": self.evaluation.prompts_file}
        for key, file in files.items():
            if file is None:
                continue
            try:
                if not load_prompts(None, file):
                    problems.append(
                        f"{key}={file!r} holds only blank lines. Write one prompt per line, or remove the key."
                    )
            except (OSError, UnicodeDecodeError) as error:
                problems.append(f"{key}={file!r} cannot be read as UTF-8 text ({error}).")
        if problems:
            return [], problems
        return load_prompts(self.prompts.texts, self.prompts.file), []

    # -- the grid -------------------------------------------------------------------------------------------------

    def betas_for(self, divergence: str) -> list[float]:
        """β values for a divergence spec: ``beta_per_divergence[spec]``, else ``[name]``, else ``grid.betas``."""
        return self.grid.betas_for(divergence)

    def runs(self) -> list[RunSpec]:
        """The grid's runs in order: divergence, then loss type, then β, then seed."""
        return self.grid.runs()

    def pair_sampling_seed(self, run_seed: int) -> int:
        """The seed the SFT samples behind the pairs of a run with seed ``run_seed`` are drawn with: ``pairs.seed``
        when one pair set is shared (``pairs.draw: shared``), else one derived from ``pairs.seed`` and the run's
        seed (numpy's ``SeedSequence``), so that different ``pairs.seed`` values give unrelated draws."""
        if self.pairs.draw == "shared":
            return int(self.pairs.seed)
        import numpy as np

        return int(np.random.SeedSequence([int(self.pairs.seed), int(run_seed)]).generate_state(1)[0])

    def pair_draw(self, run_seed: int) -> int | None:
        """Which pair set a run with seed ``run_seed`` trains on: ``None`` for the one shared set (``pairs.draw:
        shared``), else its own seed's."""
        return None if self.pairs.draw == "shared" else int(run_seed)

    def training_defaults(self) -> dict[str, Any]:
        """FDPOConfig arguments the sweep sets unless ``training`` overrides them."""
        return training_defaults(self.resolved_device())

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
        seed = {} if self.world_seed is None else {"seed": int(self.world_seed)}
        given = world.resolve(variant or world.variants[0], self.world_cache_dir, show_progress, **seed)
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
        evaluation = data["evaluation"]
        for key in _EVALUATION_KEYS_NOT_SHARED:
            evaluation.pop(key, None)
        for key, default in _EVALUATION_KEYS_WHEN_SET.items():
            if evaluation.get(key) == default:
                evaluation.pop(key, None)
        return json.loads(json.dumps(data, default=str))

    # -- evaluation -----------------------------------------------------------------------------------------------

    def evaluation_prompts(self, prompts: Sequence[str], seed: int | None = None) -> list[str]:
        """The prompts the policies of seed ``seed`` are evaluated on.

        The pool is ``evaluation.prompts``/``prompts_file`` when given, else ``prompts`` (the training prompts).
        ``evaluation.prompt_draw: fixed`` takes its first ``max_prompts`` for every seed; ``per_seed`` draws
        ``max_prompts`` of them without replacement for each seed (numpy, seeded by the seed; kept in pool order),
        so replicates differ in their prompts too, and every configuration of one seed shares them (comparisons stay
        paired).

        Raises:
            SweepConfigError: ``per_seed`` without a seed, or with ``max_prompts`` not below the pool's size (every
                seed would get the same prompts).
        """
        from fdpo.pipeline import load_prompts

        evaluation = self.evaluation
        if evaluation.prompts is not None or evaluation.prompts_file is not None:
            pool = load_prompts(evaluation.prompts, evaluation.prompts_file)
        else:
            pool = list(prompts)
        if evaluation.prompt_draw == "fixed":
            return pool if evaluation.max_prompts is None else pool[: evaluation.max_prompts]
        if seed is None:
            raise SweepConfigError(
                "evaluation.prompt_draw=per_seed draws the evaluation prompts of each seed: name the seed."
            )
        problems = self._prompt_draw_problems(len(pool))
        if problems:
            raise SweepConfigError(format_problems("config", problems))
        import numpy as np

        generator = np.random.default_rng(np.random.SeedSequence([_PROMPT_DRAW_STREAM, int(seed)]))
        chosen = np.sort(generator.choice(len(pool), size=evaluation.max_prompts, replace=False))
        return [pool[int(index)] for index in chosen]

    def _prompt_draw_problems(self, pool_size: int) -> list[str]:
        evaluation = self.evaluation
        if evaluation.prompt_draw != "per_seed" or evaluation.max_prompts is None:
            return []
        if evaluation.max_prompts >= pool_size:
            return [
                f"evaluation.prompt_draw=per_seed draws max_prompts={evaluation.max_prompts} of the {pool_size} "
                "evaluation prompts for each seed, so every seed would get all of them: set evaluation.max_prompts "
                f"below {pool_size} (e.g. {max(1, pool_size // 2)}), or use prompt_draw=fixed."
            ]
        return []

    def evaluation_generation(self) -> Any:
        """The generate settings the evaluation samples with: ``evaluation.generation`` when set, else
        ``generation``."""
        return self.evaluation.generation if self.evaluation.generation is not None else self.generation

    def evaluation_temperature(self) -> float:
        """The temperature the evaluation samples at (``generation``'s, default 1.0): the baseline of the controls."""
        return float(self.evaluation_generation().get("temperature", 1.0))
