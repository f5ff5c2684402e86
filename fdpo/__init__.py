"""fdpo: preference optimization under f-divergence constraints, and what those constraints do to a model.

The public names below are imported on first use (module ``__getattr__``), so ``import fdpo`` and ``fdpo --help``
do not load torch, transformers or TRL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "LOSS_TYPES": "fdpo.losses",
    "FDPOConfig": "fdpo.config",
    "FDPOTrainer": "fdpo.trainer",
    "FDivergence": "fdpo.divergences",
    "fdpo_loss": "fdpo.losses",
    "get_divergence": "fdpo.divergences",
    "list_divergences": "fdpo.divergences",
    "register_divergence": "fdpo.divergences",
}

__all__ = [
    "LOSS_TYPES",
    "FDPOConfig",
    "FDPOTrainer",
    "FDivergence",
    "fdpo_loss",
    "get_divergence",
    "list_divergences",
    "register_divergence",
]

if TYPE_CHECKING:
    from fdpo.config import FDPOConfig
    from fdpo.divergences import FDivergence, get_divergence, list_divergences, register_divergence
    from fdpo.losses import LOSS_TYPES, fdpo_loss
    from fdpo.trainer import FDPOTrainer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fdpo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
