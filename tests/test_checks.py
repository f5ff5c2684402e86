"""Tests for fdpo/checks.py: the value checks, one rule each, and their message; the trainer's value ranges give the
same answer from the Python API (``FDPOConfig``), a sweep config and the command (``fdpo train``, ``fdpo sweep``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pytest
import yaml

from fdpo.checks import (
    MAX_SEED,
    TRAINING_VALUE_KEYS,
    beta_problems,
    choice_problems,
    format_problems,
    positive_int_problems,
    rename_keys,
    seed_problems,
    training_value_problems,
    unknown_key_problem,
)
from fdpo.cli import main
from fdpo.config import FDPOConfig
from fdpo.errors import InputError, SweepConfigError
from fdpo.sweep import SweepConfig


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
    assert positive_int_problems("n", 1) == positive_int_problems("n", np.int64(2)) == []
    for bad in (0, -1, 1.0, True, "2"):
        assert positive_int_problems("n", bad) == [f"n={bad!r} must be a positive integer."]
    assert beta_problems("b", [0.1, np.float32(0.2)]) == beta_problems("b", 0.3) == []
    assert beta_problems("b", [])[0].startswith("b is empty")
    problems = beta_problems("b", [0, float("nan"), float("inf"), True, 0.1])
    assert [problem.partition(" must be a finite number > 0")[0] for problem in problems] == [
        "b[0]=0",
        "b[1]=nan",
        "b[2]=inf",
        "b[3]=True",
    ]
    assert beta_problems("b", -1)[0].startswith("b=-1 must be a finite number > 0")


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


def test_training_value_problems_check_each_range_and_type():
    good = {"learning_rate": 1e-5, "beta": 0.1, "per_device_train_batch_size": 8, "max_length": None}
    assert training_value_problems({**good, "num_train_epochs": 1, "max_steps": -1}) == []
    assert training_value_problems({"num_train_epochs": 0, "max_steps": 5}) == []  # max_steps wins
    assert training_value_problems({"unknown": 0, "output_dir": None}) == []  # not a trainer value range
    bad = {
        "learning_rate": 0,
        "beta": "0.1",
        "per_device_eval_batch_size": 2.5,
        "gradient_accumulation_steps": 0,
        "max_length": 1,
        "num_train_epochs": float("nan"),
    }
    problems = training_value_problems(bad, prefix="training.")
    assert [problem.partition(" ")[0] for problem in problems] == [
        "training.learning_rate=0",
        "training.beta='0.1'",
        "training.per_device_eval_batch_size=2.5",
        "training.gradient_accumulation_steps=0",
        "training.max_length=1",
        "training.num_train_epochs=nan",
    ]
    assert problems[-1].endswith(
        "Give training.num_train_epochs a finite number > 0 (e.g. 1), or training.max_steps > 0."
    )
    (problem,) = training_value_problems({"max_steps": 2.0})
    assert problem.startswith("max_steps=2.0 must be an integer")


# ----------------------------------------------------------------------------------------------------------------
# One bad value, one answer: the Python API, a sweep config (from Python and from `fdpo sweep --dry-run`), `fdpo train`

BAD_VALUES = [
    ("learning_rate", 0.0),
    ("learning_rate", -1e-05),
    ("learning_rate", math.nan),
    ("learning_rate", math.inf),
    ("beta", 0.0),
    ("beta", -0.1),
    ("beta", math.nan),
    ("per_device_train_batch_size", 0),
    ("per_device_eval_batch_size", 0),
    ("gradient_accumulation_steps", -2),
    ("num_train_epochs", 0.0),
    ("num_train_epochs", -1.0),
    ("max_length", 1),
]


def _unspelled(message: str) -> str:
    """A message with each key written bare: ``--learning_rate``, ``training.learning_rate`` and ``grid.betas[0]``
    become ``learning_rate``/``beta``."""
    return re.sub(r"(--|training\.)(?=\w)", "", message.replace("grid.betas[0]", "beta"))


@pytest.fixture(scope="module")
def sweep_yaml(tiny_model_dir, tiny_classifier_dir):
    return {"sft_model": tiny_model_dir, "reward_model": tiny_classifier_dir, "prompts": {"texts": ["Good"]}}


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=[f"{key}={value}" for key, value in BAD_VALUES])
def test_a_bad_trainer_value_gets_the_same_message_everywhere(key, value, sweep_yaml, tmp_path, capsys):
    assert key in TRAINING_VALUE_KEYS
    # The Python API
    with pytest.raises(InputError) as error:
        FDPOConfig(output_dir=str(tmp_path), report_to="none", bf16=False, **{key: value})
    python = str(error.value)
    assert python.startswith(f"{key}={value!r} ")
    # A sweep config, built in Python
    data = {**sweep_yaml, **({"grid": {"betas": [value]}} if key == "beta" else {"training": {key: value}})}
    with pytest.raises(SweepConfigError) as error:
        SweepConfig.from_dict(data)
    sweep = str(error.value).removeprefix("config: ")
    # fdpo sweep --dry-run on the same config as a file
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["sweep", str(path), "--output-dir", str(tmp_path / "out"), "--dry-run"]) == 2
    dry_run = capsys.readouterr().err.strip().removeprefix(f"fdpo sweep: error: {path}: ")
    # fdpo train (the value is refused while the arguments are parsed, before the pairs file or the model is read)
    argv = ["train", "--model", "m", "--pairs", "p.jsonl", "--output-dir", str(tmp_path / "policy")]
    assert main([*argv, f"--{key}={value}"]) == 2
    train = capsys.readouterr().err.strip().removeprefix("fdpo train: error: ")
    if (
        key == "num_train_epochs"
    ):  # the command reads the option as a float, YAML and Python keep what they get
        assert train.startswith(f"--{key}={float(value)!r} ")
    assert sweep == dry_run
    assert _unspelled(python) == _unspelled(sweep) == _unspelled(train), (python, sweep, train)
