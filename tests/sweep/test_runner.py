"""Tests for fdpo/sweep/runner.py: the sweep end to end on the tiny models of tests/conftest.py (a handful of
prompts, two training steps per run): resumability, the lock, the recorded config."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _common import tiny_sweep_training

import fdpo.sweep.runner as runner
from fdpo._io import read_csv, read_json, read_jsonl, write_json
from fdpo.sweep import RESULT_COLUMNS, RunStore, SweepConfig, SweepConfigError, SweepError, run_sweep
from fdpo.sweep.runner import prepare_pairs
from fdpo.sweep.stage_files import pair_stage_folder


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _tiny_sweep_config(model_dir: str, classifier_dir: str, **grid) -> SweepConfig:
    return SweepConfig.from_dict(
        {
            "name": "tiny",
            "sft_model": model_dir,
            "reward_model": classifier_dir,
            "prompts": {"texts": ["This movie was", "The cast is", "I loved", "The worst film"]},
            "generation": {"max_new_tokens": 6, "do_sample": True, "top_k": 0},
            "pairs": {"samples_per_prompt": 4, "strategy": "best_vs_worst", "batch_size": 16},
            "training": tiny_sweep_training(),
            "grid": {
                "divergences": ["reverse_kl", "jensen_shannon"],
                "betas": [0.1],
                "seeds": [0, 1],
                **grid,
            },
            # rarefied to 3 bigrams: eight completions of up to six byte-level tokens hold a few word bigrams, not 200
            "evaluation": {
                "samples_per_prompt": 2,
                "batch_size": 8,
                "num_saved_generations": 3,
                "rarefy_ngrams": 8,
            },
        }
    )


class _CountingTrainer:
    """Wraps runner.train_policy: counts calls and raises on the call numbered ``fail_on``."""

    def __init__(self, fail_on: int | None = None):
        self.calls: list[str] = []
        self.fail_on = fail_on
        self.real = runner.train_policy

    def __call__(self, model, tokenizer, pairs, args, **kwargs):
        self.calls.append(args.output_dir)
        if len(self.calls) == self.fail_on:
            raise KeyboardInterrupt("simulated crash in the middle of a run")
        return self.real(model, tokenizer, pairs, args, **kwargs)


@pytest.mark.slow
def test_sweep_resumes_after_a_crash_without_retraining_or_duplicates(
    tiny_model_dir, tiny_classifier_dir, tmp_path, monkeypatch
):
    config = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir)
    output = tmp_path / "sweep"
    crashing = _CountingTrainer(fail_on=2)
    monkeypatch.setattr(runner, "train_policy", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, output, show_progress=False)
    runs = [run.run_id for run in config.runs()]
    store = RunStore(output)
    assert store.is_finished("sft") and store.is_finished(runs[0])
    assert (output / "runs" / runs[1] / "config.json").is_file() and not store.is_finished(runs[1])
    assert [row["run_id"] for row in read_csv(output / "results.csv")] == ["sft", runs[0]]
    first_metrics = (output / "runs" / runs[0] / "metrics.json").read_bytes()
    # a kill -9 during a later write leaves at most a temporary file behind
    _write(output / "runs" / runs[1] / ".metrics.json.abc.tmp", '{"half": ')

    resumed = _CountingTrainer()
    monkeypatch.setattr(runner, "train_policy", resumed)
    rows = run_sweep(config, output, show_progress=False)
    assert len(resumed.calls) == len(runs) - 1  # the finished run was not retrained
    assert all(runs[0] not in call for call in resumed.calls)
    assert [row["run_id"] for row in rows] == ["sft", *runs]
    results = read_csv(output / "results.csv")
    assert [row["run_id"] for row in results] == ["sft", *runs]  # each run once, in grid order
    assert (output / "runs" / runs[0] / "metrics.json").read_bytes() == first_metrics
    assert not list((output / "runs" / runs[1]).glob(".*tmp"))

    for row in results[1:]:
        for column in RESULT_COLUMNS[5:]:
            if column == "distinct_2_rarefied" and row[column] is None:
                continue  # the tiny model's completions hold fewer word bigrams than the 200 it rarefies to
            assert isinstance(row[column], float) and math.isfinite(row[column]), (row["run_id"], column)
    baseline = results[0]
    assert (
        baseline["divergence"] == "sft" and baseline["kl_to_ref"] == 0.0 and baseline["train_seconds"] is None
    )
    summary = read_csv(output / "summary.csv")
    assert [(row["divergence"], row["n"]) for row in summary] == [
        ("sft", 1),
        ("reverse_kl", 2),
        ("jensen_shannon", 2),
    ]
    assert (output / "tradeoff.png").read_bytes().startswith(b"\x89PNG")
    generations = read_jsonl(output / "runs" / runs[0] / "generations.jsonl")
    assert len(generations) == 3 and {"prompt", "query", "completion", "reward_logit", "reward_prob"} <= set(
        generations[0]
    )
    run_config = read_json(output / "runs" / runs[2] / "config.json")
    assert run_config["run"]["run_id"] == runs[2] and run_config["training"]["max_steps"] == 2
    with_ref = read_jsonl(pair_stage_folder(output, "per_seed", 0) / "pairs_with_ref.jsonl")
    assert with_ref and {"ref_chosen_logps", "ref_rejected_logps"} <= set(with_ref[0])

    # a third run has nothing left to do: no training, no model loaded
    untouched = _CountingTrainer()
    monkeypatch.setattr(runner, "train_policy", untouched)
    monkeypatch.setattr(
        runner, "load_causal_lm", lambda *a, **k: pytest.fail("model loaded for a finished sweep")
    )
    assert [row["run_id"] for row in run_sweep(config, output, show_progress=False)] == ["sft", *runs]
    assert untouched.calls == []

    # growing the grid runs only the new cells; changing shared settings is refused
    monkeypatch.undo()
    bigger = config.with_overrides(["grid.seeds=[0,1,2]"])
    counting = _CountingTrainer()
    monkeypatch.setattr(runner, "train_policy", counting)
    rows = run_sweep(bigger, output, show_progress=False)
    assert len(counting.calls) == 2 and len(rows) == 1 + 6
    changed = config.with_overrides(["training.learning_rate=0.5"])
    with pytest.raises(SweepConfigError, match=r"different config \(training.learning_rate: 0.01 -> 0.5\)"):
        run_sweep(changed, output, show_progress=False)


def test_sweep_refuses_a_concurrent_sweep_in_the_same_directory(
    tmp_path, tiny_model_dir, tiny_classifier_dir
):
    fcntl = pytest.importorskip("fcntl")
    config = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir)
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(RuntimeError, match="Another sweep is running"):
            run_sweep(config, tmp_path / "out", show_progress=False)


def test_sweep_json_records_the_config(tmp_path, tiny_model_dir, tiny_classifier_dir, monkeypatch):
    """Only the stage that ran is asserted: the config is written before any model work."""
    config = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir)
    monkeypatch.setattr(runner, "evaluate_policy", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, tmp_path, show_progress=False)
    recorded = json.loads((tmp_path / "sweep.json").read_text())
    assert SweepConfig.from_dict(recorded["config"]).to_dict() == config.to_dict()
    assert recorded["shared"] == config.shared_dict()
    assert os.path.isfile(tmp_path / "runs" / "sft" / "config.json")
    import torch

    (machine,) = json.loads((tmp_path / "machine.json").read_text())  # the machine, before any model work
    assert machine["threads"] == torch.get_num_threads() and machine["versions"]["torch"] == torch.__version__


# ----------------------------------------------------------------------------------------------------------------
# Resume trusts only what it verified. The heavy stages are replaced by fakes: what is tested is which runs the
# runner redoes, what it tells the user and what ends up in the tables.

_KILLED_WRITER = """
import os, sys
from fdpo._io import atomic_open
with atomic_open(sys.argv[1]) as handle:
    handle.write("half a file")
    handle.flush()
    os._exit(9)
"""


class _FakeStages:
    """Stand-ins for pair preparation, training and evaluation: they record the runs trained."""

    def __init__(self, monkeypatch):
        self.trained: list[str] = []
        monkeypatch.setattr(runner, "prepare_pairs", lambda *a, **k: "pairs")
        monkeypatch.setattr(runner, "train_policy", self.train)
        monkeypatch.setattr(runner, "evaluate_policy", self.evaluate)

    def train(self, model, tokenizer, pairs, args, **kwargs):
        self.trained.append(Path(args.output_dir).parent.name)
        return model, 0.5, [{"loss": 0.1}]

    def evaluate(self, policy, tokenizer, reward, prompts, *, seed, **kwargs):
        generations = [
            {"prompt": p, "completion": f"text {i}", "reward_logit": 1.0} for i, p in enumerate(prompts)
        ]
        return {"reward_logit_mean": 1.0 + seed, "kl_to_ref": 0.0}, generations


def test_resume_reruns_damaged_runs_ignores_copies_and_removes_stale_temp_files(
    tmp_path, tiny_model_dir, tiny_classifier_dir, monkeypatch, caplog
):
    config = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir)
    runs = [run.run_id for run in config.runs()]
    stages = _FakeStages(monkeypatch)
    output = tmp_path / "sweep"
    run_sweep(config, output, show_progress=False, write_report_files=False)
    assert stages.trained == runs
    runs_dir = output / "runs"
    (runs_dir / runs[0] / "metrics.json").write_text('{"run_id": "' + runs[0] + '", "rew')  # truncated
    generations = runs_dir / runs[1] / "generations.jsonl"
    generations.write_text("".join(generations.read_text().splitlines(keepends=True)[:-1]))  # a line short
    shutil.copytree(runs_dir / runs[2], runs_dir / "backup")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for destination in (output / "results.csv", runs_dir / runs[3] / "metrics.json"):
        subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(destination)], env=env, check=False)
    assert len(list(output.rglob(".*.tmp"))) == 2

    stages.trained.clear()
    with caplog.at_level(logging.WARNING, logger="fdpo.sweep"):
        rows = run_sweep(config, output, show_progress=False, write_report_files=False)
    assert stages.trained == runs[:2]  # only the damaged runs, once each
    messages = sorted(record.getMessage() for record in caplog.records)
    assert messages == sorted([
        f"runs/{runs[0]} is run again: metrics.json does not match its checksum in done.json (truncated or edited "
        "after the run).",
        f"runs/{runs[1]} is run again: generations.jsonl does not match its checksum in done.json (truncated or "
        "edited after the run).",
        f"runs/backup is ignored (not a run of this sweep's grid): its done.json is that of run '{runs[2]}' (a "
        "copied folder?).",
    ])  # fmt: skip
    assert [row["run_id"] for row in rows] == ["sft", *runs]
    assert [row["run_id"] for row in read_csv(output / "results.csv")] == ["sft", *runs]
    assert [row["n"] for row in read_csv(output / "summary.csv")] == [1, 2, 2]
    assert list(output.rglob(".*.tmp")) == []
    assert read_json(runs_dir / runs[0] / "metrics.json")["run_id"] == runs[0]

    # a run recorded as another grid cell (β changed by hand in a copied config) is redone, not trusted
    stages.trained.clear()
    manifest = read_json(runs_dir / runs[3] / "done.json")
    manifest["run"]["beta"] = 0.2
    write_json(runs_dir / runs[3] / "done.json", manifest)
    run_sweep(config, output, show_progress=False, write_report_files=False)
    assert stages.trained == [runs[3]]


def test_a_failed_first_attempt_does_not_bind_the_corrected_command(
    tmp_path, tiny_model_dir, tiny_classifier_dir, monkeypatch
):
    """sweep.json is written after the checks; until a run or stage finishes, a corrected config may replace it."""
    config = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir)
    monkeypatch.setattr(
        runner, "evaluate_policy", lambda *a, **k: (_ for _ in ()).throw(MemoryError("too big"))
    )
    with pytest.raises(MemoryError):
        run_sweep(config, tmp_path, show_progress=False)
    assert (tmp_path / "sweep.json").is_file()
    stages = _FakeStages(monkeypatch)
    corrected = config.with_overrides(["evaluation.batch_size=2"])
    run_sweep(corrected, tmp_path, show_progress=False, write_report_files=False)
    assert read_json(tmp_path / "sweep.json")["shared"] == corrected.shared_dict()
    assert len(stages.trained) == len(config.runs())


def test_a_refused_config_leaves_no_folder_behind(tmp_path, tiny_model_dir, tiny_classifier_dir):
    config = SweepConfig.from_dict(
        {
            **_tiny_sweep_config(tiny_model_dir, tiny_classifier_dir).to_dict(),
            "training": {"learning_rate": "abc"},
        },
        validate=False,
    )
    with pytest.raises(SweepConfigError, match="training.learning_rate='abc' must be a finite number > 0"):
        run_sweep(config, tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SweepError, match="is a file"):
        run_sweep(
            _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir), tmp_path / "file", show_progress=False
        )


def test_no_pairs_then_the_corrected_pair_settings_reuse_the_samples(
    tmp_path, tiny_model_dir, tiny_classifier_dir, monkeypatch
):
    """A first attempt that found no pairs keeps its samples and scores; the corrected command is not 'a different
    config' (no trained run finished) and redoes only the pairs and what follows."""
    impossible = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir).with_overrides(
        ["pairs.strategy=threshold", "pairs.high=100", "pairs.low=99", "reuse_reference_log_probs=false"]
    )
    fakes = _FakeStages(monkeypatch)
    monkeypatch.setattr(runner, "prepare_pairs", prepare_pairs)  # the real one
    sampled = []
    real_generate = runner.generate_samples
    monkeypatch.setattr(
        runner, "generate_samples", lambda *a, **k: sampled.append(1) or real_generate(*a, **k)
    )
    with pytest.raises(SweepError, match="No preference pairs"):
        run_sweep(impossible, tmp_path, show_progress=False, write_report_files=False)
    first_draw = pair_stage_folder(tmp_path, "per_seed", 0)  # the sweep stopped at seed 0's pairs
    assert (first_draw / "pair_scores.json").is_file() and not (first_draw / "pairs.jsonl").exists()
    corrected = impossible.with_overrides(["pairs.strategy=best_vs_worst"])
    rows = run_sweep(corrected, tmp_path, show_progress=False, write_report_files=False)
    assert len(sampled) == 2  # seed 0's samples of the first attempt were reused; seed 1 drew its own
    assert len(fakes.trained) == len(corrected.runs()) and len(rows) == 1 + len(corrected.runs())


@pytest.mark.parametrize("draw", ["per_seed", "shared"])
def test_each_seed_trains_on_its_own_pair_draw(
    tmp_path, tiny_model_dir, tiny_classifier_dir, monkeypatch, draw
):
    """per_seed: seed s's runs train on the pairs in pairs/seed-<s>, from SFT samples drawn with
    config.pair_sampling_seed(s), shared by every configuration of that seed; shared: one set in the sweep folder."""
    config = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir).with_overrides([f"pairs.draw={draw}"])
    fakes = _FakeStages(monkeypatch)
    monkeypatch.setattr(runner, "prepare_pairs", prepare_pairs)  # the real one
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(
        runner,
        "train_policy",
        lambda model, tokenizer, pairs, args, **k: (
            seen.setdefault(Path(args.output_dir).parent.name, list(pairs["chosen"]))
            and fakes.train(model, tokenizer, pairs, args)
        ),
    )
    sampling_seeds = []
    real_generate = runner.generate_samples
    monkeypatch.setattr(
        runner,
        "generate_samples",
        lambda *a, seed, **k: sampling_seeds.append(seed) or real_generate(*a, seed=seed, **k),
    )
    run_sweep(config, tmp_path, show_progress=False, write_report_files=False)
    chosen = {}
    for seed in (0, 1):
        folder = pair_stage_folder(tmp_path, draw, seed)
        chosen[seed] = [pair["chosen"] for pair in read_jsonl(folder / "pairs_with_ref.jsonl")]
        for run in config.runs():
            if run.seed == seed:
                assert seen[run.run_id] == chosen[seed], run.run_id
    if draw == "shared":
        assert sampling_seeds == [config.pairs.seed] and not (tmp_path / "pairs").exists()
        assert chosen[0] == chosen[1]
    else:
        assert sampling_seeds == [config.pair_sampling_seed(0), config.pair_sampling_seed(1)]
        assert chosen[0] != chosen[1]  # another draw of SFT samples gives other pairs
        assert not (tmp_path / "pairs.jsonl").exists()


def test_pair_sampling_seeds_are_distinct_across_runs_and_pair_seeds(tiny_model_dir, tiny_classifier_dir):
    config = _tiny_sweep_config(tiny_model_dir, tiny_classifier_dir)
    assert config.pairs.draw == "per_seed"
    seeds = {
        (pair_seed, run_seed): config.with_overrides([f"pairs.seed={pair_seed}"]).pair_sampling_seed(run_seed)
        for pair_seed in range(4)
        for run_seed in range(4)
    }
    assert len(set(seeds.values())) == len(seeds)  # pairs.seed=1 is not seeds shifted by one
    assert all(0 <= seed < 2**32 for seed in seeds.values())
    shared = config.with_overrides(["pairs.draw=shared", "pairs.seed=7"])
    assert {shared.pair_sampling_seed(run_seed) for run_seed in range(3)} == {7}
    assert [config.pair_draw(s) for s in (0, 3)] == [0, 3] and shared.pair_draw(3) is None
    with pytest.raises(SweepConfigError, match="pairs.draw='each' is unknown; use one of per_seed, shared"):
        config.with_overrides(["pairs.draw=each"])
