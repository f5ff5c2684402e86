"""Turning token-id lists into model inputs: padding, the start token of an empty prompt, the model's device."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch

__all__ = ["forward_parameters", "model_device", "pad_batch", "start_empty_prompts"]


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, *, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of shape (batch, longest), padded with ``pad_id`` on ``side``.

    Right padding keeps every token at the position it has alone (what scoring needs); generation pads on the left
    so that every row ends where new tokens begin.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}.")
    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, sequence in enumerate(sequences):
        columns = slice(0, len(sequence)) if side == "right" else slice(width - len(sequence), width)
        input_ids[row, columns] = torch.tensor(sequence, dtype=torch.long)
        attention_mask[row, columns] = 1
    return input_ids, attention_mask


def start_empty_prompts(prompt_ids: Sequence[list[int]], tokenizer) -> list[list[int]]:
    """``prompt_ids`` with every empty prompt replaced by the BOS token (EOS if there is none): a causal LM needs a
    token to condition its first prediction on."""
    start_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if start_id is None and any(not ids for ids in prompt_ids):
        raise ValueError(
            "An empty prompt needs a token to condition on, but the tokenizer has neither a BOS nor an EOS token."
        )
    return [list(ids) or [start_id] for ids in prompt_ids]


def model_device(model) -> torch.device:
    """Where ``model`` runs: its ``device`` attribute, else its first parameter's device, else the CPU."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def forward_parameters(model) -> set[str] | None:
    """The argument names of ``model.forward``, or None when its signature cannot be read."""
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return None
