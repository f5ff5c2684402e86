"""Tests for fdpo/uncertainty.py: resampling estimators against closed forms and brute force, the seed × prompt
combination against a simulation, paired gaps, and the verdict on families whose outcome is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fdpo.metrics import distinct_n
from fdpo.uncertainty import (
    CLAIMS,
    GAP_THRESHOLD,
    RHO_THRESHOLD,
    Claim,
    Gap,
    Replicates,
    RunSamples,
    bootstrap_weights,
    combine,
    distinct_n_jackknife,
    gap,
    judge,
    prompt_standard_error,
    ratio_bootstrap,
    ratio_jackknife,
    replicates_by_run,
    run_replicates,
    seed_standard_error,
    spearman,
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


def test_a_constant_metric_has_standard_error_zero():
    index = np.repeat(np.arange(20), 3)
    weights = bootstrap_weights(20, 200)
    samples = RunSamples(
        index,
        20,
        reward_logit=np.full(60, 1.5),
        token_ids=[[4, 4, 9]] * 60,
        completions=["same words here"] * 60,
    )
    replicates = run_replicates(samples, weights)
    for column in ("reward_logit_mean", "token_entropy", "distinct_1", "distinct_2"):
        estimate = combine([replicates[column].estimate] * 3, [replicates[column]] * 3)
        assert estimate.se == pytest.approx(0.0, abs=1e-12) and estimate.se_seeds == 0.0, column
    assert replicates["distinct_1"].estimate == pytest.approx(3 / 180)


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


def test_combine_adds_the_seed_and_prompt_variances():
    seed_values = [1.0, 1.4, 0.9]
    replicates = [Replicates("jackknife", np.array([0.0, 1.0, 2.0]) * k, 1.0) for k in (1.0, 2.0, 3.0)]
    estimate = combine(seed_values, replicates)
    se_seeds = np.std(seed_values, ddof=1) / math.sqrt(3)
    se_prompts = math.sqrt(2 / 3 * ((0 - 2) ** 2 + 0 + (4 - 2) ** 2))  # seed-averaged replicates: 0, 2, 4
    assert estimate.mean == pytest.approx(np.mean(seed_values))
    assert estimate.se_seeds == pytest.approx(se_seeds) and estimate.se_prompts == pytest.approx(se_prompts)
    assert estimate.se == pytest.approx(math.hypot(se_seeds, se_prompts)) and estimate.n_seeds == 3
    single = combine([2.0], replicates[:1])
    assert single.se_seeds is None and single.se == pytest.approx(single.se_prompts)
    assert combine([2.0]).se is None
    assert seed_standard_error([1.0]) is None
    with pytest.raises(ValueError, match="share method and shape"):
        combine([1.0, 2.0], [replicates[0], Replicates("bootstrap", np.zeros(3), 0.0)])


def test_combined_standard_error_matches_the_spread_of_simulated_sweeps():
    """A configuration's mean over 3 seeds, each run on the same 64 prompts (drawn afresh per study) with 4
    samples each: value = prompt effect (sd 1) + seed effect (sd 0.2) + sample noise (sd 2). Over 300 simulated
    studies the combined SE's root mean square must match the actual spread of the mean (within 15%); the seed
    part alone or the prompt part alone must not."""
    rng = np.random.default_rng(5)
    prompts, seeds, per_prompt, studies = 64, 3, 4, 300
    index = np.repeat(np.arange(prompts), per_prompt)
    weights = bootstrap_weights(prompts, 400, seed=0)
    means, ses, seed_parts, prompt_parts = [], [], [], []
    for _ in range(studies):
        prompt_effect = rng.normal(0, 1.0, size=prompts)[index]
        values, replicates = [], []
        for _ in range(seeds):
            sample = prompt_effect + rng.normal(0, 0.2) + rng.normal(0, 2.0, size=index.size)
            runs = run_replicates(RunSamples(index, prompts, reward_logit=sample), weights)
            run = runs["reward_logit_mean"]
            values.append(run.estimate)
            replicates.append(run)
        estimate = combine(values, replicates)
        means.append(estimate.mean)
        ses.append(estimate.se)
        seed_parts.append(estimate.se_seeds)
        prompt_parts.append(estimate.se_prompts)
    actual = np.std(means, ddof=1)
    assert math.sqrt(np.mean(np.square(ses))) == pytest.approx(actual, rel=0.15)
    # expected: actual ≈ 0.185, each part alone ≈ 0.14
    assert math.sqrt(np.mean(np.square(seed_parts))) < 0.85 * actual
    assert math.sqrt(np.mean(np.square(prompt_parts))) < 0.85 * actual


def test_paired_gap_cancels_shared_prompt_effects():
    """Two configurations whose per-prompt values share a large prompt effect (sd 3) and differ by 0.5 plus
    noise (sd 0.2, one sample per prompt): the paired prompt part of the gap is the SE of the per-prompt
    differences, sd(d)/√P exactly for the jackknife; the unpaired √(se_a² + se_b²) is about 20× larger."""
    rng = np.random.default_rng(6)
    prompts = 200
    index = np.arange(prompts)
    shared = rng.normal(0, 3.0, size=prompts)
    a = shared + rng.normal(0, 0.2, size=prompts)
    b = shared + 0.5 + rng.normal(0, 0.2, size=prompts)
    jack_a = Replicates("jackknife", ratio_jackknife(index, a, prompts), a.mean())
    jack_b = Replicates("jackknife", ratio_jackknife(index, b, prompts), b.mean())
    paired = gap([a.mean()], [b.mean()], [jack_a], [jack_b])
    assert paired.value == pytest.approx(0.5 + (b - a - 0.5).mean())
    assert paired.se_prompts == pytest.approx(stats.sem(b - a), rel=1e-12)
    assert paired.se_seeds is None and paired.se == paired.se_prompts
    unpaired = math.hypot(combine([0.0], [jack_a]).se_prompts, combine([0.0], [jack_b]).se_prompts)
    assert unpaired > 10 * paired.se_prompts
    weights = bootstrap_weights(prompts, 2000, seed=2)
    boot_a = Replicates("bootstrap", ratio_bootstrap(index, a, weights), a.mean())
    boot_b = Replicates("bootstrap", ratio_bootstrap(index, b, weights), b.mean())
    assert gap([0.0], [0.0], [boot_a], [boot_b]).se_prompts == pytest.approx(stats.sem(b - a), rel=0.07)
    with pytest.raises(ValueError, match="different prompt resamples"):
        gap([0.0], [0.0], [jack_a], [boot_b])


def test_gap_seed_part_and_z():
    result = gap([1.0, 2.0, 3.0], [5.0, 5.5])
    se = math.sqrt(np.var([1, 2, 3], ddof=1) / 3 + np.var([5, 5.5], ddof=1) / 2)
    assert result.value == pytest.approx(5.25 - 2.0)
    assert result.se == pytest.approx(se) and result.z == pytest.approx(3.25 / se)
    assert gap([1.0, 1.0], [2.0, 2.0]).z == math.inf
    assert gap([1.0, 1.0], [0.0, 0.0]).z == -math.inf
    assert math.isnan(gap([1.0, 1.0], [1.0, 1.0]).z)
    assert gap([1.0], [2.0]).se is None and math.isnan(gap([1.0], [2.0]).z)


def test_paired_seed_part_is_the_error_of_per_seed_differences():
    """Seeds that shift both configurations alike (a shared pair draw): the paired seed part is s_d/√S of the
    per-seed differences, which the shared shift leaves untouched, while the unpaired part grows with it."""
    a, b = [1.0, 3.0, 2.0, 6.0], [1.5, 3.7, 2.4, 6.6]  # differences 0.5, 0.7, 0.4, 0.6
    paired = gap(a, b, paired_seeds=True)
    assert paired.value == pytest.approx(0.55)
    assert paired.se_seeds == pytest.approx(stats.sem([0.5, 0.7, 0.4, 0.6]), rel=1e-12)
    assert paired.paired_seeds and paired.z == pytest.approx(0.55 / stats.sem([0.5, 0.7, 0.4, 0.6]))
    assert gap(a, b).se_seeds > 10 * paired.se_seeds  # unpaired: the seeds' shared spread counts twice
    # The shift a seed gives both cancels exactly: adding it changes nothing.
    shifted = gap(
        [x + 100 * i for i, x in enumerate(a)], [x + 100 * i for i, x in enumerate(b)], paired_seeds=True
    )
    assert shifted.se_seeds == pytest.approx(paired.se_seeds, rel=1e-9)
    with pytest.raises(ValueError, match="one finite value per seed"):
        gap([1.0, 2.0], [1.0, 2.0, 3.0], paired_seeds=True)
    with pytest.raises(ValueError, match="one finite value per seed"):
        gap([1.0, math.nan], [1.0, 2.0], paired_seeds=True)


def test_paired_seed_error_is_calibrated_under_a_shared_random_draw():
    """Simulated sweeps: each seed draws an effect shared by both configurations (sd 1) plus independent noise
    (sd 0.1) around a true gap of 0.3. Over many sweeps the paired seed SE matches the gap's real spread."""
    rng = np.random.default_rng(11)
    seeds, sweeps = 5, 4000
    shared = rng.normal(0, 1.0, size=(sweeps, seeds))
    a = shared + rng.normal(0, 0.1, size=(sweeps, seeds))
    b = shared + 0.3 + rng.normal(0, 0.1, size=(sweeps, seeds))
    results = [gap(a[i], b[i], paired_seeds=True) for i in range(sweeps)]
    values = np.array([r.value for r in results])
    assert values.mean() == pytest.approx(0.3, abs=0.01)
    rms_se = math.sqrt(np.mean([r.se_seeds**2 for r in results]))
    assert rms_se == pytest.approx(values.std(ddof=1), rel=0.05)  # both ≈ 0.1·√2/√5 ≈ 0.063


def test_spearman_matches_scipy():
    rng = np.random.default_rng(7)
    for values in ([3.0, 2.0, 2.0, 1.0, 0.5], rng.normal(size=7), [1.0, 4.0, 2.0]):
        expected = stats.spearmanr(values, np.arange(len(values))).statistic
        assert spearman(values) == pytest.approx(expected, rel=1e-12)
    assert spearman([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == pytest.approx(1.0)
    # one swap of neighbours among six: 1 − 6·2/(6·35)
    assert spearman([1.0, 3.0, 2.0, 4.0, 5.0, 6.0]) == pytest.approx(1 - 12 / 210)
    assert math.isnan(spearman([2.0, 2.0, 2.0])) and math.isnan(spearman([1.0]))


def _gap(z: float) -> Gap:
    return Gap(value=z, se=1.0, se_seeds=0.5, se_prompts=0.5, z=z)


@pytest.mark.parametrize(
    ("claim", "means", "z", "outcome"),
    [
        (CLAIMS[0], [3.0, 2.8, 2.5, 2.2, 2.0, 1.5], -8.0, "holds"),  # reward falls cleanly
        (CLAIMS[0], [3.0, 2.8, 2.5, 2.2, 2.0, 1.5], -2.0, "does not hold"),  # monotone but ends within 3 SE
        (CLAIMS[1], [1.0, 1.3, 1.1, 1.4, 0.9, 1.5], 5.0, "does not hold"),  # ends apart, order scrambled
        (CLAIMS[1], [1.6, 1.55, 1.5, 1.52, 1.45, 1.4], -4.4, "reversed"),  # entropy falls significantly
        (CLAIMS[1], [1.6, 1.55, 1.5, 1.52, 1.45, 1.4], -2.5, "does not hold"),  # falls, not significantly
        (CLAIMS[4], [30.0, 25.0, 20.0, 15.0, 10.0, 5.0], -math.inf, "holds"),  # zero SE, nonzero gap
        (CLAIMS[3], [0.2, 0.2, 0.2], math.nan, "does not hold"),  # all equal
    ],
)
def test_judge_outcomes(claim, means, z, outcome):
    verdict = judge(claim, means, _gap(z))
    assert verdict.outcome == outcome
    assert verdict.claim is claim and verdict.means == tuple(means)


def test_judge_thresholds_are_inclusive_and_adjustable():
    claim = Claim("distinct_2", +1, "distinct-2 rises")
    one_swap = [1.0, 3.0, 2.0, 4.0, 5.0, 6.0]  # ρ = 0.943
    assert judge(claim, one_swap, _gap(GAP_THRESHOLD)).outcome == "holds"
    assert judge(claim, one_swap, _gap(GAP_THRESHOLD - 1e-9)).outcome == "does not hold"
    assert judge(claim, one_swap, _gap(5.0), rho_threshold=0.95).outcome == "does not hold"
    assert RHO_THRESHOLD == 0.8 and GAP_THRESHOLD == 3.0
