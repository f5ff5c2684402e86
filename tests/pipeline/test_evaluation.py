"""Tests for fdpo/pipeline/evaluation.py: evaluate_policy's numbers are fdpo.metrics's, per sample and in aggregate."""

from __future__ import annotations

import pytest

from fdpo.pipeline import evaluate_policy, load_causal_lm, load_reward_model
from fdpo.settings import METRIC_NAMES, EvaluationSettings


def test_evaluate_policy_matches_the_metrics_module(tiny_model_dir, tiny_classifier_dir):
    """evaluate_policy fuses the policy passes of predictive entropy and KL; the numbers are fdpo.metrics's."""
    import torch

    from fdpo import metrics

    reference, tokenizer = load_causal_lm(tiny_model_dir)
    policy, _ = load_causal_lm(tiny_model_dir)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    reward = load_reward_model(tiny_classifier_dir)
    settings = EvaluationSettings(samples_per_prompt=3, batch_size=4, metrics=[*METRIC_NAMES])
    prompts = ["This movie was", "The cast is"]
    result, generations = evaluate_policy(
        policy, tokenizer, reward, prompts, reference=reference, settings=settings,
        generation={"max_new_tokens": 5, "min_new_tokens": 2}, seed=3, show_progress=False,
    )  # fmt: skip
    queries = [g["query"] for g in generations]
    completions = [g["completion"] for g in generations]
    assert len(generations) == result["num_eval_samples"] == 6
    assert result["predictive_entropy"] == pytest.approx(
        metrics.predictive_entropy(policy, tokenizer, queries, completions)
    )
    assert result["kl_to_ref"] == pytest.approx(
        metrics.kl_from_samples(policy, reference, tokenizer, queries, completions)
    )
    logits = reward.score([q + c for q, c in zip(queries, completions, strict=True)])
    assert result["reward_logit_mean"] == pytest.approx(float(logits.mean()), rel=1e-6)
    assert [g["reward_logit"] for g in generations] == pytest.approx(logits.tolist(), rel=1e-6)
    assert result["distinct_1"] == metrics.distinct_n(completions, 1)
    assert result["completion_words"] == pytest.approx(sum(len(c.split()) for c in completions) / 6)
    assert result["token_entropy"] == pytest.approx(metrics.token_entropy(completions, tokenizer))
    assert 0.0 <= result["reward_prob_mean"] <= 1.0 and result["self_bleu"] >= 0.0
    # the policy evaluated against itself: KL is exactly 0 and no second pass is needed
    same, _ = evaluate_policy(policy, tokenizer, reward, prompts, reference=None, settings=settings,
                              generation={"max_new_tokens": 5}, seed=3, show_progress=False)  # fmt: skip
    assert same["kl_to_ref"] == 0.0


def test_generation_records_carry_their_own_values(tiny_model_dir, tiny_classifier_dir):
    """Each saved generation carries its per-sample values, scored alone they are the same, and their means are the
    aggregate metrics (so a bootstrap over prompts can be taken from generations.jsonl)."""
    import numpy as np
    import torch

    from fdpo import metrics

    reference, tokenizer = load_causal_lm(tiny_model_dir)
    policy, _ = load_causal_lm(tiny_model_dir)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    settings = EvaluationSettings(
        samples_per_prompt=2, batch_size=3, metrics=["predictive_entropy", "kl_to_ref"]
    )
    result, generations = evaluate_policy(
        policy, tokenizer, load_reward_model(tiny_classifier_dir), ["This movie was", "The cast is", "I"],
        reference=reference, settings=settings, generation={"max_new_tokens": 5}, seed=1, show_progress=False,
    )  # fmt: skip
    assert len(generations) == 6
    for record in generations:
        assert {"num_tokens", "policy_logp", "ref_logp", "predictive_entropy"} <= set(record)
        assert "reward_logit" not in record  # reward was not asked for
        alone = metrics.completion_statistics(
            policy, tokenizer, [record["query"]], [record["completion"]], entropy=True
        )
        ref_alone = metrics.completion_statistics(
            reference, tokenizer, [record["query"]], [record["completion"]]
        )
        assert isinstance(record["num_tokens"], int) and record["num_tokens"] == int(alone["num_tokens"][0])
        assert record["policy_logp"] == pytest.approx(float(alone["logps"][0]), abs=1e-4)
        assert record["ref_logp"] == pytest.approx(float(ref_alone["logps"][0]), abs=1e-4)
        if record["num_tokens"]:
            assert record["predictive_entropy"] == pytest.approx(float(alone["entropy"][0]), abs=1e-4)
        else:
            assert record["predictive_entropy"] is None
    entropies = [r["predictive_entropy"] for r in generations if r["predictive_entropy"] is not None]
    assert result["predictive_entropy"] == pytest.approx(float(np.mean(entropies)), rel=1e-12)
    kl = np.mean([r["policy_logp"] - r["ref_logp"] for r in generations])
    assert result["kl_to_ref"] == pytest.approx(float(kl), rel=1e-12)
