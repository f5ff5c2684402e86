"""Tests for fdpo/metrics.py: the notebook's token entropy, closed-form entropies and KLs, exact small cases."""

from __future__ import annotations

import math
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from fdpo import metrics
from fdpo.divergences import get_divergence

TEXTS = [
    "This movie was great and the acting was wonderful.",
    "This movie was terrible and the plot was boring.",
    "A fine film with a lovely score.",
    "I loved every minute of it, a true delight!",
    "The worst film I have seen.",
]


def notebook_token_entropy(generations, tokenizer):
    """The seed notebook's function, verbatim but for the progress bar."""
    stats = defaultdict(int)
    num_tokens = 0
    for example in generations:
        tokens = tokenizer.encode(example)
        for t in tokens:
            if t == tokenizer.pad_token_id:
                continue
            stats[t] += 1
            num_tokens += 1
    for k in stats.keys():
        stats[k] /= num_tokens
    return scipy.stats.entropy(list(stats.values()))


class FixedDistribution(nn.Module):
    """A 'language model' whose next-token logits are the same at every position."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.clone(), requires_grad=False)

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.logits.expand(*input_ids.shape, -1))


def test_token_entropy_equals_the_notebooks(tiny_lm, tiny_classifier):
    rng = np.random.default_rng(0)
    words = " ".join(TEXTS).split()
    generations = [" ".join(rng.choice(words, size=rng.integers(1, 30))) for _ in range(300)]
    for _, tokenizer in (tiny_lm, tiny_classifier):
        assert metrics.token_entropy(generations, tokenizer) == notebook_token_entropy(generations, tokenizer)


def test_token_entropy_closed_form(tiny_lm):
    _, tokenizer = tiny_lm
    ids = tokenizer("a b", add_special_tokens=False)["input_ids"]
    text = tokenizer.decode(ids)
    assert metrics.token_entropy([text, text], tokenizer) == pytest.approx(math.log(len(set(ids))), rel=1e-12)


def test_token_entropy_excludes_pads(tiny_lm):
    _, tokenizer = tiny_lm
    text = "great film"
    padded = text + tokenizer.pad_token * 5
    assert metrics.token_entropy([padded], tokenizer) == metrics.token_entropy([text], tokenizer)


def test_distinct_n_exact():
    """'a b a b' and 'a b c': unigrams a,b,a,b,a,b,c → 3 of 7; bigrams ab,ba,ab,ab,bc → 3 of 5; trigrams 3 of 3."""
    texts = ["a b a b", "a b c"]
    assert metrics.distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert metrics.distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert metrics.distinct_n(texts, 3) == pytest.approx(3 / 3)
    assert metrics.distinct_n(["a"], 2) == 0.0


def test_self_bleu_extremes():
    assert metrics.self_bleu(["the same sentence here"] * 4) == pytest.approx(100.0)
    assert metrics.self_bleu(["alpha beta gamma delta", "one two three four", "red green blue black"]) < 5.0


def test_reward_summary_against_scipy():
    values = np.random.default_rng(1).normal(2.0, 0.5, size=37)
    summary = metrics.reward_summary(values)
    low, high = scipy.stats.t.interval(
        0.95, len(values) - 1, loc=values.mean(), scale=scipy.stats.sem(values)
    )
    assert summary["n"] == 37 and summary["mean"] == pytest.approx(values.mean())
    assert summary["std"] == pytest.approx(values.std(ddof=1))
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((low, high))


def test_predictive_entropy_of_a_uniform_model_is_log_vocabulary(tiny_lm):
    model, tokenizer = tiny_lm
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()  # tied with the input embeddings: every logit is 0
    value = metrics.predictive_entropy(
        model, tokenizer, ["This movie", "A"], [" was great", " fine film indeed"]
    )
    assert value == pytest.approx(math.log(model.config.vocab_size), rel=1e-6)


def test_predictive_entropy_two_token_closed_form(tiny_lm):
    """p = (¼, ¾) on two tokens, −inf elsewhere: entropy −¼ log ¼ − ¾ log ¾ at every position."""
    _, tokenizer = tiny_lm
    logits = torch.full((len(tokenizer),), -float("inf"))
    logits[5], logits[6] = 0.0, math.log(3.0)
    value = metrics.predictive_entropy(
        FixedDistribution(logits), tokenizer, ["x", "y"], [" film", " great movie"]
    )
    assert value == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), rel=1e-6)


def test_completion_log_probs_do_not_depend_on_batching(tiny_lm):
    model, tokenizer = tiny_lm
    prompts = ["This movie", "A fine film with a lovely", "I", "The worst"]
    completions = [" was great", " score", " loved every minute of it", " film"]
    batched = metrics.completion_statistics(
        model, tokenizer, prompts, completions, batch_size=4, entropy=True
    )
    single = metrics.completion_statistics(model, tokenizer, prompts, completions, batch_size=1, entropy=True)
    np.testing.assert_allclose(batched["logps"], single["logps"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batched["entropy"], single["entropy"], rtol=1e-5, atol=1e-5)
    # against a direct forward of prompt + completion
    prompt_ids = tokenizer(prompts[2], add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completions[2], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        log_probs = model(torch.tensor([prompt_ids + completion_ids])).logits[0].log_softmax(-1)
    expected = sum(log_probs[len(prompt_ids) - 1 + i, t].item() for i, t in enumerate(completion_ids))
    assert batched["logps"][2] == pytest.approx(expected, rel=1e-5)
    assert batched["num_tokens"][2] == len(completion_ids)


def test_kl_of_a_policy_with_itself_is_zero(tiny_lm):
    model, tokenizer = tiny_lm
    prompts, completions = ["This movie", "A"], [" was great", " fine film"]
    assert metrics.kl_from_samples(model, model, tokenizer, prompts, completions) == 0.0
    for name in ("reverse_kl", "forward_kl", "jensen_shannon", "alpha", "chi_squared_kl"):
        value = metrics.divergence_from_samples(model, model, tokenizer, prompts, completions, name)
        assert value == pytest.approx(0.0, abs=1e-12)  # f(1) = 0


def test_kl_and_divergences_closed_form(tiny_lm):
    """Position-independent p and q: each completion's log ratio is Σ_t log p(y_t)/q(y_t), known exactly."""
    _, tokenizer = tiny_lm
    generator = torch.Generator().manual_seed(0)
    p_logits = torch.randn(len(tokenizer), generator=generator, dtype=torch.float64)
    q_logits = torch.randn(len(tokenizer), generator=generator, dtype=torch.float64)
    policy, reference = FixedDistribution(p_logits.float()), FixedDistribution(q_logits.float())
    prompts, completions = ["a", "b", "c"], [" great film", " the worst", " fine"]
    ratio = p_logits.log_softmax(0) - q_logits.log_softmax(0)
    log_ratios = torch.tensor(
        [ratio[tokenizer(c, add_special_tokens=False)["input_ids"]].sum().item() for c in completions],
        dtype=torch.float64,
    )
    kl = metrics.kl_from_samples(policy, reference, tokenizer, prompts, completions)
    assert kl == pytest.approx(log_ratios.mean().item(), rel=1e-5)
    for spec in ("reverse_kl", "forward_kl", "alpha:0.3"):
        expected = get_divergence(spec).f_over_u(log_ratios).mean().item()
        value = metrics.divergence_from_samples(policy, reference, tokenizer, prompts, completions, spec)
        assert value == pytest.approx(expected, rel=1e-4)
    forward = metrics.divergence_from_samples(
        policy, reference, tokenizer, prompts, completions, "forward_kl"
    )
    assert forward == pytest.approx((-log_ratios * torch.exp(-log_ratios)).mean().item(), rel=1e-4)


def test_bad_input_errors(tiny_lm):
    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="generations is empty"):
        metrics.token_entropy([], tokenizer)
    with pytest.raises(TypeError, match="single string"):
        metrics.distinct_n("a b c", 1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        metrics.distinct_n(["a b"], 0)
    with pytest.raises(ValueError, match="2 prompts, 1 completions"):
        metrics.predictive_entropy(model, tokenizer, ["a", "b"], [" c"])
    with pytest.raises(TypeError, match="positions \\[1\\]"):
        metrics.kl_from_samples(model, model, tokenizer, ["a", None], [" c", " d"])
    with pytest.raises(ValueError, match="rewards is empty"):
        metrics.reward_summary([])
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.reward_summary([1.0, float("nan")])
    with pytest.raises(ValueError, match="at least two texts"):
        metrics.self_bleu(["one"])
    with pytest.raises(ValueError, match="Unknown divergence"):
        metrics.divergence_from_samples(model, model, tokenizer, ["a"], [" b"], "total_variance")
