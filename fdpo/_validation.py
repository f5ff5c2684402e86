"""Input checks shared by the trainer, the loss, sampling, scoring, pairing and metric functions."""

from __future__ import annotations

import numbers
import warnings

from fdpo.errors import InputError

__all__ = ["PREFERENCE_FORMATS", "check_preference_dataset", "check_strings", "real_number"]


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


def real_number(value) -> float | None:
    """``value`` as a Python float if it is a real number (Python or numpy scalar, not a bool), else ``None``.

    Accepts ``np.float32(0.1)`` and the like, which ``isinstance(value, float)`` refuses; the float keeps the
    scalar's exact value (``float(np.float32(0.1))`` is 0.10000000149011612).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


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
            "or build the pairs first (fdpo.data.build_pairs)."
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
