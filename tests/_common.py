"""Helpers shared by test modules and by scripts the tests launch (importable from both: same folder)."""

from __future__ import annotations

from typing import Any


def training_settings(output_dir: str, **overrides: Any) -> dict[str, Any]:
    """DPOConfig/FDPOConfig arguments for a short, quiet, deterministic CPU run; ``overrides`` win."""
    settings: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        max_steps=2,
        learning_rate=1e-2,
        beta=0.5,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        bf16=False,  # TRL's default, which fails on a CPU
        gradient_checkpointing=False,
        seed=0,
    )
    settings.update(overrides)
    return settings


def tiny_sweep_training(**extra: Any) -> dict[str, Any]:
    """The ``training:`` section of a sweep config for the tiny test models: two steps, no checkpointing."""
    return {
        "per_device_train_batch_size": 4,
        "max_steps": 2,
        "learning_rate": 1e-2,
        "gradient_checkpointing": False,
        **extra,
    }
