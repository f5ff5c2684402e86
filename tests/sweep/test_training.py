"""Tests for fdpo/sweep/training.py: the ``training:`` arguments checked against FDPOConfig, and the run defaults."""

from __future__ import annotations

from fdpo.checks import training_value_problems
from fdpo.sweep.training import GRID_OWNED_TRAINING_KEYS, argument_problems, training_defaults


def test_training_arguments_are_checked_against_fdpo_config_fields():
    assert argument_problems({"learning_rate": 1e-5, "num_train_epochs": 1, "max_length": None}) == []
    assert argument_problems([1]) == ["training must be a mapping of FDPOConfig arguments, got [1]."]
    assert argument_problems({"learnin_rate": 1e-5, "seed": 3, "per_device_train_batch_size": True}) == [
        "training.learnin_rate is not a known FDPOConfig argument. Did you mean training.learning_rate?",
        f"training.seed is set per run by the sweep: {GRID_OWNED_TRAINING_KEYS['seed']}.",
        "training.per_device_train_batch_size=True must be a positive integer.",
    ]
    assert argument_problems({"weight_decay": True}) == [
        "training.weight_decay=True must be a number (FDPOConfig.weight_decay); write e.g. weight_decay: 0.0."
    ]


def test_value_ranges_are_fdpo_configs_and_listed_with_the_type_problems():
    """The trainer's value ranges (type included) are fdpo.checks.training_value_problems, as FDPOConfig's."""
    (problem,) = argument_problems({"learning_rate": 0})
    assert problem.startswith("training.learning_rate=0 must be a finite number > 0")
    assert argument_problems({"learning_rate": 0, "num_train_epochs": "two", "weight_decay": "x"}) == [
        "training.weight_decay='x' must be a number (FDPOConfig.weight_decay); write e.g. weight_decay: 0.0.",
        *training_value_problems({"learning_rate": 0, "num_train_epochs": "two"}, prefix="training."),
    ]
    (problem,) = argument_problems({"num_train_epochs": 0})
    assert problem.startswith("training.num_train_epochs=0 trains no step")
    assert argument_problems({"num_train_epochs": 0, "max_steps": 5}) == []


def test_training_defaults_follow_the_device(monkeypatch):
    import torch

    assert training_defaults("cpu") == {
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "logging_steps": 1,
        "bf16": False,
        "use_cpu": True,
    }
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert training_defaults("cuda:0")["bf16"] and not training_defaults("cuda:0")["use_cpu"]
    assert training_defaults("cpu")["use_cpu"] and not training_defaults("cpu")["bf16"]
