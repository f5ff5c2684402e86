"""Tests for the diversity measures of fdpo/metrics.py that control for length: the policy's entropies over the sampled
ids with the stop token (against a float64 computation by hand on a tiny GPT-2), rarefied distinct-2 (against a
brute-force enumeration of subsamples) and within-prompt diversity (against hand-worked Jaccard distances)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from _generation_helpers import PROMPTS, QUIET, likely_eos

from fdpo import metrics
from fdpo.decoding import sample, score_completions
from fdpo.decoding.batching import start_empty_prompts


def hand_token_entropies(model, tokenizer, queries, sampled_ids) -> list[np.ndarray]:
    """Hₜ at every sampled position, one sequence at a time, no padding, the model in float64: the reference the
    batched float32 scoring is checked against."""
    model = model.double().eval()
    prompt_ids = start_empty_prompts(tokenizer(queries, add_special_tokens=False)["input_ids"], tokenizer)
    result = []
    with torch.no_grad():
        for prompt, ids in zip(prompt_ids, sampled_ids, strict=True):
            logits = model(input_ids=torch.tensor([prompt + ids])).logits[0].double()
            # sampled token t sits at len(prompt) + t and was drawn from the distribution at the position before
            log_p = logits[len(prompt) - 1 : len(prompt) - 1 + len(ids)].log_softmax(-1)
            result.append((-(log_p.exp() * log_p).sum(-1)).numpy())
    model.float()
    return result


@pytest.fixture
def eos_samples(tiny_lm):
    """A tiny GPT-2 tilted towards end-of-text, and 20 samples of which some end with EOS and some run to 7 tokens."""
    model, tokenizer = tiny_lm
    likely_eos(model, tokenizer, scale=3.0)
    samples = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=4, seed=0, max_new_tokens=7, **QUIET)
    assert None in samples.stop_ids and tokenizer.eos_token_id in samples.stop_ids
    return model, tokenizer, samples


# ---------------------------------------------------------------------------------------------- entropies


def test_entropy_measures_match_a_float64_computation_by_hand(eos_samples):
    """Each measure from the batched scores equals its definition applied to float64 entropies computed one
    sequence at a time: Σₜ Hₜ per sample, pooled Σ Hₜ / Σ tokens, mean of per-sample means, Σ_{t≤k} Hₜ."""
    model, tokenizer, samples = eos_samples
    scores = score_completions(
        model, tokenizer, samples.queries, samples.sampled_ids, batch_size=3, entropy=True
    )
    hand = hand_token_entropies(model, tokenizer, samples.queries, samples.sampled_ids)
    for got, expected in zip(scores.token_entropies, hand, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)  # atol: near-point masses at EOS
    k = 3
    measures = metrics.entropy_measures(scores.token_entropies, prefix_tokens=k)
    expected = {
        "sequence_entropy": np.mean([h.sum() for h in hand]),
        "entropy_rate": sum(h.sum() for h in hand) / sum(h.size for h in hand),
        "predictive_entropy": np.mean([h.mean() for h in hand]),
        "prefix_entropy": np.mean([h[:k].sum() for h in hand]),
    }
    assert measures == pytest.approx(expected, rel=1e-5)
    # the lengths differ, so the token-weighted rate and the mean of per-sample means are different numbers
    assert measures["entropy_rate"] != pytest.approx(measures["predictive_entropy"], rel=1e-4)


def test_sequence_entropy_includes_the_stop_token(eos_samples):
    """Scoring ``sampled_ids`` adds, for every finished sample, the entropy of the distribution EOS was drawn from;
    scoring the completion ids (or the re-tokenized text, what fdpo did before) would leave it out."""
    model, tokenizer, samples = eos_samples
    hand = hand_token_entropies(model, tokenizer, samples.queries, samples.sampled_ids)
    with_eos = metrics.entropy_measures(
        score_completions(
            model, tokenizer, samples.queries, samples.sampled_ids, entropy=True
        ).token_entropies
    )
    without_eos = metrics.entropy_measures(
        score_completions(
            model, tokenizer, samples.queries, samples.completion_ids, entropy=True
        ).token_entropies
    )
    assert with_eos["sequence_entropy"] == pytest.approx(np.mean([h.sum() for h in hand]), rel=1e-5)
    # the difference is exactly the stop positions' entropies, one per finished sample, averaged over all samples
    stop_terms = [h[-1] if finished else 0.0 for h, finished in zip(hand, samples.finished, strict=True)]
    assert with_eos["sequence_entropy"] - without_eos["sequence_entropy"] == pytest.approx(
        np.mean(stop_terms), rel=1e-4
    )
    assert np.mean(stop_terms) > 0.1  # large enough that dropping EOS fails the first assertion


def test_entropy_measures_small_cases_and_errors():
    """Hand-worked: A = (1, 2, 3) nats, B = (4) nats, C empty. sequence (6 + 4 + 0)/3 = 10/3; rate 10/4; predictive
    mean of 2 and 4 = 3 (C has no position); prefix k=2: (3 + 4 + 0)/3 = 7/3."""
    values = [np.array([1.0, 2.0, 3.0]), np.array([4.0]), np.array([])]
    assert metrics.entropy_measures(values, prefix_tokens=2) == pytest.approx(
        {"sequence_entropy": 10 / 3, "entropy_rate": 2.5, "predictive_entropy": 3.0, "prefix_entropy": 7 / 3}
    )
    assert metrics.entropy_measures([np.array([])])["predictive_entropy"] is None
    with pytest.raises(ValueError, match="prefix_tokens must be a positive integer, got 0"):
        metrics.entropy_measures(values, prefix_tokens=0)
    with pytest.raises(ValueError, match="token_entropies is empty"):
        metrics.entropy_measures([])


# ---------------------------------------------------------------------------------------------- rarefaction


def brute_force_rarefied(texts, n, m) -> float:
    """Every m-subset of the pooled n-gram occurrences, equally likely: the mean count of distinct n-grams / m."""
    grams = [gram for text in texts for gram in zip(*(text.split()[i:] for i in range(n)), strict=False)]
    subsets = list(itertools.combinations(range(len(grams)), m))
    return sum(len({grams[i] for i in subset}) for subset in subsets) / len(subsets) / m


@pytest.mark.parametrize("m", [1, 2, 3, 5, 7, 8])
def test_rarefied_distinct_2_equals_brute_force_enumeration(m):
    """8 bigrams: (a,b) ×4, (b,a) ×2, (b,c), (c,a); "d" has none. All C(8, m) subsamples are enumerated."""
    texts = ["a b a b a", "a b c", "c a b", "d"]
    value = metrics.distinct_n_rarefied(texts, 2, m)
    assert value == pytest.approx(brute_force_rarefied(texts, 2, m), rel=1e-12)


def test_rarefied_distinct_2_limits_and_errors():
    texts = ["the cat sat on the mat", "the cat sat", "a dog"]
    total = 5 + 2 + 1
    assert metrics.distinct_n_rarefied(texts, 2, 1) == pytest.approx(1.0, rel=1e-12)  # one bigram: distinct
    assert metrics.distinct_n_rarefied(texts, 2, total) == pytest.approx(
        metrics.distinct_n(texts, 2), rel=1e-12
    )
    with pytest.raises(ValueError, match="hold 8 2-grams, fewer than num_ngrams=9"):
        metrics.distinct_n_rarefied(texts, 2, 9)
    with pytest.raises(ValueError, match="num_ngrams must be a positive integer"):
        metrics.distinct_n_rarefied(texts, 2, 0)


def test_rarefaction_removes_the_length_effect_of_distinct_2():
    """Two sets with the same variety per bigram, one twice as long (its texts repeated): distinct-2 halves, the
    rarefied value at a count both reach does not fall by half."""
    short = ["a b c d", "e f g h"]
    long = [text + " " + text for text in short]
    assert metrics.distinct_n(long, 2) < 0.6 * metrics.distinct_n(short, 2)
    assert metrics.distinct_n_rarefied(long, 2, 6) > 0.8 * metrics.distinct_n_rarefied(short, 2, 6)


# ---------------------------------------------------------------------------------------------- within a prompt


def test_within_prompt_diversity_by_hand():
    """Prompt 1: "a b c" {ab, bc}, "a b d" {ab, bd}, "a b c" {ab, bc}: distances 1 − 1/3, 0, 1 − 1/3, mean 4/9.
    Prompt 2: "x y" {xy}, "z w" {zw}, "x" {}: distances 1, 1, 1, mean 1. Mean over prompts (4/9 + 1)/2 = 13/18."""
    texts = ["a b c", "a b d", "a b c", "x y", "z w", "x"]
    assert metrics.within_prompt_diversity(texts, 3) == pytest.approx(13 / 18, rel=1e-12)
    assert metrics.within_prompt_diversity(["same words here"] * 4, 2) == 0.0
    with pytest.raises(ValueError, match="needs samples_per_prompt >= 2, got 1"):
        metrics.within_prompt_diversity(texts, 1)
    with pytest.raises(ValueError, match="6 texts are not whole groups of samples_per_prompt=4"):
        metrics.within_prompt_diversity(texts, 4)


def test_within_prompt_diversity_ignores_differences_between_prompts():
    """Each prompt's samples identical, the prompts all different: pooled distinct-2 is high, within-prompt 0."""
    texts = ["a b c", "a b c", "d e f", "d e f", "g h i", "g h i"]
    assert metrics.within_prompt_diversity(texts, 2) == 0.0
    assert metrics.distinct_n(texts, 2) == pytest.approx(0.5)
    assert math.isclose(metrics.within_prompt_diversity(texts[::2] + texts[1::2], 3), 1.0)


# ---------------------------------------------------------------------------------------------- sampled distribution


def _warped_by_hand(model, tokenizer, queries, sampled_ids, temperature, top_k):
    """log-probs and entropies of softmax(top-k(logits / T)), one sequence at a time in float64."""
    model = model.double().eval()
    prompt_ids = start_empty_prompts(tokenizer(queries, add_special_tokens=False)["input_ids"], tokenizer)
    logps, entropies = [], []
    with torch.no_grad():
        for prompt, ids in zip(prompt_ids, sampled_ids, strict=True):
            logits = model(input_ids=torch.tensor([prompt + ids])).logits[0].double()
            scores = logits[len(prompt) - 1 : len(prompt) - 1 + len(ids)] / temperature
            kth = scores.topk(top_k, dim=-1).values[:, -1:]
            log_p = scores.masked_fill(scores < kth, -math.inf).log_softmax(-1)
            logps.append(log_p.gather(1, torch.tensor(ids).unsqueeze(1)).squeeze(1).numpy())
            entropies.append(torch.special.entr(log_p.exp()).sum(-1).numpy())
    model.float()
    return logps, entropies


def test_scores_are_those_of_the_distribution_the_tokens_were_drawn_from(eos_samples):
    """A sample drawn at T = 0.7 with top-k 5 is scored under softmax(top-5(logits / 0.7)), as generate draws it:
    its tokens all lie in the top 5 (finite log-probs) and its entropies are below the model's own."""
    model, tokenizer, _ = eos_samples
    settings = dict(temperature=0.7, top_k=5, max_new_tokens=7)
    samples = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=3, seed=1, **settings, **QUIET)
    ids = samples.sampled_ids
    warped = score_completions(model, tokenizer, samples.queries, ids, entropy=True, generation=settings)
    plain = score_completions(model, tokenizer, samples.queries, ids, entropy=True)
    logps, entropies = _warped_by_hand(model, tokenizer, samples.queries, ids, 0.7, 5)
    for i in range(len(ids)):
        np.testing.assert_allclose(warped.token_logps[i], logps[i], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(warped.token_entropies[i], entropies[i], rtol=1e-5, atol=1e-5)
    assert np.isfinite(warped.sum_logps).all()
    assert np.nanmean(warped.mean_entropies) < np.nanmean(plain.mean_entropies)
    # without do_sample nothing is warped: greedy decoding has no sampling distribution to score
    greedy = score_completions(
        model, tokenizer, samples.queries, ids, generation={"do_sample": False, **settings}
    )
    np.testing.assert_array_equal(greedy.sum_logps, plain.sum_logps)
