"""Tests for fdpo/uncertainty/resampling.py: the bootstrap and jackknife estimators against closed forms and
brute-force recomputation, and per-run replicates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fdpo.metrics import distinct_n
from fdpo.uncertainty import (
    RunSamples,
    bootstrap_weights,
    distinct_n_jackknife,
    prompt_standard_error,
    ratio_bootstrap,
    ratio_jackknife,
    replicates_by_run,
    run_replicates,
    token_entropy_jackknife,
)

WORDS = np.array("the film was good bad plot acting great dull fun".split())


def _texts(rng, count: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=rng.integers(0, 9))) for _ in range(count)]


def test_bootstrap_weights_are_deterministic_multinomial_draws():
    weights = bootstrap_weights(50, 400, seed=3)
    assert weights.shape == (400, 50) and (weights.sum(axis=1) == 50).all()
    assert np.array_equal(weights, bootstrap_weights(50, 400, seed=3))
    assert not np.array_equal(weights, bootstrap_weights(50, 400, seed=4))
    # each prompt is drawn Binomial(50, 1/50) times: mean 1, variance 49/50
    assert weights.mean() == pytest.approx(1.0, abs=1e-12)
    assert weights.var() == pytest.approx(0.98, rel=0.05)
    with pytest.raises(ValueError, match="two resamples"):
        bootstrap_weights(10, 1)


def test_bootstrap_se_of_a_mean_of_iid_values_is_s_over_root_n():
    """One sample per prompt, n = 2,000: the bootstrap SE tends to s·√((n−1)/n)/√n ≈ s/√n (Monte-Carlo error of
    an SD from B = 2,000 resamples is about 1/√(2B) = 1.6%)."""
    rng = np.random.default_rng(0)
    n = 2000
    values = rng.exponential(2.0, size=n)
    replicates = ratio_bootstrap(np.arange(n), values, bootstrap_weights(n, 2000, seed=1))
    classical = values.std(ddof=1) / math.sqrt(n)
    assert prompt_standard_error(replicates, "bootstrap") == pytest.approx(classical, rel=0.05)
    assert replicates.mean() == pytest.approx(values.mean(), abs=classical / 5)


def test_jackknife_of_a_mean_equals_the_classical_standard_error_exactly():
    rng = np.random.default_rng(1)
    values = rng.normal(3.0, 1.5, size=37)
    replicates = ratio_jackknife(np.arange(37), values, 37)
    assert prompt_standard_error(replicates, "jackknife") == pytest.approx(stats.sem(values), rel=1e-12)


def test_jackknife_over_groups_of_a_mean_is_the_ratio_estimator_by_hand():
    """Prompt g's samples left out: (Σx − Σ_g x)/(n − n_g); included=False samples count in neither."""
    index = np.array([0, 0, 1, 2, 2, 2])
    values = np.array([1.0, 3.0, 10.0, 4.0, 5.0, 6.0])
    included = np.array([True, True, True, True, False, True])
    replicates = ratio_jackknife(index, values, 3, included)
    assert replicates == pytest.approx([(10 + 4 + 6) / 3, (1 + 3 + 4 + 6) / 4, (1 + 3 + 10) / 3])


def test_token_entropy_jackknife_matches_recomputing_without_each_prompt():
    rng = np.random.default_rng(2)
    index = np.repeat(np.arange(12), 4)
    token_ids = [rng.integers(0, 40, size=rng.integers(0, 15)).tolist() for _ in index]
    token_ids[5] = [7] * 30  # a prompt heavy in one token

    def pooled_entropy(kept):
        ids = np.concatenate([np.asarray(token_ids[i], dtype=int) for i in kept])
        return stats.entropy(np.bincount(ids))

    estimate, without = token_entropy_jackknife(index, token_ids, 12)
    assert estimate == pytest.approx(pooled_entropy(range(len(index))), rel=1e-12)
    for g in range(12):
        kept = [i for i in range(len(index)) if index[i] != g]
        assert without[g] == pytest.approx(pooled_entropy(kept), rel=1e-12), g


@pytest.mark.parametrize("n", [1, 2, 3])
def test_distinct_n_jackknife_matches_recomputing_without_each_prompt(n):
    rng = np.random.default_rng(3)
    index = np.repeat(np.arange(10), 5)
    texts = _texts(rng, len(index))
    texts[7] = "unique words only here"  # n-grams found under one prompt only vanish when it is left out
    texts[8] = "  the\tfilm \n was  "  # any whitespace splits words
    estimate, without = distinct_n_jackknife(index, texts, n, 10)
    assert estimate == pytest.approx(distinct_n(texts, n), rel=1e-12)
    for g in range(10):
        kept = [t for t, i in zip(texts, index, strict=True) if i != g]
        assert without[g] == pytest.approx(distinct_n(kept, n), rel=1e-12), g


def test_distinct_n_jackknife_of_long_n_grams():
    """n-grams too long to pack into one integer take another path: same answers."""
    rng = np.random.default_rng(8)
    index = np.repeat(np.arange(4), 3)
    bases = [" ".join(rng.choice(["a", "b", "c"], size=23)) for _ in range(3)]
    texts = [bases[k] for k in rng.integers(0, 3, size=index.size)]  # texts repeat across prompts
    texts[0] = " ".join(texts[0].split()[:21])
    estimate, without = distinct_n_jackknife(index, texts, 20, 4)
    assert 0 < estimate < 1 and estimate == pytest.approx(distinct_n(texts, 20), rel=1e-12)
    for g in range(4):
        kept = [t for t, i in zip(texts, index, strict=True) if i != g]
        assert without[g] == pytest.approx(distinct_n(kept, 20), rel=1e-12)


def test_pooled_jackknife_edge_cases():
    # a prompt with no samples: leaving it out changes nothing
    estimate, without = distinct_n_jackknife(np.array([0, 0]), ["a b", "b c"], 1, 3)
    assert estimate == pytest.approx(3 / 4) and without[1] == without[2] == pytest.approx(3 / 4)
    assert without[0] == 0.0  # nothing left
    assert distinct_n_jackknife(np.array([0]), ["one"], 2, 1) == (0.0, pytest.approx([0.0]))
    with pytest.raises(ValueError, match="No tokens"):
        token_entropy_jackknife(np.array([0, 1]), [[], []], 2)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        distinct_n_jackknife(np.array([0]), ["a b"], 0, 1)


def test_run_replicates_methods_estimates_and_empty_completions():
    rng = np.random.default_rng(4)
    index = np.repeat(np.arange(16), 4)
    entropy = rng.random(64)
    num_tokens = rng.integers(0, 4, size=64)
    samples = RunSamples(
        index,
        16,
        reward_logit=rng.normal(size=64),
        predictive_entropy=np.where(num_tokens > 0, entropy, np.nan),
        num_tokens=num_tokens,
        log_ratios=rng.normal(size=64),
        completions=_texts(rng, 64),
    )
    replicates = run_replicates(samples, bootstrap_weights(16, 300))
    assert set(replicates) == {
        "reward_logit_mean",
        "predictive_entropy",
        "kl_to_ref",
        "distinct_1",
        "distinct_2",
    }
    assert {r.method for c, r in replicates.items() if c.startswith("distinct")} == {"jackknife"}
    assert replicates["reward_logit_mean"].method == "bootstrap"
    assert replicates["reward_logit_mean"].values.shape == (300,)
    assert replicates["distinct_2"].values.shape == (16,)
    # the predictive entropy leaves empty completions out, NaN or not
    assert replicates["predictive_entropy"].estimate == pytest.approx(entropy[num_tokens > 0].mean())
    assert np.isfinite(replicates["predictive_entropy"].values).all()
    with pytest.raises(ValueError, match=r"expected \(num_resamples, num_prompts=16\)"):
        run_replicates(samples, bootstrap_weights(15, 300))


def test_run_samples_rejects_inconsistent_input():
    with pytest.raises(ValueError, match=r"in \[0, num_prompts=2\)"):
        RunSamples(np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="reward_logit has shape"):
        RunSamples(np.array([0, 1]), 2, reward_logit=np.zeros(3))
    with pytest.raises(ValueError, match="completions has 1 entries for 2 samples"):
        RunSamples(np.array([0, 1]), 2, completions=["a"])
    with pytest.raises(ValueError, match="needs num_tokens"):
        RunSamples(np.array([0, 1]), 2, predictive_entropy=np.zeros(2))
    with pytest.raises(ValueError, match="number their prompts differently"):
        replicates_by_run({"a": RunSamples(np.array([0]), 1), "b": RunSamples(np.array([0]), 2)})
