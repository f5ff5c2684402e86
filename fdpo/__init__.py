"""fdpo: preference optimization under f-divergence constraints, and what those constraints do to a model."""

from fdpo.config import FDPOConfig
from fdpo.divergences import (
    FDivergence,
    get_divergence,
    list_divergences,
    register_divergence,
)
from fdpo.losses import LOSS_TYPES, fdpo_loss
from fdpo.trainer import FDPOTrainer

__version__ = "0.1.0"

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
