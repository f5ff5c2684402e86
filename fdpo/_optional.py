"""Optional dependencies, imported where they are used, with one error that names the extra to install.

The core install (``pip install fdpo``) carries what the trainer needs. The study's plots and text metrics come
with ``pip install "fdpo[study]"`` (matplotlib, sacrebleu, plotly), the Ray executor with ``pip install
"fdpo[ray]"``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from fdpo.errors import InputError

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(InputError, ImportError):
    """A module of an fdpo extra is not installed (an ``InputError`` for the CLI, an ``ImportError`` for Python)."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Imports and returns ``module`` (e.g. ``"plotly.graph_objects"``).

    Args:
        module: the module to import; its top-level package is what pip installs.
        extra: the fdpo extra that carries it (``"study"``, ``"ray"``).
        purpose: what needs it, for the message (``"The reward-vs-diversity plot"``).

    Raises:
        MissingExtraError: the package is not installed; the message names ``pip install "fdpo[<extra>]"``.
    """
    package = module.partition(".")[0]
    try:
        importlib.import_module(
            package
        )  # first, so that a hidden package is not masked by a cached submodule
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f'{purpose} needs {package}, which is not installed. Install it with: pip install "fdpo[{extra}]" '
            f"(or pip install {package})."
        ) from None
