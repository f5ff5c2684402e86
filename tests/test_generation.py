"""Tests for fdpo/generation.py: seeded, batched sampling with left padding."""

from __future__ import annotations

import pytest
import torch

from fdpo.generation import Samples, sample

PROMPTS = ["This movie", "The worst film I have", "A", "I loved every minute of"]


def test_same_seed_same_samples_and_order(tiny_lm):
    model, tokenizer = tiny_lm
    kwargs = dict(num_samples_per_prompt=3, batch_size=5, max_new_tokens=8, show_progress=False)
    first = sample(model, tokenizer, PROMPTS, seed=0, **kwargs)
    assert sample(model, tokenizer, PROMPTS, seed=0, **kwargs) == first
    assert sample(model, tokenizer, PROMPTS, seed=1, **kwargs).completion_ids != first.completion_ids
    assert len(first) == 12
    assert first.prompts == [p for p in PROMPTS for _ in range(3)]
    assert all(
        text == query + completion
        for text, query, completion in zip(first.texts, first.queries, first.completions, strict=False)
    )


def test_left_padding_batched_equals_unbatched(tiny_lm):
    """Greedy decoding in float64: a prompt's continuation must not depend on the other prompts of its batch."""
    model, tokenizer = tiny_lm
    model = model.double()
    kwargs = dict(do_sample=False, max_new_tokens=10, show_progress=False)
    batched = sample(model, tokenizer, PROMPTS, batch_size=len(PROMPTS), **kwargs)
    one_by_one = sample(model, tokenizer, PROMPTS, batch_size=1, **kwargs)
    assert batched.completion_ids == one_by_one.completion_ids
    # and against plain generate on the unpadded prompt
    ids = tokenizer(PROMPTS[1], add_special_tokens=False, return_tensors="pt")["input_ids"]
    direct = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=10,
        pad_token_id=tokenizer.pad_token_id,
    )
    expected = direct[0, ids.shape[1] :].tolist()
    eos = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    cut = next((i for i, t in enumerate(expected) if t in eos), len(expected))
    assert batched.completion_ids[1] == expected[:cut]


def test_notebook_generation_settings_and_template_pass_through(tiny_lm):
    model, tokenizer = tiny_lm
    notebook = dict(
        top_k=50,
        num_beams=5,
        max_length=24,
        early_stopping=True,
        no_repeat_ngram_size=2,
        renormalize_logits=True,
    )
    samples = sample(
        model,
        tokenizer,
        ["great", "bad"],
        prompt_template="Good Review: {prompt}",
        seed=0,
        show_progress=False,
        **notebook,
    )
    assert samples.queries == ["Good Review: great", "Good Review: bad"]
    for query, ids in zip(samples.queries, samples.completion_ids, strict=False):
        prompt_length = len(tokenizer(query, add_special_tokens=False)["input_ids"])
        assert prompt_length + len(ids) <= 24  # max_length counts the prompt
        bigrams = list(zip(ids, ids[1:], strict=False))
        assert len(bigrams) == len(set(bigrams))  # no_repeat_ngram_size=2 reached generate


def test_completions_have_no_pad_or_eos(tiny_lm):
    model, tokenizer = tiny_lm
    with torch.no_grad():  # make end-of-text likely so that early stops happen
        model.get_output_embeddings().weight[tokenizer.eos_token_id] += 0.5
    samples = sample(
        model, tokenizer, PROMPTS, num_samples_per_prompt=4, seed=0, max_new_tokens=12, show_progress=False
    )
    for ids, completion in zip(samples.completion_ids, samples.completions, strict=False):
        assert tokenizer.eos_token_id not in ids and tokenizer.pad_token_id not in ids
        assert tokenizer.pad_token not in completion


def test_save_and_load_round_trip(tiny_lm, tmp_path):
    model, tokenizer = tiny_lm
    samples = sample(model, tokenizer, PROMPTS, seed=0, max_new_tokens=5, show_progress=False)
    path = samples.save(tmp_path / "sub" / "samples.jsonl")
    assert Samples.load(path) == samples
    assert not [p for p in path.parent.iterdir() if p.name != "samples.jsonl"]  # no temporary file left
    path.write_text('{"prompts": "x"}\n')
    with pytest.raises(ValueError, match="samples.jsonl:1 is not a Samples record"):
        Samples.load(path)


def test_bad_input_errors(tiny_lm):
    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="prompts is empty"):
        sample(model, tokenizer, [])
    with pytest.raises(TypeError, match="single string"):
        sample(model, tokenizer, "This movie")
    with pytest.raises(TypeError, match="positions \\[1\\]"):
        sample(model, tokenizer, ["a", 3])
    with pytest.raises(ValueError, match="must contain '\\{prompt\\}'"):
        sample(model, tokenizer, ["a"], prompt_template="Good Review:")
    with pytest.raises(ValueError, match="num_samples_per_prompt"):
        sample(model, tokenizer, ["a"], num_samples_per_prompt=0)
