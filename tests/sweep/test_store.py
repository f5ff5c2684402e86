"""Tests for fdpo/sweep/store.py and fdpo/sweep/stage_files.py: the run folders, their manifests, the tables regenerated from them, the stage
files' checksums and the rule that binds a folder to its config."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from fdpo._io import read_csv, read_json, write_json
from fdpo.sweep import RESULT_COLUMNS, RunStore, SweepConfig, SweepConfigError
from fdpo.sweep.stage_files import STAGE_FILES, StageFiles
from fdpo.sweep.store import IDENTITY_COLUMNS, MANIFEST, check_same_sweep


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


def _row(run_id: str, seed: int = 0, **metrics) -> dict:
    return {"run_id": run_id, "divergence": "reverse_kl", "loss_type": "sigmoid", "beta": 0.1, "seed": seed,
            "reward_logit_mean": 1.0, **metrics}  # fmt: skip


def _identity(run_id: str, seed: int = 0) -> dict:
    return {key: _row(run_id, seed)[key] for key in IDENTITY_COLUMNS}


def _finished_store(tmp_path, shared=None) -> RunStore:
    store = RunStore(tmp_path, shared=shared or {"training": {"learning_rate": 0.1}})
    for seed, run_id in enumerate(("a", "b", "c")):
        store.begin(run_id, {"x": seed})
        store.finish(run_id, _row(run_id, seed), [{"completion": f"text {i}"} for i in range(3)])
    return store


def test_a_run_is_finished_when_its_manifest_verifies(tmp_path):
    store = _finished_store(tmp_path)
    manifest = read_json(tmp_path / "runs" / "a" / MANIFEST)
    assert manifest["run_id"] == "a" and manifest["run"] == _identity("a")
    assert set(manifest["files"]) == {"config.json", "generations.jsonl", "metrics.json"}
    assert all(store.is_finished(run_id) for run_id in "abc")
    assert store.is_finished("b", _identity("b", 1)) and not store.is_finished("b", _identity("b", 2))
    assert "it was run as" in store.problem("b", _identity("b", 2))
    # another shared config (another sweep's folder, or sweep.json replaced): nothing is trusted
    other = RunStore(tmp_path, shared={"training": {"learning_rate": 0.2}})
    assert other.problem("a") == "it was computed with other shared settings than this sweep's (sweep.json)"
    with pytest.raises(ValueError, match="says run_id='x'"):
        store.finish("a", _row("x"))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        # a truncated metrics.json used to fail every rerun with a bare JSONDecodeError
        (lambda d: (d / "metrics.json").write_text('{"run_id": "a", "reward'), "metrics.json does not match its checksum"),
        # cut at a line boundary: still valid JSONL, one generation short; only the checksum can tell
        (lambda d: (d / "generations.jsonl").write_text((d / "generations.jsonl").read_text().split("\n", 1)[1]),
         "generations.jsonl does not match its checksum"),
        (lambda d: (d / "generations.jsonl").unlink(), "generations.jsonl is missing"),
        (lambda d: (d / MANIFEST).write_text('{"run_id": "a", "fi'), f"its {MANIFEST} cannot be read"),
        # killed after metrics.json and before the manifest, or a run written before manifests existed
        (lambda d: (d / MANIFEST).unlink(), "has a metrics.json but no done.json"),
    ],
)  # fmt: skip
def test_a_damaged_run_is_not_finished_and_says_why(tmp_path, damage, reason):
    store = _finished_store(tmp_path)
    damage(tmp_path / "runs" / "a")
    assert not store.is_finished("a") and reason in store.problem("a")
    assert [row["run_id"] for row in store.rows()] == ["b", "c"]
    store.begin("a", {"x": 0})  # the rerun clears what is there
    assert sorted(p.name for p in (tmp_path / "runs" / "a").iterdir()) == ["config.json"]


def test_a_copied_run_folder_is_ignored_with_a_warning_and_never_duplicates_a_row(tmp_path, caplog):
    store = _finished_store(tmp_path)
    shutil.copytree(tmp_path / "runs" / "a", tmp_path / "runs" / "backup")
    expected = {run_id: _identity(run_id, seed) for seed, run_id in enumerate("abc")}
    with caplog.at_level(logging.WARNING, logger="fdpo.sweep"):
        rows = store.write_tables(expected=expected)
        store.write_tables(expected=expected)  # said once, not after every run
    assert [row["run_id"] for row in rows] == ["a", "b", "c"]
    assert [row["run_id"] for row in read_csv(tmp_path / "results.csv")] == ["a", "b", "c"]
    assert read_csv(tmp_path / "summary.csv")[0]["n"] == 3
    (message,) = [record.getMessage() for record in caplog.records]
    assert message == (
        "runs/backup is ignored (not a run of this sweep's grid): its done.json is that of run 'a' (a copied folder?)."
    )


def test_stage_files_that_fail_their_checksum_are_made_again_with_those_after_them(tmp_path, caplog):
    stages = StageFiles(tmp_path)
    for name in STAGE_FILES:
        (tmp_path / name).write_text('{"x": 1}\n{"x": 2}\n')
        stages.record(name)
    assert all(StageFiles(tmp_path).trusted(name) for name in STAGE_FILES)
    (tmp_path / "pairs.jsonl").write_text('{"x": 1}\n')  # one pair short, still valid JSONL
    with caplog.at_level(logging.WARNING, logger="fdpo.sweep"):
        stages = StageFiles(tmp_path)
    assert [stages.trusted(name) for name in STAGE_FILES] == [True, True, False, False]
    assert not (tmp_path / "pairs.jsonl").exists() and not (tmp_path / "pairs_with_ref.jsonl").exists()
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "pairs.jsonl is made again",
        "pairs_with_ref.jsonl is made again",
    ]
    assert [record.getMessage() for record in caplog.records] == [
        "pairs.jsonl is made again: it does not match its checksum in stages.json (truncated or edited).",
        "pairs_with_ref.jsonl is made again: it is made from pairs.jsonl, which is made again.",
    ]


def test_only_a_sweep_with_a_finished_trained_run_binds_its_config(tmp_path):
    """A first attempt that failed before finishing anything must not make the corrected command 'different'."""
    config = SweepConfig.from_dict(
        {"sft_model": "m", "reward_model": "r", "prompts": {"texts": ["p"]}}, check_models=False
    )
    changed = config.with_overrides(["training.learning_rate=0.5"], check_models=False)
    write_json(tmp_path / "sweep.json", {"config": config.to_dict(), "shared": config.shared_dict()})
    store = RunStore(tmp_path, shared=config.shared_dict())
    store.begin("a", {})  # begun, never finished
    store.finish(
        "sft", {"run_id": "sft", "divergence": "sft"}
    )  # the baseline is redone if its settings change
    (tmp_path / "pair_samples.jsonl").write_text("{}\n")  # so are the stages
    check_same_sweep(tmp_path, changed)
    store.finish("a", _row("a"))
    with pytest.raises(SweepConfigError, match=r"different config \(training.learning_rate: None -> 0.5\)"):
        check_same_sweep(tmp_path, changed)
    check_same_sweep(tmp_path, changed, restart=True)


def test_a_store_opened_in_another_process_records_the_digest_of_sweep_json(tmp_path):
    """A worker (a Ray task) opens RunStore(root) without the config: its runs must verify in the sweep's store."""
    shared = {"training": {"learning_rate": 0.1}}
    write_json(tmp_path / "sweep.json", {"config": {}, "shared": shared})
    worker = RunStore(tmp_path)
    worker.begin("a", {})
    worker.finish("a", _row("a"))
    assert RunStore(tmp_path, shared=shared).is_finished("a", _identity("a"))
    assert not RunStore(tmp_path, shared={"training": {"learning_rate": 0.2}}).is_finished("a")


def test_stage_files_made_from_other_settings_are_made_again(tmp_path, caplog):
    shared = {"sft_model": "m", "reward_model": "r", "prompts": {"texts": ["p"]}, "pairs": {"high": 2.0, "seed": 0},
              "training": {"learning_rate": 0.1}}  # fmt: skip
    stages = StageFiles(tmp_path, shared)
    for name in STAGE_FILES:
        (tmp_path / name).write_text('{"x": 1}\n')
        stages.record(name)
    assert all(StageFiles(tmp_path, shared).trusted(name) for name in STAGE_FILES)
    changed = {**shared, "pairs": {"high": 1.0, "seed": 0}}  # samples and scores do not depend on pairs.high
    with caplog.at_level(logging.WARNING, logger="fdpo.sweep"):
        stages = StageFiles(tmp_path, changed)
    assert [stages.trusted(name) for name in STAGE_FILES] == [True, True, False, False]
    assert (
        caplog.records[0]
        .getMessage()
        .startswith(
            "pairs.jsonl is made again: it was made from other settings (it depends on sft_model, prompts"
        )
    )
    changed = {**shared, "pairs": {"high": 2.0, "seed": 1}}  # the seed of the samples is pairs.seed
    assert [StageFiles(tmp_path, changed).trusted(name) for name in STAGE_FILES] == [False] * 4
