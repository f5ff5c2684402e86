"""Evaluating a policy: sample from it, then measure reward and diversity (``evaluate_policy``).

The names of the measures (``METRIC_NAMES``, ``METRIC_COLUMNS``, ...) are in ``fdpo.settings``, so that the report and
the sweep settings use them without this module. numpy and the metrics are imported inside the function.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

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
        ``(metrics, generations)``: metrics with the ``METRIC_COLUMNS`` keys (``None`` for a metric not asked for)
        plus reward std, ``completion_words`` (mean words per completion, with ``distinct``: distinct-n falls with
        length), sample count and evaluation time; generations as dicts, one per sample: prompt, query,
        completion, and the sample's own values for a bootstrap over prompts: ``reward_logit``/``reward_prob`` (with
        ``reward``), ``num_tokens`` and ``policy_logp`` (log π of the completion, summed over its tokens) and
        ``predictive_entropy`` (the mean next-token entropy over its tokens; ``None`` for an empty completion) with
        ``predictive_entropy`` or ``kl_to_ref``, and ``ref_logp`` (log π_ref of the completion) with ``kl_to_ref``
        and a reference.
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
    if wanted & {"predictive_entropy", "kl_to_ref"}:
        # One policy pass gives both the predictive entropy and the policy log-probs of the KL estimate (what
        # fm.predictive_entropy and fm.kl_from_samples compute, without scoring the samples with the policy twice).
        needs_kl = "kl_to_ref" in wanted and reference is not None and reference is not policy

        def statistics(model, desc: str, entropy: bool = False) -> dict[str, Any]:
            return fm.completion_statistics(
                model,
                tokenizer,
                samples.queries,
                samples.completions,
                batch_size=settings.batch_size,
                entropy=entropy,
                desc=desc,
                show_progress=show_progress,
            )

        policy_stats = statistics(policy, "Policy statistics", entropy="predictive_entropy" in wanted)
        nonempty = policy_stats["num_tokens"] > 0
        per_sample.update(num_tokens=policy_stats["num_tokens"], policy_logp=policy_stats["logps"])
        if "predictive_entropy" in wanted:
            entropy = policy_stats["entropy"]
            per_sample["predictive_entropy"] = [
                float(value) if keep else None for value, keep in zip(entropy, nonempty, strict=True)
            ]
            result["predictive_entropy"] = float(entropy[nonempty].mean()) if nonempty.any() else None
        if "kl_to_ref" in wanted:
            if needs_kl:
                reference_logps = statistics(reference, "Reference log-probs")["logps"]
                per_sample["ref_logp"] = reference_logps
                result["kl_to_ref"] = float((policy_stats["logps"] - reference_logps).mean())
            else:
                result["kl_to_ref"] = 0.0  # the policy is the reference
    if "distinct" in wanted:
        result["distinct_1"] = float(fm.distinct_n(samples.completions, 1))
        result["distinct_2"] = float(fm.distinct_n(samples.completions, 2))
        # distinct-n divides unique by all n-grams, so longer completions score lower at equal variety: the mean
        # length in the same words goes next to it.
        result["completion_words"] = float(np.mean([len(text.split()) for text in samples.completions]))
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
            record[key] = value if value is None else (int(value) if key == "num_tokens" else float(value))
        generations.append(record)
    return result, generations
