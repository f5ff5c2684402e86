"""Tests for beam search in fdpo's decoding loop (fdpo/decoding/beams.py, streams.py): the beams of a prompt
sharing one cache row give generate's tokens and a cache per beam's logits; the top-k of each row."""

from __future__ import annotations

import pytest
import torch
from _generation_helpers import PROMPTS, QUIET, likely_eos

from fdpo.decoding import sample
from fdpo.decoding.batching import pad_batch
from fdpo.decoding.beams import row_top_k
from fdpo.decoding.streams import BeamTreeStream, beam_cache_logits


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_auto_beam_search_shares_the_cache_and_gives_generates_tokens(tiny_lm, attention, monkeypatch):
    """engine="auto" runs beam search with the beams of a prompt sharing one cache row (BeamTreeStream); without
    sampling nothing is random, so its completions are generate's: 12 to 24 steps (dead cache entries dropped every
    8), left-padded prompts of 0 to 5 tokens, rows ending at EOS, with sdpa and with eager attention."""
    model, tokenizer = tiny_lm
    model.set_attn_implementation(attention)
    likely_eos(model, tokenizer)
    lengths = []  # the shared cache's length before each step
    original_step = BeamTreeStream.step
    monkeypatch.setattr(
        BeamTreeStream, "step", lambda self, *a: lengths.append(self.length) or original_step(self, *a)
    )
    kwargs = dict(
        do_sample=False,
        num_beams=4,
        length_penalty=0.5,
        no_repeat_ngram_size=2,
        min_new_tokens=12,
        max_new_tokens=24,
        batch_size=3,
    )
    auto = sample(model, tokenizer, PROMPTS, engine="auto", **kwargs, **QUIET)
    assert auto == sample(model, tokenizer, PROMPTS, engine="generate", **kwargs, **QUIET)
    assert min(len(ids) for ids in auto.completion_ids) < 24  # EOS ended some
    assert len(lengths) >= 2 * 11 and any(
        b < a for a, b in zip(lengths, lengths[1:], strict=False)
    )  # dropped


def test_beam_tree_stream_gives_the_logits_of_a_cache_per_beam(tiny_lm):
    """BeamTreeStream (one cache row per prompt, ancestor mask, dead entries dropped) against DecodeStream (a row
    per beam, reordered after each step) over 20 steps of random parents and tokens: the same logits up to float
    rounding, for left-padded prompts; the shared cache ends far shorter than one entry per beam a step."""
    model, tokenizer = tiny_lm
    beams, steps = 4, 20
    input_ids, attention_mask = pad_batch(
        [
            tokenizer(p, add_special_tokens=False)["input_ids"] or [tokenizer.bos_token_id]
            for p in PROMPTS[:4]
        ],
        tokenizer.pad_token_id,
        side="left",
    )
    pairs, tree = beam_cache_logits(model, input_ids, attention_mask, beams, steps)
    for shared, own in pairs:
        torch.testing.assert_close(shared, own, rtol=1e-4, atol=1e-5)
    width = input_ids.shape[1]
    assert tree.length < width + beams * steps // 2


@pytest.mark.parametrize(("rows", "width", "k"), [(6, 2000, 50), (5, 999, 13), (3, 50257, 50), (4, 300, 16)])
def test_row_top_k_is_torch_topk(rows, width, k):
    """row_top_k gives the k largest entries of each row (values, and indices pointing at them, distinct), as
    torch.topk does, for widths that do and do not divide into its column sets, with many ties and with -inf."""
    generator = torch.Generator().manual_seed(width)
    for case in ("plain", "ties", "-inf"):
        scores = torch.randn(rows, width, generator=generator)
        if case == "ties":
            scores = scores.round()
        if case == "-inf":
            scores[:, torch.randperm(width, generator=generator)[: width - k // 2]] = float("-inf")
        values, indices = row_top_k(scores, k)
        expected = torch.topk(scores, k).values
        assert torch.equal(values.sort(dim=-1, descending=True).values, expected)
        assert torch.equal(scores.gather(1, indices), values)
        assert all(len(set(row)) == k for row in indices.tolist())
