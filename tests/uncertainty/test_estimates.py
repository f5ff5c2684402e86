"""Tests for fdpo/uncertainty/estimates.py: the seed × prompt combination against closed forms and a simulation,
and paired gaps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fdpo.uncertainty import (
    Replicates,
    RunSamples,
    bootstrap_weights,
    combine,
    gap,
    ratio_bootstrap,
    ratio_jackknife,
    run_replicates,
    seed_standard_error,
)


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


def test_gap_degrees_of_freedom_and_t_interval():
    """Paired: S − 1. Unpaired: Welch–Satterthwaite, as scipy's Welch test. With a prompt part: the Satterthwaite
    rule with the prompt part taken as known, df_seeds · (se²/se_seeds²)²."""
    a, b = [1.0, 3.0, 2.0, 6.0], [1.5, 3.7, 2.4, 6.6]
    paired = gap(a, b, paired_seeds=True)
    assert (paired.df, paired.n) == (3.0, 4)
    comparison = paired.comparison()
    assert comparison.interval == pytest.approx(
        tuple(stats.ttest_rel(b, a).confidence_interval(0.95)), rel=1e-12
    )
    assert comparison.p_value == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-12)
    unpaired = gap([1.0, 2.0, 3.0], [5.0, 5.5])
    assert unpaired.df == pytest.approx(
        stats.ttest_ind([5.0, 5.5], [1.0, 2.0, 3.0], equal_var=False).df, rel=1e-12
    )
    assert unpaired.n == 5
    assert gap([1.0, 1.0], [2.0, 2.0, 2.0]).df == 3.0  # no spread on either side: n_a + n_b − 2
    assert math.isnan(gap([1.0], [2.0]).df) and gap([1.0], [2.0]).comparison().outcome == "inconclusive"
    rng = np.random.default_rng(8)
    index, prompts = np.repeat(np.arange(30), 2), 30
    samples = [rng.normal(mean, 1.0, 60) for mean in (0.0, 0.1, 0.2, 0.5)]  # a at seeds 0, 1; b at seeds 0, 1
    reps = [Replicates("jackknife", ratio_jackknife(index, v, prompts), v.mean()) for v in samples]
    mixed = gap([0.0, 0.1], [0.2, 0.5], reps[:2], reps[2:], paired_seeds=True)
    ratio = mixed.se**2 / mixed.se_seeds**2
    assert mixed.df == pytest.approx(1.0 * ratio**2, rel=1e-12) and mixed.df > 1.0
    only_prompts = gap([0.0], [0.2], reps[:1], reps[1:2])
    assert only_prompts.se == only_prompts.se_prompts and only_prompts.df == math.inf
