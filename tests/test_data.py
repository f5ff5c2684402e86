"""Tests for fdpo/data.py: each pair strategy on crafted rewards, split/save/load, and every bad-input error."""

from __future__ import annotations

import numpy as np
import pytest

from fdpo.data import build_pairs, load_pairs, save_pairs

# Two prompts, four samples each; rewards crafted by hand.
PROMPTS = ["p1"] * 4 + ["p2"] * 4
COMPLETIONS = [f" c{i}" for i in range(8)]
REWARDS = [2.5, 0.5, 1.5, -1.0, 3.0, 2.9, 0.1, 0.2]


def test_threshold_pairs_winners_above_high_with_losers_between():
    pairs = build_pairs(
        PROMPTS, COMPLETIONS, REWARDS, strategy="threshold", high=2.0, low=0.0, num_pairs=50, seed=0
    )
    assert len(pairs) == 50
    assert all(r > 2.0 for r in pairs["chosen_reward"])
    assert all(0.0 < r < 2.0 for r in pairs["rejected_reward"])
    assert set(pairs["chosen"]) == {" c0", " c4", " c5"}
    assert set(pairs["rejected"]) == {" c1", " c2", " c6", " c7"}  # −1.0 is outside (low, high)
    assert (
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, high=2.0, low=0.0, seed=0)["chosen"]
        == build_pairs(PROMPTS, COMPLETIONS, REWARDS, high=2.0, low=0.0, seed=0)["chosen"]
    )


def test_best_vs_worst_per_prompt():
    pairs = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="best_vs_worst")
    assert sorted(zip(pairs["prompt"], pairs["chosen"], pairs["rejected"], strict=False)) == [
        ("p1", " c0", " c3"),
        ("p2", " c4", " c6"),
    ]


def test_margin_pairs_share_a_prompt_and_differ_enough():
    pairs = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=2.0)
    index = {c: i for i, c in enumerate(COMPLETIONS)}
    expected = {(0, 1), (0, 3), (2, 3), (4, 6), (4, 7), (5, 6), (5, 7)}  # 2.5 − 0.5 = 2 counts
    got = {(index[c], index[r]) for c, r in zip(pairs["chosen"], pairs["rejected"], strict=False)}
    assert got == expected
    assert all(c - r >= 2.0 for c, r in zip(pairs["chosen_reward"], pairs["rejected_reward"], strict=False))


def test_split_save_and_load(tmp_path):
    pairs = build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=0.5, test_size=0.25, seed=0)
    assert set(pairs) == {"train", "test"} and len(pairs["test"]) >= 1
    path = save_pairs(pairs, tmp_path / "pairs")
    loaded = load_pairs(path)
    assert loaded["train"].to_dict() == pairs["train"].to_dict()
    save_pairs(pairs["test"], path)  # overwriting is atomic and leaves no staging folder
    assert load_pairs(path).to_dict() == pairs["test"].to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["pairs"]
    with pytest.raises(FileNotFoundError, match="build one with build_pairs"):
        load_pairs(tmp_path / "missing")


def test_no_pair_errors_say_how_many_candidates():
    with pytest.raises(ValueError, match=r"found 0 winner\(s\) \(reward > 5.0\) and 7 loser"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="threshold", high=5.0, low=0.0)
    with pytest.raises(ValueError, match="largest spread within a prompt: 3.5"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="margin", margin=10.0)
    with pytest.raises(ValueError, match="num_samples_per_prompt >= 2"):
        build_pairs(["a", "b"], [" x", " y"], [1.0, 2.0], strategy="best_vs_worst")


@pytest.mark.parametrize(
    "prompts, completions, rewards, error, match",
    [
        ([], [], [], ValueError, "completions is empty"),
        (["a"], [" x", " y"], [1.0, 2.0], ValueError, "got 1, 2 and 2"),
        (["a", "a"], [" x", 3], [1.0, 2.0], TypeError, "completions must be strings; positions \\[1\\]"),
        (["a", "a"], [" x", "  "], [1.0, 2.0], ValueError, "completion\\(s\\) are empty"),
        (["a", "a"], [" x", " y"], [1.0, np.nan], ValueError, "NaN or inf at positions \\[1\\]"),
        ("ab", [" x", " y"], [1.0, 2.0], TypeError, "single string"),
    ],
)
def test_bad_input(prompts, completions, rewards, error, match):
    with pytest.raises(error, match=match):
        build_pairs(prompts, completions, rewards, strategy="best_vs_worst")


def test_bad_options():
    with pytest.raises(ValueError, match="Unknown pair strategy 'best'"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, strategy="best")
    with pytest.raises(ValueError, match="low < high"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, high=0.0, low=1.0)
    with pytest.raises(ValueError, match="test_size must be in"):
        build_pairs(PROMPTS, COMPLETIONS, REWARDS, test_size=1.5)
