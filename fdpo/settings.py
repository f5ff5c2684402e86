"""The settings of the pipeline's stages, and the names they refer to: what the stage functions, the evaluation, the
report, the sweep and the ``fdpo`` command share.

* ``PromptSettings``, ``RewardSettings``, ``PairSettings``, ``EvaluationSettings``, ``ReportSettings``: how each stage
  runs (a sweep config's ``prompts:``, ``reward:``, ``pairs:``, ``evaluation:`` and ``report:`` sections; the
  command's options are built from their fields). Each is a dataclass whose ``problems()`` lists what is wrong with
  it, each problem with the bad value, what was expected and the fix (the shared checks of ``fdpo.checks``).
* The names of the measures: ``METRIC_NAMES`` (what ``evaluation.metrics`` may ask for), ``DIVERSITY_MEASURES`` and
  ``REWARD_MEASURES`` (the axes of the report) and ``METRIC_COLUMNS`` (the metric columns of a results row).
* The pair strategies ``STRATEGIES`` and DivPO's ``DIVERSITY_CRITERIA`` (``fdpo.pairs.build_pairs``).

A field with a fixed set of values is typed ``Literal[...]`` (or ``list[Literal[...]]``) over these constants and
checked by one generic helper, ``choice_problems``. Nothing here imports torch, transformers or datasets.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Literal

from fdpo.checks import (
    choice_problems,
    file_problems,
    generation_problems,
    is_number,
    positive_int_problems,
    seed_problems,
)

__all__ = [
    "DEFAULT_METRICS",
    "DIVERSITY_CRITERIA",
    "DIVERSITY_MEASURES",
    "METRIC_COLUMNS",
    "METRIC_NAMES",
    "REWARD_MEASURES",
    "STRATEGIES",
    "DiversityMeasure",
    "EvaluationSettings",
    "MetricName",
    "PairSettings",
    "PromptSettings",
    "ReportSettings",
    "RewardMeasure",
    "RewardSettings",
]

# ----------------------------------------------------------------------------------------------------------------
# Names

MetricName = Literal[
    "reward",
    "token_entropy",
    "predictive_entropy",
    "sequence_entropy",
    "entropy_rate",
    "prefix_entropy",
    "distinct",
    "distinct_2_rarefied",
    "within_prompt_diversity",
    "completion_tokens",
    "finished",
    "kl_to_ref",
    "self_bleu",
]
DiversityMeasure = Literal[
    "predictive_entropy",
    "token_entropy",
    "sequence_entropy",
    "entropy_rate",
    "prefix_entropy",
    "distinct_2_rarefied",
    "within_prompt_diversity",
]
RewardMeasure = Literal["reward_logit", "reward_prob"]

#: Names accepted in ``evaluation.metrics``.
METRIC_NAMES: tuple[str, ...] = MetricName.__args__
#: What a sweep measures unless ``evaluation.metrics`` says otherwise (self-BLEU is quadratic in the samples). The
#: entropies come from one policy pass over the sampled ids, the length measures from the samples themselves;
#: ``within_prompt_diversity`` needs two or more samples per prompt (with one it is None, and a warning says why).
DEFAULT_METRICS = tuple(name for name in METRIC_NAMES if name != "self_bleu")
#: Diversity measures a report can plot.
DIVERSITY_MEASURES: tuple[str, ...] = DiversityMeasure.__args__
#: Rewards a report can plot.
REWARD_MEASURES: tuple[str, ...] = RewardMeasure.__args__
#: The metric columns of a results row, in the order of results.csv.
METRIC_COLUMNS = (
    "reward_logit_mean",
    "reward_prob_mean",
    "token_entropy",
    "predictive_entropy",
    "sequence_entropy",
    "entropy_rate",
    "prefix_entropy",
    "distinct_1",
    "distinct_2",
    "distinct_2_rarefied",
    "within_prompt_diversity",
    "completion_tokens",
    "finished",
    "kl_to_ref",
)

#: How ``fdpo.pairs.build_pairs`` pairs scored samples.
STRATEGIES = ("threshold", "best_vs_worst", "margin", "divpo")
#: How ``divpo`` measures a sample's diversity.
DIVERSITY_CRITERIA = ("logprob", "ngram")

# ----------------------------------------------------------------------------------------------------------------
# Settings

PairStrategy = Literal[STRATEGIES]
PairDiversity = Literal[DIVERSITY_CRITERIA]
PairDraw = Literal["per_seed", "shared"]


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
        problems += file_problems("prompts.file", self.file)
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
    """How the preference pairs are built from scored samples of the SFT model (``fdpo.pairs.build_pairs``)."""

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
    prefix_tokens: int = field(
        default=8,
        metadata={
            "help": "prefix_entropy: k, the number of first sampled tokens whose entropies are summed."
        },
    )
    rarefy_ngrams: int = field(
        default=200,
        metadata={
            "help": "distinct_2_rarefied: the bigram count distinct-2 is rarefied to (its value is None when the "
            "samples hold fewer bigrams)."
        },
    )
    token_entropy_tokenizer: Literal["policy", "reward"] = field(
        default="policy",
        metadata={"help": "policy or reward: tokenizer that splits texts for token_entropy."},
    )
    num_saved_generations: int | None = field(
        default=None, metadata={"help": "Generations kept in each run's generations.jsonl (None: all)."}
    )
    checkpoints: list[int] = field(
        default_factory=list,
        metadata={
            "help": "Global training steps at which every run's policy is also evaluated, as the final one is: its "
            "curve (curves.csv, with the SFT model as step 0). Empty: only the final policy."
        },
    )
    control_temperatures: list[float] = field(
        default_factory=list,
        metadata={
            "help": "Temperatures the SFT model of every seed is also sampled at, besides the evaluation's own, "
            "and measured the same way (controls.csv): the study's positive control, e.g. [0.85]."
        },
    )
    prompt_draw: Literal["fixed", "per_seed"] = field(
        default="fixed",
        metadata={
            "help": "fixed: every seed is evaluated on the same prompts (the first max_prompts); per_seed: each seed "
            "draws its own max_prompts of them, so replicates differ in their prompts too (needs max_prompts)."
        },
    )

    def problems(self) -> list[str]:
        problems = file_problems("evaluation.prompts_file", self.prompts_file)
        if not isinstance(self.metrics, list):
            problems.append(f"evaluation.metrics must be a list, got {self.metrics!r}.")
        problems += choice_problems(self, "evaluation")
        problems += positive_int_problems("evaluation.prefix_tokens", self.prefix_tokens)
        problems += positive_int_problems("evaluation.rarefy_ngrams", self.rarefy_ngrams)
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
        problems += self._curve_and_control_problems()
        return problems

    def _curve_and_control_problems(self) -> list[str]:
        """Problems of ``checkpoints``, ``control_temperatures`` and ``prompt_draw`` (whether a checkpoint lies within
        training is the sweep's check: it knows the training arguments)."""
        problems = []
        steps = self.checkpoints
        if not isinstance(steps, list) or not all(
            isinstance(step, int) and not isinstance(step, bool) and step > 0 for step in steps
        ):
            problems.append(
                f"evaluation.checkpoints must be a list of positive integers (global training steps), got {steps!r}; "
                "the SFT model is the curve's step 0 by itself."
            )
        elif len(set(steps)) != len(steps):
            problems.append(f"evaluation.checkpoints={steps!r} lists a step twice; list each step once.")
        temperatures = self.control_temperatures
        if not isinstance(temperatures, list) or not all(is_number(t) and t > 0 for t in temperatures):
            problems.append(
                f"evaluation.control_temperatures must be a list of positive numbers, got {temperatures!r} "
                "(e.g. [0.85])."
            )
        elif len(set(temperatures)) != len(temperatures):
            problems.append(
                f"evaluation.control_temperatures={temperatures!r} lists a temperature twice; list each once."
            )
        if self.prompt_draw == "per_seed" and self.max_prompts is None:
            problems.append(
                "evaluation.prompt_draw=per_seed draws max_prompts of the evaluation prompts for each seed, but "
                "evaluation.max_prompts is not set: set it (e.g. 64), below the number of evaluation prompts, or use "
                "prompt_draw=fixed."
            )
        return problems


@dataclass
class ReportSettings:
    """What the sweep's report plots."""

    diversity: DiversityMeasure = field(
        default="predictive_entropy",
        metadata={"help": "y axis: one of " + ", ".join(DiversityMeasure.__args__) + "."},
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
    note: str | None = field(
        default=None,
        metadata={"help": "a paragraph closing report.md (the demo says there what its size can show)."},
    )

    def problems(self) -> list[str]:
        problems = choice_problems(self, "report")
        if self.note is not None and not isinstance(self.note, str):
            problems.append(
                f"report.note={self.note!r} must be text (a paragraph for report.md), or left out."
            )
        if self.html and importlib.util.find_spec("plotly") is None:
            problems.append(
                'report.html=true needs plotly: pip install "fdpo[html]", or set report.html=false.'
            )
        return problems
