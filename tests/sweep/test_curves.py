"""Tests for a sweep's curves and controls: ``evaluation.checkpoints`` (each run evaluated during training, curves.csv),
``evaluation.control_temperatures`` (the SFT model of every seed at other temperatures, controls.csv),
``evaluation.prompt_draw`` (per-seed evaluation prompts) and ``world_seed`` (the demo world rebuilt from another seed),
on the tiny models of tests/conftest.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _common import tiny_sweep_training
from datasets import Dataset

import fdpo.sweep.runner as runner
from fdpo._io import read_csv, read_jsonl
from fdpo.errors import InputError
from fdpo.pipeline import compute_reference_log_probs, evaluate_policy, load_causal_lm, train_policy
from fdpo.report.study import CONTROLS_FILE, CURVES_FILE, judge_study
from fdpo.settings import METRIC_COLUMNS, EvaluationSettings
from fdpo.sweep import RunSpec, SweepConfig, SweepConfigError, run_sweep

PROMPTS = ["This movie was", "The cast is", "I loved", "The worst film", "A fine film", "The plot"]


def _data(model_dir: str, classifier_dir: str, evaluation=None, **top) -> dict:
    return {
        "name": "tiny curves",
        "sft_model": model_dir,
        "reward_model": classifier_dir,
        "prompts": {"texts": PROMPTS[:4]},
        "generation": {"max_new_tokens": 6, "do_sample": True, "top_k": 0},
        "pairs": {"samples_per_prompt": 4, "strategy": "best_vs_worst", "batch_size": 16},
        "training": tiny_sweep_training(lr_scheduler_type="constant"),
        "grid": {"divergences": ["reverse_kl", "jensen_shannon"], "betas": [0.1], "seeds": [0, 1]},
        "evaluation": {
            "samples_per_prompt": 2,
            "batch_size": 8,
            "num_saved_generations": 4,
            **(evaluation or {}),
        },
        **top,
    }


# ----------------------------------------------------------------------------------------------------------------
# The config's checks


def test_a_checkpoint_beyond_max_steps_is_refused_by_the_config_check(tiny_model_dir, tiny_classifier_dir):
    with pytest.raises(
        SweepConfigError,
        match=r"evaluation.checkpoints has step\(s\) \[3\] beyond a run's last step, 2 \(training.max_steps=2\)",
    ):
        SweepConfig.from_dict(_data(tiny_model_dir, tiny_classifier_dir, {"checkpoints": [1, 3]}))
    assert SweepConfig.from_dict(_data(tiny_model_dir, tiny_classifier_dir, {"checkpoints": [2, 1]}))


def test_an_epoch_run_checkpoint_beyond_what_num_pairs_allows_is_refused(tiny_model_dir, tiny_classifier_dir):
    """8 pairs at most, batches of 4, 2 epochs: at most ceil(8/4) × 2 = 4 steps."""
    data = _data(tiny_model_dir, tiny_classifier_dir, {"checkpoints": [2, 5]})
    data["training"] = {
        "per_device_train_batch_size": 4,
        "num_train_epochs": 2,
        "gradient_checkpointing": False,
    }
    data["pairs"]["num_pairs"] = 8
    with pytest.raises(SweepConfigError, match=r"\[5\] beyond a run's last step, 4 \(at most 8 pairs"):
        SweepConfig.from_dict(data)
    data["evaluation"]["checkpoints"] = [2, 4]
    assert SweepConfig.from_dict(data)
    del data["pairs"]["num_pairs"]  # the pairs decide: checked when a run starts training
    data["evaluation"]["checkpoints"] = [2, 50]
    assert SweepConfig.from_dict(data)


@pytest.mark.parametrize(
    ("evaluation", "message"),
    [
        ({"checkpoints": [0, 2]}, r"evaluation.checkpoints must be a list of positive integers"),
        ({"checkpoints": 2}, r"evaluation.checkpoints must be a list of positive integers"),
        ({"checkpoints": [1, 1]}, r"lists a step twice"),
        (
            {"control_temperatures": [0.0]},
            r"evaluation.control_temperatures must be a list of positive numbers",
        ),
        ({"control_temperatures": [0.8, 0.8]}, r"lists a temperature twice"),
        ({"prompt_draw": "per_seed"}, r"prompt_draw=per_seed .* evaluation.max_prompts is not set"),
        ({"prompt_draw": "each"}, r"evaluation.prompt_draw='each' is unknown; use one of fixed, per_seed"),
    ],
)
def test_bad_curve_and_control_settings_are_refused(evaluation, message):
    assert any(__import__("re").search(message, p) for p in EvaluationSettings(**evaluation).problems())


def test_controls_need_sampling(tiny_model_dir, tiny_classifier_dir):
    data = _data(tiny_model_dir, tiny_classifier_dir, {"control_temperatures": [0.5]})
    data["generation"]["do_sample"] = False
    with pytest.raises(SweepConfigError, match=r"decodes without sampling \(do_sample: false\)"):
        SweepConfig.from_dict(data)


def test_world_seed_needs_a_seeded_world(tiny_model_dir, tiny_classifier_dir):
    with pytest.raises(SweepConfigError, match=r"world_seed=3 needs a world to build"):
        SweepConfig.from_dict(_data(tiny_model_dir, tiny_classifier_dir, world_seed=3))
    with pytest.raises(SweepConfigError, match=r"world_seed must be integers"):
        SweepConfig.from_dict({"demo": "quick", "world_seed": "3"}, check_models=False)
    assert SweepConfig.from_dict({"demo": "quick", "world_seed": 3}, check_models=False).world_seed == 3


# ----------------------------------------------------------------------------------------------------------------
# Per-seed evaluation prompts


def test_evaluation_prompts_fixed_or_drawn_per_seed(tiny_model_dir, tiny_classifier_dir):
    fixed = SweepConfig.from_dict(_data(tiny_model_dir, tiny_classifier_dir, {"max_prompts": 3}))
    assert (
        runner.evaluation_prompts(fixed, PROMPTS)
        == PROMPTS[:3]
        == runner.evaluation_prompts(fixed, PROMPTS, 7)
    )
    per_seed = fixed.with_overrides(["evaluation.prompt_draw=per_seed"])
    draws = {seed: runner.evaluation_prompts(per_seed, PROMPTS, seed) for seed in range(6)}
    for draw in draws.values():
        assert len(draw) == 3 and draw == [p for p in PROMPTS if p in draw]  # a subset, in the pool's order
    assert draws[0] == runner.evaluation_prompts(per_seed, PROMPTS, 0)  # a seed always draws the same
    assert len({tuple(draw) for draw in draws.values()}) > 1
    with pytest.raises(SweepConfigError, match="name the seed"):
        runner.evaluation_prompts(per_seed, PROMPTS)
    with pytest.raises(
        SweepConfigError, match=r"max_prompts=3 of the 3 evaluation prompts .* every seed would get"
    ):
        runner.evaluation_prompts(per_seed, PROMPTS[:3], 0)


def test_a_per_seed_draw_of_every_prompt_is_refused_before_the_folder_exists(
    tmp_path, tiny_model_dir, tiny_classifier_dir
):
    data = _data(tiny_model_dir, tiny_classifier_dir, {"prompt_draw": "per_seed", "max_prompts": 4})
    with pytest.raises(SweepConfigError, match=r"max_prompts=4 of the 4 evaluation prompts"):
        run_sweep(SweepConfig.from_dict(data), tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints in training


def _tiny_pairs() -> Dataset:
    prompts = ["This movie was", "The cast is", "I loved", "The worst film"]
    chosen = [" great and fun.", " superb.", " every minute.", " I have seen"]
    rejected = [" terrible.", " awful and cheap.", " nothing at all", " ever, dull."]
    return Dataset.from_dict({"prompt": prompts * 2, "chosen": chosen * 2, "rejected": rejected * 2})


def _without_seconds(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if not key.endswith("_seconds")}


def test_checkpoint_evaluation_is_exact_and_leaves_training_unchanged(
    tiny_model_dir, tiny_classifier_dir, tmp_path
):
    """Three steps over 8 pairs in batches of 4 (the second epoch's shuffle draws from the random state after the
    checkpoints' sampling), a constant learning rate: the policy trained with checkpoint evaluations has the weights
    of one trained without them, and its checkpoint at the last step measures exactly as the final policy."""
    from fdpo.pipeline import load_reward_model
    from fdpo.settings import RewardSettings

    model, tokenizer = load_causal_lm(tiny_model_dir)
    reward = load_reward_model(tiny_classifier_dir, RewardSettings(), "cpu")
    config = SweepConfig(
        sft_model=tiny_model_dir,
        reward_model=tiny_classifier_dir,
        training=tiny_sweep_training(max_steps=3, lr_scheduler_type="constant"),
    )
    run = RunSpec("jensen_shannon", "sigmoid", 0.5, 0)
    pairs = compute_reference_log_probs(
        model, tokenizer, _tiny_pairs(), config.fdpo_config(run, tmp_path / "r")
    )
    settings = EvaluationSettings(samples_per_prompt=2, batch_size=8)
    generation = {"max_new_tokens": 6, "do_sample": True, "top_k": 0}

    def evaluate(policy):
        metrics, _ = evaluate_policy(
            policy, tokenizer, reward, PROMPTS, reference=model, settings=settings, generation=generation,
            seed=run.seed, show_progress=False,
        )  # fmt: skip
        return _without_seconds(metrics)

    curve = {}
    policy, _, history = train_policy(
        model, tokenizer, pairs, config.fdpo_config(run, tmp_path / "a"),
        checkpoints=[1, 3], on_checkpoint=lambda step, p: curve.setdefault(step, (p.training, evaluate(p))),
    )  # fmt: skip
    plain, _, plain_history = train_policy(model, tokenizer, pairs, config.fdpo_config(run, tmp_path / "b"))
    assert sorted(curve) == [1, 3] and not any(
        training for training, _ in curve.values()
    )  # handed over in eval mode
    assert [e["loss"] for e in history if "loss" in e] == [e["loss"] for e in plain_history if "loss" in e]
    for a, b in zip(policy.parameters(), plain.parameters(), strict=True):
        assert a.equal(b)
    final = evaluate(policy)
    assert curve[3][1] == final  # the last checkpoint is the final policy, measure for measure
    assert curve[1][1] != final and curve[1][1]["kl_to_ref"] != final["kl_to_ref"]


def test_an_epoch_run_refuses_a_checkpoint_beyond_its_last_step_before_training(tiny_model_dir, tmp_path):
    model, tokenizer = load_causal_lm(tiny_model_dir)
    training = {k: v for k, v in tiny_sweep_training().items() if k != "max_steps"}
    config = SweepConfig(
        sft_model=tiny_model_dir, reward_model=tiny_model_dir, training={**training, "num_train_epochs": 1}
    )
    run = RunSpec("reverse_kl", "sigmoid", 0.1, 0)
    pairs = compute_reference_log_probs(
        model, tokenizer, _tiny_pairs(), config.fdpo_config(run, tmp_path / "r")
    )
    called = []
    with pytest.raises(InputError, match=r"\[5\] lie beyond the run's last step, 2 \(8 pairs, 1 epoch\(s\)"):
        train_policy(
            model, tokenizer, pairs, config.fdpo_config(run, tmp_path / "a"),
            checkpoints=[1, 5], on_checkpoint=lambda step, policy: called.append(step),
        )  # fmt: skip
    assert called == []  # refused before the first step


# ----------------------------------------------------------------------------------------------------------------
# A sweep with curves and controls, end to end


def _metrics_equal(a: dict, b: dict, columns) -> None:
    for column in columns:
        x, y = a.get(column), b.get(column)
        assert x == y or (isinstance(x, float) and math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)), column


@pytest.mark.slow
def test_a_sweep_writes_curves_and_controls_and_resumes_without_redoing_them(
    tmp_path, tiny_model_dir, tiny_classifier_dir, monkeypatch
):
    evaluation = {
        "checkpoints": [1, 2],
        "control_temperatures": [0.5],
        "prompt_draw": "per_seed",
        "max_prompts": 3,
    }
    config = SweepConfig.from_dict(_data(tiny_model_dir, tiny_classifier_dir, evaluation))
    output = tmp_path / "sweep"
    calls = []
    evaluate = runner.evaluate_policy
    monkeypatch.setattr(runner, "evaluate_policy", lambda *a, **k: calls.append(1) or evaluate(*a, **k))
    rows = run_sweep(config, output, show_progress=False, write_report_files=False)
    runs = [run.run_id for run in config.runs()]
    # the SFT row, seed 1 at T = 1 and both seeds at 0.5, then two checkpoints per run: the one at the last step is
    # the final policy's evaluation, not made twice
    assert len(calls) == 1 + 3 + 2 * len(runs)
    results = {row["run_id"]: row for row in read_csv(output / "results.csv")}
    assert list(results) == ["sft", *runs]

    curves = read_csv(output / CURVES_FILE)
    columns = list(curves[0])
    assert columns[:6] == ["run_id", "divergence", "loss_type", "beta", "seed", "step"]
    assert columns[6 : 6 + len(METRIC_COLUMNS)] == list(METRIC_COLUMNS)
    assert [(row["run_id"], row["step"]) for row in curves] == [
        (run, step) for run in runs for step in (0, 1, 2)
    ]
    measures = [c for c in columns[6:] if not c.endswith("_seconds")]
    by_key = {(row["run_id"], row["step"]): row for row in curves}
    for run in config.runs():
        # the last checkpoint is the last step: it measures as the final policy of results.csv
        _metrics_equal(by_key[run.run_id, 2], results[run.run_id], measures)
        assert by_key[run.run_id, 0]["kl_to_ref"] == 0.0 and by_key[run.run_id, 1]["kl_to_ref"] > 0
        assert by_key[run.run_id, 0]["beta"] == 0.1 and by_key[run.run_id, 0]["divergence"] == run.divergence
    # step 0 is the SFT model of the run's seed: the baseline row for the first seed, its own evaluation otherwise
    _metrics_equal(by_key[runs[0], 0], results["sft"], measures)
    seed_0 = [row for row in curves if row["step"] == 0 and row["seed"] == 0]
    seed_1 = [row for row in curves if row["step"] == 0 and row["seed"] == 1]
    assert seed_0[0]["reward_logit_mean"] != seed_1[0]["reward_logit_mean"]
    assert all(row["reward_logit_mean"] == seed_1[0]["reward_logit_mean"] for row in seed_1)

    controls = read_csv(output / CONTROLS_FILE)
    assert [(row["seed"], row["temperature"]) for row in controls] == [(0, 0.5), (0, 1.0), (1, 0.5), (1, 1.0)]
    _metrics_equal(controls[1], results["sft"], measures)
    _metrics_equal(controls[3], seed_1[0], measures)
    assert controls[0]["token_entropy"] != controls[1]["token_entropy"]

    # each seed's runs (and its SFT evaluations) were evaluated on that seed's own draw of prompts
    prompts = {seed: runner.evaluation_prompts(config, PROMPTS[:4], seed) for seed in (0, 1)}
    assert prompts[0] != prompts[1]
    for run in config.runs():
        generations = read_jsonl(output / "runs" / run.run_id / "generations.jsonl")
        assert {g["prompt"] for g in generations} <= set(prompts[run.seed])
    for seed, temperature in ((1, 1.0), (0, 0.5), (1, 0.5)):
        folder = output / "sft_evaluations" / "runs" / f"seed-{seed}_T-{temperature!r}"
        assert {g["prompt"] for g in read_jsonl(folder / "generations.jsonl")} <= set(prompts[seed])
    assert len(rows) == 1 + len(runs)

    # the report's judgement reads them as they are
    study = judge_study(curves, controls)
    assert study.control_temperature == 0.5 and study.seeds == [0, 1]

    # a rerun trains and evaluates nothing, and writes the same tables
    before = {name: (output / name).read_bytes() for name in (CURVES_FILE, CONTROLS_FILE)}
    monkeypatch.setattr(runner, "train_policy", lambda *a, **k: pytest.fail("a finished run was retrained"))
    monkeypatch.setattr(runner, "evaluate_policy", lambda *a, **k: pytest.fail("an evaluation was redone"))
    run_sweep(config, output, show_progress=False, write_report_files=False)
    assert {name: (output / name).read_bytes() for name in before} == before
    # a new control temperature adds its evaluations and changes no run
    monkeypatch.undo()
    monkeypatch.setattr(runner, "train_policy", lambda *a, **k: pytest.fail("a finished run was retrained"))
    more = config.with_overrides(["evaluation.control_temperatures=[0.5,1.5]"])
    run_sweep(more, output, show_progress=False, write_report_files=False)
    temperatures = [(row["seed"], row["temperature"]) for row in read_csv(output / CONTROLS_FILE)]
    assert temperatures == [(0, 0.5), (0, 1.0), (0, 1.5), (1, 0.5), (1, 1.0), (1, 1.5)]


# ----------------------------------------------------------------------------------------------------------------
# The world seed


def test_the_world_seed_reaches_the_demo_build_and_its_cache_version(tmp_path, monkeypatch):
    """The seed enters the recipe (and so the cache folder); seed 0 is today's world, in today's folder."""
    import dataclasses
    import json

    import fdpo.demo.assets as assets
    from fdpo.demo.world import demo_config

    built = []

    def fake_build(recipe, folder, version, show_progress):
        built.append(recipe)
        manifest = {
            "version": version, "prompts": ["A"], "eval_prompts": ["B"], "prompt_template": "{prompt}",
            "generation_kwargs": {"do_sample": True, "max_new_tokens": 4},
        }  # fmt: skip
        for name in ("sft", "reward"):
            (folder / name).mkdir()
            (folder / name / "config.json").write_text("{}")
            (folder / name / "tokenizer.json").write_text("{}")  # a model folder without one is refused
        (folder / "demo.json").write_text(json.dumps(manifest))
        return manifest

    monkeypatch.setattr(assets, "_build", fake_build)
    default = assets.build_demo_assets(tmp_path, quick=True, show_progress=False)
    seeded = assets.build_demo_assets(tmp_path, quick=True, show_progress=False, seed=3)
    assert Path(default.sft_model_path).parent.name == assets.demo_version(assets.QUICK_RECIPE)
    assert Path(seeded.sft_model_path).parent.name == assets.demo_version(
        dataclasses.replace(assets.QUICK_RECIPE, seed=3)
    )
    assert Path(seeded.sft_model_path).parent != Path(default.sft_model_path).parent
    assert [recipe.seed for recipe in built] == [0, 3]

    config = demo_config(quick=True, cache_dir=tmp_path, world_seed=3, show_progress=False)
    assert config.sft_model == seeded.sft_model_path and config.world_seed == 3 and len(built) == 2  # cached
    assert (
        demo_config(quick=True, cache_dir=tmp_path, show_progress=False).sft_model == default.sft_model_path
    )
    from_yaml_key = demo_config(
        quick=True, cache_dir=tmp_path, overrides=["world_seed=3"], show_progress=False
    )
    assert from_yaml_key.sft_model == seeded.sft_model_path


def test_fdpo_demo_passes_its_world_seed(tmp_path, monkeypatch):
    import fdpo.cli.demo as cli_demo
    import fdpo.demo.world as world
    from fdpo.cli.app import main

    seen = {}
    monkeypatch.setattr(world, "demo_config", lambda **kwargs: seen.update(kwargs) or "config")
    monkeypatch.setattr(cli_demo, "run_and_print", lambda config, args, started: 0)
    assert main(["demo", "--quick", "--output-dir", str(tmp_path / "o"), "--world-seed", "4"]) == 0
    assert seen["world_seed"] == 4
    assert main(["demo", "--quick", "--output-dir", str(tmp_path / "o")]) == 0
    assert seen["world_seed"] is None


@pytest.mark.slow
def test_the_frontier_study_evaluates_each_seed_on_its_own_prompts(
    tiny_model_dir, tiny_classifier_dir, tmp_path, monkeypatch
):
    """fdpo.frontier's study takes each seed's evaluation prompts as the sweep does (prompt_draw: per_seed)."""
    import fdpo.frontier.study as study
    from fdpo.frontier.settings import FrontierSettings

    evaluation = {"prompt_draw": "per_seed", "max_prompts": 3}
    config = SweepConfig.from_dict(_data(tiny_model_dir, tiny_classifier_dir, evaluation))
    config = config.with_overrides(["grid.divergences=[reverse_kl]"])
    settings = FrontierSettings.from_dict(
        {
            "divpo": [],
            "temperatures": [0.8],
            "interpolation": [],
            "realignment": [],
            "lever_bases": ["baseline"],
        }
    )
    seen = []
    real_evaluate = study.evaluate_policy
    monkeypatch.setattr(
        study,
        "evaluate_policy",
        lambda model, tokenizer, reward, prompts, **k: (
            seen.append((k["seed"], list(prompts))) or real_evaluate(model, tokenizer, reward, prompts, **k)
        ),
    )
    study.run_frontier(config, tmp_path, settings, show_progress=False)
    expected = {seed: runner.evaluation_prompts(config, PROMPTS[:4], seed) for seed in (0, 1)}
    assert expected[0] != expected[1] and seen
    assert all(prompts == expected[seed] for seed, prompts in seen)
    assert {seed for seed, _ in seen} == {0, 1}
