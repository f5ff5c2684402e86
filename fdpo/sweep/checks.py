"""Checks of config values shared by the sweep's sections and ``SweepConfig``, and the message they make together.

Each ``*_problems`` function returns a list of messages (empty: nothing wrong), each with the bad value, what was
expected and the fix, so that a config's every problem is reported at once; ``format_problems`` joins them under
the name of their source, writing each key as the user knows it (``rename_keys``: ``grid.betas`` → ``--beta``).
The checks that look at the machine (model folders, the hub, the device) are in ``fdpo.sweep.preflight``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from fdpo._validation import real_number

__all__ = [
    "MAX_SEED",
    "beta_problems",
    "choice_problems",
    "file_problems",
    "format_problems",
    "generation_problems",
    "is_number",
    "positive_int_problems",
    "rename_keys",
    "seed_problems",
    "unknown_key_problem",
]

#: Seeds every library a run seeds accepts: numpy's ``np.random.seed`` (called by ``transformers.set_seed``) takes
#: 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


def choice_problems(settings: Any, section: str) -> list[str]:
    """Problems of the fields of a settings dataclass typed ``Literal[...]`` or ``list[Literal[...]]``.

    A value outside the choices is named with the choices; a list field that is not a list is left to the section's
    own checks.
    """
    hints = typing.get_type_hints(type(settings))
    problems = []
    for item in dataclasses.fields(settings):
        hint = hints[item.name]
        value = getattr(settings, item.name)
        name = f"{section}.{item.name}"
        if typing.get_origin(hint) is Literal:
            choices = typing.get_args(hint)
            if value not in choices:
                problems.append(f"{name}={value!r} is unknown; use one of {', '.join(choices)}.")
        elif typing.get_origin(hint) is list and typing.get_origin(typing.get_args(hint)[0]) is Literal:
            choices = typing.get_args(typing.get_args(hint)[0])
            unknown = [v for v in value if v not in choices] if isinstance(value, list) else []
            if unknown:
                problems.append(
                    f"{name} has {', '.join(map(repr, unknown))}; use any of {', '.join(choices)}."
                )
    return problems


def is_number(value: Any) -> bool:
    """A finite real number: an int or float, or a numpy scalar such as ``np.float32(0.1)`` (not a bool)."""
    number = real_number(value)
    return number is not None and math.isfinite(number)


def positive_int_problems(name: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [f"{name} must be a positive integer, got {value!r}."]
    return []


def seed_problems(name: str, values: Sequence[Any]) -> list[str]:
    """Problems of seeds: each an integer from 0 to ``MAX_SEED`` (what numpy, torch and ``transformers.set_seed``
    all accept)."""
    bad = [seed for seed in values if isinstance(seed, bool) or not isinstance(seed, int)]
    if bad:
        return [f"{name} must be integers, got {', '.join(map(repr, bad))}."]
    out_of_range = [seed for seed in values if not 0 <= seed <= MAX_SEED]
    if out_of_range:
        return [
            f"{name} has {', '.join(map(repr, out_of_range))}; a seed must be an integer from 0 to {MAX_SEED} (the "
            "range numpy's random seed, which transformers.set_seed calls, accepts)."
        ]
    return []


def beta_problems(name: str, values: Sequence[Any]) -> list[str]:
    if not values:
        return [f"{name} is empty: the grid would have no runs for it. Give at least one β > 0."]
    bad = [v for v in values if not is_number(v) or v <= 0]
    if bad:
        return [
            f"{name} has {bad}; β must be a finite number > 0 (the paper uses 0.1 for reverse KL/JS, 0.01 for α)."
        ]
    return []


def file_problems(name: str, path: str | None) -> list[str]:
    if path is not None and not Path(path).expanduser().is_file():
        return [f"{name}={path!r} does not exist. Give a text file with one prompt per line."]
    return []


def generation_problems(name: str, settings: Any) -> list[str]:
    """Problems of a mapping of ``generate()`` settings: not a mapping, or keys ``GenerationConfig`` does not know."""
    if not isinstance(settings, Mapping):
        return [f"{name} must be a mapping of generate() settings, got {settings!r}."]
    from transformers import GenerationConfig

    known = set(GenerationConfig().to_dict()) | {
        "max_new_tokens",
        "min_new_tokens",
        "max_length",
        "min_length",
    }
    known |= {f for f in vars(GenerationConfig()) if not f.startswith("_")}
    problems = []
    for key in settings:
        if key not in known:
            problems.append(
                unknown_key_problem(
                    str(key), {k: None for k in known}, "generate() setting", prefix=f"{name}."
                )
            )
    return problems


def unknown_key_problem(key: str, known: Mapping[str, Any], what: str, prefix: str = "") -> str:
    """``"<prefix><key> is not a known <what>."`` with the closest known key, if any, as a suggestion."""
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else ""
    return f"{prefix}{key} is not a known {what}.{hint}"


def rename_keys(message: str, names: Mapping[str, str] | None) -> str:
    """``message`` with each config key of ``names`` written as the caller's user knows it.

    ``names`` maps a key (``grid.betas``) to what the user wrote (``--beta``): every mention of the key, with an index
    (``grid.betas[0]``) or without, becomes the name. A key ending in ``.`` is a prefix: ``{"training.": "--set "}``
    turns ``training.learning_rate`` into ``--set learning_rate``.
    """
    for key, name in (names or {}).items():
        if key.endswith("."):
            pattern = rf"(?<![\w.\[-]){re.escape(key)}(?=\w)"
        else:
            pattern = rf"(?<![\w.\[-]){re.escape(key)}(?:\[\d+\])?(?![\w\[]|\.\w)"
        message = re.sub(pattern, lambda _match, name=name: name, message)
    return message


def format_problems(source: str, problems: Sequence[str], names: Mapping[str, str] | None = None) -> str:
    """One message for a list of problems of ``source`` (a file or ``config``); ``names`` as in ``rename_keys``."""
    problems = [rename_keys(problem, names) for problem in problems]
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    return f"{source}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
