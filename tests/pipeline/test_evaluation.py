"""Tests for fdpo/pipeline/evaluation.py: evaluate_policy's numbers are fdpo.metrics's, per sample and in aggregate."""

from __future__ import annotations

import pytest

from fdpo.pipeline import evaluate_policy, generate_samples, load_causal_lm, load_reward_model
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
        generation={"max_new_tokens": 5, "min_new_tokens": 2, "top_k": 0}, seed=3, show_progress=False,
    )  # fmt: skip
    queries = [g["query"] for g in generations]
    completions = [g["completion"] for g in generations]
    samples = generate_samples(policy, tokenizer, prompts, samples_per_prompt=3, batch_size=4, seed=3,
                               generation={"max_new_tokens": 5, "min_new_tokens": 2, "top_k": 0}, show_progress=False)  # fmt: skip
    assert samples.completions == completions  # the samples evaluate_policy drew
    sampled_ids = samples.sampled_ids  # the policy measures score these: the ids as sampled, EOS included
    assert len(generations) == result["num_eval_samples"] == 6
    assert result["predictive_entropy"] == pytest.approx(
        metrics.predictive_entropy(policy, tokenizer, queries, sampled_ids)
    )
    assert result["kl_to_ref"] == pytest.approx(
        metrics.kl_from_samples(policy, reference, tokenizer, queries, sampled_ids)
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
                              generation={"max_new_tokens": 5, "top_k": 0}, seed=3, show_progress=False)  # fmt: skip
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
    prompts = ["This movie was", "The cast is", "I"]
    result, generations = evaluate_policy(
        policy, tokenizer, load_reward_model(tiny_classifier_dir), prompts,
        reference=reference, settings=settings, generation={"max_new_tokens": 5, "top_k": 0}, seed=1, show_progress=False,
    )  # fmt: skip
    samples = generate_samples(policy, tokenizer, prompts, samples_per_prompt=2, batch_size=3, seed=1,
                               generation={"max_new_tokens": 5, "top_k": 0}, show_progress=False)  # fmt: skip
    assert len(generations) == 6
    for record, ids, finished in zip(generations, samples.sampled_ids, samples.finished, strict=True):
        assert {"num_tokens", "finished", "policy_logp", "ref_logp", "predictive_entropy"} <= set(record)
        assert "reward_logit" not in record  # reward was not asked for
        assert record["finished"] is finished
        alone = metrics.completion_statistics(policy, tokenizer, [record["query"]], [ids], entropy=True)
        ref_alone = metrics.completion_statistics(reference, tokenizer, [record["query"]], [ids])
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


def _float64(model, tokenizer, queries, sampled_ids):
    """Per sequence, Hₜ at each sampled position and log π(y|x), one sequence at a time in float64 (no batching,
    no padding): the reference evaluate_policy's batched float32 scores are checked against."""
    import numpy as np
    import torch

    from fdpo.decoding.batching import start_empty_prompts

    model = model.double().eval()
    prompt_ids = start_empty_prompts(tokenizer(queries, add_special_tokens=False)["input_ids"], tokenizer)
    entropies, logps = [], []
    with torch.no_grad():
        for prompt, ids in zip(prompt_ids, sampled_ids, strict=True):
            logits = model(input_ids=torch.tensor([prompt + ids])).logits[0]
            log_p = logits[len(prompt) - 1 : len(prompt) - 1 + len(ids)].log_softmax(-1)
            entropies.append((-(log_p.exp() * log_p).sum(-1)).numpy())
            logps.append(float(log_p[torch.arange(len(ids)), torch.tensor(ids, dtype=torch.long)].sum()))
    model.float()
    return entropies, np.array(logps)


def test_every_measure_against_float64_by_hand(tiny_model_dir, tiny_classifier_dir):
    """Every length-aware measure of evaluate_policy, each against its definition computed by hand: the policy's
    entropies and the KL on the sampled ids with EOS (some samples end with EOS, some run to max_new_tokens),
    completion_tokens and finished from the ids, rarefied distinct-2 and within-prompt diversity from the texts."""
    import numpy as np
    import torch
    from _generation_helpers import likely_eos

    from fdpo import metrics

    reference, tokenizer = load_causal_lm(tiny_model_dir)
    policy, _ = load_causal_lm(tiny_model_dir)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    likely_eos(policy, tokenizer, scale=0.3)
    prompts = ["This movie was", "The cast is", "I", "A fine"]
    generation = {"max_new_tokens": 12, "top_k": 0}  # pure sampling: the policy's own distribution
    settings = EvaluationSettings(samples_per_prompt=3, batch_size=5, prefix_tokens=3, rarefy_ngrams=4)
    assert "within_prompt_diversity" in settings.metrics and "finished" in settings.metrics  # the defaults
    result, generations = evaluate_policy(
        policy, tokenizer, load_reward_model(tiny_classifier_dir), prompts, reference=reference,
        settings=settings, generation=generation, seed=2, show_progress=False,
    )  # fmt: skip
    samples = generate_samples(policy, tokenizer, prompts, samples_per_prompt=3, batch_size=5, seed=2,
                               generation=generation, show_progress=False)  # fmt: skip
    assert [g["completion"] for g in generations] == samples.completions
    assert None in samples.stop_ids and tokenizer.eos_token_id in samples.stop_ids

    entropies, policy_logps = _float64(policy, tokenizer, samples.queries, samples.sampled_ids)
    _, reference_logps = _float64(reference, tokenizer, samples.queries, samples.sampled_ids)
    expected = {
        "sequence_entropy": np.mean([h.sum() for h in entropies]),
        "entropy_rate": sum(h.sum() for h in entropies) / sum(h.size for h in entropies),
        "predictive_entropy": np.mean([h.mean() for h in entropies]),
        "prefix_entropy": np.mean([h[:3].sum() for h in entropies]),
        "kl_to_ref": np.mean(policy_logps - reference_logps),
    }
    assert {name: result[name] for name in expected} == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert result["completion_tokens"] == np.mean([len(ids) for ids in samples.sampled_ids])
    assert result["finished"] == np.mean([stop is not None for stop in samples.stop_ids])
    assert 0 < result["finished"] < 1
    assert [g["num_tokens"] for g in generations] == [len(ids) for ids in samples.sampled_ids]
    assert [g["sequence_entropy"] for g in generations] == pytest.approx(
        [h.sum() for h in entropies], rel=1e-5
    )

    # EOS counts: leaving the stop token out (fdpo's re-tokenized texts before) gives another, smaller number
    without_eos = np.mean([h[:-1].sum() if stop is not None else h.sum()
                           for h, stop in zip(entropies, samples.stop_ids, strict=True)])  # fmt: skip
    assert result["sequence_entropy"] - without_eos > 0.1

    bigrams = sum(max(len(text.split()) - 1, 0) for text in samples.completions)
    assert bigrams >= 4
    assert result["distinct_2_rarefied"] == metrics.distinct_n_rarefied(samples.completions, 2, 4)
    assert result["within_prompt_diversity"] == metrics.within_prompt_diversity(samples.completions, 3)


def test_bad_measure_settings_are_errors():
    """A bad prefix_tokens or rarefy_ngrams is an error, in problems() and in evaluate_policy (before sampling), and
    so is an unknown metric name."""
    settings = EvaluationSettings(prefix_tokens=0, rarefy_ngrams=-1)
    problems = " ".join(settings.problems())
    assert "evaluation.prefix_tokens=0 must be a positive integer" in problems
    assert "evaluation.rarefy_ngrams=-1 must be a positive integer" in problems
    with pytest.raises(ValueError, match="evaluation.prefix_tokens=0 must be a positive integer"):
        evaluate_policy(None, None, None, ["x"], settings=settings, show_progress=False)
    with pytest.raises(ValueError, match=r"unknown name\(s\) \['entropy'\]"):
        evaluate_policy(None, None, None, ["x"], settings=EvaluationSettings(metrics=["entropy"]))


def test_one_sample_per_prompt_and_few_bigrams_give_none_with_a_warning(tiny_model_dir, tiny_classifier_dir):
    """One sample per prompt (the default): within_prompt_diversity is None, and a warning says why; fewer bigrams
    than rarefy_ngrams: distinct_2_rarefied is None, with a warning."""
    policy, tokenizer = load_causal_lm(tiny_model_dir)
    settings = EvaluationSettings(
        metrics=["within_prompt_diversity", "distinct_2_rarefied"], rarefy_ngrams=10_000
    )
    with pytest.warns(UserWarning) as caught:
        result, _ = evaluate_policy(
            policy, tokenizer, load_reward_model(tiny_classifier_dir), ["This movie was", "I"],
            settings=settings, generation={"max_new_tokens": 4}, show_progress=False,
        )  # fmt: skip
    messages = " ".join(str(w.message) for w in caught)
    assert "within_prompt_diversity is None" in messages and "samples_per_prompt is 1" in messages
    assert "fewer than evaluation.rarefy_ngrams=10000" in messages
    assert result["within_prompt_diversity"] is None and result["distinct_2_rarefied"] is None


def test_a_tempered_policy_is_scored_as_the_distribution_it_was_sampled_from(
    tiny_model_dir, tiny_classifier_dir
):
    """The SFT model sampled at T = 0.5 (a positive control): its entropies are those of softmax(logits / 0.5), lower
    than at T = 1, and its KL to the untempered model is Σ log p_T(y) − log p(y) > 0, not 0 as for the model itself."""
    import numpy as np

    from fdpo.decoding import score_completions

    model, tokenizer = load_causal_lm(tiny_model_dir)
    reward = load_reward_model(tiny_classifier_dir)
    settings = EvaluationSettings(samples_per_prompt=4, batch_size=8, metrics=["entropy_rate", "kl_to_ref"])
    prompts = ["This movie was", "The cast is", "I"]
    cold = {"max_new_tokens": 6, "top_k": 0, "temperature": 0.5}
    common = dict(settings=settings, seed=4, show_progress=False)
    result, generations = evaluate_policy(model, tokenizer, reward, prompts, generation=cold, **common)
    plain, _ = evaluate_policy(
        model, tokenizer, reward, prompts, generation={**cold, "temperature": 1.0}, **common
    )
    assert plain["kl_to_ref"] == 0.0 and result["kl_to_ref"] > 0.0
    queries = [g["query"] for g in generations]
    ids = generate_samples(model, tokenizer, prompts, samples_per_prompt=4, batch_size=8, seed=4, generation=cold,
                           show_progress=False).sampled_ids  # fmt: skip
    tempered = score_completions(model, tokenizer, queries, ids, generation=cold)
    own = score_completions(model, tokenizer, queries, ids)
    assert result["kl_to_ref"] == pytest.approx(float(np.mean(tempered.sum_logps - own.sum_logps)), rel=1e-4)
    cold_rate = score_completions(model, tokenizer, queries, ids, entropy=True, generation=cold)
    rate = sum(float(e.sum()) for e in cold_rate.token_entropies) / sum(
        len(e) for e in cold_rate.token_entropies
    )
    assert result["entropy_rate"] == pytest.approx(rate, rel=1e-5)
    assert result["entropy_rate"] < plain["entropy_rate"]
