"""Batched, seeded sampling from a causal language model."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

__all__ = ["Samples", "sample"]


@dataclass
class Samples:
    """Generations, one entry per sample, in prompt order (each prompt's samples together).

    Attributes:
        prompts: the raw prompt of each sample.
        queries: the prompt after the template, i.e. the text the model was conditioned on.
        completions: the generated text after the query, special tokens removed.
        texts: query + completion.
        completion_ids: the generated token ids, without padding and up to the first end-of-sequence token.
    """

    prompts: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.completions)

    def to_dict(self) -> dict[str, list]:
        return asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes one JSON object per sample (JSONL), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = self.to_dict()
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
        ) as file:
            for row in zip(*columns.values(), strict=True):
                file.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n")
        os.replace(file.name, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Samples:
        samples = cls()
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    for name in ("prompts", "queries", "completions", "texts", "completion_ids"):
                        getattr(samples, name).append(row[name])
                except (json.JSONDecodeError, KeyError) as error:
                    raise ValueError(
                        f"{path}:{number} is not a Samples record ({error}); write it with Samples.save."
                    ) from error
        return samples


def _check_prompts(prompts) -> list[str]:
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, got a single string; wrap it in a list.")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("prompts is empty: give at least one prompt.")
    bad = [index for index, prompt in enumerate(prompts) if not isinstance(prompt, str)]
    if bad:
        raise TypeError(f"prompts must be strings; positions {bad[:10]} are not.")
    return prompts


@torch.no_grad()
def sample(
    model,
    tokenizer,
    prompts,
    *,
    num_samples_per_prompt: int = 1,
    batch_size: int = 32,
    seed: int | None = None,
    prompt_template: str = "{prompt}",
    show_progress: bool = True,
    **generate_kwargs,
) -> Samples:
    """Samples completions for ``prompts`` in batches of similar length, with left padding and the KV cache.

    Args:
        model: a causal LM (``generate`` must work).
        tokenizer: its tokenizer; padding is done on the left whatever its setting.
        prompts: the raw prompts.
        num_samples_per_prompt: completions per prompt.
        batch_size: sequences generated together (beams excluded).
        seed: seeds torch before generation, so the same seed gives the same samples.
        prompt_template: formats each prompt, e.g. ``"Good Review: {prompt}"``.
        show_progress: a tqdm bar over batches.
        **generate_kwargs: passed to ``model.generate`` (``do_sample`` defaults to True; ``max_length`` counts the
            prompt tokens, as in transformers).

    Returns:
        ``Samples`` in prompt order, each prompt's samples together.
    """
    prompts = _check_prompts(prompts)
    if not isinstance(num_samples_per_prompt, int) or num_samples_per_prompt < 1:
        raise ValueError(
            f"num_samples_per_prompt must be a positive integer, got {num_samples_per_prompt!r}."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if "{prompt}" not in prompt_template:
        raise ValueError(f"prompt_template must contain '{{prompt}}', got {prompt_template!r}.")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    generate_kwargs.setdefault("do_sample", True)
    generate_kwargs.setdefault("pad_token_id", tokenizer.pad_token_id)
    if "max_length" not in generate_kwargs and "max_new_tokens" not in generate_kwargs:
        generate_kwargs["max_new_tokens"] = 48

    queries = [prompt_template.format(prompt=prompt) for prompt in prompts]
    encoded = [tokenizer(query, add_special_tokens=False)["input_ids"] for query in queries]
    # Sort by length so each batch pads little; results go back to prompt order.
    jobs = sorted(
        ((index, copy) for index in range(len(prompts)) for copy in range(num_samples_per_prompt)),
        key=lambda job: (len(encoded[job[0]]), job[0], job[1]),
    )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    if seed is not None:
        torch.manual_seed(seed)
    eos_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    results: dict[tuple[int, int], list[int]] = {}
    batches = [jobs[start : start + batch_size] for start in range(0, len(jobs), batch_size)]
    try:
        for batch in tqdm(batches, desc="Sampling", disable=not show_progress, unit="batch"):
            width = max(len(encoded[index]) for index, _ in batch)
            input_ids = torch.full((len(batch), max(width, 1)), tokenizer.pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros_like(input_ids)
            for row, (index, _) in enumerate(batch):
                ids = encoded[index]
                if ids:
                    input_ids[row, width - len(ids) :] = torch.tensor(ids)
                    attention_mask[row, width - len(ids) :] = 1
            if width == 0:  # empty prompts: condition on the BOS token
                input_ids[:, 0] = (
                    tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
                )
                attention_mask[:, 0] = 1
            output = model.generate(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **generate_kwargs
            )
            for row, job in enumerate(batch):
                generated = output[row, input_ids.shape[1] :].tolist()
                cut = next(
                    (position for position, token in enumerate(generated) if token in eos_ids), len(generated)
                )
                results[job] = generated[:cut]
    finally:
        model.train(was_training)

    samples = Samples()
    for index in range(len(prompts)):
        for copy in range(num_samples_per_prompt):
            ids = results[(index, copy)]
            completion = tokenizer.decode(ids, skip_special_tokens=True)
            samples.prompts.append(prompts[index])
            samples.queries.append(queries[index])
            samples.completions.append(completion)
            samples.texts.append(queries[index] + completion)
            samples.completion_ids.append(ids)
    return samples
