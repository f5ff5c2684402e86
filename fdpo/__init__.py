"""fdpo: preference optimization under f-divergence constraints, and what those constraints do to a model.

The public names below are imported on first use (module ``__getattr__``), so ``import fdpo`` and ``fdpo --help``
do not load torch, transformers or TRL.

Modules that moved keep their old import path for one release: importing it warns (``FutureWarning``, naming the
new path) and gives the new module (``_MOVED_MODULES``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
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


# ----------------------------------------------------------------------------------------------------------------
# Old import paths

#: Old module path -> the module that replaced it (for one release; remove an entry in the release after its move).
_MOVED_MODULES = {
    "fdpo.data": "fdpo.pairs",
    "fdpo.stages": "fdpo.pipeline",
    "fdpo.evaluation": "fdpo.pipeline.evaluation",
    "fdpo.generation": "fdpo.decoding",
    "fdpo.levers": "fdpo.frontier.policy_transforms",
    "fdpo.frontier_plan": "fdpo.frontier.plan",
    "fdpo.frontier_study": "fdpo.frontier.study",
    "fdpo._logprobs": "fdpo.decoding.scoring",
    "fdpo.sweep.checks": "fdpo.checks",
    "fdpo.sweep.errors": "fdpo.errors",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path of ``_MOVED_MODULES`` as its new module (the same object, under both names), with a
    ``FutureWarning`` attributed to the importing line."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname not in _MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = _MOVED_MODULES[spec.name]
        warnings.warn(  # stacklevel 2: the importing line (warnings skips the import system's own frames)
            f"{spec.name} has moved to {new}: import {new} instead ({spec.name} stops working in the next release).",
            FutureWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has set the old path's spec on the module: give it back its own.
        module.__spec__ = self._specs.pop(module.__spec__.name)


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
