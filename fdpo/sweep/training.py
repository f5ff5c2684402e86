"""The ``training:`` section of a sweep: ``FDPOConfig`` arguments shared by every run, checked against
``FDPOConfig``'s own fields (names, types from the type hints, and the value ranges of
``fdpo.checks.training_value_problems``, the rule ``FDPOConfig`` itself applies) before any model is loaded; and the
defaults a sweep sets for each run's ``FDPOConfig``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from fdpo.checks import TRAINING_VALUE_KEYS, real_number, training_value_problems, unknown_key_problem

__all__ = ["GRID_OWNED_TRAINING_KEYS", "argument_problems", "training_defaults"]

# FDPOConfig fields the grid sets for each run; a value under `training:` would be ambiguous.
GRID_OWNED_TRAINING_KEYS = {
    "output_dir": "the sweep writes each run under <output_dir>/runs/<run_id>",
    "divergence": "use grid.divergences",
    "alpha": "use a divergence spec such as alpha:0.3 in grid.divergences",
    "loss_type": "use grid.loss_types",
    "beta": "use grid.betas or grid.beta_per_divergence",
    "seed": "use grid.seeds",
}


def argument_problems(training: Any) -> list[str]:
    """Problems of the ``training`` mapping: not a mapping, unknown ``FDPOConfig`` fields, fields the grid sets, values
    of the wrong type, and values that would make every run fail late or train nothing (the fields of
    ``fdpo.checks.TRAINING_VALUE_KEYS``, type included, with the messages ``FDPOConfig`` gives)."""
    from fdpo.config import FDPOConfig

    if not isinstance(training, Mapping):
        return [f"training must be a mapping of FDPOConfig arguments, got {training!r}."]
    problems = []
    known = {f.name: f for f in dataclasses.fields(FDPOConfig) if f.init}
    hints = typing.get_type_hints(FDPOConfig)
    for key, value in training.items():
        if key in GRID_OWNED_TRAINING_KEYS:
            problems.append(f"training.{key} is set per run by the sweep: {GRID_OWNED_TRAINING_KEYS[key]}.")
        elif key not in known:
            problems.append(unknown_key_problem(str(key), known, "FDPOConfig argument", prefix="training."))
        elif key not in TRAINING_VALUE_KEYS and _matches(value, hints[key]) is False:
            default = known[key].default
            example = default if default is not None and _matches(default, hints[key]) else None
            problems.append(
                f"training.{key}={value!r} must be {_describe(hints[key])} (FDPOConfig.{key}); write e.g. "
                f"{key}: {_example(hints[key]) if example is None else json.dumps(example)}."
            )
    values = {key: known[key].default for key in TRAINING_VALUE_KEYS if key not in GRID_OWNED_TRAINING_KEYS}
    values.update((key, value) for key, value in training.items() if key in values)
    return problems + training_value_problems(values, prefix="training.")


def training_defaults(device: str) -> dict[str, Any]:
    """FDPOConfig arguments a sweep sets for a run on ``device`` unless ``training`` overrides them."""
    import torch

    on_gpu = torch.cuda.is_available() and device.startswith("cuda")
    return {
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "logging_steps": 1,
        "bf16": bool(on_gpu and torch.cuda.is_bf16_supported()),
        "use_cpu": not on_gpu,
    }


# ----------------------------------------------------------------------------------------------------------------
# Types and ranges


def _matches(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` fits the type hint of an ``FDPOConfig`` field: True, False, or None (cannot tell)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        answers = [_matches(value, member) for member in typing.get_args(hint)]
        return True if True in answers else (None if None in answers else False)
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        number = real_number(value)
        return number is not None and not math.isnan(number)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or value in {member.value for member in hint}
    if origin is list or hint is list:
        return isinstance(value, list)
    if origin is dict or hint is dict:
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        return True if isinstance(value, hint) else None
    return None


_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    type(None): "null",
}
_TYPE_EXAMPLES = {bool: "true", int: "8", float: "1.0e-5", str: "text"}


def _members(hint: Any) -> list[Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [m for member in typing.get_args(hint) for m in _members(member)]
    return [hint]


def _describe(hint: Any) -> str:
    words = []
    for member in _members(hint):
        if member in _TYPE_WORDS:
            words.append(_TYPE_WORDS[member])
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            words.append("one of " + ", ".join(str(m.value) for m in member))
        elif typing.get_origin(member) is Literal:
            words.append("one of " + ", ".join(map(repr, typing.get_args(member))))
        elif member is list or typing.get_origin(member) is list:
            words.append("a list")
        elif member is dict or typing.get_origin(member) is dict:
            words.append("a mapping")
        else:
            words.append(getattr(member, "__name__", str(member)))
    return " or ".join(dict.fromkeys(words))


def _example(hint: Any) -> str:
    for member in _members(hint):
        if member in _TYPE_EXAMPLES:
            return _TYPE_EXAMPLES[member]
        if isinstance(member, type) and issubclass(member, enum.Enum):
            return str(next(iter(member)).value)
    return "..."
