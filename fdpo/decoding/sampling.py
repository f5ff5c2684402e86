"""Batched, seeded sampling from a causal language model, and fdpo's decoding loop that runs it.

``sample`` replaces the one-at-a-time ``generate_from_input`` loop of the notebook this library grew from: prompts
are formatted with a template, sorted by token length (so a batch pads little), left-padded, generated together with
the key/value cache and put back in prompt order. Every ``model.generate`` option keeps its meaning: the common ones
run in fdpo's own decoding loop, the others in ``model.generate``.

The loop follows ``generate``'s rules step for step. ``model.generate`` spends much of a CPU sampling run moving
memory: in beam search it reorders the whole key/value cache after every step and then appends the next token by
concatenation into fresh memory (two copies of the cache a step), and in plain sampling it keeps computing rows that
have ended until the last one ends. This loop runs the same model forward passes and the same logits processors and
beam bookkeeping, in the same order, but

- after a beam step the cache is reordered while the next token is appended, in one copy between two buffers
  allocated once for the generation (``fdpo.decoding.streams``);
- in plain sampling, rows that have ended are dropped from the forward pass.

With ``same_stream`` (``engine="exact"``) it also draws the random numbers ``generate`` draws
(``torch.multinomial`` draws one exponential number per vocabulary entry of every row, ended or not; so does this
loop), so for a fixed seed it returns the tokens ``generate`` returns. Without it (``engine="auto"``), it draws
fewer random numbers from the same distribution, and beam search moves no cache at all: the beams of a prompt share
one cache row and attend to their own ancestors through a 4-D attention mask (``fdpo.decoding.beams``), the same
attention up to float rounding.

``plan`` decides whether a call can run in the loop; options outside ``SUPPORTED`` (set to anything but their
default) run through ``model.generate`` instead, so no option ever changes meaning. The loop relies on transformers
internals (``fdpo.decoding._transformers``); ``fast_path_problems`` checks once per process that they still hold,
and where they do not, ``sample`` warns and runs every batch in ``model.generate`` rather than risk wrong tokens.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from fdpo.checks import check_strings
from fdpo.decoding._transformers import (
    TRANSFORMERS_VERSION,
    default_generation_params,
    has_plain_cache,
    internals_problems,
    logits_processors,
    resolve_generation_config,
    resolve_lengths,
    stop_hits,
    tiny_causal_lm,
)
from fdpo.decoding.batching import forward_parameters, model_device, pad_batch, start_empty_prompts
from fdpo.decoding.beams import beam_decode
from fdpo.decoding.samples import Samples
from fdpo.decoding.streams import DecodeStream, beam_cache_logits
from fdpo.errors import InputError

if TYPE_CHECKING:
    from transformers import GenerationConfig

__all__ = ["SUPPORTED", "DecodePlan", "decode", "fast_path_problems", "plan", "sample"]

_ENGINES = ("auto", "exact", "generate")
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


# ---------------------------------------------------------------------------------------------------------------------
# sample


def _ids(value) -> list[int]:
    """Token ids given as None, an int, a tensor or a sequence, as a list."""
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.flatten().tolist()]
    return [int(v) for v in value]


def _batches(jobs: list[tuple[int, int]], lengths: list[int], batch_size: int, same_length: bool):
    """Consecutive runs of at most ``batch_size`` jobs (sorted by prompt length); with ``same_length``, a run never
    mixes prompt lengths."""
    batch: list[tuple[int, int]] = []
    for job in jobs:
        if batch and (len(batch) == batch_size or (same_length and lengths[job[0]] != lengths[batch[0][0]])):
            yield batch
            batch = []
        batch.append(job)
    if batch:
        yield batch


def _check_realignment(model, reference, realign, engine: str, generate_kwargs: dict) -> None:
    """Clear errors for a bad ``reference``/``realign`` pair, before any work."""
    if reference is None and realign is None:
        return
    if reference is None or realign is None:
        raise InputError(
            "Decoding-time realignment needs both reference= (a causal LM) and realign= (λ ≥ 0); got only "
            f"{'reference' if reference is not None else 'realign'}."
        )
    if (
        isinstance(realign, bool)
        or not isinstance(realign, int | float)
        or not realign >= 0
        or realign == float("inf")
    ):
        raise InputError(
            f"realign must be a finite number λ ≥ 0 (1 = the model alone, 0 = the reference), got {realign!r}."
        )
    if engine == "generate":
        raise InputError("realign runs in fdpo's decoding loop only; use engine='auto' or 'exact'.")
    if generate_kwargs.get("num_beams", 1) != 1:
        raise InputError(
            f"realign supports plain sampling only (num_beams=1), got num_beams={generate_kwargs['num_beams']}."
        )
    sizes = []
    for name, lm in (("model", model), ("reference", reference)):
        head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
        size = (
            head.weight.shape[0]
            if head is not None
            else getattr(getattr(lm, "config", None), "vocab_size", None)
        )
        if size is None:
            raise InputError(f"Cannot read the vocabulary size of the {name}; realign needs two causal LMs.")
        sizes.append(size)
    if sizes[0] != sizes[1]:
        raise InputError(
            f"realign mixes the two models' logits token by token, so they must share one tokenizer; the model has "
            f"{sizes[0]} output tokens and the reference {sizes[1]}."
        )
    if model_device(model) != model_device(reference):
        raise InputError(
            f"model and reference must be on one device, got {model_device(model)} and {model_device(reference)}."
        )


def _engine_in_use(engine: str, reference) -> str:
    """``engine``, or ``"generate"`` with a warning when the transformers internals fdpo's loop relies on changed."""
    if engine == "generate":
        return engine
    problems = fast_path_problems()
    if not problems:
        return engine
    if reference is not None:
        raise InputError(
            f"realign runs in fdpo's decoding loop, which is off with transformers {TRANSFORMERS_VERSION}: "
            f"{problems[0]}. Use the transformers version fdpo pins, or sample without realign."
        )
    warnings.warn(
        f"fdpo's decoding loop is off with transformers {TRANSFORMERS_VERSION} ({problems[0]}); sampling with "
        "model.generate instead: the same distribution, slower.",
        RuntimeWarning,
        stacklevel=3,
    )
    return "generate"


def _generate(
    model, engine: str, input_ids, attention_mask, kwargs: dict, reference, realign
) -> torch.Tensor:
    """One batch through fdpo's loop or ``model.generate``, as ``engine`` says."""
    if engine != "generate":
        decode_plan, reason = plan(model, kwargs)
        if decode_plan is not None and reference is not None:
            reference_plan, reference_reason = plan(reference, kwargs)
            if reference_plan is None:
                decode_plan, reason = None, f"the reference: {reference_reason}"
        if decode_plan is not None:
            return decode(
                model,
                decode_plan,
                input_ids,
                attention_mask,
                same_stream=engine == "exact",
                reference=reference,
                realign=realign,
            )
        if reference is not None:
            raise InputError(
                f"realign runs in fdpo's decoding loop, which cannot run this call: {reason}. It implements "
                f"{list(SUPPORTED)} on decoder-only models with a plain key/value cache."
            )
    return model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


@torch.no_grad()
def sample(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    num_samples_per_prompt: int = 1,
    batch_size: int = 32,
    seed: int | None = None,
    prompt_template: str = "{prompt}",
    rstrip_query: bool = True,
    show_progress: bool = True,
    engine: str = "auto",
    reference=None,
    realign: float | None = None,
    **generate_kwargs,
) -> Samples:
    """Samples completions for ``prompts`` in batches of similar length, with left padding and the KV cache.

    Args:
        model: a causal LM with ``generate`` (any ``AutoModelForCausalLM``).
        tokenizer: its tokenizer. Queries are tokenized without special tokens, as the notebook did, and padded on
            the left whatever ``tokenizer.padding_side`` says; the tokenizer is not modified.
        prompts: the raw prompts.
        num_samples_per_prompt: completions per prompt (rows of their own, so they batch with other prompts).
        batch_size: sequences generated together (each with its ``num_beams`` beams).
        seed: run generation under this torch seed, in a forked RNG state (the caller's random state is left
            alone). Same seed, batch size and device give the same samples.
        prompt_template: turns a prompt into the query, ``"{prompt}"`` replaced by it (other braces are literal),
            e.g. ``"Good Review: {prompt}"``.
        rstrip_query: drop trailing whitespace from each query, as the notebook's ``generate_from_input`` did
            (``"Good Review: {prompt}"`` with an empty prompt gives ``"Good Review:"``; a BPE model continues a
            trailing space badly). An empty query is conditioned on the BOS token (EOS if there is none).
        show_progress: a tqdm bar over samples.
        engine: how batches are decoded. fdpo's own loop implements sampling, greedy and beam (sampling) search
            with ``max_new_tokens``/``max_length``, ``min_new_tokens``/``min_length``, ``temperature``, ``top_k``,
            ``top_p``, ``no_repeat_ngram_size``, ``renormalize_logits``, ``suppress_tokens``, ``length_penalty`` and
            ``early_stopping``, for a decoder-only model with a plain key/value cache; it runs the forward passes
            ``generate`` runs, but reorders the beams' cache while appending the next token (one copy a step where
            ``generate`` makes two) and stops computing rows that have ended. Any other option (set to anything
            but its default) goes to ``model.generate``.

            - ``"auto"`` (default): fdpo's loop with cheaper random draws from the same distribution as
              ``generate``: plain sampling inverts the cumulative distribution with one uniform number per row,
              beam sampling with ``top_k`` draws among each beam's top-k tokens only. In beam search the beams of a
              prompt share one cache row and attend to their own ancestors (a 4-D attention mask, for models with
              eager or sdpa attention), so no cache is copied; the logits are the same up to float rounding. Same
              seed, same samples; but not the tokens ``generate`` would give for that seed.
            - ``"exact"``: fdpo's loop drawing the random numbers ``generate`` draws: for the same seed, batch and
              device, the tokens ``model.generate`` returns.
            - ``"generate"``: ``model.generate`` for every batch.
        reference: with ``realign``, a second causal LM with the same vocabulary (e.g. the SFT model a policy was
            trained from) for decoding-time realignment (DeRa, Liu et al., 2024).
        realign: λ ≥ 0: sample from softmax(λ·logits_model + (1 − λ)·logits_reference), mixed before temperature,
            top-k and top-p. λ = 1 is ``model`` alone, λ = 0 the reference alone, λ > 1 extrapolates away from the
            reference. Plain sampling only (``num_beams=1``), in fdpo's loop; each model keeps its own cache.
        **generate_kwargs: passed to ``model.generate``: e.g. the notebook's ``top_k=50, num_beams=5,
            max_length=100, early_stopping=True, no_repeat_ngram_size=2, renormalize_logits=True``. ``do_sample``
            defaults to True, and to ``max_new_tokens=48`` when no length is given. ``max_length`` counts the prompt
            tokens as in transformers, and means what it means for a prompt generated alone: batches then hold
            prompts of one length only (``max_new_tokens`` has no such restriction).

    Returns:
        ``Samples`` in prompt order, each prompt's samples together.

    Raises:
        ValueError: empty prompts list, bad sizes, a template without ``{prompt}``, ``num_return_sequences`` (use
            ``num_samples_per_prompt``), a prompt that ``max_length`` leaves no room to continue, an unknown
            ``engine``, ``engine="fdpo"`` with an option it lacks, or a bad ``reference``/``realign`` pair.
    """
    prompts = check_strings("prompts", prompts)
    for name, value in (("num_samples_per_prompt", num_samples_per_prompt), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if "{prompt}" not in prompt_template:
        raise ValueError(
            f"prompt_template must contain '{{prompt}}' where the prompt goes, got {prompt_template!r}."
        )
    if generate_kwargs.get("num_return_sequences", 1) != 1:
        raise ValueError(
            f"num_return_sequences={generate_kwargs['num_return_sequences']} is not supported here: pass "
            "num_samples_per_prompt instead (those samples are batched across prompts)."
        )
    for name in ("input_ids", "attention_mask", "inputs"):
        if name in generate_kwargs:
            raise ValueError(f"{name} is built by sample() from the prompts; do not pass it.")
    if engine not in _ENGINES:
        raise InputError(f"engine must be one of {list(_ENGINES)}, got {engine!r}.")
    _check_realignment(model, reference, realign, engine, generate_kwargs)
    engine = _engine_in_use(engine, reference)

    generation_config = getattr(model, "generation_config", None)
    eos_ids = set(_ids(generate_kwargs.get("eos_token_id", getattr(generation_config, "eos_token_id", None))))
    eos_ids |= set(_ids(tokenizer.eos_token_id))
    pad_id = generate_kwargs.get("pad_token_id")
    if pad_id is None:
        pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = getattr(generation_config, "pad_token_id", None)
    if pad_id is None:
        pad_id = min(eos_ids) if eos_ids else 0  # GPT-2's usual pad = eos; padding is masked out anyway
    stop_ids = eos_ids | {pad_id}  # generate pads finished rows with pad_id

    kwargs = dict(generate_kwargs)
    kwargs.setdefault("do_sample", True)
    kwargs["pad_token_id"] = pad_id
    uses_max_length = "max_length" in kwargs and "max_new_tokens" not in kwargs
    max_length = kwargs.pop("max_length") if uses_max_length else None
    if max_length is None and "max_new_tokens" not in kwargs:
        kwargs["max_new_tokens"] = 48

    queries = [prompt_template.replace("{prompt}", prompt) for prompt in prompts]
    if rstrip_query:
        queries = [query.rstrip() for query in queries]
    unique_queries = list(dict.fromkeys(queries))
    unique_ids = tokenizer(unique_queries, add_special_tokens=False)["input_ids"]
    ids_of = dict(zip(unique_queries, start_empty_prompts(unique_ids, tokenizer), strict=True))
    encoded = [ids_of[query] for query in queries]
    lengths = [len(ids) for ids in encoded]
    if max_length is not None and max(lengths) >= max_length:
        index = max(range(len(prompts)), key=lengths.__getitem__)
        raise ValueError(
            f"Query {index} ({queries[index]!r}) is {lengths[index]} tokens, but max_length={max_length} counts the "
            "prompt and leaves no room for a completion; raise max_length or pass max_new_tokens instead."
        )

    # Sort by length so each batch pads little (and, with max_length, holds one length); results go back to
    # prompt order below.
    jobs = sorted(
        ((index, copy) for index in range(len(prompts)) for copy in range(num_samples_per_prompt)),
        key=lambda job: (lengths[job[0]], job[0], job[1]),
    )
    device = model_device(model)
    results: dict[tuple[int, int], tuple[list[int], int | None]] = {}
    was_training = model.training
    model.eval()
    reference_was_training = reference is not None and reference.training
    if reference is not None:
        reference.eval()
    devices = [device] if device.type == "cuda" else []
    progress = tqdm(total=len(jobs), desc="Sampling", disable=not show_progress, unit="sample")
    try:
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            for batch in _batches(jobs, lengths, batch_size, same_length=max_length is not None):
                input_ids, attention_mask = pad_batch(
                    [encoded[index] for index, _ in batch], pad_id, side="left"
                )
                width = input_ids.shape[1]
                if max_length is not None:
                    kwargs["max_new_tokens"] = max_length - width  # every prompt of the batch has this width
                output = _generate(
                    model, engine, input_ids.to(device), attention_mask.to(device), kwargs, reference, realign
                )
                for row, job in enumerate(batch):
                    generated = output[row, width:].tolist()
                    cut = next(
                        (position for position, token in enumerate(generated) if token in stop_ids),
                        len(generated),
                    )
                    # the stop token that ended the row is kept apart: the metrics score it, the texts leave it out
                    results[job] = generated[:cut], generated[cut] if cut < len(generated) else None
                progress.update(len(batch))
    finally:
        progress.close()
        model.train(was_training)
        if reference is not None:
            reference.train(reference_was_training)

    order = [(index, copy) for index in range(len(prompts)) for copy in range(num_samples_per_prompt)]
    completion_ids = [results[job][0] for job in order]
    completions = tokenizer.batch_decode(
        completion_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
    )
    return Samples(
        prompts=[prompts[index] for index, _ in order],
        queries=[queries[index] for index, _ in order],
        completions=completions,
        texts=[
            queries[index] + completion for (index, _), completion in zip(order, completions, strict=True)
        ],
        completion_ids=completion_ids,
        stop_ids=[results[job][1] for job in order],
    )


# ---------------------------------------------------------------------------------------------------------------------
# The decoding loop


@dataclass
class DecodePlan:
    """A ``generate`` call resolved as transformers resolves it, ready for ``decode``."""

    config: GenerationConfig
    eos_ids: list[int]
    pad_id: int


def plan(model, generate_kwargs: dict) -> tuple[DecodePlan | None, str]:
    """``(plan, "")`` when ``model.generate(**generate_kwargs)`` can run in ``decode``; else ``(None, reason)``."""
    config_model = getattr(model, "config", None)
    if config_model is None or getattr(config_model, "is_encoder_decoder", False):
        return None, "the model is not a decoder-only transformers model"
    parameters = forward_parameters(model) or set()
    if not {"cache", "position_ids", "attention_mask"} <= parameters:
        return None, "the model's forward takes no `cache`, `position_ids` and `attention_mask` arguments"
    if not callable(getattr(model, "_prepare_generation_config", None)):
        return None, "this transformers version resolves generation settings differently"
    try:
        config, extra = resolve_generation_config(model, generate_kwargs)
    except (TypeError, ValueError) as error:
        return None, f"generate() settings not understood here ({error})"
    if extra:
        return None, f"model inputs {sorted(extra)} are not supported"
    defaults = default_generation_params()
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
    eos_ids = _ids(config.eos_token_id)
    pad_id = config.pad_token_id
    if pad_id is None:
        if not eos_ids:
            return None, "neither pad_token_id nor eos_token_id is set"
        pad_id = eos_ids[0]
    if not has_plain_cache(model):
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


# ---------------------------------------------------------------------------------------------------------------------
# The check that the loop still agrees with generate

# Settings the tiny decode of fast_path_problems runs through the loop and through generate (6 new tokens each).
_PROBES = {
    "plain sampling": dict(do_sample=True, top_k=0),
    "top-k, top-p and temperature sampling with min_new_tokens": dict(
        do_sample=True, top_k=8, top_p=0.9, temperature=0.7, min_new_tokens=2
    ),
    "beam sampling": dict(
        do_sample=True,
        num_beams=3,
        top_k=8,
        no_repeat_ngram_size=2,
        renormalize_logits=True,
        early_stopping=True,
    ),
    "beam search": dict(do_sample=False, num_beams=3, length_penalty=0.5),
}


@functools.cache
def fast_path_problems() -> tuple[str, ...]:
    """Why fdpo's loop cannot be trusted with the installed transformers, one line each (empty when it can).

    First ``fdpo.decoding._transformers.internals_problems``; then, on a tiny GPT-2 on the CPU, with a left-padded
    batch: ``decode`` drawing ``generate``'s random numbers must return ``model.generate``'s very tensor for plain,
    top-k/top-p and beam sampling and for beam search, and the beams' shared cache (``BeamTreeStream``, a 4-D
    attention mask) must give the logits of a cache per beam under sdpa and eager attention. Computed once per
    process; the caller's random state is left alone.
    """
    problems = internals_problems()
    if problems:
        return problems
    model = tiny_causal_lm()
    input_ids = torch.tensor([[0, 0, 3, 4], [5, 6, 7, 8]])
    attention_mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    found = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for name, settings in _PROBES.items():
            settings = dict(settings, max_new_tokens=6, pad_token_id=0)
            try:
                decode_plan, reason = plan(model, settings)
                if decode_plan is None:
                    found.append(f"fdpo's loop refuses {name} on a plain GPT-2 ({reason})")
                    continue
                torch.manual_seed(0)
                expected = model.generate(input_ids=input_ids, attention_mask=attention_mask, **settings)
                torch.manual_seed(0)
                got = decode(model, decode_plan, input_ids, attention_mask)
            except Exception as error:  # noqa: BLE001 (whatever breaks, the loop is not to be trusted)
                found.append(f"{name} fails in fdpo's loop or in generate ({type(error).__name__}: {error})")
                continue
            if got.shape != expected.shape or not torch.equal(got, expected):
                found.append(
                    f"{name}: fdpo's loop no longer returns generate()'s tokens for a seed (generate's logits "
                    "processors, stopping rules, beam rules or random draws changed)"
                )
        for attention in ("sdpa", "eager"):
            try:
                model.set_attn_implementation(attention)
                pairs, _ = beam_cache_logits(model, input_ids, attention_mask, beams=3, steps=10)
                agree = all(torch.allclose(shared, own, rtol=1e-4, atol=1e-5) for shared, own in pairs)
            except Exception as error:  # noqa: BLE001
                found.append(
                    f"the beams' shared cache fails with {attention} attention ({type(error).__name__}: {error})"
                )
                continue
            if not agree:
                found.append(
                    f"{attention} attention no longer applies a 4-D float attention mask as given: the beams' shared "
                    "cache gives other logits than a cache per beam"
                )
    return tuple(found)
