"""``generate``'s logits processors and stopping rules for the options fdpo's decoding loop supports."""

from __future__ import annotations

import copy

import torch
from transformers import GenerationConfig, LogitsProcessorList
from transformers.generation.logits_process import (
    LogitNormalization,
    MinLengthLogitsProcessor,
    MinNewTokensLengthLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

__all__ = ["logits_processors", "resolve_lengths", "stop_hits"]


def logits_processors(
    config: GenerationConfig, eos_ids: list[int], prompt_width: int, device, *, warpers: bool = True
) -> LogitsProcessorList:
    """The logits processors ``generate`` builds for the supported options, in its order; without ``warpers``,
    only those that come before temperature, top-k and top-p (and no renormalisation)."""
    eos = torch.tensor(eos_ids, device=device) if eos_ids else None
    processors = LogitsProcessorList()
    if config.no_repeat_ngram_size:
        processors.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if eos is not None and config.min_length and config.min_length > 0:
        processors.append(MinLengthLogitsProcessor(config.min_length, eos, device=device))
    if eos is not None and config.min_new_tokens and config.min_new_tokens > 0:
        processors.append(
            MinNewTokensLengthLogitsProcessor(prompt_width, config.min_new_tokens, eos, device=device)
        )
    if config.suppress_tokens is not None:
        processors.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
    if not warpers:
        return processors
    if config.do_sample:
        keep = len(eos_ids) + 1 if config.num_beams > 1 and eos_ids else (2 if config.num_beams > 1 else 1)
        if config.temperature is not None and config.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(config.temperature))
        if config.top_k is not None and config.top_k != 0:
            processors.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=keep))
        if config.top_p is not None and config.top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=keep))
    if config.renormalize_logits is True:
        processors.append(LogitNormalization())
    return processors


def resolve_lengths(config: GenerationConfig, prompt_width: int) -> GenerationConfig:
    """``max_length``/``min_length`` counted with the prompt, as ``generate`` sets them."""
    config = copy.deepcopy(config)
    if config.max_new_tokens is not None:
        config.max_length = config.max_new_tokens + prompt_width
    if config.min_new_tokens is not None:
        config.min_length = config.min_new_tokens + prompt_width
    return config


def stop_hits(tokens: torch.Tensor, eos: torch.Tensor | None, length: int, max_length: int) -> torch.Tensor:
    """transformers' MaxLengthCriteria | EosTokenCriteria on rows whose last token is ``tokens``."""
    if length >= max_length:
        return torch.ones_like(tokens, dtype=torch.bool)
    if eos is None:
        return torch.zeros_like(tokens, dtype=torch.bool)
    return torch.isin(tokens, eos)
