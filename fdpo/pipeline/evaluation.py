"""Evaluating a policy: sample from it, then measure reward and diversity (``evaluate_policy``).

The names of the measures (``METRIC_NAMES``, ``METRIC_COLUMNS``, ...) are in ``fdpo.settings``, so that the report and
the sweep settings use them without this module. numpy and the metrics are imported inside the function.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from fdpo.checks import positive_int_problems
from fdpo.pipeline.sampling import generate_samples, reward_logits_and_probabilities

# The names of the measures other than METRIC_COLUMNS are imported only for this module's old path, so that
# `from fdpo.evaluation import METRIC_NAMES` keeps working for a release.
from fdpo.settings import (  # noqa: F401
    DEFAULT_METRICS,
    DIVERSITY_MEASURES,
    METRIC_COLUMNS,
    METRIC_NAMES,
    REWARD_MEASURES,
    DiversityMeasure,
    EvaluationSettings,
    MetricName,
    RewardMeasure,
)

__all__ = ["evaluate_policy"]

#: The metrics computed from the policy's next-token entropies over the sampled ids (``fdpo.metrics.entropy_measures``).
_ENTROPY_METRICS = ("sequence_entropy", "entropy_rate", "predictive_entropy", "prefix_entropy")


#: Keys of ``fdpo.decoding.sample`` that are not generate settings.
_DECODING_KEYS = ("engine", "reference", "realign")


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
        ``(metrics, generations)``: metrics with the ``METRIC_COLUMNS`` keys (``None`` for a metric not asked for,
        ``within_prompt_diversity`` with one sample per prompt, ``distinct_2_rarefied`` with fewer bigrams than
        ``settings.rarefy_ngrams``) plus reward std, ``completion_words`` (mean words per completion, with the
        distinct measures: distinct-n falls with length), sample count and evaluation time. The policy measures
        (entropies, ``kl_to_ref``, ``completion_tokens``) score the sampled token ids with the stop token included
        where one ended the sample (``Samples.sampled_ids``). Generations as dicts, one per sample: prompt, query,
        completion, and the sample's own values for a bootstrap over prompts: ``reward_logit``/``reward_prob``
        (with ``reward``), ``num_tokens`` (sampled tokens, stop token included) and ``finished`` (a stop token
        ended it); ``policy_logp`` (log π of the sampled ids) with an entropy or ``kl_to_ref``;
        ``sequence_entropy``, ``predictive_entropy`` (``None`` for an empty completion) and ``prefix_entropy``
        with an entropy; and ``ref_logp`` (log π_ref of the sampled ids) with ``kl_to_ref`` and a reference.

    Raises:
        ValueError: an unknown metric name, or a ``prefix_tokens`` or ``rarefy_ngrams`` that is not a positive
            integer.
    """
    import numpy as np

    from fdpo import metrics as fm
    from fdpo.decoding.scoring import sampled_distribution, score_completions

    settings = settings or EvaluationSettings()
    problems = positive_int_problems("evaluation.prefix_tokens", settings.prefix_tokens)
    problems += positive_int_problems("evaluation.rarefy_ngrams", settings.rarefy_ngrams)
    unknown = sorted(set(settings.metrics) - set(METRIC_NAMES))
    if unknown:
        problems.append(
            f"evaluation.metrics has unknown name(s) {unknown}; known: {', '.join(METRIC_NAMES)}."
        )
    if problems:
        raise ValueError(" ".join(problems))
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
        (*METRIC_COLUMNS, "reward_logit_std", "reward_prob_std", "self_bleu", "completion_words")
    )
    per_sample: dict[str, Any] = {}
    if "reward" in wanted:
        logits, probabilities = reward_logits_and_probabilities(reward_model, samples.texts)
        per_sample.update(reward_logit=logits, reward_prob=probabilities)
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
    # Every policy measure scores the ids as sampled, the stop token included where one ended the sample: the
    # tokens the policy generated, and what TRL trains on (re-tokenized text would drop the stop token and may
    # segment the text differently).
    sampled_ids = samples.sampled_ids
    num_tokens = np.array([len(ids) for ids in sampled_ids], dtype=np.int64)
    finished = samples.finished
    per_sample["num_tokens"] = num_tokens
    if finished is not None:
        per_sample["finished"] = finished
    if "completion_tokens" in wanted:
        result["completion_tokens"] = float(num_tokens.mean())
    if "finished" in wanted:
        result["finished"] = float(np.mean(finished)) if finished is not None else None
    entropy_wanted = bool(wanted & set(_ENTROPY_METRICS))
    if entropy_wanted or "kl_to_ref" in wanted:
        # One policy pass gives the entropies and the policy log-probs of the KL estimate.

        def scores(model, desc: str, entropy: bool = False, sampled_from: Mapping[str, Any] | None = None):
            return score_completions(
                model,
                tokenizer,
                samples.queries,
                sampled_ids,
                batch_size=settings.batch_size,
                entropy=entropy,
                generation=sampled_from,
                desc=desc,
                show_progress=show_progress,
            )

        # The policy's side is the distribution the samples were drawn from (its temperature, top-k, top-p): a
        # policy sampled at T = 0.85 is that tempered distribution, and its entropies and KL are that one's. fdpo's
        # own decoding keys (a realignment's reference and weight, the engine) are not generate's and are dropped:
        # a realigned sample is scored under the policy alone.
        sampled_from = {k: v for k, v in generation.items() if k not in _DECODING_KEYS}
        # KL(sampled ‖ reference). Without a reference, or against itself, the reference is the policy's own
        # distribution: 0 unless the samples were drawn through a temperature, top-k or top-p.
        if reference is None or reference is policy:
            reference = policy if sampled_distribution(policy, sampled_from) is not None else None
        needs_kl = "kl_to_ref" in wanted and reference is not None
        policy_scores = scores(policy, "Policy statistics", entropy=entropy_wanted, sampled_from=sampled_from)
        policy_logps = policy_scores.sum_logps
        per_sample["policy_logp"] = policy_logps
        if entropy_wanted:
            entropies = fm.entropy_measures(policy_scores.token_entropies, settings.prefix_tokens)
            result.update({name: entropies[name] for name in _ENTROPY_METRICS if name in wanted})
            sums = [float(values.sum()) for values in policy_scores.token_entropies]
            means = [
                float(values.mean()) if len(values) else None for values in policy_scores.token_entropies
            ]
            prefixes = [
                float(values[: settings.prefix_tokens].sum()) for values in policy_scores.token_entropies
            ]
            per_sample.update(sequence_entropy=sums, predictive_entropy=means, prefix_entropy=prefixes)
        if "kl_to_ref" in wanted:
            if needs_kl:
                reference_logps = scores(reference, "Reference log-probs").sum_logps
                per_sample["ref_logp"] = reference_logps
                result["kl_to_ref"] = float((policy_logps - reference_logps).mean())
            else:
                result["kl_to_ref"] = 0.0  # the samples are drawn from the reference itself
    if "distinct" in wanted:
        result["distinct_1"] = float(fm.distinct_n(samples.completions, 1))
        result["distinct_2"] = float(fm.distinct_n(samples.completions, 2))
    if wanted & {"distinct", "distinct_2_rarefied", "within_prompt_diversity"}:
        # distinct-n divides unique by all n-grams, so longer completions score lower at equal variety: the mean
        # length in the same words goes next to it.
        result["completion_words"] = float(np.mean([len(text.split()) for text in samples.completions]))
    if "distinct_2_rarefied" in wanted:
        bigrams = sum(max(len(text.split()) - 1, 0) for text in samples.completions)
        if bigrams >= settings.rarefy_ngrams:
            result["distinct_2_rarefied"] = fm.distinct_n_rarefied(
                samples.completions, 2, settings.rarefy_ngrams
            )
        else:
            warnings.warn(
                f"distinct_2_rarefied is None: the {len(samples)} samples hold {bigrams} word bigrams, fewer than "
                f"evaluation.rarefy_ngrams={settings.rarefy_ngrams}; lower rarefy_ngrams or draw more samples.",
                stacklevel=2,
            )
    if "within_prompt_diversity" in wanted:
        if settings.samples_per_prompt >= 2:
            result["within_prompt_diversity"] = fm.within_prompt_diversity(
                samples.completions, settings.samples_per_prompt
            )
        else:
            # Not an error: it is in the default metrics, and one sample per prompt is the default too.
            warnings.warn(
                "within_prompt_diversity is None: it compares a prompt's samples with each other, and "
                "evaluation.samples_per_prompt is 1; set samples_per_prompt to 2 or more to measure it.",
                stacklevel=2,
            )
    if "self_bleu" in wanted:
        result["self_bleu"] = float(fm.self_bleu(samples.completions))
    result["num_eval_samples"] = len(samples)
    result["eval_seconds"] = time.perf_counter() - started

    limit = len(samples) if settings.num_saved_generations is None else settings.num_saved_generations
    generations = []
    for index in range(min(limit, len(samples))):
        record = {
            "prompt": samples.prompts[index],
            "query": samples.queries[index],
            "completion": samples.completions[index],
        }
        for key, values in per_sample.items():
            value = values[index]
            if value is not None:
                value = (
                    int(value) if key == "num_tokens" else bool(value) if key == "finished" else float(value)
                )
            record[key] = value
        generations.append(record)
    return result, generations
