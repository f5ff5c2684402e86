"""fdpo's decoding loop: transformers' sampling and beam-search rules, step for step, with less copying.

``model.generate`` spends much of a CPU sampling run moving memory: in beam search it reorders the whole key/value
cache after every step and then appends the next token by concatenation into fresh memory (two copies of the cache
a step), and in plain sampling it keeps computing rows that have ended until the last one ends. This loop runs the
same model forward passes and the same logits processors and beam bookkeeping, in the same order, but

- after a beam step the cache is reordered while the next token is appended, in one copy between two buffers
  allocated once for the generation (``fdpo._decode_cache``);
- in plain sampling, rows that have ended are dropped from the forward pass.

With ``same_stream`` it also draws the random numbers ``generate`` draws (``torch.multinomial`` draws one
exponential number per vocabulary entry of every row, ended or not; so does this loop), so for a fixed seed it
returns the tokens ``generate`` returns. Without it, it draws fewer random numbers from the same distribution, and
beam search moves no cache at all: the beams of a prompt share one cache row and attend to their own ancestors
through a 4-D attention mask (``fdpo._beam_tree``), the same attention up to float rounding.

``plan`` decides whether a call can run here; options outside ``SUPPORTED`` (set to anything but their default)
run through ``model.generate`` instead, so no option ever changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GenerationConfig
from transformers.cache_utils import DynamicCache, DynamicLayer

from fdpo._batching import forward_parameters
from fdpo._beams import beam_decode
from fdpo._decode_cache import DecodeStream
from fdpo._decode_rules import logits_processors, resolve_lengths, stop_hits

__all__ = ["SUPPORTED", "DecodePlan", "decode", "plan"]

# generate() options this loop implements with transformers' meaning; any other option set to a non-default value
# sends the call to model.generate.
SUPPORTED = (
    "max_length",
    "max_new_tokens",
    "min_length",
    "min_new_tokens",
    "do_sample",
    "num_beams",
    "temperature",
    "top_k",
    "top_p",
    "no_repeat_ngram_size",
    "renormalize_logits",
    "suppress_tokens",
    "length_penalty",
    "early_stopping",
    "pad_token_id",
    "eos_token_id",
    "bos_token_id",
)
# Fields that carry no decoding choice (or are checked separately).
_INERT = {
    "transformers_version",
    "_from_model_config",
    "use_cache",
    "num_return_sequences",
    "decoder_start_token_id",
}


@dataclass
class DecodePlan:
    """A ``generate`` call resolved as transformers resolves it, ready for ``decode``."""

    config: GenerationConfig
    eos_ids: list[int]
    pad_id: int


def _as_list(value) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.flatten().tolist()]
    return [int(v) for v in value]


def plan(model, generate_kwargs: dict) -> tuple[DecodePlan | None, str]:
    """``(plan, "")`` when ``model.generate(**generate_kwargs)`` can run in ``decode``; else ``(None, reason)``."""
    config_model = getattr(model, "config", None)
    if config_model is None or getattr(config_model, "is_encoder_decoder", False):
        return None, "the model is not a decoder-only transformers model"
    parameters = forward_parameters(model) or set()
    if not {"cache", "position_ids", "attention_mask"} <= parameters:
        return None, "the model's forward takes no `cache`, `position_ids` and `attention_mask` arguments"
    prepare = getattr(model, "_prepare_generation_config", None)
    if prepare is None:
        return None, "this transformers version resolves generation settings differently"
    try:
        config, extra = prepare(None, **generate_kwargs)
    except (TypeError, ValueError) as error:
        return None, f"generate() settings not understood here ({error})"
    if extra:
        return None, f"model inputs {sorted(extra)} are not supported"
    defaults = GenerationConfig._get_default_generation_params()
    for name, value in config.to_dict().items():
        if name in SUPPORTED or name in _INERT:
            continue
        if value is not None and value is not False and value != defaults.get(name):
            return None, f"{name}={value!r} is not supported"
    if config.use_cache is False:
        return None, "use_cache=False is not supported"
    if (config.num_return_sequences or 1) != 1:
        return None, "num_return_sequences is not supported"
    if config.max_new_tokens is None:
        return None, "max_new_tokens is not set"
    if config.num_beams > 1 and config.length_penalty is None:
        return None, "length_penalty=None is not supported"
    eos_ids = _as_list(config.eos_token_id)
    pad_id = config.pad_token_id
    if pad_id is None:
        if not eos_ids:
            return None, "neither pad_token_id nor eos_token_id is set"
        pad_id = eos_ids[0]
    cache = DynamicCache(config=model.config)
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None, "the model's cache is not a plain per-layer key/value cache"
    return DecodePlan(config, eos_ids, int(pad_id)), ""


@torch.no_grad()
def decode(
    model,
    plan_: DecodePlan,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    same_stream: bool = True,
    reference=None,
    realign: float | None = None,
) -> torch.Tensor:
    """What ``model.generate(input_ids=..., attention_mask=..., **settings)`` returns: prompt + new tokens, rows
    that end early padded with the pad token.

    ``same_stream``: draw the random numbers ``generate`` draws (the same tokens for the same seed). Without it,
    the draws are cheaper and the distribution is the same: plain sampling inverts the cumulative distribution with
    one uniform number per row instead of one exponential number per vocabulary entry, and beam sampling with
    ``top_k`` (and no ``top_p``) races exponential numbers among each beam's top-k tokens only, the only tokens
    with non-zero probability (where tokens tie at the k-th score, ``generate`` keeps them all and this keeps k).

    With ``reference`` and ``realign`` = λ, every step samples from softmax(λ·policy logits + (1 − λ)·reference
    logits) (plain sampling only), each model with its own cache.
    """
    config = resolve_lengths(plan_.config, input_ids.shape[1])
    if config.num_beams > 1:
        return beam_decode(model, plan_, config, input_ids, attention_mask, same_stream)
    return _sample_decode(model, plan_, config, input_ids, attention_mask, same_stream, reference, realign)


def _sample_decode(model, plan_, config, input_ids, attention_mask, same_stream, reference, realign):
    """``generate``'s ``_sample`` (multinomial sampling, or greedy without ``do_sample``)."""
    device = input_ids.device
    batch, width = input_ids.shape
    max_length = config.max_length
    eos = torch.tensor(plan_.eos_ids, device=device) if plan_.eos_ids else None
    processors = logits_processors(config, plan_.eos_ids, width, device)
    sequences = torch.full((batch, max_length), plan_.pad_id, dtype=torch.long, device=device)
    sequences[:, :width] = input_ids
    streams = [DecodeStream(model, input_ids, attention_mask, max_length)]
    if reference is not None:
        streams.append(DecodeStream(reference, input_ids, attention_mask, max_length))
    logits = [stream.prefill() for stream in streams]
    active = torch.arange(batch, device=device)  # the original row of each cache row
    length = width
    while True:
        scores = logits[0] if reference is None else realign * logits[0] + (1.0 - realign) * logits[1]
        scores = processors(sequences[active, :length], scores)
        if config.do_sample and same_stream:
            # torch.multinomial(probs, 1) is argmax(probs / q) with q ~ Exp(1) drawn for every entry of the
            # (batch, vocabulary) tensor; drawing q for all rows, ended ones too, keeps generate's random stream.
            probs = torch.softmax(scores, dim=-1)
            noise = torch.empty((batch, probs.shape[-1]), dtype=probs.dtype, device=device).exponential_()
            tokens = (probs / noise[active]).argmax(dim=-1)
        elif config.do_sample:
            tokens = _inverse_cdf_draw(scores)
        else:
            tokens = scores.argmax(dim=-1)
        length += 1
        sequences[active, length - 1] = tokens
        ended = stop_hits(tokens, eos, length, max_length)
        if bool(ended.all()):
            break
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            active, tokens = active[keep], tokens[keep]
            for stream in streams:
                stream.reorder(keep)
        logits = [stream.step(tokens) for stream in streams]
    return sequences[:, :length]


def _inverse_cdf_draw(scores: torch.Tensor) -> torch.Tensor:
    """One token per row from softmax(scores): the first token whose cumulative probability (float64) exceeds a
    uniform number."""
    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True)).double()
    cumulative = weights.cumsum(dim=-1)
    threshold = torch.rand(scores.shape[0], 1, dtype=torch.float64, device=scores.device) * cumulative[:, -1:]
    tokens = torch.searchsorted(cumulative, threshold, right=True).squeeze(1)
    return tokens.clamp_(max=scores.shape[-1] - 1)
