"""Batched, seeded sampling from a causal language model.

``sample`` replaces the one-at-a-time ``generate_from_input`` loop of the notebook this library grew from: prompts
are formatted with a template, sorted by token length (so a batch pads little), left-padded, generated together with
the key/value cache and put back in prompt order. Every ``model.generate`` option keeps its meaning: the common ones
run in fdpo's own decoding loop (``fdpo._sampling``: ``generate``'s rules with less memory traffic, sampling from
``generate``'s distribution or, with ``engine="exact"``, giving its very tokens), the others in ``model.generate``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fdpo._batching import model_device, pad_batch, start_empty_prompts
from fdpo._io import atomic_open
from fdpo._sampling import SUPPORTED, decode, plan
from fdpo.checks import check_strings
from fdpo.errors import InputError

__all__ = ["RECORD_KEYS", "Samples", "sample"]

#: The key of each column in a samples file's records (one record per sample, singular keys as in pairs files).
RECORD_KEYS = {"prompts": "prompt", "queries": "query", "completions": "completion", "texts": "text",
               "completion_ids": "completion_ids"}  # fmt: skip
_COLUMNS = tuple(RECORD_KEYS)
_ENGINES = ("auto", "exact", "generate")


@dataclass
class Samples:
    """Generations, one entry per sample, in prompt order (each prompt's samples next to each other).

    Attributes:
        prompts: the raw prompt of each sample.
        queries: the prompt after the template, i.e. the text the model was conditioned on.
        completions: the generated text after the query: cut at the first end-of-sequence token, special tokens
            removed.
        texts: query + completion (what a reward model scores).
        completion_ids: the generated token ids, cut at the first end-of-sequence (or pad) token, which is left out.
    """

    prompts: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)

    def __post_init__(self):
        lengths = {name: len(getattr(self, name)) for name in _COLUMNS}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Samples columns must have one entry per sample; got lengths {lengths}.")

    def __len__(self) -> int:
        return len(self.completions)

    def to_dict(self) -> dict[str, list]:
        """The five columns as lists (copies), e.g. for ``datasets.Dataset.from_dict``."""
        return asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes one JSON object per sample (JSONL) atomically: a reader sees the old file or the new one.

        Each record has the keys ``prompt``, ``query``, ``completion``, ``text`` and ``completion_ids``.
        """
        path = Path(path)
        keys = [RECORD_KEYS[name] for name in _COLUMNS]
        with atomic_open(path) as file:
            for row in zip(*(getattr(self, name) for name in _COLUMNS), strict=True):
                file.write(json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Samples:
        """Reads a file written by ``save``. Files of fdpo 0.1 (plural keys: ``prompts``, ``completions``, ...) are
        still read, with a ``FutureWarning``."""
        columns: dict[str, list] = {name: [] for name in _COLUMNS}
        singular = [RECORD_KEYS[name] for name in _COLUMNS]
        plural = False
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if "completion" not in row and "completions" in row:
                        plural = True
                        values = [row[name] for name in _COLUMNS]
                    else:
                        values = [row[key] for key in singular]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(
                        f"{path}:{number} is not a Samples record ({type(error).__name__}: {error}); it needs the "
                        f"keys {singular}. Write such files with Samples.save."
                    ) from error
                for name, value in zip(_COLUMNS, values, strict=True):
                    columns[name].append(value)
        if plural:
            warnings.warn(
                f"{path} has the record keys of fdpo 0.1 (prompts, queries, completions, texts); they are read for "
                "now and will not be in a later release. Rewrite it with Samples.load(path).save(path) (or "
                "'fdpo generate' again): records now have the keys prompt, query, completion, text, completion_ids.",
                FutureWarning,
                stacklevel=2,
            )
        return cls(**columns)


def _as_id_set(value) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, torch.Tensor):
        return set(value.flatten().tolist())
    return {int(v) for v in value}


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

    generation_config = getattr(model, "generation_config", None)
    eos_ids = _as_id_set(
        generate_kwargs.get("eos_token_id", getattr(generation_config, "eos_token_id", None))
    )
    eos_ids |= _as_id_set(tokenizer.eos_token_id)
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
    results: dict[tuple[int, int], list[int]] = {}
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
                    results[job] = generated[:cut]
                progress.update(len(batch))
    finally:
        progress.close()
        model.train(was_training)
        if reference is not None:
            reference.train(reference_was_training)

    order = [(index, copy) for index in range(len(prompts)) for copy in range(num_samples_per_prompt)]
    completion_ids = [results[job] for job in order]
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
    )
