"""Tests for fdpo/decoding/sampling.py's ``sample``: seeded, batched sampling with left padding, prompt order and
templates, bad input. fdpo's decoding loop against ``model.generate`` is in test_sampling_engines.py."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from _generation_helpers import PROMPTS, QUIET, GenerateSpy, no_stop

from fdpo.decoding import sample, score_completions


def test_same_seed_same_samples_and_order(tiny_lm):
    model, tokenizer = tiny_lm
    kwargs = dict(num_samples_per_prompt=3, batch_size=4, max_new_tokens=6, **QUIET)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = sample(model, tokenizer, PROMPTS, seed=0, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is left alone
    assert sample(model, tokenizer, PROMPTS, seed=0, **kwargs) == first
    assert sample(model, tokenizer, PROMPTS, seed=1, **kwargs).completion_ids != first.completion_ids
    assert len(first) == 15
    assert first.prompts == [p for p in PROMPTS for _ in range(3)]
    assert first.queries == first.prompts
    for text, query, completion, ids in zip(
        first.texts, first.queries, first.completions, first.completion_ids, strict=True
    ):
        assert text == query + completion
        assert completion == tokenizer.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )


def test_left_padding_batched_equals_unbatched_and_plain_generate(tiny_lm):
    """Greedy decoding in float64: a prompt's continuation must not depend on the other prompts of its batch
    (lengths 0 to 5 tokens, so padding is heavy), and equals generate on the unpadded prompt."""
    model, tokenizer = tiny_lm
    model = model.double()
    kwargs = dict(do_sample=False, max_new_tokens=8, **QUIET)
    batched = sample(model, tokenizer, PROMPTS, batch_size=len(PROMPTS), **kwargs)
    one_by_one = sample(model, tokenizer, PROMPTS, batch_size=1, **kwargs)
    assert batched.completion_ids == one_by_one.completion_ids
    ids = tokenizer(PROMPTS[1], add_special_tokens=False, return_tensors="pt")["input_ids"]
    direct = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=8,
        pad_token_id=tokenizer.pad_token_id,
    )
    expected = direct[0, ids.shape[1] :].tolist()
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    cut = next((i for i, t in enumerate(expected) if t in stop), len(expected))
    assert batched.completion_ids[1] == expected[:cut]


def test_sampled_tokens_log_probs_equal_unbatched_scoring(tiny_lm):
    """Sampling with left padding and the KV cache: the raw log-probs generate saw for every sampled token equal
    those of an unpadded forward pass without cache (score_completions), prompt lengths 0 to 5 in one batch."""
    model, tokenizer = tiny_lm
    spy = GenerateSpy(model, with_logits=True)
    model.generate = spy
    samples = sample(
        model,
        tokenizer,
        PROMPTS,
        batch_size=5,
        seed=0,
        max_new_tokens=6,
        engine="generate",
        **no_stop(tokenizer),
        **QUIET,
    )
    ((input_ids, output),) = spy.outputs
    logits = torch.stack(output.logits, dim=1).double().log_softmax(-1)  # (batch, new tokens, vocab)
    lengths = [len(tokenizer(q, add_special_tokens=False)["input_ids"]) or 1 for q in samples.queries]
    order = sorted(range(len(PROMPTS)), key=lambda i: (lengths[i], i))  # sample() sorts its batch by length
    assert input_ids.shape == (len(PROMPTS), max(lengths))
    scores = score_completions(model, tokenizer, samples.queries, samples.completion_ids)
    for row, index in enumerate(order):
        ids = samples.completion_ids[index]
        during_generation = logits[row, torch.arange(len(ids)), ids].numpy()
        np.testing.assert_allclose(during_generation, scores.token_logps[index], rtol=1e-4, atol=1e-4)


def test_max_length_counts_the_prompt_as_for_a_prompt_alone(tiny_lm):
    """max_length=L gives every sample exactly L − (its prompt length) new tokens when nothing stops it early,
    in a batch of mixed lengths as alone; greedy results equal the unbatched ones."""
    model, tokenizer = tiny_lm
    spy = GenerateSpy(model)
    model.generate = spy
    kwargs = dict(do_sample=False, max_length=20, **no_stop(tokenizer), **QUIET)
    batched = sample(model, tokenizer, PROMPTS, batch_size=5, engine="generate", **kwargs)
    for prompt, ids in zip(PROMPTS, batched.completion_ids, strict=True):
        prompt_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) or 1
        assert len(ids) == 20 - prompt_length
    assert spy.calls and all("max_length" not in call for call in spy.calls)  # max_new_tokens per batch
    assert batched.completion_ids == sample(model, tokenizer, PROMPTS, batch_size=1, **kwargs).completion_ids
    assert batched.completion_ids == sample(model, tokenizer, PROMPTS, batch_size=5, **kwargs).completion_ids


def test_notebook_generation_settings_pass_through(tiny_lm):
    model, tokenizer = tiny_lm
    spy = GenerateSpy(model)
    model.generate = spy
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
        ["great", "bad", ""],
        prompt_template="Good Review: {prompt}",
        seed=0,
        engine="generate",
        **notebook,
        **QUIET,
    )
    assert samples.queries == [
        "Good Review: great",
        "Good Review: bad",
        "Good Review:",
    ]  # rstripped, as the notebook
    for call in spy.calls:
        assert {
            key: call[key] for key in ("top_k", "num_beams", "early_stopping", "no_repeat_ngram_size")
        } == {
            "top_k": 50,
            "num_beams": 5,
            "early_stopping": True,
            "no_repeat_ngram_size": 2,
        }
        assert call["renormalize_logits"] is True and call["do_sample"] is True
        assert call["max_new_tokens"] == 24 - call["input_ids"].shape[1]
    for query, ids in zip(samples.queries, samples.completion_ids, strict=True):
        full = tokenizer(query, add_special_tokens=False)["input_ids"] + ids
        assert len(full) <= 24  # max_length counts the prompt
        bigrams = list(zip(full, full[1:], strict=False))
        assert len(bigrams) == len(set(bigrams))  # no_repeat_ngram_size=2 reached generate


def test_completions_stop_at_eos_and_hold_no_pad(tiny_lm):
    model, tokenizer = tiny_lm
    with torch.no_grad():  # make end-of-text likely so that early stops happen
        model.get_output_embeddings().weight[tokenizer.eos_token_id] += 0.5
    samples = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=4, seed=0, max_new_tokens=12, **QUIET)
    assert any(len(ids) < 12 for ids in samples.completion_ids)
    for ids, completion in zip(samples.completion_ids, samples.completions, strict=True):
        assert tokenizer.eos_token_id not in ids and tokenizer.pad_token_id not in ids
        assert tokenizer.pad_token not in completion and tokenizer.eos_token not in completion


def test_template_and_tokenizer_left_alone(tiny_lm):
    model, tokenizer = tiny_lm
    tokenizer.padding_side = "right"
    before = copy.deepcopy(tokenizer.special_tokens_map), tokenizer.padding_side
    samples = sample(
        model, tokenizer, ["film"], prompt_template="{x} says: {prompt}  ", max_new_tokens=2, seed=0, **QUIET
    )
    assert samples.queries == ["{x} says: film"]  # other braces are literal; trailing spaces dropped
    kept = sample(
        model, tokenizer, ["film"], prompt_template="{prompt} ", rstrip_query=False, max_new_tokens=2, **QUIET
    )
    assert kept.queries == ["film "]
    assert (tokenizer.special_tokens_map, tokenizer.padding_side) == before


def test_bad_input_errors(tiny_lm):
    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="prompts is empty"):
        sample(model, tokenizer, [])
    with pytest.raises(TypeError, match="single string"):
        sample(model, tokenizer, "This movie")
    with pytest.raises(TypeError, match=r"positions \[1\] are not \(first: int\)"):
        sample(model, tokenizer, ["a", 3])
    with pytest.raises(ValueError, match="must contain '\\{prompt\\}'"):
        sample(model, tokenizer, ["a"], prompt_template="Good Review:")
    with pytest.raises(ValueError, match="num_samples_per_prompt must be a positive integer, got 0"):
        sample(model, tokenizer, ["a"], num_samples_per_prompt=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        sample(model, tokenizer, ["a"], batch_size=0)
    with pytest.raises(ValueError, match="pass num_samples_per_prompt instead"):
        sample(model, tokenizer, ["a"], num_return_sequences=2)
    with pytest.raises(ValueError, match="input_ids is built by sample"):
        sample(model, tokenizer, ["a"], input_ids=torch.tensor([[1]]))
    with pytest.raises(ValueError, match=r"max_length=3 counts the prompt"):
        sample(model, tokenizer, ["I loved every minute of"], max_length=3)
