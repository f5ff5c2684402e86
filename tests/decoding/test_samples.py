"""Tests for fdpo/decoding/samples.py: the Samples file format (JSONL, atomic writes, the keys of fdpo 0.1)."""

from __future__ import annotations

import json

import pytest
from _generation_helpers import PROMPTS, QUIET

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
