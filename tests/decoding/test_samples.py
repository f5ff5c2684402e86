"""Tests for fdpo/decoding/samples.py: the Samples file format (JSONL, atomic writes, the keys of fdpo 0.1), and the
stop token each sample records (files written before it still load)."""

from __future__ import annotations

import json

import pytest
from _generation_helpers import PROMPTS, QUIET, likely_eos

from fdpo.decoding import Samples, sample


def test_save_and_load_round_trip(tiny_lm, tmp_path):
    model, tokenizer = tiny_lm
    samples = sample(model, tokenizer, PROMPTS, seed=0, max_new_tokens=5, **QUIET)
    path = samples.save(tmp_path / "sub" / "samples.jsonl")
    assert Samples.load(path) == samples
    assert [p.name for p in path.parent.iterdir()] == ["samples.jsonl"]  # no temporary file left
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert list(records[0]) == [
        "prompt",
        "query",
        "completion",
        "text",
        "completion_ids",
        "stop_id",
    ]  # as in pairs files
    assert [r["completion"] for r in records] == samples.completions
    # a file of fdpo 0.1 (plural keys) is read, with a warning saying how to rewrite it
    old = tmp_path / "old.jsonl"
    plural = {"prompt": "prompts", "query": "queries", "completion": "completions", "text": "texts"}
    old.write_text("".join(json.dumps({plural.get(k, k): v for k, v in r.items()}) + "\n" for r in records))
    with pytest.warns(
        FutureWarning, match=r"old.jsonl has the record keys of fdpo 0.1.*Samples.load\(path\).save"
    ):
        assert Samples.load(old) == samples
    path.write_text('{"prompt": "x"}\n')
    with pytest.raises(ValueError, match="samples.jsonl:1 is not a Samples record"):
        Samples.load(path)
    with pytest.raises(ValueError, match="one entry per sample"):
        Samples(prompts=["a"], queries=[], completions=[], texts=[], completion_ids=[])


def test_samples_record_the_stop_token_that_ended_them(tiny_lm):
    """Each sample keeps the id that ended it: EOS (GPT-2's pad is EOS) right after its completion ids, or None when
    it ran out of tokens; ``sampled_ids`` are the ids as generated, read back from ``model.generate``'s rows."""
    model, tokenizer = likely_eos(*tiny_lm, scale=3.0), tiny_lm[1]
    samples = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=4, seed=0, max_new_tokens=6, **QUIET)
    eos = tokenizer.eos_token_id
    assert set(samples.stop_ids) == {eos, None}  # the tilted EOS ends some samples, not all
    for ids, stop, sampled, finished in zip(
        samples.completion_ids, samples.stop_ids, samples.sampled_ids, samples.finished, strict=True
    ):
        assert eos not in ids
        assert finished == (stop is not None)
        if finished:
            assert sampled == [*ids, eos] and len(sampled) <= 6
        else:
            assert sampled == ids and len(ids) == 6  # max_new_tokens reached
    # fdpo's loop (engine="exact") and model.generate itself draw the same tokens; both record the same stop ids
    exact = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=4, seed=0, max_new_tokens=6,
                   engine="exact", **QUIET)  # fmt: skip
    generated = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=4, seed=0, max_new_tokens=6,
                       engine="generate", **QUIET)  # fmt: skip
    assert exact.sampled_ids == generated.sampled_ids and exact.stop_ids == generated.stop_ids
    assert None in generated.stop_ids and eos in generated.stop_ids


def test_files_without_stop_ids_still_load(tiny_lm, tmp_path):
    """A file written before fdpo recorded the stop token (no ``stop_id`` key) loads with ``stop_ids=None``:
    ``sampled_ids`` falls back to the completion ids alone, ``finished`` is unknown, and it saves back without the
    key. A file with the key in only some records is refused."""
    model, tokenizer = likely_eos(*tiny_lm, scale=3.0), tiny_lm[1]
    samples = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=2, seed=1, max_new_tokens=6, **QUIET)
    path = samples.save(tmp_path / "new.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    old = tmp_path / "old.jsonl"
    old.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "stop_id"}) + "\n" for r in records)
    )
    loaded = Samples.load(old)
    assert loaded.stop_ids is None and loaded.finished is None
    assert loaded.completion_ids == samples.completion_ids
    assert loaded.sampled_ids == samples.completion_ids  # no stop token to append
    assert "stop_ids" not in loaded.to_dict()
    assert Samples.load(loaded.save(tmp_path / "again.jsonl")) == loaded
    assert "stop_id" not in (tmp_path / "again.jsonl").read_text()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(path.read_text().splitlines()[0] + "\n" + old.read_text().splitlines()[1] + "\n")
    with pytest.raises(ValueError, match="1 of its 2 records have a 'stop_id' key"):
        Samples.load(mixed)
    with pytest.raises(ValueError, match="one entry per sample"):
        Samples(
            prompts=["a"], queries=["a"], completions=["b"], texts=["ab"], completion_ids=[[1]], stop_ids=[]
        )
