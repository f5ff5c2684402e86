"""Tests for fdpo/frontier/study.py: the files of a table, and the study on tiny models (training each policy once,
resuming, refusing a changed config)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _frontier_data import BASELINE, ROWS

from fdpo._io import read_csv
from fdpo.frontier.table import frontier_columns


def test_write_frontier_writes_the_csv_and_the_plot(tmp_path):
    from fdpo.frontier.study import write_frontier

    table = write_frontier(ROWS, tmp_path, BASELINE, title="test")
    rows = read_csv(tmp_path / "frontier.csv")
    assert list(rows[0]) == frontier_columns()
    assert [(row["lever"], row["setting"]) for row in rows] == [
        (row["lever"], row["setting"]) for row in table
    ]
    assert [str(row["dominates_rkl"]) for row in rows] == ["False", "True", "False", "False", "False"]
    assert float(rows[1]["reward_mean"]) == pytest.approx(3.6)
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frontier.csv", "frontier.png"]


def _tiny_study(model_dir, classifier_dir):
    from fdpo.frontier.settings import FrontierSettings
    from fdpo.sweep import SweepConfig

    config = SweepConfig.from_dict(
        {
            "name": "tiny frontier",
            "sft_model": model_dir,
            "reward_model": classifier_dir,
            "prompts": {"texts": ["This movie was", "The cast is", "I loved", "The worst film"]},
            "generation": {"max_new_tokens": 6, "do_sample": True, "top_k": 0},
            "pairs": {"samples_per_prompt": 4, "strategy": "best_vs_worst", "batch_size": 16},
            "training": {"per_device_train_batch_size": 4, "max_steps": 2, "learning_rate": 1e-2},
            "grid": {"divergences": ["reverse_kl"], "betas": [0.1], "seeds": [0, 1]},
            "evaluation": {"samples_per_prompt": 2, "batch_size": 8},
        }
    )
    settings = FrontierSettings.from_dict(
        {
            "divpo": ["ngram"],
            "temperatures": [0.8],
            "interpolation": [0.5],
            "realignment": [0.5],
            "lever_bases": ["baseline"],
        }
    )
    return config, settings


def test_frontier_study_trains_each_policy_once_and_resumes(
    tiny_model_dir, tiny_classifier_dir, tmp_path, monkeypatch
):
    import fdpo.frontier.study as study
    from fdpo._io import read_json, read_jsonl
    from fdpo.sweep import SweepConfigError

    config, settings = _tiny_study(tiny_model_dir, tiny_classifier_dir)
    calls = []
    real_train = study.train_policy

    def counting_train(model, tokenizer, pairs, args, **kwargs):
        calls.append(Path(args.output_dir).parent.name)
        return real_train(model, tokenizer, pairs, args, **kwargs)

    monkeypatch.setattr(study, "train_policy", counting_train)
    table = study.run_frontier(config, tmp_path, settings, show_progress=False)
    assert [(row["lever"], row["setting"], row["n"]) for row in table] == [
        ("divergence", "RKL β=0.1", 2),
        ("sft", "SFT", 2),
        ("divpo", "DivPO ngram q=0.5 RKL β=0.1", 2),
        ("temperature", "RKL β=0.1 T=0.8", 2),
        ("interpolation", "RKL β=0.1 t=0.5", 2),
        ("realignment", "RKL β=0.1 λ=0.5", 2),
    ]
    # one training per policy and seed: standard DPO and DivPO, seeds 0 and 1
    assert sorted(calls) == sorted(
        f"{pairs}__reverse_kl__sigmoid__beta0.1__seed{seed}"
        for pairs in ("pairs", "divpo-ngram-q0.5")
        for seed in (0, 1)
    )
    finished = sorted(p.parent.name for p in (tmp_path / "runs").glob("*/metrics.json"))
    assert finished == sorted(
        f"{stem}__seed{seed}"
        for stem in (
            "divergence__RKL-beta0.1",
            "sft__SFT",
            "divpo__DivPO-ngram-q0.5-RKL-beta0.1",
            "temperature__RKL-beta0.1-T0.8",
            "interpolation__RKL-beta0.1-t0.5",
            "realignment__RKL-beta0.1-lambda0.5",
        )
        for seed in (0, 1)
    )
    assert list(read_csv(tmp_path / "frontier.csv")[0]) == frontier_columns()
    assert (tmp_path / "frontier.png").is_file() and "| divpo |" in (tmp_path / "frontier.md").read_text()
    # without evaluation.checkpoints: no curve, and the matched comparison says what it needs
    assert (
        "needs the baseline's curves: list training steps in `evaluation.checkpoints`"
        in (tmp_path / "frontier.md").read_text()
    )
    assert not (tmp_path / "frontier_matched.csv").exists() and not list(
        tmp_path.glob("policies/*/curve.jsonl")
    )
    # standard errors with a prompt part (the divergence study's), and gaps to the baseline in them
    by_lever = {row["lever"]: row for row in table}
    assert all(row["reward_se"] > 0 and row["token_entropy_se"] > 0 for row in table)
    assert (
        "seeds only" not in (tmp_path / "frontier.md").read_text()
    )  # every run's prompt replicates were made
    assert by_lever["divergence"]["reward_gap_z"] is None and by_lever["sft"]["reward_gap_z"] is not None
    for seed in (0, 1):  # each seed's DivPO pairs come from its own pair draw's samples
        folder = tmp_path / "pairs" / f"seed-{seed}"
        divpo_pairs = read_jsonl(folder / "divpo-ngram-q0.5_pairs.jsonl")
        assert divpo_pairs and all(p["chosen_reward"] > p["rejected_reward"] for p in divpo_pairs)
        sampled = {(row["prompt"], row["completion"]) for row in read_jsonl(folder / "pair_samples.jsonl")}
        assert {(p["prompt"], p["chosen"]) for p in divpo_pairs} <= sampled
    # each lever evaluated its own model: the interpolated policy's KL to the SFT model is not the policy's
    policy_row = read_json(tmp_path / "runs" / "divergence__RKL-beta0.1__seed0" / "metrics.json")
    half_row = read_json(tmp_path / "runs" / "interpolation__RKL-beta0.1-t0.5__seed0" / "metrics.json")
    assert half_row["policy"] == policy_row["policy"] and half_row["kl_to_ref"] != policy_row["kl_to_ref"]

    # Resume after losing one evaluation: nothing is trained again, the same evaluation comes back identical.
    lost = tmp_path / "runs" / "interpolation__RKL-beta0.1-t0.5__seed1" / "metrics.json"
    before = read_json(lost)
    lost.unlink()
    calls.clear()
    study.run_frontier(config, tmp_path, settings, show_progress=False)
    assert calls == [] and read_json(lost) == {**before, "eval_seconds": read_json(lost)["eval_seconds"]}

    changed = config.with_overrides(["training.learning_rate=0.5"])
    with pytest.raises(SweepConfigError, match="another sweep config"):
        study.run_frontier(changed, tmp_path, settings, show_progress=False)


def _curve_study(model_dir, classifier_dir, checkpoints):
    """The tiny study's world with standard DPO at a constant learning rate (two steps), the SFT model and one
    temperature, on two seeds."""
    from fdpo.frontier.settings import FrontierSettings

    config, _ = _tiny_study(model_dir, classifier_dir)
    config = config.with_overrides(
        [
            "training.lr_scheduler_type=constant",
            "training.gradient_checkpointing=false",
            f"evaluation.checkpoints={checkpoints}",
        ]
    )
    settings = FrontierSettings.from_dict(
        {
            "divpo": [],
            "temperatures": [0.7],
            "interpolation": [],
            "realignment": [],
            "lever_bases": ["baseline"],
        }
    )
    return config, settings


def _metrics(row):
    """An evaluation's metrics, without the row's names and the timing (which differs between two evaluations)."""
    names = ("run_id", "lever", "setting", "seed", "policy", "step", "eval_seconds")
    return {key: value for key, value in row.items() if key not in names}


def test_frontier_traces_standard_dpos_curve_and_resumes_without_training(
    tiny_model_dir, tiny_classifier_dir, tmp_path, monkeypatch
):
    """Checkpoints at steps 1 and 2 of two: the curve is SFT (step 0, the SFT configuration's own evaluation), the
    policy after one step, and the final policy, whose point is the baseline configuration's own evaluation (the
    last checkpoint is the last step; with a constant learning rate nothing else differs)."""
    import fdpo.frontier.study as study
    from fdpo._io import read_json, read_jsonl

    config, settings = _curve_study(tiny_model_dir, tiny_classifier_dir, [1, 2])
    evaluated = []
    evaluate = study._Study.evaluate

    def counting(self, configuration, policy, seed):
        evaluated.append((configuration.setting, seed))
        return evaluate(self, configuration, policy, seed)

    monkeypatch.setattr(study._Study, "evaluate", counting)
    study.run_frontier(config, tmp_path, settings, show_progress=False)
    monkeypatch.undo()
    # standard DPO is evaluated at its two checkpoints only: the one at the last step is its final evaluation
    assert [seed for setting, seed in evaluated if setting == "RKL β=0.1"] == [0, 0, 1, 1]
    for seed in (0, 1):
        curve = read_jsonl(
            tmp_path / "policies" / f"pairs__reverse_kl__sigmoid__beta0.1__seed{seed}" / "curve.jsonl"
        )
        assert [(point["seed"], point["step"]) for point in curve] == [(seed, 0), (seed, 1), (seed, 2)]
        sft = read_json(tmp_path / "runs" / f"sft__SFT__seed{seed}" / "metrics.json")
        final = read_json(tmp_path / "runs" / f"divergence__RKL-beta0.1__seed{seed}" / "metrics.json")
        assert _metrics(curve[0]) == _metrics(sft) and curve[0]["kl_to_ref"] == 0.0
        assert _metrics(curve[-1]) == _metrics(final)
        assert curve[1]["kl_to_ref"] != curve[2]["kl_to_ref"]

    written = read_csv(tmp_path / "frontier_matched.csv")
    markdown = (tmp_path / "frontier.md").read_text()
    assert "Diversity at matched reward, against RKL β=0.1's curve" in markdown
    assert "| temperature | RKL β=0.1 T=0.7 | sequence_entropy |" in markdown

    # A rerun trains nothing and evaluates nothing: the policies and their curves are saved, every run finished.
    def refuse(*args, **kwargs):
        raise AssertionError("train_policy called on a resumed study")

    monkeypatch.setattr(study, "train_policy", refuse)
    monkeypatch.setattr(study._Study, "evaluate", refuse)
    study.run_frontier(config, tmp_path, settings, show_progress=False)
    assert read_csv(tmp_path / "frontier_matched.csv") == written


def test_frontier_matched_csv_is_points_against_curve_on_the_written_files(
    tiny_model_dir, tiny_classifier_dir, tmp_path
):
    """A checkpoint at step 1 of two: the final policy (step 2) closes each curve with the baseline configuration's
    own evaluation; frontier_matched.csv holds points_against_curve of the temperature's rows against the written
    curves, on reward and on KL."""
    import fdpo.frontier.study as study
    from fdpo._io import read_json, read_jsonl
    from fdpo.frontier.matched import MATCHED_MEASURES, matched_columns
    from fdpo.uncertainty.matching import points_against_curve

    config, settings = _curve_study(tiny_model_dir, tiny_classifier_dir, [1])
    study.run_frontier(config, tmp_path, settings, show_progress=False)
    curves = []
    for seed in (0, 1):
        curve = read_jsonl(
            tmp_path / "policies" / f"pairs__reverse_kl__sigmoid__beta0.1__seed{seed}" / "curve.jsonl"
        )
        final = read_json(tmp_path / "runs" / f"divergence__RKL-beta0.1__seed{seed}" / "metrics.json")
        assert [point["step"] for point in curve] == [0, 1, 2]
        assert {**_metrics(curve[-1]), "eval_seconds": curve[-1]["eval_seconds"]} == {
            **_metrics(final),
            "eval_seconds": final["eval_seconds"],
        }  # the same evaluation, not a second one
        curves += [{**point, "configuration": "RKL β=0.1"} for point in curve]
    points = [
        read_json(tmp_path / "runs" / f"temperature__RKL-beta0.1-T0.7__seed{seed}" / "metrics.json")
        for seed in (0, 1)
    ]
    measures = [name for name in MATCHED_MEASURES if any(point.get(name) is not None for point in curves)]
    expected = [
        {"lever": "temperature", **row}
        for axis in ("reward_logit_mean", "kl_to_ref")
        for row in points_against_curve(curves, "RKL β=0.1", points, measures, axis, configuration="setting")
    ]
    written = read_csv(tmp_path / "frontier_matched.csv")
    assert list(written[0]) == matched_columns() and len(written) == len(expected) == 2 * len(measures)
    for got, want in zip(written, expected, strict=True):
        for column in matched_columns():
            value = want[column]
            if isinstance(value, float) and value != value:  # NaN: an empty cell
                assert got[column] is None, column
            elif isinstance(value, float):
                assert got[column] == pytest.approx(value, rel=1e-12, abs=0), column
            else:
                assert got[column] == value, column


def test_the_plot_draws_the_baselines_curve_through_its_means_over_seeds(tmp_path):
    """Per step, the mean over seeds of reward and measure; a step some seed lacks (or holds a NaN at) is left out,
    so every point of the line averages the same seeds."""
    from fdpo.frontier.plot import curve_means
    from fdpo.frontier.study import write_frontier

    curve = [
        {"seed": 0, "step": 0, "reward_logit_mean": 0.0, "token_entropy": 5.0},
        {"seed": 1, "step": 0, "reward_logit_mean": 0.2, "token_entropy": 5.2},
        {"seed": 0, "step": 4, "reward_logit_mean": 1.0, "token_entropy": 4.8},
        {"seed": 1, "step": 4, "reward_logit_mean": 2.0, "token_entropy": 4.6},
        {"seed": 0, "step": 8, "reward_logit_mean": 3.0, "token_entropy": 4.5},
        {"seed": 1, "step": 8, "reward_logit_mean": 3.4, "token_entropy": float("nan")},
        {"seed": 0, "step": 12, "reward_logit_mean": 3.5, "token_entropy": 4.4},
    ]
    rewards, values = curve_means(curve, "token_entropy")
    assert rewards == pytest.approx([0.1, 1.5]) and values == pytest.approx([5.1, 4.7])
    assert curve_means(curve, "distinct_2") == ([], [])
    write_frontier(ROWS, tmp_path, BASELINE, curve=curve)
    with_curve = (tmp_path / "frontier.png").read_bytes()
    write_frontier(ROWS, tmp_path, BASELINE)
    assert (tmp_path / "frontier.png").read_bytes() != with_curve
