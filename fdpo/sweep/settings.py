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

from fdpo._validation import real_number
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
    "device_problems",
    "format_problems",
    "generation_problems",
    "hub_offline",
    "hub_problems",
    "in_hub_cache",
    "is_number",
    "model_reference_problems",
    "positive_int_problems",
    "rename_keys",
    "seed_problems",
    "unknown_key_problem",
]

PairStrategy = Literal[STRATEGIES]
PairDiversity = Literal[DIVERSITY_CRITERIA]
PairDraw = Literal["per_seed", "shared"]
LossType = Literal[LOSS_TYPES]

#: Seeds every library a run seeds accepts: numpy's ``np.random.seed`` (called by ``transformers.set_seed``) takes
#: 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


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
    draw: PairDraw = field(
        default="per_seed",
        metadata={
            "help": "per_seed: every training seed gets its own pair set (SFT samples drawn with a seed derived from "
            "pairs.seed and the run's seed), so the spread across seeds includes which samples became pairs; "
            "shared: one pair set (drawn with pairs.seed) for every run, cheaper, but its draw is in no error bar."
        },
    )
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
        problems += seed_problems("pairs.seed", [self.seed])
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
        problems += seed_problems("grid.seeds", lists["seeds"])
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
            valid, reason = name in registered, ""
            if valid and arguments:
                try:
                    get_divergence(str(key))
                except (ValueError, TypeError, KeyError) as error:
                    valid, reason = False, f" ({error})"
            if not valid:
                problems.append(
                    f"grid.beta_per_divergence has key {key!r}, which is not a divergence name or spec{reason} "
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
        if self.prompts is not None and (
            not isinstance(self.prompts, list)
            or not self.prompts
            or not all(isinstance(prompt, str) for prompt in self.prompts)
        ):
            problems.append(
                f"evaluation.prompts must be a non-empty list of strings or null, got {self.prompts!r}; quote "
                "prompts that YAML would read as numbers or booleans (e.g. ['1', 'yes'])."
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
    """A finite real number: an int or float, or a numpy scalar such as ``np.float32(0.1)`` (not a bool)."""
    number = real_number(value)
    return number is not None and math.isfinite(number)


def positive_int_problems(name: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [f"{name} must be a positive integer, got {value!r}."]
    return []


def seed_problems(name: str, values: Sequence[Any]) -> list[str]:
    """Problems of seeds: each an integer from 0 to ``MAX_SEED`` (what numpy, torch and ``transformers.set_seed``
    all accept)."""
    bad = [seed for seed in values if isinstance(seed, bool) or not isinstance(seed, int)]
    if bad:
        return [f"{name} must be integers, got {', '.join(map(repr, bad))}."]
    out_of_range = [seed for seed in values if not 0 <= seed <= MAX_SEED]
    if out_of_range:
        return [
            f"{name} has {', '.join(map(repr, out_of_range))}; a seed must be an integer from 0 to {MAX_SEED} (the "
            "range numpy's random seed, which transformers.set_seed calls, accepts)."
        ]
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
    """Problems of a model given as a local folder or a hub id (``gpt2``, ``org/name``), found without loading it.

    A value naming an existing path must be a folder with a config.json. Any other value must be a hub id by the
    hub's own rules (``huggingface_hub.utils.validate_repo_id``: ``name`` or ``namespace/name``, letters, digits,
    ``-``, ``_`` and ``.``, no ``--`` or ``..``, at most 96 characters); one that looks like a path (``./x``, ``/x``,
    ``~/x``, two or more ``/``) names a missing folder. With the hub offline (``HF_HUB_OFFLINE``), a hub id must be in
    the local cache. Whether an online hub has the id is ``hub_problems``'s question (it needs the network).
    """
    example = "lvwerra/distilbert-imdb" if "reward" in name else "gpt2 or lvwerra/gpt2-imdb"
    if not value or not isinstance(value, str):
        return [
            f"{name} is not set: give a local folder saved with save_pretrained or a hub id (e.g. {example})."
        ]
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            return [
                f"{name}={value!r} exists but is not a model directory (no config.json in it). Give the folder that "
                "save_pretrained wrote, or a hub id."
            ]
        return []
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    looks_local = value.startswith((".", "/", "~")) or "\\" in value or value.count("/") > 1
    try:
        validate_repo_id(value)
    except HFValidationError as error:
        if looks_local:
            return [
                f"{name}={value!r} does not exist as a local folder. Check the path (relative paths start from the "
                f"current directory), or give a hub id such as {example}."
            ]
        return [
            f"{name}={value!r} is neither an existing local folder nor a valid hub id ({error}). Check the spelling, "
            f"give a hub id such as {example}, or the path of a local folder."
        ]
    if hub_offline() and not in_hub_cache(value):
        return [
            f"{name}={value!r} is not a local folder, and the hub is offline ({hub_offline()}=1) with no copy of "
            f"{value!r} in the local cache. Check the id for typos, pass a local folder saved with save_pretrained, "
            f"or unset {hub_offline()} on a connected machine so that the model is downloaded."
        ]
    return []


def hub_problems(name: str, value: Any, *, timeout: float = 10.0) -> list[str]:
    """Whether the hub has the model ``value``, asked once with a ``timeout`` (seconds), without retries.

    Nothing is asked (and nothing is found wrong) for a local folder, a model in the local cache, a value
    ``model_reference_problems`` refuses, or an offline hub. Otherwise a missing, private or gated model and a hub
    that does not answer are problems, each saying what to do, so a sweep fails in seconds instead of after the
    retries of a model download.
    """
    if not isinstance(value, str) or not value or Path(value).expanduser().exists() or hub_offline():
        return []
    if model_reference_problems(name, value) or in_hub_cache(value):
        return []
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(value, timeout=timeout)
    except GatedRepoError:
        return [
            f"{name}={value!r} is a gated model: accept its conditions on its hub page, log in (hf auth login), or "
            "pass a local folder."
        ]
    except RepositoryNotFoundError:
        return [
            f"{name}={value!r}: the hub has no model of that id (or it is private: log in with hf auth login). Check "
            "the id for typos, or pass a local folder saved with save_pretrained."
        ]
    except Exception as error:  # noqa: BLE001 -- any failure to reach the hub (DNS, refused, timeout, proxy, 5xx)
        return [
            f"{name}={value!r} is not in the local cache and the hub ({constants.ENDPOINT}) could not be reached "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no details'}; the check waits "
            f"at most {timeout:g} s). "
            "Check the network (or HF_ENDPOINT), check the id, pass a local folder, or, if the model is cached "
            "under another name or revision, set HF_HUB_OFFLINE=1."
        ]
    return []


def in_hub_cache(repo_id: str) -> bool:
    """Whether the hub model ``repo_id`` has a config.json in the local cache."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # noqa: BLE001 -- any failure to look means: not usable from the cache
        return False


def hub_offline() -> str | None:
    """The variable that makes the hub offline (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``), or None."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on"):
            return variable
    return None


def device_problems(device: Any) -> list[str]:
    """Problems of a ``device`` setting: not a torch device, or an accelerator this machine does not have."""
    if device is None:
        return []
    hint = "use cpu, cuda, cuda:N or mps, or leave device unset (cuda when available, else cpu)"
    if not isinstance(device, str) or not device.strip():
        return [f"device={device!r} is not a device name; {hint}."]
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as error:
        return [f"device={device!r} is not a torch device ({error}); {hint}."]
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return [
                f"device={device!r}, but no CUDA GPU is visible here (torch.cuda.is_available() is False). Leave "
                "device unset or set device=cpu to run on the CPU, or run on a machine with a GPU."
            ]
        if parsed.index is not None and parsed.index >= count:
            return [
                f"device={device!r}, but this machine has {count} CUDA GPU(s): cuda:0 to cuda:{count - 1}."
            ]
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        return [f"device={device!r}, but Apple's MPS backend is not available here; {hint}."]
    return []


def unknown_key_problem(key: str, known: Mapping[str, Any], what: str, prefix: str = "") -> str:
    """``"<prefix><key> is not a known <what>."`` with the closest known key, if any, as a suggestion."""
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else ""
    return f"{prefix}{key} is not a known {what}.{hint}"


def rename_keys(message: str, names: Mapping[str, str] | None) -> str:
    """``message`` with each config key of ``names`` written as the caller's user knows it.

    ``names`` maps a key (``grid.betas``) to what the user wrote (``--beta``): every mention of the key, with an index
    (``grid.betas[0]``) or without, becomes the name. A key ending in ``.`` is a prefix: ``{"training.": "--set "}``
    turns ``training.learning_rate`` into ``--set learning_rate``.
    """
    for key, name in (names or {}).items():
        if key.endswith("."):
            pattern = rf"(?<![\w.\[-]){re.escape(key)}(?=\w)"
        else:
            pattern = rf"(?<![\w.\[-]){re.escape(key)}(?:\[\d+\])?(?![\w\[]|\.\w)"
        message = re.sub(pattern, lambda _match, name=name: name, message)
    return message


def format_problems(source: str, problems: Sequence[str], names: Mapping[str, str] | None = None) -> str:
    """One message for a list of problems of ``source`` (a file or ``config``); ``names`` as in ``rename_keys``."""
    problems = [rename_keys(problem, names) for problem in problems]
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    return f"{source}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
