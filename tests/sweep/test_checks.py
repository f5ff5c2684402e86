"""Tests for fdpo/sweep/checks.py: the value checks shared by the sections and the config, and their message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fdpo.sweep.checks import (
    MAX_SEED,
    beta_problems,
    choice_problems,
    format_problems,
    positive_int_problems,
    rename_keys,
    seed_problems,
    unknown_key_problem,
)


def test_rename_keys_writes_each_key_as_the_user_wrote_it():
    names = {"grid.betas": "--beta", "training.": "--set "}
    assert rename_keys("grid.betas[0] is bad; so is grid.betas", names) == "--beta is bad; so is --beta"
    assert rename_keys("training.learning_rate=0", names) == "--set learning_rate=0"
    assert rename_keys("grid.betas.", {"grid.betas": "--beta"}) == "--beta."
    assert rename_keys("grid.betas_x grid.beta_per_divergence", {"grid.betas": "--beta"}) == (
        "grid.betas_x grid.beta_per_divergence"
    )
    assert rename_keys("grid.betas", None) == "grid.betas"


def test_format_problems_gives_one_line_for_one_problem_and_a_list_for_more():
    assert format_problems("a.yaml", ["grid.betas is empty."]) == "a.yaml: grid.betas is empty."
    assert format_problems("config", ["first.", "grid.betas has [0]."], {"grid.betas": "--beta"}) == (
        "config: 2 problems:\n  - first.\n  - --beta has [0]."
    )


def test_an_unknown_key_is_named_with_the_closest_known_one():
    known = {"seeds": None, "betas": None}
    assert unknown_key_problem("seeed", known, "key of grid", prefix="grid.") == (
        "grid.seeed is not a known key of grid. Did you mean grid.seeds?"
    )
    assert unknown_key_problem("zzz", known, "key of grid") == "zzz is not a known key of grid."


def test_seeds_positive_integers_and_betas():
    assert seed_problems("grid.seeds", [0, MAX_SEED]) == []
    assert seed_problems("grid.seeds", [True, 1.0]) == ["grid.seeds must be integers, got True, 1.0."]
    (problem,) = seed_problems("grid.seeds", [MAX_SEED + 1])
    assert problem.startswith(
        f"grid.seeds has {MAX_SEED + 1}; a seed must be an integer from 0 to {MAX_SEED}"
    )
    assert positive_int_problems("n", 1) == []
    for bad in (0, -1, 1.0, True, "2"):
        assert positive_int_problems("n", bad) == [f"n must be a positive integer, got {bad!r}."]
    assert beta_problems("b", [0.1, np.float32(0.2)]) == []
    assert beta_problems("b", [])[0].startswith("b is empty")
    (problem,) = beta_problems("b", [0, float("nan"), float("inf"), True, 0.1])
    assert problem.startswith("b has [0, nan, inf, True]; β must be a finite number > 0")


@dataclass
class _Choices:
    mode: Literal["a", "b"] = "a"
    modes: list[Literal["x", "y"]] = field(default_factory=list)
    free: str = "anything"


def test_choice_problems_reads_the_choices_from_the_literal_type():
    assert choice_problems(_Choices(modes=["y", "x"]), "s") == []
    assert choice_problems(_Choices(mode="c", modes=["x", "z", "w"]), "s") == [
        "s.mode='c' is unknown; use one of a, b.",
        "s.modes has 'z', 'w'; use any of x, y.",
    ]
    assert choice_problems(_Choices(modes="x"), "s") == []  # not a list: the section's own check says so
