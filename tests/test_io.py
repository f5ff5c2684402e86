"""Tests for fdpo/_io.py: atomic writes and the JSON/JSONL/CSV round trips every stage relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdpo._io import atomic_open, read_csv, read_json, read_jsonl, write_csv, write_json, write_jsonl


def test_atomic_open_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = write_json(tmp_path / "metrics.json", {"reward": 1.0})
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_open(path) as handle:
            handle.write('{"reward": 2.')  # half a file...
            raise RuntimeError("killed")  # ...then the writer dies
    assert read_json(path) == {"reward": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary file left


def test_atomic_open_refuses_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_json_jsonl_csv_round_trips(tmp_path):
    write_json(tmp_path / "a" / "b.json", {"x": float("nan"), "y": [1, float("inf")], "z": Path("p")})
    assert read_json(tmp_path / "a" / "b.json") == {"x": None, "y": [1, None], "z": "p"}
    records = [{"text": "naïve ☺", "n": 1}, {"text": "two\nlines", "n": 2}]
    write_jsonl(tmp_path / "r.jsonl", records)
    assert read_jsonl(tmp_path / "r.jsonl") == records
    rows = [
        {"name": "alpha:0.3", "beta": 0.01, "seed": 0, "kl": None},
        {"name": "sft", "beta": float("nan"), "seed": 1},
    ]
    write_csv(tmp_path / "t.csv", rows, ["name", "beta", "seed", "kl"])
    assert read_csv(tmp_path / "t.csv") == [
        {"name": "alpha:0.3", "beta": 0.01, "seed": 0, "kl": None},
        {"name": "sft", "beta": None, "seed": 1, "kl": None},
    ]
