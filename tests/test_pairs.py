"""Tests for fdpo/pairs.py: each pair strategy on crafted rewards, split/save/load, and every bad-input error."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict

from fdpo.metrics import mean_token_logprobs
from fdpo.pairs import COLUMNS, build_pairs, load_pairs, ngram_diversity, save_pairs

# Two prompts, four samples each; rewards crafted by hand.
PROMPTS = ["p1"] * 4 + ["p2"] * 4
COMPLETIONS = [f" c{i}" for i in range(8)]
REWARDS = [2.5, 0.5, 1.5, -1.0, 3.0, 2.9, 0.1, 0.2]
INDEX = {completion: index for index, completion in enumerate(COMPLETIONS)}


def _index_pairs(pairs) -> list[tuple[int, int]]:
    return [(INDEX[c], INDEX[r]) for c, r in zip(pairs["chosen"], pairs["rejected"], strict=True)]


def test_threshold_pairs_winners_above_high_with_losers_between_of_the_same_prompt():
    """p1: winner c0 (2.5), losers c1, c2 (−1.0 is below low). p2: winners c4, c5, losers c6, c7."""
    pairs = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="threshold", high=2.0, low=0.0, num_pairs=60)
    assert list(pairs.column_names) == list(COLUMNS) and len(pairs) == 60
    allowed = {0: {1, 2}, 4: {6, 7}, 5: {6, 7}}
    for (chosen, rejected), prompt in zip(_index_pairs(pairs), pairs["prompt"], strict=True):
        assert rejected in allowed[chosen] and prompt == PROMPTS[chosen]
    assert {c for c, _ in _index_pairs(pairs)} == {0, 4, 5}
    assert {r for _, r in _index_pairs(pairs)} == {1, 2, 6, 7}
    np.testing.assert_array_equal(pairs["chosen_reward"], [REWARDS[c] for c, _ in _index_pairs(pairs)])
    np.testing.assert_array_equal(pairs["rejected_reward"], [REWARDS[r] for _, r in _index_pairs(pairs)])
    # default: each winner once, in random order; the same seed gives the same pairs
    default = build_pairs(PROMPTS, COMPLETIONS, REWARDS, seed=3)
    assert sorted(c for c, _ in _index_pairs(default)) == [0, 4, 5]
    assert default.to_dict() == build_pairs(PROMPTS, COMPLETIONS, REWARDS, seed=3).to_dict()


def test_threshold_with_one_prompt_is_the_notebooks_random_pairing():
    """The notebook's case, one prompt: winners and losers drawn uniformly (with replacement) and independently."""
    rng = np.random.default_rng(0)
    rewards = rng.normal(1.0, 1.5, size=300)
    completions = [f" review {i}" for i in range(300)]
    pairs = build_pairs(["Good Review:"] * 300, completions, rewards, num_pairs=20_000, seed=1)
    winners = np.flatnonzero(rewards > 2.0)
    losers = np.flatnonzero((rewards > 0.0) & (rewards < 2.0))
    chosen = np.array([int(c.split()[1]) for c in pairs["chosen"]])
    rejected = np.array([int(r.split()[1]) for r in pairs["rejected"]])
    assert set(chosen) == set(winners) and set(rejected) == set(losers)
    # uniform: every winner's share within 5 standard deviations of 1/len(winners)
    share = np.bincount(chosen, minlength=300)[winners] / len(chosen)
    p = 1 / len(winners)
    assert np.all(np.abs(share - p) < 5 * np.sqrt(p * (1 - p) / len(chosen)))
    assert abs(np.corrcoef(rewards[chosen], rewards[rejected])[0, 1]) < 0.05  # independent draws


def test_best_vs_worst_per_prompt():
    pairs = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="best_vs_worst")
    assert sorted(zip(pairs["prompt"], _index_pairs(pairs), strict=True)) == [("p1", (0, 3)), ("p2", (4, 6))]
    # a prompt whose samples all tie gives no pair; num_pairs keeps a random subset
    tied = build_pairs(
        PROMPTS + ["p3"] * 2, COMPLETIONS + [" t1", " t2"], REWARDS + [1.0, 1.0], strategy="best_vs_worst"
    )
    assert sorted(tied["prompt"]) == ["p1", "p2"]
    assert len(build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="best_vs_worst", num_pairs=1)) == 1


def test_margin_pairs_share_a_prompt_and_differ_enough():
    pairs = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=2.0)
    expected = {(0, 1), (0, 3), (2, 3), (4, 6), (4, 7), (5, 6), (5, 7)}  # 2.5 − 0.5 = 2 counts
    assert len(pairs) == len(expected) and set(_index_pairs(pairs)) == expected
    assert all(c - r >= 2.0 for c, r in zip(pairs["chosen_reward"], pairs["rejected_reward"], strict=True))
    subset = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=2.0, num_pairs=3, seed=5)
    assert len(subset) == 3 and set(_index_pairs(subset)) <= expected


def test_split_save_and_load(tmp_path):
    pairs = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=0.5, test_size=0.25, seed=0)
    assert isinstance(pairs, DatasetDict) and set(pairs) == {"train", "test"}
    total = len(pairs["train"]) + len(pairs["test"])
    assert total == 10 and len(pairs["test"]) == 3  # p1: 6 pairs differ by >= 0.5, p2: 4; ceil(0.25 × 10)
    path = save_pairs(pairs, tmp_path / "pairs")
    loaded = load_pairs(path)
    assert loaded["train"].to_dict() == pairs["train"].to_dict()
    save_pairs(pairs["test"], path)  # overwriting leaves no staging folder
    reloaded = load_pairs(path)
    assert isinstance(reloaded, Dataset) and reloaded.to_dict() == pairs["test"].to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["pairs"]
    with pytest.raises(FileNotFoundError, match="build one with build_pairs"):
        load_pairs(tmp_path / "missing")
    with pytest.raises(TypeError, match="takes a Dataset or DatasetDict"):
        save_pairs({"prompt": []}, tmp_path / "x")


def test_no_pair_errors_say_how_many_candidates_and_the_fix():
    with pytest.raises(ValueError, match=r"found 0 winner\(s\) \(reward > 5.0\) and 7 loser.*Lower `high`"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="threshold", high=5.0, low=0.0)
    # winners only in p1, losers only in p2: candidates on both sides, but no same-prompt pair
    with pytest.raises(ValueError, match=r"1 winner\(s\).*1 loser\(s\).*No prompt has both"):
        build_pairs(["p1", "p2"], [" a", " b"], [3.0, 1.0], strategy="threshold")
    with pytest.raises(
        ValueError, match="2 with two or more samples, largest reward spread within a prompt 3.5"
    ):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=10.0)
    with pytest.raises(
        ValueError, match=r"2 prompts, 0 of them with two or more.*num_samples_per_prompt >= 2"
    ):
        build_pairs(["a", "b"], [" x", " y"], [1.0, 2.0], strategy="best_vs_worst")


@pytest.mark.parametrize(
    "prompts, completions, rewards, error, match",
    [
        ([], [], [], ValueError, "completions is empty"),
        (["a"], [" x", " y"], [1.0, 2.0], ValueError, "got 1, 2 and 2"),
        (["a", "a"], [" x", " y"], [1.0], ValueError, "got 2, 2 and 1"),
        (["a", "a"], [" x", 3], [1.0, 2.0], TypeError, r"completions must be strings; positions \[1\]"),
        (["a", None], [" x", " y"], [1.0, 2.0], TypeError, r"prompts must be strings; positions \[1\]"),
        (
            ["a", "a"],
            [" x", "  "],
            [1.0, 2.0],
            ValueError,
            r"1 completion\(s\) are empty or blank \(positions \[1\]",
        ),
        (["a", "a"], [" x", " y"], [1.0, np.nan], ValueError, r"NaN or inf at positions \[1\]"),
        (["a", "a"], [" x", " y"], [1.0, np.inf], ValueError, r"NaN or inf at positions \[1\]"),
        (["a", "a"], [" x", " y"], [[1.0], [2.0]], ValueError, "1-D"),
        (["a", "a"], [" x", " y"], ["high", "low"], TypeError, "rewards must be numbers"),
        ("ab", [" x", " y"], [1.0, 2.0], TypeError, "single string"),
    ],
)
def test_bad_input(prompts, completions, rewards, error, match):
    with pytest.raises(error, match=match):
        build_pairs(prompts, completions, rewards, strategy="best_vs_worst")


def test_bad_options():
    with pytest.raises(ValueError, match="Unknown pair strategy 'best'; choose one of threshold"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="best")
    with pytest.raises(ValueError, match="low < high"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, high=0.0, low=1.0)
    with pytest.raises(ValueError, match="margin must be > 0"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=0.0)
    with pytest.raises(ValueError, match="high must be a number"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, high=float("nan"))
    with pytest.raises(ValueError, match="test_size must be in"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, test_size=1.5)
    with pytest.raises(ValueError, match="leaves an empty split"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="best_vs_worst", test_size=0.2)
    with pytest.raises(ValueError, match="num_pairs must be a positive integer"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, num_pairs=0)


# ----------------------------------------------------------------------------------------------------------------
# DivPO

# p1: six samples with rewards and mean per-token SFT log-probs (diversity = −logprob); p2: four texts for ngram.
DIVPO_PROMPTS = ["p1"] * 6 + ["p2"] * 4
DIVPO_COMPLETIONS = [
    " s0",
    " s1",
    " s2",
    " s3",
    " s4",
    " s5",
    " the film was good",
    " the film was good",
    " a truly fine film",
    " the film was bad",
]
DIVPO_REWARDS = [3.0, 2.0, 1.0, -1.0, -2.0, 0.5, 3.0, 0.0, 2.5, -1.0]
DIVPO_LOGPROBS = [-1.0, -3.0, -2.0, -0.5, -4.0, -0.2, -1.0, -1.0, -1.0, -1.0]
DIVPO_INDEX = {c: i for i, c in enumerate(DIVPO_COMPLETIONS[:6])}


def _divpo(**options):
    return build_pairs(
        DIVPO_PROMPTS[:6], DIVPO_COMPLETIONS[:6], DIVPO_REWARDS[:6], strategy="divpo", **options
    )


def test_divpo_logprob_picks_the_most_diverse_high_and_the_least_diverse_low_sample():
    """p1 by reward: s4 (−2) < s3 (−1) < s5 (0.5) < s2 (1) < s1 (2) < s0 (3); diversity −logprob: s0 1, s1 3, s2 2,
    s3 0.5, s4 4, s5 0.2.

    quantile 0.5 (k = 3): top pool {s0, s1, s2} → most diverse s1; bottom pool {s3, s4, s5} → least diverse s5.
    quantile 0.25 (k = ⌊1.5⌋ = 1): the pools are s0 and s4 alone: best against worst.
    quantile None, high 1.5, low 0: top {s0, s1} → s1; bottom {s3, s4} → s3.
    """
    half = _divpo(logprobs=DIVPO_LOGPROBS[:6], quantile=0.5)
    assert [
        (DIVPO_INDEX[c], DIVPO_INDEX[r]) for c, r in zip(half["chosen"], half["rejected"], strict=True)
    ] == [(1, 5)]
    assert half["prompt"] == ["p1"] and half["chosen_reward"] == [2.0] and half["rejected_reward"] == [0.5]
    quarter = _divpo(logprobs=DIVPO_LOGPROBS[:6], quantile=0.25)
    assert (quarter["chosen"], quarter["rejected"]) == ([" s0"], [" s4"])
    pools = _divpo(logprobs=DIVPO_LOGPROBS[:6], quantile=None, high=1.5, low=0.0)
    assert (pools["chosen"], pools["rejected"]) == ([" s1"], [" s3"])
    # the picks follow the log-probs, not the order: reversing the diversity flips both picks within the pools
    flipped = _divpo(logprobs=[-v for v in DIVPO_LOGPROBS[:6]], quantile=0.5)
    assert (flipped["chosen"], flipped["rejected"]) == ([" s0"], [" s4"])


def test_ngram_diversity_is_the_mean_jaccard_distance_to_the_prompts_other_samples():
    """Bigrams: t0 = t1 = {the film, film was, was good}; t2 = {a truly, truly fine, fine film} shares none;
    t3 = {the film, film was, was bad} shares 2 of 4 with t0/t1. Distances: d01 = 0, d02 = d12 = d23 = 1,
    d03 = d13 = 1/2. Means: t0 = t1 = 1.5/3, t2 = 1, t3 = 2/3. A sample alone in its group: NaN."""
    texts = DIVPO_COMPLETIONS[6:] + [" alone here"]
    diversity = ngram_diversity(texts, [[0, 1, 2, 3], [4]], n=2)
    np.testing.assert_allclose(diversity[:4], [0.5, 0.5, 1.0, 2 / 3], rtol=0, atol=1e-15)
    assert np.isnan(diversity[4])
    # unigrams: t0 {the, film, was, good}, t3 {the, film, was, bad}: 3 of 5 shared; one-word texts have no bigram
    np.testing.assert_allclose(ngram_diversity(texts, [[0, 3]], n=1)[[0, 3]], [0.4, 0.4])
    np.testing.assert_array_equal(ngram_diversity([" one", " two"], [[0, 1]], n=2), [0.0, 0.0])


def test_divpo_ngram_picks_by_jaccard_distance():
    """p2 rewards t0 3, t2 2.5 (top half), t1 0, t3 −1 (bottom half): chosen t2 (diversity 1 > 1/2), rejected t1
    (1/2 < 2/3), where best_vs_worst takes t0 against t3."""
    pairs = build_pairs(
        DIVPO_PROMPTS, DIVPO_COMPLETIONS, DIVPO_REWARDS, strategy="divpo", diversity="ngram", quantile=0.5
    )
    by_prompt = dict(zip(pairs["prompt"], zip(pairs["chosen"], pairs["rejected"], strict=True), strict=True))
    assert by_prompt["p2"] == (" a truly fine film", " the film was good")
    assert len(pairs) == 2  # one pair per prompt
    best = build_pairs(DIVPO_PROMPTS, DIVPO_COMPLETIONS, DIVPO_REWARDS, strategy="best_vs_worst")
    assert (" the film was good", " the film was bad") in zip(best["chosen"], best["rejected"], strict=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"diversity": "entropy", "logprobs": DIVPO_LOGPROBS[:6]}, "Unknown diversity criterion 'entropy'"),
        ({}, "diversity='logprob' needs logprobs"),
        ({"logprobs": DIVPO_LOGPROBS[:5]}, r"one number per sample \(6\), got shape \(5,\)"),
        ({"logprobs": [-1.0, float("nan"), -1, -1, -1, -1]}, r"NaN or inf at positions \[1\]"),
        ({"logprobs": DIVPO_LOGPROBS[:6], "quantile": 0.6}, r"quantile must be in \(0, 0.5\]"),
        ({"logprobs": DIVPO_LOGPROBS[:6], "quantile": 0}, r"quantile must be in \(0, 0.5\]"),
        ({"diversity": "ngram", "logprobs": DIVPO_LOGPROBS[:6]}, "logprobs is used only with"),
        ({"diversity": "ngram", "ngram": 0}, "ngram must be a positive integer"),
        ({"logprobs": DIVPO_LOGPROBS[:6], "quantile": None, "high": 0.0, "low": 1.0}, "low <= high"),
        ({"logprobs": DIVPO_LOGPROBS[:6], "quantile": None, "high": 5.0}, "divpo found no pair"),
    ],
)
def test_divpo_bad_options_are_refused(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _divpo(**options)


def test_divpo_gives_no_pair_when_a_prompts_rewards_all_tie():
    with pytest.raises(ValueError, match="divpo found no pair among 1 prompts"):
        build_pairs(["p"] * 4, [" a", " b", " c", " d"], [1.0] * 4, strategy="divpo", diversity="ngram")


def test_mean_token_logprobs_against_a_float64_forward(tiny_lm):
    """Completion token ids scored after the prompt's ids, in one float64 forward: the mean of log-softmax picks."""
    model, tokenizer = tiny_lm
    prompts = ["This movie was", "A fine film"]
    completions = [[5, 17, 42, 9], [7, 7]]
    values = mean_token_logprobs(model, tokenizer, prompts, completions)
    double = copy.deepcopy(model).double().eval()
    for prompt, completion, value in zip(prompts, completions, values, strict=True):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + completion])
        with torch.no_grad():
            logps = torch.log_softmax(double(ids).logits[0], dim=-1)
        picks = [logps[len(prompt_ids) + k - 1, token].item() for k, token in enumerate(completion)]
        np.testing.assert_allclose(value, np.mean(picks), rtol=1e-5)
    empty = mean_token_logprobs(model, tokenizer, ["This movie was"], [[]])
    assert np.isnan(empty[0])


def test_make_pairs_divpo_picks_by_the_sft_models_mean_token_logprob(tiny_lm):
    """One prompt, four samples with rewards 3, 2, 1, 0: pools {0, 1} and {2, 3} (quantile 0.5). Chosen is the
    top-pool sample with the lower mean token log-prob, rejected the bottom-pool sample with the higher one."""
    from fdpo.decoding import Samples
    from fdpo.pipeline import make_pairs
    from fdpo.settings import PairSettings

    model, tokenizer = tiny_lm
    ids = [[5, 17, 42], [7, 7, 7, 7], [11, 30], [9, 12, 50, 61]]
    completions = [tokenizer.decode(i) for i in ids]
    samples = Samples(["p"] * 4, ["p"] * 4, completions, ["p" + c for c in completions], ids)
    logprobs = mean_token_logprobs(model, tokenizer, ["p"] * 4, ids)
    settings = PairSettings(strategy="divpo", diversity="logprob", quantile=0.5)
    pairs = make_pairs(samples, [3.0, 2.0, 1.0, 0.0], settings, model=model, tokenizer=tokenizer)
    chosen = 0 if logprobs[0] < logprobs[1] else 1
    rejected = 2 if logprobs[2] > logprobs[3] else 3
    assert (pairs["chosen"], pairs["rejected"]) == ([completions[chosen]], [completions[rejected]])
    with pytest.raises(ValueError, match="need the SFT model and its tokenizer"):
        make_pairs(samples, [3.0, 2.0, 1.0, 0.0], settings)
    ngram = make_pairs(samples, [3.0, 2.0, 1.0, 0.0], PairSettings(strategy="divpo", diversity="ngram"))
    assert len(ngram) == 1
    assert PairSettings(strategy="divpo", quantile=0.7).problems() == [
        "pairs.quantile must be in (0, 0.5], got 0.7."
    ]
    assert "pairs.diversity='entropy' is unknown" in PairSettings(diversity="entropy").problems()[0]
