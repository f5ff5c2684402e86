"""Loading what a study starts from: its prompts, the SFT model with its tokenizer, and the reward model.

Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fdpo.settings import RewardSettings

__all__ = ["load_causal_lm", "load_prompts", "load_reward_model"]


def load_prompts(texts: Sequence[str] | None = None, file: str | os.PathLike | None = None) -> list[str]:
    """Prompts from a list and/or a file with one prompt per line (blank lines skipped)."""
    prompts = list(texts or [])
    if file is not None:
        # utf-8-sig: the byte-order mark some editors write is dropped, not made part of the first prompt
        lines = Path(file).expanduser().read_text(encoding="utf-8-sig").splitlines()
        prompts += [line.rstrip("\n") for line in lines if line.strip()]
    return prompts


def load_causal_lm(path: str, device: str | None = None):
    """Loads a causal LM and its tokenizer (left padding, pad token set) in eval mode on ``device``.

    Raises:
        InputError: the tokenizer is empty (a folder without tokenizer files), does not round-trip a sample text, or
            gives ids beyond the model's embeddings (``fdpo.checks.check_tokenizer``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fdpo.checks import check_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    check_tokenizer(repr(path), tokenizer)  # before the weights load
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path)
    check_tokenizer(repr(path), tokenizer, vocab_size=model.get_input_embeddings().num_embeddings)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def load_reward_model(path: str, settings: RewardSettings | None = None, device: str | None = None):
    """``fdpo.reward.RewardModel.from_pretrained`` with a sweep's reward settings."""
    from fdpo.reward import RewardModel

    settings = settings or RewardSettings()
    return RewardModel.from_pretrained(
        path,
        positive_index=settings.positive_index,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        device=device,
    )
