"""Input checks shared by the sampling, scoring, pairing and metric functions."""

from __future__ import annotations

import numbers

__all__ = ["check_strings", "real_number"]


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
