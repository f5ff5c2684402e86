"""Per-token log-probabilities and next-token entropies of completions given their prompts (teacher forcing).

The one place that runs a causal LM over (prompt, completion) pairs for the metrics: ``fdpo.metrics`` builds the
entropies, the KL and the f-divergence estimates on top of it, from the sampled ids (``Samples.sampled_ids``, the
stop token included) or from texts.

Layout of a batch. The prompt and the completion are tokenized separately (``add_special_tokens=False``, as
``fdpo.decoding.sample`` tokenizes its queries) and concatenated, and the rows are padded on the **right**,
whatever ``tokenizer.padding_side`` says::

    row 0:  p p p c c c c c _ _          p = prompt token, c = completion token, _ = pad (attention mask 0)
    row 1:  p p p p p c c c c c

With right padding every real token sits at the position it has when the row is run alone, so no ``position_ids``
are needed and the result does not depend on the model honouring them; causal attention never looks forward, so
the trailing pads cannot touch a real token. (Left padding, which generation needs, shifts the positions by the
pad count and is only exact when the model is given position ids derived from the attention mask.) Completion
token t of a row is scored by the logits at the position before it; only those positions go through the softmax,
so memory is (completion tokens in the batch) × vocabulary, not batch × length × vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fdpo.checks import check_strings
from fdpo.decoding._transformers import resolve_generation_config, sampling_warpers
from fdpo.decoding.batching import forward_parameters, model_device, pad_batch, start_empty_prompts

__all__ = ["CompletionScores", "check_prompts_and_completions", "score_completions"]


@dataclass
class CompletionScores:
    """Per-token results of ``score_completions``, one entry per completion, in input order.

    Attributes:
        token_logps: log π(y_t | x, y_<t) of each completion token. Each shape: (num_tokens_i,), float64.
        token_entropies: −Σ_v p(v) log p(v) of the next-token distribution at each completion token's position
            (the distribution the token was drawn from), or None when not asked for. Each shape: (num_tokens_i,).
    """

    token_logps: list[np.ndarray]
    token_entropies: list[np.ndarray] | None = None

    @property
    def num_tokens(self) -> np.ndarray:
        """Completion lengths in tokens. Shape: (n,), int64."""
        return np.array([len(values) for values in self.token_logps], dtype=np.int64)

    @property
    def sum_logps(self) -> np.ndarray:
        """log π(y | x) of each completion: the sum over its tokens (0 for an empty one). Shape: (n,), float64."""
        return np.array([float(values.sum()) for values in self.token_logps], dtype=np.float64)

    @property
    def mean_entropies(self) -> np.ndarray:
        """Each completion's mean next-token entropy over its positions (NaN for an empty one). Shape: (n,)."""
        if self.token_entropies is None:
            raise ValueError("These scores hold no entropies: call score_completions(..., entropy=True).")
        return np.array(
            [float(values.mean()) if len(values) else np.nan for values in self.token_entropies],
            dtype=np.float64,
        )


def check_prompts_and_completions(prompts, completions) -> tuple[list[str], list]:
    """Validates prompts (strings) and completions (all strings, or all token-id lists) of equal count."""
    prompts = check_strings("prompts", prompts)
    if isinstance(completions, str):
        raise TypeError("completions must be a list of strings, got a single string; wrap it in a list.")
    completions = list(completions)
    if not completions:
        raise ValueError("completions is empty: give at least one.")
    if len(prompts) != len(completions):
        raise ValueError(
            f"prompts and completions must pair up: got {len(prompts)} prompts and {len(completions)} completions."
        )
    if all(isinstance(completion, str) for completion in completions):
        return prompts, completions
    as_ids = [
        isinstance(completion, (list, tuple)) and all(isinstance(t, (int, np.integer)) for t in completion)
        for completion in completions
    ]
    if all(as_ids):
        return prompts, [[int(t) for t in completion] for completion in completions]
    bad = [index for index, completion in enumerate(completions) if not isinstance(completion, str)]
    raise TypeError(
        "completions must be all strings or all lists of token ids (e.g. Samples.completion_ids); "
        f"positions {bad[:10]} are not strings (first: {type(completions[bad[0]]).__name__})."
    )


def _max_positions(model) -> int | None:
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def sampled_distribution(model, generation: Mapping[str, Any] | None):
    """The warpers (temperature, top-k, top-p) that turn ``model``'s next-token logits into the distribution
    ``fdpo.decoding.sample`` draws from with the generate settings ``generation`` (resolved against the model's
    generation config, sampling unless ``do_sample`` is false); None when that is the model's own distribution."""
    if generation is None:
        return None
    config, _ = resolve_generation_config(model, {"do_sample": True, **dict(generation)})
    return sampling_warpers(config)


@torch.no_grad()
def score_completions(
    model,
    tokenizer,
    prompts: Sequence[str],
    completions: Sequence[str] | Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    entropy: bool = False,
    generation: Mapping[str, Any] | None = None,
    show_progress: bool = False,
    desc: str = "Scoring completions",
) -> CompletionScores:
    """Per-token log-probs (and optionally next-token entropies) of each completion given its prompt.

    Args:
        model: a causal LM: ``model(input_ids=..., attention_mask=...)`` returns an object with ``.logits`` of
            shape (batch, length, vocab).
        tokenizer: its tokenizer (for the prompts, text completions, and the BOS/pad ids).
        prompts: the text each completion was generated from (``Samples.queries``). An empty prompt is replaced
            by the BOS token (EOS if there is none), what ``fdpo.decoding.sample`` conditions on.
        completions: texts (tokenized with ``add_special_tokens=False``) or token-id lists such as
            ``Samples.sampled_ids``; the ids score exactly the tokens that were sampled, the stop token included
            where one ended the sample, where re-tokenizing the text may pick another segmentation and never holds
            the stop token.
        batch_size: rows per forward pass; rows are grouped by length to limit padding.
        entropy: also compute the full-vocabulary entropy at every completion position.
        generation: the generate keyword arguments the completions were sampled with (as given to
            ``fdpo.decoding.sample``, which samples unless ``do_sample`` is false). Given, the log-probs and entropies
            are those of the distribution each token was drawn from: the model's next-token distribution after the
            temperature, top-k and top-p that ``generate`` resolves from them and the model's generation config
            (a token outside the top-k or top-p set gets −inf). None: the model's own distribution.
        show_progress: a tqdm bar over batches.

    Returns:
        ``CompletionScores`` in input order, float64.

    Raises:
        ValueError: mismatched or empty inputs, a token id outside the vocabulary, or a prompt + completion
            longer than the model's maximum positions.
    """
    prompts, completions = check_prompts_and_completions(prompts, completions)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    if isinstance(completions[0], str):
        completion_ids = tokenizer(completions, add_special_tokens=False)["input_ids"]
    else:
        completion_ids = completions
    prompt_ids = start_empty_prompts(prompt_ids, tokenizer)
    pad_id = next(
        (
            i
            for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id)
            if i is not None
        ),
        0,
    )

    vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab_size is not None:
        bad = [
            i for i, ids in enumerate(completion_ids) if ids and not 0 <= min(ids) <= max(ids) < vocab_size
        ]
        if bad:
            raise ValueError(
                f"Completion(s) {bad[:10]} hold token ids outside the model's vocabulary [0, {vocab_size}); were "
                "they produced with another tokenizer?"
            )
    lengths = np.array([len(p) + len(c) for p, c in zip(prompt_ids, completion_ids, strict=True)])
    max_positions = _max_positions(model)
    if max_positions is not None and lengths.max() > max_positions:
        index = int(lengths.argmax())
        raise ValueError(
            f"Prompt + completion {index} is {lengths[index]} tokens, longer than the model's {max_positions} "
            "positions; shorten the completions (max_new_tokens) or drop the long samples."
        )

    warpers = sampled_distribution(model, generation)
    parameters = forward_parameters(model) or set()
    extra = {"use_cache": False} if "use_cache" in parameters else {}
    device = model_device(model)
    was_training = model.training
    model.eval()
    n = len(prompts)
    token_logps: list[np.ndarray | None] = [None] * n
    token_entropies: list[np.ndarray | None] = [None] * n
    order = np.argsort(lengths, kind="stable")
    starts = range(0, n, batch_size)
    try:
        for start in tqdm(starts, desc=desc, disable=not show_progress, unit="batch"):
            indices = order[start : start + batch_size].tolist()
            input_ids, attention_mask = pad_batch(
                [prompt_ids[i] + completion_ids[i] for i in indices], pad_id
            )
            width = input_ids.shape[1]
            counts = [len(completion_ids[i]) for i in indices]
            # Completion token j of a row sits at column len(prompt) + j and is predicted at the column before.
            first = min(len(prompt_ids[i]) for i in indices) - 1
            keep = width - first
            kwargs = dict(extra)
            if "logits_to_keep" in parameters:
                kwargs["logits_to_keep"] = keep  # the LM head runs on the kept columns only
            logits = model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs
            ).logits
            logits = logits[:, logits.shape[1] - keep :]  # column k is position first + k
            rows = torch.repeat_interleave(torch.arange(len(indices)), torch.tensor(counts))
            columns = torch.cat(
                [
                    torch.arange(count) + len(prompt_ids[i]) - 1 - first
                    for i, count in zip(indices, counts, strict=True)
                ]
            )
            targets = torch.tensor([t for i in indices for t in completion_ids[i]], dtype=torch.long)
            selected = logits[rows.to(device), columns.to(device)].float()  # (completion tokens, vocab)
            del logits
            if warpers is not None:  # rows are independent positions: the warpers read the scores only
                selected = warpers(None, selected)
            log_probs = selected.log_softmax(dim=-1)
            del selected
            logps = log_probs.gather(1, targets.to(device).unsqueeze(1)).squeeze(1)
            logps = logps.double().cpu().numpy()
            if entropy:
                # entr(p) = −p log p with entr(0) = 0: a model may rule tokens out with −inf logits.
                entropies = torch.special.entr(log_probs.exp()).sum(dim=-1).double().cpu().numpy()
            offsets = np.cumsum([0, *counts])
            for row, i in enumerate(indices):
                token_logps[i] = logps[offsets[row] : offsets[row + 1]]
                if entropy:
                    token_entropies[i] = entropies[offsets[row] : offsets[row + 1]]
    finally:
        model.train(was_training)
    return CompletionScores(token_logps=token_logps, token_entropies=token_entropies if entropy else None)
