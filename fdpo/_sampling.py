"""fdpo's decoding loop: transformers' sampling and beam-search rules, step for step, with less copying.

``model.generate`` spends much of a CPU sampling run moving memory: in beam search it reorders the whole key/value
cache after every step and then appends the next token by concatenation into fresh memory (two copies of the cache
a step), and in plain sampling it keeps computing rows that have ended until the last one ends. This loop runs the
same model forward passes and the same logits processors and beam bookkeeping, in the same order, but

- after a beam step the cache is reordered while the next token is appended, in one copy between two buffers
  allocated once for the generation;
- in plain sampling, rows that have ended are dropped from the forward pass.

With ``same_stream`` it also draws the random numbers ``generate`` draws (``torch.multinomial`` draws one
exponential number per vocabulary entry of every row, ended or not; so does this loop), so for a fixed seed it
returns the tokens ``generate`` returns. Without it, it draws fewer random numbers from the same distribution.

``plan`` decides whether a call can run here; options outside ``SUPPORTED`` (set to anything but their default)
run through ``model.generate`` instead, so no option ever changes meaning.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, LogitsProcessorList
from transformers.cache_utils import DynamicCache, DynamicLayer
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

from fdpo._batching import forward_parameters

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
_GLOBAL_DEFAULTS = {"max_length", "min_length", "temperature", "top_k", "top_p"}


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


class _ReorderingLayer(DynamicLayer):
    """A key/value cache layer that applies a pending row order while it appends.

    ``generate`` reorders the cache after a beam step (one copy) and then appends the next token by concatenation
    (a second copy into freshly allocated memory). Here the reorder waits until the next append and both happen in
    one copy, between two buffers allocated once for the whole generation; the keys and values handed to attention
    are a contiguous prefix of one of them.
    """

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.order: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        rows, heads, _, key_dim = key_states.shape
        value_dim = value_states.shape[-1]
        self.buffers = [
            [key_states.new_empty(rows * heads * self.capacity * key_dim) for _ in range(2)],
            [
                value_states.new_empty(rows * value_states.shape[1] * self.capacity * value_dim)
                for _ in range(2)
            ],
        ]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.keys = self.values = None
        self.keys = self._append(self.buffers[0], self.keys, key_states)
        self.values = self._append(self.buffers[1], self.values, value_states)
        self.order = None
        return self.keys, self.values

    def _append(
        self, buffers: list[torch.Tensor], old: torch.Tensor | None, new: torch.Tensor
    ) -> torch.Tensor:
        length = 0 if old is None else old.shape[-2]
        rows, heads, added, dim = new.shape
        buffers.reverse()  # write into the buffer that does not hold `old`
        grown = buffers[0][: rows * heads * (length + added) * dim].view(rows, heads, length + added, dim)
        if old is not None and self.order is None:
            grown[:, :, :length] = old
        elif old is not None:
            torch.index_select(old, 0, self.order, out=grown[:, :, :length])
        grown[:, :, length:] = new
        return grown


class _Stream:
    """One model's forward passes with its own cache: the prompt once, then one token per row a step."""

    def __init__(self, model, input_ids, attention_mask, capacity: int):
        self.model = model
        # generate asks for the last position's logits only, where the model can.
        self.forward_kwargs = (
            {"logits_to_keep": 1} if "logits_to_keep" in (forward_parameters(model) or ()) else {}
        )
        self.cache = DynamicCache(config=model.config)
        self.cache.layers = [_ReorderingLayer(capacity) for _ in self.cache.layers]
        self.attention_mask = attention_mask
        self.positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        self.first_ids = input_ids

    def _forward(self, input_ids, positions) -> torch.Tensor:
        output = self.model(
            input_ids=input_ids,
            attention_mask=self.attention_mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
            return_dict=True,
            **self.forward_kwargs,
        )
        return output.logits[:, -1].to(copy=True, dtype=torch.float32)

    def prefill(self) -> torch.Tensor:
        logits = self._forward(self.first_ids, self.positions)
        self.first_ids = None
        self.positions = self.positions[:, -1:]
        return logits

    def reorder(self, rows: torch.Tensor) -> None:
        """From the next step on, cache row i continues the history of row ``rows[i]`` (rows may repeat or be
        left out)."""
        for layer in self.cache.layers:
            layer.order = rows
        self.attention_mask = self.attention_mask[rows]
        self.positions = self.positions[rows]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits after appending ``tokens`` (one per cache row, in row order)."""
        mask = self.attention_mask
        self.attention_mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=-1)
        self.positions = self.positions + 1
        return self._forward(tokens[:, None], self.positions)


def _processors(
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


def _resolve_lengths(config: GenerationConfig, prompt_width: int) -> GenerationConfig:
    """``max_length``/``min_length`` counted with the prompt, as ``generate`` sets them."""
    config = copy.deepcopy(config)
    if config.max_new_tokens is not None:
        config.max_length = config.max_new_tokens + prompt_width
    if config.min_new_tokens is not None:
        config.min_length = config.min_new_tokens + prompt_width
    return config


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
    config = _resolve_lengths(plan_.config, input_ids.shape[1])
    if config.num_beams > 1:
        candidates_only = (
            not same_stream
            and config.do_sample
            and bool(config.top_k)
            and (config.top_p is None or config.top_p >= 1.0)
        )
        return _beam_decode(model, plan_, config, input_ids, attention_mask, candidates_only)
    return _sample_decode(model, plan_, config, input_ids, attention_mask, same_stream, reference, realign)


def _stop_hits(tokens: torch.Tensor, eos: torch.Tensor | None, length: int, max_length: int) -> torch.Tensor:
    """transformers' MaxLengthCriteria | EosTokenCriteria on rows whose last token is ``tokens``."""
    if length >= max_length:
        return torch.ones_like(tokens, dtype=torch.bool)
    if eos is None:
        return torch.zeros_like(tokens, dtype=torch.bool)
    return torch.isin(tokens, eos)


def _sample_decode(model, plan_, config, input_ids, attention_mask, same_stream, reference, realign):
    """``generate``'s ``_sample`` (multinomial sampling, or greedy without ``do_sample``)."""
    device = input_ids.device
    batch, width = input_ids.shape
    max_length = config.max_length
    eos = torch.tensor(plan_.eos_ids, device=device) if plan_.eos_ids else None
    processors = _processors(config, plan_.eos_ids, width, device)
    sequences = torch.full((batch, max_length), plan_.pad_id, dtype=torch.long, device=device)
    sequences[:, :width] = input_ids
    streams = [_Stream(model, input_ids, attention_mask, max_length)]
    if reference is not None:
        streams.append(_Stream(reference, input_ids, attention_mask, max_length))
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
        ended = _stop_hits(tokens, eos, length, max_length)
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


def _top_continuations(log_probs, running_scores, processors, sequences, config, keep_count):
    """``generate``'s choice of ``keep_count`` continuations over all beams, best first: (scores, parent beams,
    tokens). ``log_probs``: (batch, beams, vocabulary) log-softmaxed logits."""
    batch, beams, vocab = log_probs.shape
    log_probs = processors(sequences, log_probs.view(batch * beams, vocab))
    log_probs = (log_probs.view(batch, beams, vocab) + running_scores[:, :, None]).view(batch, -1)
    if config.do_sample:
        candidates = torch.multinomial(torch.softmax(log_probs, dim=-1), num_samples=keep_count)
        scores = log_probs.gather(1, candidates)
        scores, order = scores.sort(dim=-1, descending=True)
        candidates = candidates.gather(-1, order)
    else:
        scores, candidates = torch.topk(log_probs, k=keep_count)
    return scores, candidates // vocab, candidates % vocab


def _top_continuations_among_top_k(
    log_probs, running_scores, processors, sequences, config, keep_count, min_keep
):
    """As ``_top_continuations`` for beam sampling with ``top_k``, drawing only among each beam's top-k tokens
    (every other token has probability 0): the same distribution, other random numbers, less work."""
    batch, beams, vocab = log_probs.shape
    log_probs = processors(sequences, log_probs.view(batch * beams, vocab))
    top_k = min(max(config.top_k, min_keep), vocab)
    values, tokens = torch.topk(log_probs, top_k, sorted=False)  # order is irrelevant here
    if config.temperature is not None and config.temperature != 1.0:
        values = values / config.temperature
    if config.renormalize_logits is True:
        values = torch.log_softmax(values, dim=-1)
    values = (values.view(batch, beams, top_k) + running_scores[:, :, None]).view(batch, -1)
    # Sampling without replacement proportionally to p: the keep_count largest p / q with q ~ Exp(1).
    noise = torch.empty_like(values).exponential_()
    picked = torch.topk(torch.softmax(values, dim=-1) / noise, keep_count).indices
    scores = values.gather(1, picked)
    scores, order = scores.sort(dim=-1, descending=True)
    picked = picked.gather(-1, order)
    return scores, picked // top_k, tokens.view(batch, -1).gather(1, picked)


def _beam_decode(model, plan_, config, input_ids, attention_mask, candidates_only: bool):
    """``generate``'s ``_beam_search`` (beam sampling with ``do_sample``), transformers 5 rules, step for step."""
    device = input_ids.device
    batch, width = input_ids.shape
    beams = config.num_beams
    max_length, length_penalty, early_stopping = (
        config.max_length,
        config.length_penalty,
        config.early_stopping,
    )
    eos = torch.tensor(plan_.eos_ids, device=device) if plan_.eos_ids else None
    processors = _processors(config, plan_.eos_ids, width, device, warpers=not candidates_only)
    keep_count = max(2, 1 + len(plan_.eos_ids)) * beams
    min_keep = len(plan_.eos_ids) + 1 if plan_.eos_ids else 2
    top_beam_mask = (torch.arange(keep_count, device=device) < beams)[None, :]
    # generate's fill value for unfinished positions: `pad_token_id or eos_token_id[0]` (a pad id of 0 is falsy).
    pad_id = config.pad_token_id
    fill = (pad_id if pad_id else plan_.eos_ids[0]) if plan_.eos_ids else -1

    rows = batch * beams
    expanded_ids = input_ids.repeat_interleave(beams, dim=0)
    stream = _Stream(model, expanded_ids, attention_mask.repeat_interleave(beams, dim=0), max_length)
    running = torch.full((batch, beams, max_length), fill, dtype=torch.long, device=device)
    running[:, :, :width] = expanded_ids.view(batch, beams, width)
    sequences = running.clone()
    running_scores = torch.zeros((batch, beams), dtype=torch.float, device=device)
    running_scores[:, 1:] = -1e9
    beam_scores = torch.full((batch, beams), -1e9, dtype=torch.float, device=device)
    finished = torch.zeros((batch, beams), dtype=torch.bool, device=device)
    finished_lengths = torch.zeros((batch, beams), dtype=torch.long, device=device)
    improvable = torch.ones((batch, 1), dtype=torch.bool, device=device)
    beam_offsets = torch.arange(batch, device=device)[:, None] * beams
    batch_index = torch.arange(batch, device=device)[:, None]

    logits = stream.prefill()
    length = width
    while True:
        log_probs = torch.nn.functional.log_softmax(logits, dim=-1)
        log_probs = log_probs.view(batch, beams, -1)
        history = running[:, :, :length].reshape(rows, length)
        if candidates_only:
            candidate_scores, candidate_parents, candidate_tokens = _top_continuations_among_top_k(
                log_probs, running_scores, processors, history, config, keep_count, min_keep
            )
        else:
            candidate_scores, candidate_parents, candidate_tokens = _top_continuations(
                log_probs, running_scores, processors, history, config, keep_count
            )
        candidate_sequences = running[batch_index, candidate_parents]
        candidate_sequences[:, :, length] = candidate_tokens
        hits = _stop_hits(candidate_sequences[:, :, length], eos, length + 1, max_length)

        # The best `beams` candidates that go on.
        running_candidate_scores = candidate_scores + hits.to(torch.float32) * -1.0e9
        going_on = torch.topk(running_candidate_scores, k=beams)[1]
        running = candidate_sequences.gather(1, going_on[:, :, None].expand(-1, -1, max_length))
        running_scores = running_candidate_scores.gather(1, going_on)
        parents = candidate_parents.gather(1, going_on)

        # Finished hypotheses: the best `beams` of the old ones and those that just ended among the top `beams`.
        just_finished = hits & top_beam_mask
        finished_scores = candidate_scores / ((length + 1 - width) ** length_penalty)
        all_full = torch.all(finished, dim=-1, keepdim=True) & (early_stopping is True)
        finished_scores += all_full.to(torch.float32) * -1.0e9
        finished_scores += (~improvable).to(torch.float32) * -1.0e9
        finished_scores += (~just_finished) * -1.0e9
        merged_scores = torch.cat((beam_scores, finished_scores), dim=1)
        best = torch.topk(merged_scores, k=beams)[1]
        sequences = torch.cat((sequences, candidate_sequences), dim=1).gather(
            1, best[:, :, None].expand(-1, -1, max_length)
        )
        beam_scores = merged_scores.gather(1, best)
        candidate_lengths = torch.full_like(candidate_tokens, length + 1 - width)
        finished_lengths = torch.cat((finished_lengths, candidate_lengths), dim=1).gather(1, best)
        finished = torch.cat((finished, just_finished), dim=1).gather(1, best)

        length += 1
        # generate's early-stop heuristic and loop condition.
        if early_stopping == "never" and length_penalty > 0.0:
            best_length = max_length - width
        else:
            best_length = length - width
        best_running = running_scores[:, :1] / (best_length**length_penalty)
        worst_finished = torch.where(finished, torch.min(beam_scores, dim=1, keepdim=True)[0], -1.0e9)
        improvable = improvable & torch.any(best_running > worst_finished, dim=-1, keepdim=True)
        if (
            not bool(improvable.any())
            or (bool(finished.all()) and early_stopping is True)
            or bool(hits.all())
        ):
            break

        stream.reorder((parents + beam_offsets).flatten())
        logits = stream.step(running[:, :, length - 1].flatten())

    output_length = width + int(finished_lengths[:, 0].max())
    return sequences[:, 0, :output_length]
