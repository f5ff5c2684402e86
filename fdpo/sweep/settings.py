"""The sections of a sweep config (``prompts:``, ``reward:``, ``pairs:``, ``grid:``, ``evaluation:``, ``report:``).

Each section is a dataclass whose ``problems()`` lists what is wrong with it, each problem with the bad value, what
was expected and the fix; ``SweepConfig.validate`` gathers them. A field with a fixed set of values is typed
``Literal[...]`` (or ``list[Literal[...]]``) over the constant of the module that owns it (``fdpo.data.STRATEGIES``,
``fdpo.losses.LOSS_TYPES``, the measures of ``fdpo.evaluation``) and checked by one generic helper,
``choice_problems``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import math
import os
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fdpo.data import DIVERSITY_CRITERIA, STRATEGIES
from fdpo.evaluation import DEFAULT_METRICS, METRIC_NAMES, DiversityMeasure, MetricName, RewardMeasure
from fdpo.losses import LOSS_TYPES

__all__ = [
    "EvaluationSettings",
    "GridSettings",
    "PairSettings",
    "PromptSettings",
    "ReportSettings",
    "RewardSettings",
    "beta_problems",
    "choice_problems",
    "format_problems",
    "generation_problems",
    "is_number",
    "model_reference_problems",
    "positive_int_problems",
    "unknown_key_problem",
]

PairStrategy = Literal[STRATEGIES]
PairDiversity = Literal[DIVERSITY_CRITERIA]
LossType = Literal[LOSS_TYPES]

# Hub ids: "org/name" (the form every current hub model has; bare names such as "gpt2" moved under an org).
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]*[A-Za-z0-9_]$")


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

    def problems(self, *, required: bool = True) -> list[str]:
        """What is wrong; ``required=False`` when something else (a world) supplies prompts left unset."""
        problems = []
        if not isinstance(self.texts, list) or not all(isinstance(p, str) for p in self.texts):
            problems.append(f"prompts.texts must be a list of strings, got {self.texts!r}.")
        problems += _file_problems("prompts.file", self.file)
        if not problems and not self.texts and self.file is None and required:
            problems.append("No prompts: set prompts.texts (e.g. ['Good Review:']) or prompts.file.")
        if not isinstance(self.template, str) or "{prompt}" not in self.template:
            problems.append(f"prompts.template={self.template!r} must contain '{{prompt}}'.")
        else:
            try:
                self.template.format(prompt="x")
            except (KeyError, IndexError, ValueError) as error:
                problems.append(
                    f"prompts.template={self.template!r} is not a valid format string ({error!r}); write "
                    "literal braces as {{ and }}."
                )
        return problems


@dataclass
class RewardSettings:
    """How the reward model scores texts (``fdpo.reward.RewardModel``)."""

    positive_index: int = field(default=1, metadata={"help": "Index of the positive class in the logits."})
    batch_size: int = field(default=64, metadata={"help": "Texts scored per forward pass."})
    max_length: int | None = field(
        default=None, metadata={"help": "Truncate scored texts to this many tokens."}
    )

    def problems(self) -> list[str]:
        return positive_int_problems("reward.batch_size", self.batch_size)


@dataclass
class PairSettings:
    """How the preference pairs are built from scored samples of the SFT model (``fdpo.data.build_pairs``)."""

    samples_per_prompt: int = field(default=4, metadata={"help": "SFT samples drawn per prompt."})
    batch_size: int = field(default=32, metadata={"help": "Prompts per generate() call."})
    strategy: PairStrategy = field(default="threshold", metadata={"help": ", ".join(STRATEGIES) + "."})
    high: float = field(default=2.0, metadata={"help": "threshold: chosen texts have reward > high."})
    low: float = field(default=0.0, metadata={"help": "threshold: rejected texts have low < reward < high."})
    margin: float = field(
        default=1.0, metadata={"help": "margin: minimum reward gap between chosen and rejected."}
    )
    num_pairs: int | None = field(
        default=None, metadata={"help": "Number of pairs (None: what the strategy gives)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the SFT sampling and of the pairing."})
    diversity: PairDiversity = field(
        default="logprob",
        metadata={
            "help": "divpo: logprob (a lower mean token log-prob under the SFT model is more diverse) or ngram "
            "(mean n-gram Jaccard distance to the prompt's other samples)."
        },
    )
    quantile: float = field(
        default=0.5,
        metadata={"help": "divpo: share of each prompt's samples in each reward pool, in (0, 0.5]."},
    )
    ngram: int = field(default=2, metadata={"help": "divpo with diversity ngram: the n of the n-grams."})

    def problems(self) -> list[str]:
        problems = choice_problems(self, "pairs")
        problems += positive_int_problems("pairs.ngram", self.ngram)
        if not is_number(self.quantile) or not 0 < self.quantile <= 0.5:
            problems.append(f"pairs.quantile must be in (0, 0.5], got {self.quantile!r}.")
        problems += positive_int_problems("pairs.samples_per_prompt", self.samples_per_prompt)
        problems += positive_int_problems("pairs.batch_size", self.batch_size)
        if self.num_pairs is not None:
            problems += positive_int_problems("pairs.num_pairs", self.num_pairs)
        if self.strategy == "threshold" and is_number(self.high) and is_number(self.low):
            if self.low >= self.high:
                problems.append(
                    f"pairs.low={self.low!r} must be below pairs.high={self.high!r}: chosen texts score above high, "
                    "rejected ones between low and high."
                )
        for name in ("high", "low", "margin"):
            if not is_number(getattr(self, name)):
                problems.append(f"pairs.{name} must be a number, got {getattr(self, name)!r}.")
        return problems


@dataclass
class GridSettings:
    """The grid of runs: every divergence × loss_type × beta × seed."""

    divergences: list[str] = field(
        default_factory=lambda: ["reverse_kl"],
        metadata={
            "help": "Divergence names or specs (reverse_kl, jensen_shannon, forward_kl, alpha:0.3, ...)."
        },
    )
    loss_types: list[LossType] = field(
        default_factory=lambda: ["sigmoid"], metadata={"help": ", ".join(LOSS_TYPES) + "."}
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

    def problems(self) -> list[str]:
        from fdpo.divergences import get_divergence, list_divergences

        problems = []
        lists = {}
        for name in ("divergences", "loss_types", "betas", "seeds"):
            value = getattr(self, name)
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
        problems += choice_problems(self, "grid")
        if len(set(map(str, lists["loss_types"]))) != len(lists["loss_types"]):
            problems.append(f"grid.loss_types={self.loss_types!r} has duplicates.")
        if lists["betas"]:
            problems += beta_problems("grid.betas", lists["betas"])
        for seed in lists["seeds"]:
            if isinstance(seed, bool) or not isinstance(seed, int):
                problems.append(f"grid.seeds must be integers, got {seed!r}.")
        if len(set(map(repr, lists["seeds"]))) != len(lists["seeds"]):
            problems.append(f"grid.seeds={self.seeds!r} has duplicates.")
        if not isinstance(self.beta_per_divergence, Mapping):
            problems.append(
                f"grid.beta_per_divergence must be a mapping divergence -> beta(s), got {self.beta_per_divergence!r}."
            )
            return problems
        # A key for a divergence the grid does not list is allowed (a shared config narrowed by an override);
        # a key that names no registered divergence at all is a typo.
        registered = set(list_divergences())
        for key, value in self.beta_per_divergence.items():
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
            problems += beta_problems(
                f"grid.beta_per_divergence[{key!r}]", value if isinstance(value, list) else [value]
            )
        return problems


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
    metrics: list[MetricName] = field(
        default_factory=lambda: list(DEFAULT_METRICS),
        metadata={"help": "Subset of " + ", ".join(METRIC_NAMES) + "."},
    )
    token_entropy_on: Literal["completions", "texts"] = field(
        default="completions",
        metadata={"help": "completions or texts (prompt + completion, as the notebook)."},
    )
    token_entropy_tokenizer: Literal["policy", "reward"] = field(
        default="policy",
        metadata={"help": "policy or reward: tokenizer that splits texts for token_entropy."},
    )
    num_saved_generations: int | None = field(
        default=None, metadata={"help": "Generations kept in each run's generations.jsonl (None: all)."}
    )

    def problems(self) -> list[str]:
        problems = _file_problems("evaluation.prompts_file", self.prompts_file)
        if not isinstance(self.metrics, list):
            problems.append(f"evaluation.metrics must be a list, got {self.metrics!r}.")
        problems += choice_problems(self, "evaluation")
        if self.prompts is not None and (not isinstance(self.prompts, list) or not self.prompts):
            problems.append(
                f"evaluation.prompts must be a non-empty list of strings or null, got {self.prompts!r}."
            )
        problems += positive_int_problems("evaluation.samples_per_prompt", self.samples_per_prompt)
        problems += positive_int_problems("evaluation.batch_size", self.batch_size)
        if self.max_prompts is not None:
            problems += positive_int_problems("evaluation.max_prompts", self.max_prompts)
        if self.generation is not None:
            problems += generation_problems("evaluation.generation", self.generation)
        return problems


@dataclass
class ReportSettings:
    """What the sweep's report plots."""

    diversity: DiversityMeasure = field(
        default="predictive_entropy", metadata={"help": "y axis: predictive_entropy or token_entropy."}
    )
    reward: RewardMeasure = field(
        default="reward_logit", metadata={"help": "x axis: reward_logit or reward_prob."}
    )
    html: bool = field(
        default=False,
        metadata={
            "help": 'also write tradeoff.html, the interactive plot (needs plotly: pip install "fdpo[html]").'
        },
    )

    def problems(self) -> list[str]:
        problems = choice_problems(self, "report")
        if self.html and importlib.util.find_spec("plotly") is None:
            problems.append(
                'report.html=true needs plotly: pip install "fdpo[html]", or set report.html=false.'
            )
        return problems


# ----------------------------------------------------------------------------------------------------------------
# Checks shared by the sections and the config


def choice_problems(settings: Any, section: str) -> list[str]:
    """Problems of the fields of a settings dataclass typed ``Literal[...]`` or ``list[Literal[...]]``.

    A value outside the choices is named with the choices; a list field that is not a list is left to the section's
    own checks.
    """
    hints = typing.get_type_hints(type(settings))
    problems = []
    for item in dataclasses.fields(settings):
        hint = hints[item.name]
        value = getattr(settings, item.name)
        name = f"{section}.{item.name}"
        if typing.get_origin(hint) is Literal:
            choices = typing.get_args(hint)
            if value not in choices:
                problems.append(f"{name}={value!r} is unknown; use one of {', '.join(choices)}.")
        elif typing.get_origin(hint) is list and typing.get_origin(typing.get_args(hint)[0]) is Literal:
            choices = typing.get_args(typing.get_args(hint)[0])
            unknown = [v for v in value if v not in choices] if isinstance(value, list) else []
            if unknown:
                problems.append(
                    f"{name} has {', '.join(map(repr, unknown))}; use any of {', '.join(choices)}."
                )
    return problems


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive_int_problems(name: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [f"{name} must be a positive integer, got {value!r}."]
    return []


def beta_problems(name: str, values: Sequence[Any]) -> list[str]:
    if not values:
        return [f"{name} is empty: the grid would have no runs for it. Give at least one β > 0."]
    bad = [v for v in values if not is_number(v) or v <= 0]
    if bad:
        return [
            f"{name} has {bad}; β must be a finite number > 0 (the paper uses 0.1 for reverse KL/JS, 0.01 for α)."
        ]
    return []


def _file_problems(name: str, path: str | None) -> list[str]:
    if path is not None and not Path(path).expanduser().is_file():
        return [f"{name}={path!r} does not exist. Give a text file with one prompt per line."]
    return []


def generation_problems(name: str, settings: Any) -> list[str]:
    """Problems of a mapping of ``generate()`` settings: not a mapping, or keys ``GenerationConfig`` does not know."""
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
                unknown_key_problem(
                    str(key), {k: None for k in known}, "generate() setting", prefix=f"{name}."
                )
            )
    return problems


def model_reference_problems(name: str, value: Any) -> list[str]:
    """Problems of a model given as a local directory or a hub id ``org/name`` (checked in the cache offline)."""
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


def unknown_key_problem(key: str, known: Mapping[str, Any], what: str, prefix: str = "") -> str:
    """``"<prefix><key> is not a known <what>."`` with the closest known key, if any, as a suggestion."""
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else ""
    return f"{prefix}{key} is not a known {what}.{hint}"


def format_problems(source: str, problems: Sequence[str]) -> str:
    """One message for a list of problems of ``source`` (a file or ``config``)."""
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    return f"{source}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
