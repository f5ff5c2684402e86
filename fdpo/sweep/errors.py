"""The errors of a sweep: a config that cannot run, and a sweep that cannot go on."""

from __future__ import annotations

from fdpo.errors import FDPOError

__all__ = ["SweepConfigError", "SweepError"]


class SweepConfigError(FDPOError, ValueError):
    """A sweep config that cannot run. The message lists every problem found, each with its fix."""


class SweepError(FDPOError, RuntimeError):
    """A sweep that cannot go on (no preference pairs, another sweep running in the directory), with the fix."""
