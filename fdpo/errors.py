"""Errors for input a user can fix, and for a sweep that cannot go on.

Every error fdpo raises for a bad file, argument, setting or model derives from ``FDPOError``; its message is one
paragraph that names the input (file, line, key or argument), the problem and the fix. The ``fdpo`` command prints
that paragraph and exits with code 2 instead of showing a traceback; from Python, catch ``FDPOError`` (or the
built-in type each class also derives from, e.g. ``ValueError``).
"""

from __future__ import annotations

__all__ = ["FDPOError", "InputError", "NoResultsError", "SweepConfigError", "SweepError"]


class FDPOError(Exception):
    """Base of the errors that report a problem the user can fix, in one paragraph."""


class InputError(FDPOError, ValueError):
    """A file, argument, setting or model given to fdpo is malformed or does not fit; the message says how to fix it."""


class NoResultsError(InputError, FileNotFoundError):
    """A folder given as a sweep's exists but holds none of its results; the message says what to run. Also a
    ``FileNotFoundError``: the file the caller needs is not there."""


class SweepConfigError(FDPOError, ValueError):
    """A sweep config that cannot run. The message lists every problem found, each with its fix."""


class SweepError(FDPOError, RuntimeError):
    """A sweep that cannot go on (no preference pairs, another sweep running in the directory), with the fix."""
