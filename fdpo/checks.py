"""The value checks of fdpo, one rule each, for the Python API, the ``fdpo`` command and the sweep config alike.

Two kinds of functions:

- ``check_*`` take a value and return it checked, or raise an error that names the value and the fix (the Python API
  calls them on its arguments: ``check_strings``, ``check_preference_dataset``).
- ``*_problems`` return a list of messages (empty: nothing wrong), each with the bad value, what was expected and the
  fix, so that a config's every problem is reported at once. ``format_problems`` joins them under the name of their
  source, writing each key as the user knows it (``rename_keys``: ``grid.betas`` → ``--beta``).

``training_value_problems`` holds the value ranges of the trainer's settings (learning rate, β, batch sizes, epochs,
``max_length``): ``FDPOConfig`` refuses with it, the sweep checks its ``training:`` section and its β values with it,
and ``fdpo train`` gets its messages through ``FDPOConfig``, so the same bad value gets the same answer everywhere.
The checks that look at the machine (model folders, the hub, the device) are in ``fdpo.sweep.preflight``.
Nothing here imports torch, transformers or datasets at module level.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from fdpo.errors import InputError

__all__ = [
    "MAX_BETA",
    "MAX_SEED",
    "PREFERENCE_FORMATS",
    "TRAINING_VALUE_KEYS",
    "beta_problems",
    "check_preference_dataset",
    "check_same_vocabulary",
    "check_tokenizer",
    "check_strings",
    "choice_problems",
    "file_problems",
    "format_problems",
    "generation_problems",
    "is_number",
    "positive_int_problems",
    "real_number",
    "rename_keys",
    "seed_problems",
    "training_value_problems",
    "unknown_key_problem",
]

#: The largest β accepted. β is a KL coefficient: published f-DPO and DPO runs use 1e-4 to 0.5. With β = 1e3 a log-ratio
#: difference of 0.01 nats already gives the sigmoid a margin of 10, so training is a step function; with β ≳ 1e30 the
#: implicit rewards β·f′ (|f′| reaches ~1e7 at sequence log-ratios of a few hundred nats) overflow float32, and 1e308
#: is not even a float32. 1e3 leaves three orders of magnitude of room above the largest value in use.
MAX_BETA = 1e3

#: Seeds every library a run seeds accepts: numpy's ``np.random.seed`` (called by ``transformers.set_seed``) takes
#: 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


# ----------------------------------------------------------------------------------------------------------------
# Numbers and strings


def real_number(value) -> float | None:
    """``value`` as a Python float if it is a real number (Python or numpy scalar, not a bool), else ``None``.

    Accepts ``np.float32(0.1)`` and the like, which ``isinstance(value, float)`` refuses; the float keeps the
    scalar's exact value (``float(np.float32(0.1))`` is 0.10000000149011612).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def is_number(value: Any) -> bool:
    """A finite real number: an int or float, or a numpy scalar such as ``np.float32(0.1)`` (not a bool)."""
    number = real_number(value)
    return number is not None and math.isfinite(number)


def _positive_number(value: Any) -> bool:
    return is_number(value) and value > 0


def _positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def check_strings(name: str, values) -> list[str]:
    """``values`` as a non-empty list of strings, or a ``TypeError``/``ValueError`` that names ``name`` and the fix.

    A bare string is refused rather than read as a list of characters.
    """
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of strings, got a single string; wrap it in a list.")
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: give at least one.")
    bad = [index for index, value in enumerate(values) if not isinstance(value, str)]
    if bad:
        raise TypeError(
            f"{name} must be strings; positions {bad[:10]} are not (first: {type(values[bad[0]]).__name__})."
        )
    return values


# ----------------------------------------------------------------------------------------------------------------
# The trainer's value ranges


# Field of FDPOConfig -> (whether a value is accepted, what it must be). A rule checks the type too, so that a
# string or NaN gets the same answer as any other value out of range.
_TRAINING_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "learning_rate": (
        _positive_number,
        "a finite number > 0 (e.g. 1e-5): with 0 or less every trained policy would stay the SFT model or move "
        "away from the preferences",
    ),
    "beta": (
        lambda value: _positive_number(value) and value <= MAX_BETA,
        f"a finite number > 0 and at most {MAX_BETA:g} (DPO papers use 0.01 to 0.5; the f-DPO paper 0.1 for reverse "
        "KL and JS, 0.01 for α; above that bound the loss's sigmoid saturates on log-ratio differences of 0.01 "
        "nats, and far above it (1e30 and more) the implicit rewards β·f′ overflow float32 and train NaN weights)",
    ),
    "per_device_train_batch_size": (_positive_int, "a positive integer"),
    "per_device_eval_batch_size": (_positive_int, "a positive integer"),
    "gradient_accumulation_steps": (_positive_int, "a positive integer"),
    "max_length": (
        lambda value: value is None or (_positive_int(value) and value >= 2),
        "an integer >= 2, or unset: it must leave room for a prompt and a completion (at least the longest "
        "prompt's tokens + 1)",
    ),
}
#: The ``FDPOConfig`` fields whose values ``training_value_problems`` checks (their types included).
TRAINING_VALUE_KEYS = (*_TRAINING_RULES, "num_train_epochs", "max_steps")


def _rule_problem(key: str, name: str, value: Any) -> str | None:
    accepts, expected = _TRAINING_RULES[key]
    return None if accepts(value) else f"{name}={value!r} must be {expected}."


def training_value_problems(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Problems of the trainer settings in ``values`` (``FDPOConfig`` field -> value) that would make training fail
    late or train nothing; keys outside ``TRAINING_VALUE_KEYS`` are ignored.

    Args:
        prefix: written before each key in the messages (``"training."`` for a sweep config's section); a caller
            whose users write keys otherwise renames them with ``rename_keys``.
    """
    problems = [
        problem
        for key, value in values.items()
        if key in _TRAINING_RULES and (problem := _rule_problem(key, prefix + key, value)) is not None
    ]
    max_steps = values.get("max_steps", -1)
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral):
        problems.append(
            f"{prefix}max_steps={max_steps!r} must be an integer: the number of optimizer steps (> 0), or -1 to "
            f"train {prefix}num_train_epochs epochs."
        )
    elif "num_train_epochs" in values and max_steps <= 0 and not _positive_number(values["num_train_epochs"]):
        epochs = values["num_train_epochs"]
        problems.append(
            f"{prefix}num_train_epochs={epochs!r} trains no step ({prefix}max_steps={max_steps!r}, i.e. unset), so "
            f"every trained policy would equal the SFT model. Give {prefix}num_train_epochs a finite number > 0 "
            f"(e.g. 1), or {prefix}max_steps > 0."
        )
    return problems


def beta_problems(name: str, values: Any) -> list[str]:
    """Problems of β values by the rule ``FDPOConfig`` applies to ``beta``: a list (each bad value named
    ``name[i]``) or a single value (named ``name``)."""
    if not isinstance(values, (list, tuple)):
        problem = _rule_problem("beta", name, values)
        return [] if problem is None else [problem]
    if not values:
        return [f"{name} is empty: the grid would have no runs for it. Give at least one β > 0."]
    problems = (_rule_problem("beta", f"{name}[{index}]", value) for index, value in enumerate(values))
    return [problem for problem in problems if problem is not None]


# ----------------------------------------------------------------------------------------------------------------
# Settings of a config: each function returns the problems it finds


def positive_int_problems(name: str, value: Any) -> list[str]:
    return [] if _positive_int(value) else [f"{name}={value!r} must be a positive integer."]


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


def file_problems(name: str, path: str | None) -> list[str]:
    if path is not None and not Path(path).expanduser().is_file():
        return [f"{name}={path!r} does not exist. Give a text file with one prompt per line."]
    return []


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
    if problems:
        return problems
    for key, value in settings.items():
        rule = _GENERATION_RULES.get(key)
        if rule is not None and value is not None and not rule[0](value):
            problems.append(f"{name}.{key}={value!r}: {key} must be {rule[1]}.")
    if problems:
        return problems
    # What GenerationConfig itself refuses (conflicting settings, e.g. num_beam_groups with sampling), with sampling
    # on as fdpo samples (do_sample=True unless the settings say otherwise).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GenerationConfig(**{"do_sample": True, **settings}).validate()
    except (ValueError, TypeError) as error:
        detail = " ".join(str(error).split())
        problems.append(
            f"{name}: these generate() settings do not make a valid GenerationConfig ({detail[:400]}). Fix or drop "
            "the setting it names."
        )
    return problems


def _int_at_least(minimum: int) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
    )


def _number_in(low: float, high: float, *, low_open: bool = True) -> Callable[[Any], bool]:
    def inside(value: Any) -> bool:
        if not is_number(value):
            return False
        return (value > low if low_open else value >= low) and value <= high

    return inside


# generate() setting → (rule, what it must be); the sampling settings whose bad values transformers only refuses (with
# a traceback) once generation runs.
_GENERATION_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_new_tokens": (_int_at_least(1), "a whole number of at least 1"),
    "min_new_tokens": (_int_at_least(0), "a whole number of at least 0"),
    "max_length": (_int_at_least(1), "a whole number of at least 1"),
    "min_length": (_int_at_least(0), "a whole number of at least 0"),
    "top_k": (_int_at_least(0), "a whole number of at least 0 (0 switches top-k off)"),
    "num_beams": (_int_at_least(1), "a whole number of at least 1"),
    "no_repeat_ngram_size": (_int_at_least(0), "a whole number of at least 0"),
    "temperature": (
        _number_in(0.0, math.inf),
        "a number above 0 (0 would divide the logits by zero; for greedy decoding set do_sample=false instead)",
    ),
    "top_p": (_number_in(0.0, 1.0), "a number in (0, 1] (1 switches nucleus sampling off)"),
    "typical_p": (_number_in(0.0, 1.0), "a number in (0, 1]"),
    "min_p": (_number_in(0.0, 1.0, low_open=False), "a number in [0, 1]"),
    "repetition_penalty": (_number_in(0.0, math.inf), "a number above 0 (1 means no penalty)"),
    "do_sample": (lambda value: isinstance(value, bool), "true or false"),
}


def unknown_key_problem(key: str, known: Mapping[str, Any], what: str, prefix: str = "") -> str:
    """``"<prefix><key> is not a known <what>."`` with the closest known key, if any, as a suggestion."""
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else ""
    return f"{prefix}{key} is not a known {what}.{hint}"


# ----------------------------------------------------------------------------------------------------------------
# Tokenizers

#: A tokenizer with fewer entries cannot be a language model's (an empty one, built by transformers from a model folder
#: whose tokenizer files are missing, has 0 or 1).
MIN_VOCABULARY_SIZE = 16
_SAMPLE_TEXT = "the movie was good"


def check_tokenizer(source: str, tokenizer: Any, vocab_size: int | None = None) -> None:
    """Refuses a tokenizer that cannot be the model's: too few entries, or one that does not give back a sample text.

    ``transformers`` builds an empty tokenizer, without a word, from a model folder whose tokenizer files are missing;
    with it a model generates empty completions and trains on nothing. With ``vocab_size`` (the model's embedding
    rows), the ids of the sample text must also be below it.

    Args:
        source: the model folder or option, named in the message.
        tokenizer: a ``transformers`` tokenizer (anything with ``__len__``, ``__call__`` and ``decode``).
        vocab_size: the model's vocabulary size, if known.

    Raises:
        InputError: naming ``source``, what is wrong and the fix.
    """
    if not (callable(tokenizer) and hasattr(tokenizer, "decode")):
        return  # a processor of another kind: nothing here knows how to check it
    fix = (
        "Copy the tokenizer files (tokenizer.json, tokenizer_config.json, or vocab/merges files) into the model folder, "
        "e.g. with tokenizer.save_pretrained(FOLDER), or give the folder that save_pretrained wrote."
    )
    size = len(tokenizer)
    if size < MIN_VOCABULARY_SIZE:
        raise InputError(
            f"{source}: its tokenizer has {size} entries, so it is empty or incomplete (are its tokenizer files "
            f"missing?); a language model's has at least {MIN_VOCABULARY_SIZE}. {fix}"
        )
    ids = list(tokenizer(_SAMPLE_TEXT, add_special_tokens=False)["input_ids"])
    decoded = tokenizer.decode(ids, skip_special_tokens=True) if ids else ""
    if "".join(decoded.split()).casefold() != "".join(_SAMPLE_TEXT.split()).casefold():
        raise InputError(
            f"{source}: its tokenizer does not give back the text it encodes ({_SAMPLE_TEXT!r} became {ids[:12]} "
            f"and then {decoded!r}), so the model would read and write garbage. {fix}"
        )
    if vocab_size is not None and max(ids) >= vocab_size:
        raise InputError(
            f"{source}: its tokenizer gives token id {max(ids)}, but the model has only {vocab_size} token embeddings: "
            f"tokenizer and model do not belong together. {fix}"
        )


def check_same_vocabulary(first: str, first_tokenizer: Any, second: str, second_tokenizer: Any) -> None:
    """Refuses two models whose tokenizers differ: a log-ratio log π(y|x) − log π_ref(y|x) (KL to the reference, the
    DPO loss) compares the probabilities of the same token ids, so both must mean the same tokens.

    Raises:
        InputError: naming both models, their vocabulary sizes and the fix.
    """
    first_vocabulary, second_vocabulary = first_tokenizer.get_vocab(), second_tokenizer.get_vocab()
    if first_vocabulary == second_vocabulary:
        return
    differ = sum(1 for token, index in first_vocabulary.items() if second_vocabulary.get(token) != index)
    raise InputError(
        f"{first} and {second} have different vocabularies ({len(first_vocabulary)} and {len(second_vocabulary)} "
        f"tokens, {differ} of the first's tokens missing or numbered differently in the second), so their "
        "log-probabilities of the same token ids cannot be compared (the KL and the log-ratios would be meaningless). "
        "Give as the reference the model the policy was trained from, or another with the same tokenizer."
    )


# ----------------------------------------------------------------------------------------------------------------
# Messages


def rename_keys(message: str, names: Mapping[str, str] | None) -> str:
    """``message`` with each config key of ``names`` written as the caller's user knows it.

    ``names`` maps a key (``grid.betas``) to what the user wrote (``--beta``): every mention of the key, with an index
    (``grid.betas[0]``) or without, becomes the name. A key ending in ``.`` is a prefix: ``{"training.": "--set "}``
    turns ``training.learning_rate`` into ``--set learning_rate``. The one routine that renames keys: the sweep's
    messages, the settings of ``fdpo pairs``/``fdpo evaluate`` and ``FDPOConfig``'s refusals in ``fdpo train`` all
    go through it.
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


# ----------------------------------------------------------------------------------------------------------------
# Preference datasets

#: The dataset formats ``FDPOTrainer`` (TRL's ``DPOTrainer``) accepts, for error messages.
PREFERENCE_FORMATS = (
    "columns 'prompt', 'chosen', 'rejected' (explicit prompt: chosen/rejected are the completions), or 'chosen' "
    "and 'rejected' only (implicit prompt: both hold prompt + completion and the shared beginning is the prompt); "
    "each a string, or for conversational data a list of {'role': ..., 'content': ...} messages"
)
_REQUIRED_COLUMNS = ("chosen", "rejected")
_CHECKED_COLUMNS = ("prompt", "chosen", "rejected")


def _preference_value_problem(value) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list) and all(
        isinstance(message, dict) and "content" in message for message in value
    ):
        return None
    return f"of type {type(value).__name__}" if value is not None else "null"


def check_preference_dataset(dataset, name: str = "train_dataset") -> None:
    """Checks a preference dataset before anything is tokenized or trained, in the formats TRL's DPO accepts.

    Raises ``InputError`` for a dataset that is empty, lacks the ``chosen``/``rejected`` columns, or holds a value
    that is neither a string nor a list of messages (a null, a number; first offending row named), and warns
    (``UserWarning``) when pairs have chosen == rejected or an empty chosen or rejected completion, which train with
    zero gradient. A map-style ``datasets.Dataset`` is checked row by row; an ``IterableDataset`` (a stream) by its
    first row only. Other objects (a dict of datasets for evaluation is checked per entry) are left to TRL.
    """
    from datasets import Dataset, IterableDataset

    if isinstance(dataset, dict):
        for key, value in dataset.items():
            check_preference_dataset(value, f"{name}[{key!r}]")
        return
    if not isinstance(dataset, (Dataset, IterableDataset)):
        return
    if isinstance(dataset, IterableDataset):
        first = next(iter(dataset), None)
        if first is None:
            raise InputError(f"{name} is empty: it yields no preference pairs. Give it at least one row.")
        columns = list(first)
    else:
        if len(dataset) == 0:
            raise InputError(
                f"{name} is empty (0 rows, columns {dataset.column_names}). Give it at least one preference pair."
            )
        columns = dataset.column_names
    missing = [column for column in _REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise InputError(
            f"{name} has no {' or '.join(repr(column) for column in missing)} column (its columns: {columns}). "
            f"FDPOTrainer expects preference pairs: {PREFERENCE_FORMATS}. Rename the columns (Dataset.rename_column) "
            "or build the pairs first (fdpo.pairs.build_pairs)."
        )
    checked = [column for column in _CHECKED_COLUMNS if column in columns]
    if isinstance(dataset, IterableDataset):
        rows = [first]
    else:  # column batches: much faster than one Python dict per row
        batches = dataset.select_columns(checked).iter(batch_size=1024)
        rows = (
            dict(zip(checked, values, strict=True))
            for batch in batches
            for values in zip(*(batch[column] for column in checked), strict=True)
        )
    identical = empty = total = 0
    for index, row in enumerate(rows):
        for column in checked:
            problem = _preference_value_problem(row[column])
            if problem is not None:
                raise InputError(
                    f"{name}, row {index}: '{column}' is {problem} ({row[column]!r:.80}); every prompt, chosen and "
                    "rejected value must be a string or a list of {'role': ..., 'content': ...} messages. Drop or "
                    "fix that row."
                )
        total += 1
        identical += row["chosen"] == row["rejected"]
        empty += not row["chosen"] or not row["rejected"]
    if identical:
        share = "every pair" if identical == total else f"{identical} of {total} pairs"
        warnings.warn(
            f"{name}: {share} {'has' if identical == total else 'have'} chosen == rejected. Such a pair has zero "
            "loss gradient and teaches nothing; drop it (and check how the pairs were built).",
            UserWarning,
            stacklevel=3,
        )
    if empty:
        warnings.warn(
            f"{name}: {empty} of {total} pairs have an empty chosen or rejected completion, which carries no "
            "log-probability to train on; drop them.",
            UserWarning,
            stacklevel=3,
        )
