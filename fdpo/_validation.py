"""Input checks shared by the sampling, scoring, pairing and metric functions."""

from __future__ import annotations

__all__ = ["check_strings"]


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
