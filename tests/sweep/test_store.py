"""Tests for fdpo/sweep/store.py: the run folders, the tables regenerated from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdpo._io import read_csv
from fdpo.sweep import RESULT_COLUMNS, RunStore


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_run_store_finished_iff_metrics_exist_and_tables_are_regenerated(tmp_path):
    store = RunStore(tmp_path)
    store.begin("a", {"x": 1})
    assert not store.is_finished("a") and (tmp_path / "runs" / "a" / "config.json").is_file()
    store.finish("a", {"run_id": "a", "divergence": "reverse_kl", "loss_type": "sigmoid", "beta": 0.1, "seed": 0,
                       "reward_logit_mean": 1.0}, [{"completion": "hi"}])  # fmt: skip
    assert store.is_finished("a")
    with pytest.raises(RuntimeError, match="already finished"):
        store.begin("a", {})
    # an unfinished attempt leaves files behind; begin() clears them
    (tmp_path / "runs" / "b").mkdir()
    _write(tmp_path / "runs" / "b" / "generations.jsonl", "stale\n")
    store.begin("b", {"x": 2})
    assert sorted(p.name for p in (tmp_path / "runs" / "b").iterdir()) == ["config.json"]
    store.finish("b", {"run_id": "b", "divergence": "reverse_kl", "loss_type": "sigmoid", "beta": 0.1, "seed": 1,
                       "reward_logit_mean": 3.0})  # fmt: skip
    rows = store.write_tables(order=["b", "a"])
    assert [row["run_id"] for row in rows] == ["b", "a"]
    results = read_csv(tmp_path / "results.csv")
    assert list(results[0])[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    summary = read_csv(tmp_path / "summary.csv")
    assert len(summary) == 1 and summary[0]["n"] == 2 and summary[0]["reward_logit_mean"] == 2.0
