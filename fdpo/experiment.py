"""Sweeps: the whole study (sample → score → pairs → train a grid → evaluate) as one resumable function.

A sweep is described by a ``SweepConfig`` (from YAML, with dotted command-line overrides) and run by
``run_sweep(config, output_dir)``::

    sample from the SFT model ─► score with the reward model ─► build preference pairs
      ─► reference log-probs of the pairs, computed ONCE and reused by every run
      ─► for each grid cell divergence × loss_type × beta × seed: train FDPOTrainer, sample from the policy, evaluate
      ─► results.csv (one row per run, plus the SFT model evaluated once as the baseline row "sft")
      ─► summary.csv (mean ± 95% CI across seeds per configuration) and the report (tradeoff.png, report.md)

Layout of ``output_dir`` (every file written atomically, see ``fdpo._io``)::

    sweep.json                     the resolved config; a rerun with a different shared config is refused
    pair_samples.jsonl             samples of the SFT model the pairs are built from
    pair_scores.json               their rewards (reward-model logits)
    pairs.jsonl                    the preference pairs (prompt, chosen, rejected, chosen_reward, rejected_reward)
    pairs_with_ref.jsonl           the pairs as the trainer sees them, plus ref_chosen_logps / ref_rejected_logps
    runs/<run_id>/config.json      the resolved config of the run (written when it starts)
    runs/<run_id>/generations.jsonl   its evaluation samples with their rewards
    runs/<run_id>/metrics.json     its results row; a run is finished if and only if this file exists
    results.csv, summary.csv       regenerated from runs/*/metrics.json after every run
    tradeoff.png, report.md        the report (``fdpo.report.write_report``)

Rerunning the same command after an interruption (even ``kill -9``) skips finished runs, redoes the unfinished one
and rewrites results.csv from the run directories, so no row is lost or duplicated.

Reference log-probs. With ``precompute_ref_log_probs=True`` TRL 1.16 computes the reference log-probs of the whole
dataset when a ``DPOTrainer`` is built and caches them in a ``datasets`` cache file keyed by the prepared dataset's
fingerprint and a hash of the model. Across the trainers of a sweep that cache misses (the fingerprints of TRL's
tokenization maps differ from one trainer to the next, and an in-memory dataset gets a random cache file), and a
dataset that already carries ``ref_chosen_logps``/``ref_rejected_logps`` columns makes TRL fail on duplicated
columns. So the sweep computes the columns once, through TRL's own ``_precompute_ref_logps`` (same tokenization,
same collation, same ``max_length`` truncation as training), saves them in ``pairs_with_ref.jsonl``, and trains
every run with ``_ReferenceReuseTrainer``, an ``FDPOTrainer`` whose precompute step keeps columns that are already
there. No run loads a reference model or runs a reference forward pass.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import gc
import importlib.util
import json
import math
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fdpo._io import read_json, read_jsonl, write_csv, write_json, write_jsonl
from fdpo.report import summarize, write_report

__all__ = [
    "RESULT_COLUMNS",
    "METRIC_NAMES",
    "SweepConfigError",
    "SweepError",
    "PromptSettings",
    "RewardSettings",
    "PairSettings",
    "GridSettings",
    "EvaluationSettings",
    "ReportSettings",
    "SweepConfig",
    "RunSpec",
    "RunStore",
    "load_yaml",
    "parse_override",
    "apply_overrides",
    "make_run_id",
    "load_prompts",
    "load_causal_lm",
    "load_reward_model",
    "generate_samples",
    "score_samples",
    "make_pairs",
    "compute_reference_log_probs",
    "train_policy",
    "evaluate_policy",
    "run_sweep",
    "DEMO_DIVERGENCES",
    "demo_config_dict",
    "demo_config",
]

#: Columns of results.csv, in order (extra columns follow them).
RESULT_COLUMNS = (
    "run_id",
    "divergence",
    "loss_type",
    "beta",
    "seed",
    "reward_logit_mean",
    "reward_prob_mean",
    "token_entropy",
    "predictive_entropy",
    "distinct_1",
    "distinct_2",
    "kl_to_ref",
    "train_seconds",
)
_EXTRA_RESULT_COLUMNS = (
    "reward_logit_std",
    "reward_prob_std",
    "self_bleu",
    "num_eval_samples",
    "eval_seconds",
)

#: Names accepted in ``evaluation.metrics``.
METRIC_NAMES = ("reward", "token_entropy", "predictive_entropy", "distinct", "kl_to_ref", "self_bleu")
_DEFAULT_METRICS = ("reward", "token_entropy", "predictive_entropy", "distinct", "kl_to_ref")

#: Divergence label of the baseline row: the SFT model evaluated as it is.
BASELINE = "sft"

_PAIR_STRATEGIES = ("threshold", "best_vs_worst", "margin")
# FDPOConfig fields the grid sets for each run; a value under `training:` would be ambiguous.
_GRID_OWNED_TRAINING_KEYS = {
    "output_dir": "the sweep writes each run under <output_dir>/runs/<run_id>",
    "divergence": "use grid.divergences",
    "alpha": "use a divergence spec such as alpha:0.3 in grid.divergences",
    "loss_type": "use grid.loss_types",
    "beta": "use grid.betas or grid.beta_per_divergence",
    "seed": "use grid.seeds",
}
# Hub ids: "org/name" (the form every current hub model has; bare names such as "gpt2" moved under an org).
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]*[A-Za-z0-9_]$")


class SweepConfigError(ValueError):
    """A sweep config that cannot run. The message lists every problem found, each with its fix."""


class SweepError(RuntimeError):
    """A sweep that cannot go on (no preference pairs, another sweep running in the directory), with the fix."""


# ----------------------------------------------------------------------------------------------------------------
# YAML and overrides


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-5`` as a float (YAML 1.1, hence PyYAML, wants ``1.0e-5``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a sweep YAML file into a dict.

    Raises:
        SweepConfigError: the file is missing, is not valid YAML (the message gives ``file:line:column``), or its
            top level is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepConfigError(f"Sweep config {str(path)!r} does not exist. Pass the path of a YAML file.")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        # problem_mark is where the parser noticed the error, context_mark where the construct it was reading
        # began (an unclosed bracket, say): give both lines.
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = error.problem or "syntax error"
        context = ""
        if error.context and error.context_mark is not None:
            context = f" ({error.context} at line {error.context_mark.line + 1}, column {error.context_mark.column + 1})"
        raise SweepConfigError(
            f"{where}: malformed YAML: {problem}{context}. Fix the syntax there."
        ) from None
    except yaml.YAMLError as error:
        raise SweepConfigError(f"{path}: malformed YAML: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SweepConfigError(
            f"{path}: the top level of a sweep config must be a mapping (keys such as sft_model, grid, training), "
            f"got a {type(data).__name__}."
        )
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Splits ``"training.learning_rate=1e-5"`` into ``(["training", "learning_rate"], 1e-05)``.

    The value is read as YAML, so ``grid.divergences=[reverse_kl,alpha:0.5]`` gives a list, ``pairs.num_pairs=null``
    gives ``None`` and ``1e-5`` a float; quote it (``name='"123"'``) to force a string.
    """
    key, separator, value = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise SweepConfigError(
            f"Override {text!r} is not of the form section.key=value (e.g. training.learning_rate=1e-5)."
        )
    keys = key.split(".")
    if any(not part for part in keys):
        raise SweepConfigError(f"Override {text!r} has an empty key part; write section.key=value.")
    try:
        parsed = yaml.load(value, Loader=_Loader) if value.strip() else ""  # noqa: S506
    except yaml.YAMLError as error:
        raise SweepConfigError(f"Override {text!r}: its value is not valid YAML ({error}).") from None
    return keys, parsed


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Returns a deep copy of ``data`` with each ``section.key=value`` override applied (later ones win)."""
    result = copy.deepcopy(dict(data))
    for text in overrides:
        keys, value = parse_override(text)
        node = result
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise SweepConfigError(
                    f"Override {text!r}: {'.'.join(keys[: depth + 1])} is a {type(child).__name__}, not a section, "
                    "so it has no keys to set."
                )
            node = child
        node[keys[-1]] = value
    return result


# ----------------------------------------------------------------------------------------------------------------
# The config


@dataclass
class PromptSettings:
    """The prompts the SFT model continues, for the preference pairs (and, by default, for evaluation)."""

    texts: list[str] = field(default_factory=list, metadata={"help": "Prompts, e.g. ['Good Review:']."})
    file: str | None = field(
        default=None, metadata={"help": "Text file with one prompt per line (added to texts)."}
    )
    template: str = field(
        default="{prompt}", metadata={"help": "Template around each prompt; must contain {prompt}."}
    )


@dataclass
class RewardSettings:
    """How the reward model scores texts (``fdpo.reward.RewardModel``)."""

    positive_index: int = field(default=1, metadata={"help": "Index of the positive class in the logits."})
    batch_size: int = field(default=64, metadata={"help": "Texts scored per forward pass."})
    max_length: int | None = field(
        default=None, metadata={"help": "Truncate scored texts to this many tokens."}
    )


@dataclass
class PairSettings:
    """How the preference pairs are built from scored samples of the SFT model (``fdpo.data.build_pairs``)."""

    samples_per_prompt: int = field(default=4, metadata={"help": "SFT samples drawn per prompt."})
    batch_size: int = field(default=32, metadata={"help": "Prompts per generate() call."})
    strategy: str = field(default="threshold", metadata={"help": "threshold, best_vs_worst or margin."})
    high: float = field(default=2.0, metadata={"help": "threshold: chosen texts have reward > high."})
    low: float = field(default=0.0, metadata={"help": "threshold: rejected texts have low < reward < high."})
    margin: float = field(
        default=1.0, metadata={"help": "margin: minimum reward gap between chosen and rejected."}
    )
    num_pairs: int | None = field(
        default=None, metadata={"help": "Number of pairs (None: what the strategy gives)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the SFT sampling and of the pairing."})


@dataclass
class GridSettings:
    """The grid of runs: every divergence × loss_type × beta × seed."""

    divergences: list[str] = field(
        default_factory=lambda: ["reverse_kl"],
        metadata={
            "help": "Divergence names or specs (reverse_kl, jensen_shannon, forward_kl, alpha:0.3, ...)."
        },
    )
    loss_types: list[str] = field(
        default_factory=lambda: ["sigmoid"], metadata={"help": "sigmoid, hinge, ipo."}
    )
    betas: list[float] = field(
        default_factory=lambda: [0.1], metadata={"help": "β values for every divergence."}
    )
    beta_per_divergence: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "β per divergence, replacing betas: keys are a name (alpha: all α) or a spec (alpha:0.3, which "
            "wins over the name); values a number or a list."
        },
    )
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Training and evaluation seeds."})


@dataclass
class EvaluationSettings:
    """How each policy (and the SFT baseline) is sampled and measured."""

    prompts: list[str] | None = field(
        default=None, metadata={"help": "Evaluation prompts (default: prompts)."}
    )
    prompts_file: str | None = field(
        default=None, metadata={"help": "File with one evaluation prompt per line."}
    )
    max_prompts: int | None = field(
        default=None, metadata={"help": "Use only the first N evaluation prompts."}
    )
    samples_per_prompt: int = field(default=1, metadata={"help": "Samples drawn per evaluation prompt."})
    batch_size: int = field(
        default=32, metadata={"help": "Batch size of sampling and of the metric forwards."}
    )
    generation: dict[str, Any] | None = field(
        default=None,
        metadata={"help": "generate() settings for evaluation (default: the top-level generation)."},
    )
    metrics: list[str] = field(
        default_factory=lambda: list(_DEFAULT_METRICS),
        metadata={"help": "Subset of " + ", ".join(METRIC_NAMES) + "."},
    )
    token_entropy_on: str = field(
        default="completions",
        metadata={"help": "completions or texts (prompt + completion, as the notebook)."},
    )
    token_entropy_tokenizer: str = field(
        default="policy",
        metadata={"help": "policy or reward: tokenizer that splits texts for token_entropy."},
    )
    num_saved_generations: int | None = field(
        default=None, metadata={"help": "Generations kept in each run's generations.jsonl (None: all)."}
    )


@dataclass
class ReportSettings:
    """What the sweep's report plots."""

    diversity: str = field(
        default="predictive_entropy", metadata={"help": "y axis: predictive_entropy or token_entropy."}
    )
    reward: str = field(default="reward_logit", metadata={"help": "x axis: reward_logit or reward_prob."})
    html: bool = field(
        default=False,
        metadata={
            "help": 'also write tradeoff.html, the interactive plot (needs plotly: pip install "fdpo[html]").'
        },
    )


_SECTIONS: dict[str, type] = {
    "prompts": PromptSettings,
    "reward": RewardSettings,
    "pairs": PairSettings,
    "grid": GridSettings,
    "evaluation": EvaluationSettings,
    "report": ReportSettings,
}


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
    prompts: PromptSettings = field(default_factory=PromptSettings)
    generation: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "generate() settings (top_k, max_new_tokens, ...) for sampling."},
    )
    reward: RewardSettings = field(default_factory=RewardSettings)
    pairs: PairSettings = field(default_factory=PairSettings)
    training: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "FDPOConfig (TRL DPOConfig) arguments shared by every run."}
    )
    grid: GridSettings = field(default_factory=GridSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    reuse_reference_log_probs: bool = field(
        default=True, metadata={"help": "Compute the reference log-probs of the pairs once and reuse them."}
    )
    save_models: bool = field(
        default=False, metadata={"help": "Save each trained policy under runs/<id>/model."}
    )
    demo: str | None = field(
        default=None,
        metadata={
            "help": "full or quick: take the models, prompts, template and generation settings left unset from the "
            "embedded demo world (built on first use, cached)."
        },
    )
    demo_cache_dir: str | None = field(
        default=None, metadata={"help": "Cache of the demo world (default: $FDPO_CACHE or ~/.cache/fdpo)."}
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
            if key not in top:
                problems.append(_unknown_key(str(key), top, "top-level key"))
                continue
            section = _SECTIONS.get(key)
            if section is None:
                kwargs[key] = value
                continue
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                problems.append(f"{key} must be a mapping of {section.__name__} keys, got {value!r}.")
                continue
            known = {f.name: f for f in dataclasses.fields(section)}
            unknown = [str(k) for k in value if k not in known]
            problems.extend(_unknown_key(k, known, f"key of {key}", prefix=f"{key}.") for k in unknown)
            kwargs[key] = section(**{k: v for k, v in value.items() if k in known})
        if problems:
            raise SweepConfigError(_format_problems(source, problems))
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
        hub id must be in the local cache), prompts, template, pair strategy, the grid (known divergences and loss
        types, β > 0, ``beta_per_divergence`` keys matching a divergence, no duplicates, at least one run), training
        arguments (known ``FDPOConfig`` fields, none the grid sets, and an ``FDPOConfig`` per grid cell builds),
        generation keys, evaluation metrics and report axes.

        Args:
            check_models: also check that ``sft_model`` and ``reward_model`` exist (turn off to check a config
                meant for another machine).

        Raises:
            SweepConfigError: listing every problem, each with the bad value, what was expected and the fix.
        """
        problems: list[str] = []
        if self.demo not in (None, "full", "quick"):
            problems.append(f"demo={self.demo!r}: use full, quick or null.")
        if check_models:
            # With `demo`, an unset model is the demo world's (filled in by `resolved()`).
            if not (self.demo and not self.sft_model):
                problems += _check_model_reference("sft_model", self.sft_model)
            if not (self.demo and not self.reward_model):
                problems += _check_model_reference("reward_model", self.reward_model)
        problems += self._check_prompts()
        problems += _check_generation("generation", self.generation)
        if self.evaluation.generation is not None:
            problems += _check_generation("evaluation.generation", self.evaluation.generation)
        problems += self._check_pairs()
        grid_problems = self._check_grid()
        problems += grid_problems
        problems += self._check_evaluation()
        problems += self._check_training(check_cells=not grid_problems)
        if self.report.diversity not in ("predictive_entropy", "token_entropy"):
            problems.append(
                f"report.diversity={self.report.diversity!r} is not a diversity measure; use predictive_entropy or "
                "token_entropy."
            )
        if self.report.reward not in ("reward_logit", "reward_prob"):
            problems.append(f"report.reward={self.report.reward!r}: use reward_logit or reward_prob.")
        if self.report.html and importlib.util.find_spec("plotly") is None:
            problems.append(
                'report.html=true needs plotly: pip install "fdpo[html]", or set report.html=false.'
            )
        if problems:
            raise SweepConfigError(_format_problems(source, problems))

    def _check_prompts(self) -> list[str]:
        problems = []
        prompts = self.prompts
        if not isinstance(prompts.texts, list) or not all(isinstance(p, str) for p in prompts.texts):
            problems.append(f"prompts.texts must be a list of strings, got {prompts.texts!r}.")
        for name, path in (
            ("prompts.file", prompts.file),
            ("evaluation.prompts_file", self.evaluation.prompts_file),
        ):
            if path is not None and not Path(path).expanduser().is_file():
                problems.append(f"{name}={path!r} does not exist. Give a text file with one prompt per line.")
        if not problems and not prompts.texts and prompts.file is None and not self.demo:
            problems.append("No prompts: set prompts.texts (e.g. ['Good Review:']) or prompts.file.")
        if not isinstance(prompts.template, str) or "{prompt}" not in prompts.template:
            problems.append(f"prompts.template={prompts.template!r} must contain '{{prompt}}'.")
        else:
            try:
                prompts.template.format(prompt="x")
            except (KeyError, IndexError, ValueError) as error:
                problems.append(
                    f"prompts.template={prompts.template!r} is not a valid format string ({error!r}); write "
                    "literal braces as {{ and }}."
                )
        return problems

    def _check_pairs(self) -> list[str]:
        problems = []
        pairs = self.pairs
        if pairs.strategy not in _PAIR_STRATEGIES:
            problems.append(
                f"pairs.strategy={pairs.strategy!r} is unknown; use one of {', '.join(_PAIR_STRATEGIES)}."
            )
        problems += _check_positive_int("pairs.samples_per_prompt", pairs.samples_per_prompt)
        problems += _check_positive_int("pairs.batch_size", pairs.batch_size)
        problems += _check_positive_int("reward.batch_size", self.reward.batch_size)
        if pairs.num_pairs is not None:
            problems += _check_positive_int("pairs.num_pairs", pairs.num_pairs)
        if pairs.strategy == "threshold" and _is_number(pairs.high) and _is_number(pairs.low):
            if pairs.low >= pairs.high:
                problems.append(
                    f"pairs.low={pairs.low!r} must be below pairs.high={pairs.high!r}: chosen texts score above high, "
                    "rejected ones between low and high."
                )
        for name in ("high", "low", "margin"):
            if not _is_number(getattr(pairs, name)):
                problems.append(f"pairs.{name} must be a number, got {getattr(pairs, name)!r}.")
        return problems

    def _check_grid(self) -> list[str]:
        from fdpo.divergences import get_divergence, list_divergences
        from fdpo.losses import LOSS_TYPES

        problems = []
        grid = self.grid
        lists = {}
        for name in ("divergences", "loss_types", "betas", "seeds"):
            value = getattr(grid, name)
            if not isinstance(value, list):
                problems.append(f"grid.{name} must be a list, got {value!r}; write e.g. {name}: [{value}].")
                value = []
            elif not value:
                problems.append(f"The grid has no runs: grid.{name} is empty. Give at least one value.")
            lists[name] = value
        specs = []
        for index, divergence in enumerate(lists["divergences"]):
            try:
                spec = get_divergence(str(divergence)).spec
            except (ValueError, TypeError, KeyError) as error:
                message = str(error)
                registered = list_divergences()
                if not all(name in message for name in registered):
                    message += f" Registered: {', '.join(registered)} (parameters as in alpha:0.3)."
                problems.append(f"grid.divergences[{index}]={divergence!r}: {message}")
                continue
            if spec in specs:
                problems.append(f"grid.divergences lists {spec!r} twice; list each divergence once.")
            specs.append(spec)
        for loss_type in lists["loss_types"]:
            if loss_type not in LOSS_TYPES:
                problems.append(f"grid.loss_types has {loss_type!r}; use any of {', '.join(LOSS_TYPES)}.")
        if len(set(map(str, lists["loss_types"]))) != len(lists["loss_types"]):
            problems.append(f"grid.loss_types={grid.loss_types!r} has duplicates.")
        if lists["betas"]:
            problems += _check_betas("grid.betas", lists["betas"])
        for seed in lists["seeds"]:
            if isinstance(seed, bool) or not isinstance(seed, int):
                problems.append(f"grid.seeds must be integers, got {seed!r}.")
        if len(set(map(repr, lists["seeds"]))) != len(lists["seeds"]):
            problems.append(f"grid.seeds={grid.seeds!r} has duplicates.")
        if not isinstance(grid.beta_per_divergence, Mapping):
            problems.append(
                f"grid.beta_per_divergence must be a mapping divergence -> beta(s), got {grid.beta_per_divergence!r}."
            )
            return problems
        # A key for a divergence the grid does not list is allowed (a shared config narrowed by an override);
        # a key that names no registered divergence at all is a typo.
        registered = set(list_divergences())
        for key, value in grid.beta_per_divergence.items():
            name, _, arguments = str(key).partition(":")
            valid = name in registered
            if valid and arguments:
                try:
                    get_divergence(str(key))
                except (ValueError, TypeError, KeyError):
                    valid = False
            if not valid:
                problems.append(
                    f"grid.beta_per_divergence has key {key!r}, which is not a divergence name or spec "
                    f"(registered: {', '.join(sorted(registered))}; grid.divergences: {', '.join(dict.fromkeys(specs))})."
                )
            problems += _check_betas(
                f"grid.beta_per_divergence[{key!r}]", value if isinstance(value, list) else [value]
            )
        return problems

    def _check_evaluation(self) -> list[str]:
        problems = []
        evaluation = self.evaluation
        unknown = [m for m in evaluation.metrics if m not in METRIC_NAMES]
        if unknown:
            problems.append(f"evaluation.metrics has {unknown}; choose among {', '.join(METRIC_NAMES)}.")
        if evaluation.prompts is not None and (
            not isinstance(evaluation.prompts, list) or not evaluation.prompts
        ):
            problems.append(
                f"evaluation.prompts must be a non-empty list of strings or null, got {evaluation.prompts!r}."
            )
        problems += _check_positive_int("evaluation.samples_per_prompt", evaluation.samples_per_prompt)
        problems += _check_positive_int("evaluation.batch_size", evaluation.batch_size)
        if evaluation.max_prompts is not None:
            problems += _check_positive_int("evaluation.max_prompts", evaluation.max_prompts)
        if evaluation.token_entropy_on not in ("completions", "texts"):
            problems.append(
                f"evaluation.token_entropy_on={evaluation.token_entropy_on!r}: use completions or texts."
            )
        if evaluation.token_entropy_tokenizer not in ("policy", "reward"):
            problems.append(
                f"evaluation.token_entropy_tokenizer={evaluation.token_entropy_tokenizer!r}: use policy or reward."
            )
        return problems

    def _check_training(self, *, check_cells: bool) -> list[str]:
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
                problems.append(_unknown_key(str(key), known, "FDPOConfig argument", prefix="training."))
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
        """The config with the demo world filled in where ``demo`` is set; the config itself otherwise.

        Builds (first use, a few minutes on a CPU) or loads the demo assets, and takes from them what the config
        leaves unset: ``sft_model``, ``reward_model``, ``prompts.texts`` (when neither texts nor file is given),
        ``prompts.template`` (when it is the default), ``generation`` (the config's own keys win) and
        ``evaluation.prompts`` (the world's held-out openings, when no evaluation prompts are given).
        """
        if not self.demo:
            return self
        from fdpo.demo.assets import build_demo_assets

        assets = build_demo_assets(
            self.demo_cache_dir, quick=self.demo == "quick", show_progress=show_progress
        )
        data = self.to_dict()
        data["sft_model"] = self.sft_model or str(assets.sft_model_path)
        data["reward_model"] = self.reward_model or str(assets.reward_model_path)
        if not self.prompts.texts and self.prompts.file is None:
            data["prompts"]["texts"] = list(assets.prompts)
        if self.prompts.template == "{prompt}":
            data["prompts"]["template"] = assets.prompt_template
        data["generation"] = {**dict(assets.generation_kwargs), **self.generation}
        eval_prompts = list(assets.eval_prompts)
        if eval_prompts and self.evaluation.prompts is None and self.evaluation.prompts_file is None:
            data["evaluation"]["prompts"] = eval_prompts  # openings the pairs were not built from
        return SweepConfig.from_dict(data, source=f"demo ({self.demo})")

    def resolved_device(self) -> str:
        """``device``, or ``"cuda"`` when a GPU is available and ``"cpu"`` otherwise."""
        if self.device:
            return str(self.device)
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def shared_dict(self) -> dict[str, Any]:
        """The part of the config every run depends on: changing it invalidates finished runs."""
        data = self.to_dict()
        for key in ("name", "grid", "report", "device", "save_models", "demo", "demo_cache_dir"):
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_positive_int(name: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [f"{name} must be a positive integer, got {value!r}."]
    return []


def _check_betas(name: str, values: Sequence[Any]) -> list[str]:
    if not values:
        return [f"{name} is empty: the grid would have no runs for it. Give at least one β > 0."]
    bad = [v for v in values if not _is_number(v) or v <= 0]
    if bad:
        return [
            f"{name} has {bad}; β must be a finite number > 0 (the paper uses 0.1 for reverse KL/JS, 0.01 for α)."
        ]
    return []


def _check_generation(name: str, settings: Any) -> list[str]:
    if not isinstance(settings, Mapping):
        return [f"{name} must be a mapping of generate() settings, got {settings!r}."]
    from transformers import GenerationConfig

    known = set(GenerationConfig().to_dict()) | {
        "max_new_tokens",
        "min_new_tokens",
        "max_length",
        "min_length",
    }
    known |= {f for f in vars(GenerationConfig()) if not f.startswith("_")}
    problems = []
    for key in settings:
        if key not in known:
            problems.append(
                _unknown_key(str(key), {k: None for k in known}, "generate() setting", prefix=f"{name}.")
            )
    return problems


def _check_model_reference(name: str, value: Any) -> list[str]:
    example = "lvwerra/distilbert-imdb" if "reward" in name else "lvwerra/gpt2-imdb"
    if not value or not isinstance(value, str):
        return [
            f"{name} is not set: give a local directory saved with save_pretrained or a hub id org/name "
            f"(e.g. {example})."
        ]
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            return [f"{name}={value!r} exists but is not a model directory (no config.json in it)."]
        return []
    # A path-like value (./x, /x, ~/x, a\\b, a/b/c) names a local directory; only org/name can be a hub id.
    looks_local = value.startswith((".", "/", "~")) or "\\" in value or value.count("/") != 1
    if looks_local or not _HUB_ID.match(value):
        return [
            f"{name}={value!r} does not exist as a local path and is not a hub id of the form org/name. Check the "
            f"path (relative paths are taken from the current directory) or give a hub id such as {example}."
        ]
    if _hub_offline():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(value, "config.json")
        except Exception:  # noqa: BLE001 -- any failure to look means: not usable offline
            cached = None
        if not isinstance(cached, str):
            return [
                f"{name}={value!r} is a hub id, but the hub is offline (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE) and it "
                "is not in the local cache. Download it on a connected machine, or give a local directory."
            ]
    return []


def _hub_offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _unknown_key(key: str, known: Mapping[str, Any], what: str, prefix: str = "") -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else ""
    return f"{prefix}{key} is not a known {what}.{hint}"


def _format_problems(source: str, problems: Sequence[str]) -> str:
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    return f"{source}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


# ----------------------------------------------------------------------------------------------------------------
# The run store


class RunStore:
    """The run directories of a sweep: ``<root>/runs/<run_id>/{config.json, generations.jsonl, metrics.json}``.

    A run is finished if and only if its metrics.json exists; it is written last, atomically, so a run killed at any
    moment is either finished with all its files or unfinished (and redone by ``begin``).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def is_finished(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / "metrics.json").is_file()

    def begin(self, run_id: str, config: Mapping[str, Any]) -> Path:
        """Clears whatever an unfinished earlier attempt left and writes the run's config.json."""
        if self.is_finished(run_id):
            raise RuntimeError(f"Run {run_id!r} is already finished; it must not be started again.")
        directory = self.run_dir(run_id)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        write_json(directory / "config.json", config)
        return directory

    def finish(
        self, run_id: str, row: Mapping[str, Any], generations: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """Writes generations.jsonl, then metrics.json (the marker that the run is finished)."""
        directory = self.run_dir(run_id)
        write_jsonl(directory / "generations.jsonl", generations)
        write_json(directory / "metrics.json", dict(row))

    def load_row(self, run_id: str) -> dict[str, Any]:
        return read_json(self.run_dir(run_id) / "metrics.json")

    def finished_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if (p / "metrics.json").is_file())

    def rows(self, order: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Rows of every finished run: those in ``order`` first, in that order, then the others by id."""
        finished = self.finished_ids()
        rank = {run_id: index for index, run_id in enumerate(order)}
        finished.sort(key=lambda run_id: (rank.get(run_id, len(rank)), run_id))
        return [self.load_row(run_id) for run_id in finished]

    def write_tables(self, order: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Regenerates results.csv and summary.csv from the run directories; returns the result rows."""
        rows = self.rows(order)
        extra = [c for row in rows for c in row if c not in RESULT_COLUMNS and c not in _EXTRA_RESULT_COLUMNS]
        columns = list(RESULT_COLUMNS) + list(_EXTRA_RESULT_COLUMNS) + list(dict.fromkeys(extra))
        write_csv(self.root / "results.csv", rows, columns)
        summary = summarize(rows)
        write_csv(self.root / "summary.csv", summary)
        return rows


@contextlib.contextmanager
def _sweep_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the sweep directory, released by the OS even after ``kill -9``."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; run one sweep per directory
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(
                f"Another sweep is running in {str(root)!r}. Wait for it to end or use another --output-dir."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------------------------
# Stages (each usable alone; the CLI calls them)


def load_prompts(texts: Sequence[str] | None = None, file: str | os.PathLike | None = None) -> list[str]:
    """Prompts from a list and/or a file with one prompt per line (blank lines skipped)."""
    prompts = list(texts or [])
    if file is not None:
        lines = Path(file).expanduser().read_text(encoding="utf-8").splitlines()
        prompts += [line.rstrip("\n") for line in lines if line.strip()]
    return prompts


def load_causal_lm(path: str, device: str | None = None):
    """Loads a causal LM and its tokenizer (left padding, pad token set) in eval mode on ``device``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def load_reward_model(path: str, settings: RewardSettings | None = None, device: str | None = None):
    """``fdpo.reward.RewardModel.from_pretrained`` with the sweep's reward settings."""
    from fdpo.reward import RewardModel

    settings = settings or RewardSettings()
    return RewardModel.from_pretrained(
        path,
        positive_index=settings.positive_index,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        device=device,
    )


def generate_samples(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    samples_per_prompt: int = 1,
    batch_size: int = 32,
    seed: int | None = 0,
    prompt_template: str = "{prompt}",
    generation: Mapping[str, Any] | None = None,
    show_progress: bool = True,
):
    """``fdpo.generation.sample`` with the sweep's settings; returns ``Samples``."""
    from fdpo.generation import sample

    return sample(
        model,
        tokenizer,
        list(prompts),
        num_samples_per_prompt=samples_per_prompt,
        batch_size=batch_size,
        seed=seed,
        prompt_template=prompt_template,
        show_progress=show_progress,
        **dict(generation or {}),
    )


def score_samples(reward_model, texts: Sequence[str], kind: str = "logit"):
    """Rewards of ``texts`` (a ``RewardModel`` or a callable ``list[str] -> list[float]``) as a numpy array."""
    import numpy as np

    from fdpo.reward import score_texts

    return np.asarray(score_texts(reward_model, list(texts), kind=kind), dtype=np.float64)


def _logit_and_probability_rewards(reward_model, texts: Sequence[str]):
    """Both rewards of ``texts``: a ``RewardModel``'s from one pass of the classifier; a callable's own numbers
    (what ``score_samples`` gives for either kind) from one call."""
    from fdpo.reward import RewardModel

    if isinstance(reward_model, RewardModel):
        both = reward_model.scores(list(texts))
        return both["logit"], both["probability"]
    rewards = score_samples(reward_model, texts)
    return rewards, rewards


def make_pairs(samples, rewards, settings: PairSettings | None = None):
    """Preference pairs from scored samples (``fdpo.data.build_pairs`` on the queries the model saw).

    Samples whose completion is empty (the model ended the text at once) are left out: there is nothing to prefer.
    """
    from fdpo.data import build_pairs

    settings = settings or PairSettings()
    keep = [index for index, completion in enumerate(samples.completions) if completion.strip()]
    if not keep:
        raise ValueError(
            f"All {len(samples)} completions are empty; sample with a minimum length (generation.min_new_tokens)."
        )
    return build_pairs(
        [samples.queries[i] for i in keep],
        [samples.completions[i] for i in keep],
        [float(rewards[i]) for i in keep],
        strategy=settings.strategy,
        high=settings.high,
        low=settings.low,
        margin=settings.margin,
        num_pairs=settings.num_pairs,
        seed=settings.seed,
    )


_REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")
_PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def _reference_reuse_trainer_class():
    from fdpo.trainer import FDPOTrainer

    class _ReferenceReuseTrainer(FDPOTrainer):
        """``FDPOTrainer`` whose reference precompute keeps ref_chosen_logps/ref_rejected_logps already present.

        TRL 1.16 recomputes them (and then fails on duplicated columns); here a dataset that has both columns is
        returned as it is, so a sweep pays for the reference forward passes once.
        """

        def _precompute_ref_logps(self, dataset, name, batch_size):
            if all(column in dataset.column_names for column in _REF_COLUMNS):
                return dataset
            return super()._precompute_ref_logps(dataset, name, batch_size)

    return _ReferenceReuseTrainer


def compute_reference_log_probs(model, tokenizer, pairs, args):
    """The pairs as the trainer prepares them, with TRL's ``ref_chosen_logps``/``ref_rejected_logps`` columns.

    Runs TRL's own precompute once (``precompute_ref_log_probs=True``) on a copy of ``model`` (the reference), so the
    tokenization, end-of-sequence handling, collation and ``max_length`` truncation are exactly those of training.

    Args:
        model: the reference model (the SFT model); it is copied, not modified.
        pairs: a ``datasets.Dataset`` with prompt, chosen and rejected columns.
        args: an ``FDPOConfig`` with the sweep's training arguments (``precompute_ref_log_probs`` is forced on).

    Returns:
        a ``datasets.Dataset`` with columns prompt, chosen, rejected, ref_chosen_logps, ref_rejected_logps; rows that
        TRL drops (a prompt that alone fills ``max_length``) are not in it.
    """
    args = copy.copy(args)
    args.precompute_ref_log_probs = True
    with _datasets_progress_bars_off():
        trainer = _reference_reuse_trainer_class()(
            model=copy.deepcopy(model), args=args, train_dataset=pairs, processing_class=tokenizer
        )
    return trainer.train_dataset.select_columns(list(_PAIR_COLUMNS + _REF_COLUMNS))


@contextlib.contextmanager
def _datasets_progress_bars_off():
    from datasets.utils import logging as datasets_logging

    enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            datasets_logging.enable_progress_bar()


def train_policy(model, tokenizer, pairs, args, *, reuse_reference: bool = True):
    """Trains a copy of ``model`` with ``FDPOTrainer`` on ``pairs``.

    Args:
        model: the SFT model, kept unchanged (the policy starts from a deep copy, so the model is loaded once per
            sweep, not once per run).
        pairs: a ``datasets.Dataset``; with ``reuse_reference`` it must carry the reference columns of
            ``compute_reference_log_probs``.
        args: the run's ``FDPOConfig``.

    Returns:
        ``(policy, train_seconds, log_history)``: the trained model in eval mode, the seconds spent building the
        trainer and training (reference precompute or loading included when there is no reuse), TRL's log history.
    """
    from transformers import PrinterCallback

    from fdpo.trainer import FDPOTrainer

    started = time.perf_counter()
    if reuse_reference:
        missing = [c for c in _REF_COLUMNS if c not in pairs.column_names]
        if missing:
            raise ValueError(
                f"reuse_reference=True needs the pairs' reference log-probs, but columns {missing} are missing. "
                "Compute them with compute_reference_log_probs, or pass reuse_reference=False."
            )
        args = copy.copy(args)
        args.precompute_ref_log_probs = True
        trainer_class = _reference_reuse_trainer_class()
    else:
        pairs = pairs.remove_columns([c for c in _REF_COLUMNS if c in pairs.column_names])
        trainer_class = FDPOTrainer
    with _datasets_progress_bars_off():  # TRL's per-run dataset preparation bars would bury the sweep's own
        trainer = trainer_class(
            model=copy.deepcopy(model), args=args, train_dataset=pairs, processing_class=tokenizer
        )
    # With disable_tqdm, transformers prints every log dict to stdout; the sweep keeps them in log_history instead.
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    seconds = time.perf_counter() - started
    policy = trainer.model
    policy.eval()
    history = list(trainer.state.log_history)
    return policy, seconds, history


def evaluate_policy(
    policy,
    tokenizer,
    reward_model,
    prompts: Sequence[str],
    *,
    reference=None,
    settings: EvaluationSettings | None = None,
    generation: Mapping[str, Any] | None = None,
    prompt_template: str = "{prompt}",
    seed: int = 0,
    show_progress: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Samples from ``policy`` and measures reward and diversity.

    Args:
        reference: the reference model for ``kl_to_ref``; ``None`` means the policy is the reference (KL is 0).
        settings: which metrics, how many samples, batch sizes.
        generation: generate() settings (``settings.generation`` wins when set).

    Returns:
        ``(metrics, generations)``: metrics with the ``RESULT_COLUMNS`` metric keys (``None`` for a metric not
        asked for) plus reward std, sample count and evaluation time; generations as dicts (prompt, query,
        completion, reward_logit, reward_prob).
    """
    import numpy as np

    from fdpo import metrics as fm

    settings = settings or EvaluationSettings()
    wanted = set(settings.metrics)
    started = time.perf_counter()
    generation = settings.generation if settings.generation is not None else (generation or {})
    samples = generate_samples(
        policy,
        tokenizer,
        prompts,
        samples_per_prompt=settings.samples_per_prompt,
        batch_size=settings.batch_size,
        seed=seed,
        prompt_template=prompt_template,
        generation=generation,
        show_progress=show_progress,
    )
    result: dict[str, Any] = dict.fromkeys(
        (*RESULT_COLUMNS[5:12], "reward_logit_std", "reward_prob_std", "self_bleu"), None
    )
    logits = probabilities = None
    if "reward" in wanted:
        logits, probabilities = _logit_and_probability_rewards(reward_model, samples.texts)
        logit_summary = fm.reward_summary(logits)
        result.update(
            reward_logit_mean=float(logit_summary["mean"]),
            reward_logit_std=float(logit_summary["std"]),
            reward_logit_ci_low=float(logit_summary["ci_low"]),
            reward_logit_ci_high=float(logit_summary["ci_high"]),
            reward_prob_mean=float(np.mean(probabilities)),
            reward_prob_std=float(np.std(probabilities, ddof=1)) if len(probabilities) > 1 else 0.0,
        )
    if "token_entropy" in wanted:
        texts = samples.completions if settings.token_entropy_on == "completions" else samples.texts
        entropy_tokenizer = tokenizer
        if settings.token_entropy_tokenizer == "reward":
            entropy_tokenizer = getattr(reward_model, "tokenizer", None)
            if entropy_tokenizer is None:
                raise ValueError(
                    "evaluation.token_entropy_tokenizer='reward' needs a RewardModel with a tokenizer; the reward "
                    "given is a plain callable. Use token_entropy_tokenizer='policy'."
                )
        result["token_entropy"] = float(fm.token_entropy(texts, entropy_tokenizer))
    if wanted & {"predictive_entropy", "kl_to_ref"}:
        # One policy pass gives both the predictive entropy and the policy log-probs of the KL estimate (what
        # fm.predictive_entropy and fm.kl_from_samples compute, without scoring the samples with the policy twice).
        needs_kl = "kl_to_ref" in wanted and reference is not None and reference is not policy
        policy_stats = fm.completion_statistics(
            policy,
            tokenizer,
            samples.queries,
            samples.completions,
            batch_size=settings.batch_size,
            entropy="predictive_entropy" in wanted,
            desc="Policy statistics",
            show_progress=show_progress,
        )
        if "predictive_entropy" in wanted:
            nonempty = policy_stats["num_tokens"] > 0
            result["predictive_entropy"] = (
                float(policy_stats["entropy"][nonempty].mean()) if nonempty.any() else None
            )
        if "kl_to_ref" in wanted:
            if needs_kl:
                reference_logps = fm.completion_statistics(
                    reference,
                    tokenizer,
                    samples.queries,
                    samples.completions,
                    batch_size=settings.batch_size,
                    desc="Reference log-probs",
                    show_progress=show_progress,
                )["logps"]
                result["kl_to_ref"] = float((policy_stats["logps"] - reference_logps).mean())
            else:
                result["kl_to_ref"] = 0.0  # the policy is the reference
    if "distinct" in wanted:
        result["distinct_1"] = float(fm.distinct_n(samples.completions, 1))
        result["distinct_2"] = float(fm.distinct_n(samples.completions, 2))
    if "self_bleu" in wanted:
        result["self_bleu"] = float(fm.self_bleu(samples.completions))
    result["num_eval_samples"] = len(samples)
    result["eval_seconds"] = time.perf_counter() - started

    generations = []
    limit = len(samples) if settings.num_saved_generations is None else settings.num_saved_generations
    for index in range(min(limit, len(samples))):
        record = {
            "prompt": samples.prompts[index],
            "query": samples.queries[index],
            "completion": samples.completions[index],
        }
        if logits is not None:
            record["reward_logit"] = float(logits[index])
            record["reward_prob"] = float(probabilities[index])
        generations.append(record)
    return result, generations


# ----------------------------------------------------------------------------------------------------------------
# The sweep


class _Resources:
    """Models a sweep needs, each loaded once, on first use (a finished sweep loads nothing)."""

    def __init__(self, config: SweepConfig):
        self.config = config
        self.device = config.resolved_device()
        self._sft = None
        self._reward = None

    @property
    def sft(self):
        if self._sft is None:
            self._sft = load_causal_lm(self.config.sft_model, self.device)
        return self._sft

    @property
    def reward(self):
        if self._reward is None:
            self._reward = load_reward_model(self.config.reward_model, self.config.reward, self.device)
        return self._reward


def _check_same_sweep(root: Path, config: SweepConfig, restart: bool) -> None:
    path = root / "sweep.json"
    if not path.is_file() or restart:
        return
    previous = read_json(path).get("shared", {})
    current = config.shared_dict()
    if previous == current:
        return
    differences = _differences(previous, current)
    shown = "; ".join(differences[:6]) + (" ..." if len(differences) > 6 else "")
    raise SweepConfigError(
        f"{root} holds a sweep run with a different config ({shown}). Its finished runs would not match the new "
        "settings: use another --output-dir, or restart the sweep (CLI: --restart) to discard them. Only grid, "
        "report, name, device and save_models may change between reruns."
    )


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(dict.fromkeys([*old, *new])):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def _pairs_dataset(records: Sequence[Mapping[str, Any]]):
    from datasets import Dataset

    return Dataset.from_list([dict(r) for r in records])


def run_sweep(
    config: SweepConfig,
    output_dir: str | os.PathLike,
    *,
    show_progress: bool = True,
    write_report_files: bool = True,
    restart: bool = False,
) -> list[dict[str, Any]]:
    """Runs (or resumes) a sweep and returns its result rows, the SFT baseline first.

    Args:
        config: the sweep; validated again here, before any model is loaded.
        output_dir: where everything is written (see the module docstring for the layout).
        show_progress: tqdm bars for sampling, evaluation and the runs.
        write_report_files: also write tradeoff.png and report.md at the end.
        restart: discard the runs and stages of an earlier sweep in ``output_dir`` with a different config.

    Returns:
        one dict per finished run (the rows of results.csv).
    """
    from tqdm.auto import tqdm

    config.validate()
    config = config.resolved(show_progress=show_progress)
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    with _sweep_lock(root):
        _check_same_sweep(root, config, restart)
        if restart:
            for name in (
                "runs",
                "pair_samples.jsonl",
                "pair_scores.json",
                "pairs.jsonl",
                "pairs_with_ref.jsonl",
            ):
                target = root / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        write_json(root / "sweep.json", {"config": config.to_dict(), "shared": config.shared_dict()})
        store = RunStore(root)
        runs = config.runs()
        order = [BASELINE, *(run.run_id for run in runs)]
        resources = _Resources(config)
        prompts = load_prompts(config.prompts.texts, config.prompts.file)
        eval_prompts = _evaluation_prompts(config, prompts)
        eval_seed = int(config.grid.seeds[0])

        todo = [run for run in runs if not store.is_finished(run.run_id)]
        if not store.is_finished(BASELINE):
            model, tokenizer = resources.sft
            store.begin(
                BASELINE,
                {"run": {"run_id": BASELINE, "divergence": BASELINE, "seed": eval_seed}, **config.to_dict()},
            )
            metrics, generations = evaluate_policy(
                model,
                tokenizer,
                resources.reward,
                eval_prompts,
                reference=None,
                settings=config.evaluation,
                generation=config.generation,
                prompt_template=config.prompts.template,
                seed=eval_seed,
                show_progress=show_progress,
            )
            row = {
                "run_id": BASELINE,
                "divergence": BASELINE,
                "loss_type": "",
                "beta": None,
                "seed": eval_seed,
            }
            store.finish(BASELINE, {**row, **metrics, "train_seconds": None}, generations)
            store.write_tables(order)

        if todo:
            pairs = _prepare_pairs(root, config, resources, prompts, show_progress)
            model, tokenizer = resources.sft
            bar = tqdm(todo, desc="f-DPO runs", unit="run", disable=not show_progress)
            for run in bar:
                bar.set_postfix_str(run.run_id)
                _run_one(store, config, run, resources, pairs, eval_prompts, show_progress)
                store.write_tables(order)
        rows = store.write_tables(order)
        if write_report_files:
            write_report(
                root,
                diversity=config.report.diversity,
                reward=config.report.reward,
                title=config.name,
                html=config.report.html,
            )
    return rows


def _evaluation_prompts(config: SweepConfig, prompts: list[str]) -> list[str]:
    evaluation = config.evaluation
    if evaluation.prompts is not None or evaluation.prompts_file is not None:
        eval_prompts = load_prompts(evaluation.prompts, evaluation.prompts_file)
    else:
        eval_prompts = list(prompts)
    if evaluation.max_prompts is not None:
        eval_prompts = eval_prompts[: evaluation.max_prompts]
    return eval_prompts


def _prepare_pairs(
    root: Path, config: SweepConfig, resources: _Resources, prompts: list[str], show_progress: bool
):
    """The sweep's shared stages, each skipped when its file exists: samples, scores, pairs, reference log-probs."""
    from fdpo.generation import Samples

    samples_path = root / "pair_samples.jsonl"
    scores_path = root / "pair_scores.json"
    pairs_path = root / "pairs.jsonl"
    ref_path = root / "pairs_with_ref.jsonl"
    if config.reuse_reference_log_probs and ref_path.is_file():
        return _pairs_dataset(read_jsonl(ref_path))
    if not pairs_path.is_file():
        if samples_path.is_file():
            samples = Samples.load(samples_path)
        else:
            model, tokenizer = resources.sft
            samples = generate_samples(
                model,
                tokenizer,
                prompts,
                samples_per_prompt=config.pairs.samples_per_prompt,
                batch_size=config.pairs.batch_size,
                seed=config.pairs.seed,
                prompt_template=config.prompts.template,
                generation=config.generation,
                show_progress=show_progress,
            )
            samples.save(samples_path)
        if scores_path.is_file():
            scores = read_json(scores_path)
        else:
            scores = score_samples(resources.reward, samples.texts, kind="logit").tolist()
            write_json(scores_path, scores)
        try:
            pairs = make_pairs(samples, scores, config.pairs)
        except ValueError as error:  # build_pairs names the candidate counts and the fix
            raise SweepError(
                f"No preference pairs from {len(samples)} samples of the SFT model: {error}"
            ) from error
        write_jsonl(pairs_path, pairs.to_list())
    pairs = _pairs_dataset(read_jsonl(pairs_path))
    if not config.reuse_reference_log_probs:
        return pairs
    model, tokenizer = resources.sft
    first = config.runs()[0]
    args = config.fdpo_config(first, output_dir=root / "runs" / ".reference")
    started = time.perf_counter()
    with_ref = compute_reference_log_probs(model, tokenizer, pairs, args)
    write_json(
        root / "reference_log_probs.json",
        {
            "seconds": time.perf_counter() - started,
            "num_pairs": len(with_ref),
            "dropped_by_trl": len(pairs) - len(with_ref),
        },
    )
    write_jsonl(ref_path, with_ref.to_list())
    shutil.rmtree(root / "runs" / ".reference", ignore_errors=True)
    return _pairs_dataset(read_jsonl(ref_path))


def _run_one(
    store: RunStore,
    config: SweepConfig,
    run: RunSpec,
    resources: _Resources,
    pairs,
    eval_prompts,
    show_progress,
):
    model, tokenizer = resources.sft
    directory = store.begin(run.run_id, {"run": run.to_dict(), **config.to_dict()})
    args = config.fdpo_config(run, output_dir=directory / "trainer")
    policy, seconds, history = train_policy(
        model, tokenizer, pairs, args, reuse_reference=config.reuse_reference_log_probs
    )
    metrics, generations = evaluate_policy(
        policy,
        tokenizer,
        resources.reward,
        eval_prompts,
        reference=model,
        settings=config.evaluation,
        generation=config.generation,
        prompt_template=config.prompts.template,
        seed=run.seed,
        show_progress=show_progress,
    )
    if config.save_models:
        policy.save_pretrained(directory / "model")
        tokenizer.save_pretrained(directory / "model")
    shutil.rmtree(directory / "trainer", ignore_errors=True)
    train_logs = [entry for entry in history if "loss" in entry]
    final = train_logs[-1] if train_logs else {}
    row = {
        **run.to_dict(),
        **metrics,
        "train_seconds": seconds,
        "train_loss": final.get("loss"),
        "train_reward_accuracy": final.get("rewards/accuracies"),
        "train_reward_margin": final.get("rewards/margins"),
    }
    store.finish(run.run_id, row, generations)
    del policy
    gc.collect()
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------------------------------
# The demo sweep

#: Divergences of ``fdpo demo``: the paper's family from reverse KL to forward KL.
DEMO_DIVERGENCES = ["reverse_kl", "jensen_shannon", "alpha:0.3", "alpha:0.5", "alpha:0.7", "forward_kl"]


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def demo_config_dict(*, quick: bool = False) -> dict[str, Any]:
    """The ``fdpo demo`` sweep as a config dict (what examples/sweep_demo.yaml spells out).

    The sigmoid loss, the divergences of ``DEMO_DIVERGENCES`` and the tuned settings of
    ``fdpo.demo.DEMO_SWEEP_DEFAULTS`` (its ``"quick"`` entry on top for ``quick``); the models, prompts and
    generation settings come from the demo world (``demo: full`` or ``quick``).
    """
    from fdpo.demo.assets import DEMO_SWEEP_DEFAULTS

    defaults = {key: value for key, value in DEMO_SWEEP_DEFAULTS.items() if key != "quick"}
    data = _deep_merge(
        {
            "name": "Demo world: reward vs diversity under f-DPO" + (" (quick)" if quick else ""),
            "grid": {"divergences": list(DEMO_DIVERGENCES), "loss_types": ["sigmoid"]},
        },
        defaults,
    )
    if quick:
        data = _deep_merge(data, DEMO_SWEEP_DEFAULTS.get("quick", {}))
    data["demo"] = "quick" if quick else "full"
    return data


def demo_config(
    *,
    quick: bool = False,
    cache_dir: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    show_progress: bool = True,
) -> SweepConfig:
    """The ``fdpo demo`` sweep, with the demo world built or loaded (``resolved``) and ``overrides`` applied."""
    data = apply_overrides(demo_config_dict(quick=quick), overrides)
    if cache_dir is not None:
        data["demo_cache_dir"] = str(cache_dir)
    return SweepConfig.from_dict(data, source="fdpo demo", check_models=False).resolved(
        show_progress=show_progress
    )
