"""Tests for fdpo/frontier.py: the summary across seeds, separated intervals, dominance, the fronts, the files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fdpo._io import read_csv
from fdpo.frontier import (
    dominates,
    frontier_columns,
    frontier_table,
    separated,
    summarize_configurations,
    write_frontier,
)

T_975_2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # Student t, 97.5% quantile, 2 d.o.f.: (2p − 1)/√(2p(1 − p))
BASELINE = ("divergence", "RKL β=0.1")


def _evaluations(lever, setting, reward, predictive, token, distinct):
    return [
        {
            "lever": lever,
            "setting": setting,
            "seed": seed,
            "reward_logit_mean": r,
            "predictive_entropy": p,
            "token_entropy": t,
            "distinct_2": d,
            "kl_to_ref": 10.0 + seed,
        }
        for seed, (r, p, t, d) in enumerate(zip(reward, predictive, token, distinct, strict=True))
    ]


# Hand-made evaluations, three seeds each (spread ±0.1 or ±0.01: std 0.1 / 0.01, half-width 4.3027·std/√3).
ROWS = [
    *_evaluations(
        "divergence", "RKL β=0.1", [3.0, 3.1, 2.9], [1.6, 1.7, 1.5], [4.9, 5.0, 4.8], [0.22, 0.23, 0.21]
    ),
    # beats RKL on reward (+0.6 > 2 × 0.248), token entropy (+0.6) and distinct-2 (+0.08 > 2 × 0.0248): dominates
    *_evaluations("divpo", "logprob", [3.6, 3.7, 3.5], [1.7, 1.8, 1.6], [5.5, 5.6, 5.4], [0.30, 0.31, 0.29]),
    # reward and token entropy only: one measure is not enough
    *_evaluations(
        "temperature", "T=0.8", [3.6, 3.7, 3.5], [1.6, 1.7, 1.5], [5.0, 5.1, 4.9], [0.22, 0.23, 0.21]
    ),
    # far more diverse, reward +0.2 within the intervals: does not dominate
    *_evaluations(
        "interpolation", "t=0.5", [3.2, 3.3, 3.1], [2.6, 2.7, 2.5], [6.0, 6.1, 5.9], [0.40, 0.41, 0.39]
    ),
    *_evaluations("sft", "SFT", [0.0], [1.5], [5.1], [0.25]),  # one seed: no interval
]


def test_summary_has_mean_std_and_student_t_half_width_per_configuration():
    summary = summarize_configurations(ROWS)
    assert [(row["lever"], row["setting"], row["n"]) for row in summary] == [
        ("divergence", "RKL β=0.1", 3),
        ("divpo", "logprob", 3),
        ("temperature", "T=0.8", 3),
        ("interpolation", "t=0.5", 3),
        ("sft", "SFT", 1),
    ]
    rkl = summary[0]
    assert rkl["reward_mean"] == pytest.approx(3.0, abs=1e-12)
    assert rkl["reward_std"] == pytest.approx(0.1, abs=1e-12)
    assert rkl["reward_ci95"] == pytest.approx(T_975_2 * 0.1 / math.sqrt(3), rel=1e-12)
    assert rkl["distinct_2_ci95"] == pytest.approx(T_975_2 * 0.01 / math.sqrt(3), rel=1e-9)
    assert rkl["kl_to_ref_mean"] == pytest.approx(11.0)
    assert summary[-1]["reward_mean"] == 0.0 and summary[-1]["reward_std"] is None
    assert summary[-1]["reward_ci95"] is None
    with pytest.raises(ValueError, match="non-empty string 'setting'"):
        summarize_configurations([{"lever": "sft", "setting": ""}])


def test_separated_needs_the_gap_to_exceed_both_half_widths():
    baseline = {"reward_mean": 1.0, "reward_ci95": 0.25}
    assert not separated({"reward_mean": 1.5, "reward_ci95": 0.25}, baseline, "reward")  # gap = 0.5 exactly
    assert separated({"reward_mean": 1.5000001, "reward_ci95": 0.25}, baseline, "reward")
    assert not separated({"reward_mean": 0.4, "reward_ci95": 0.25}, baseline, "reward")  # lower
    assert not separated({"reward_mean": 9.0, "reward_ci95": None}, baseline, "reward")  # one seed: no claim
    assert not separated({"reward_mean": 9.0, "reward_ci95": 0.1}, {"reward_mean": None}, "reward")


def test_dominates_needs_reward_and_two_of_three_diversity_measures():
    def row(reward, predictive, token, distinct):
        values = {
            "reward": reward,
            "predictive_entropy": predictive,
            "token_entropy": token,
            "distinct_2": distinct,
        }
        return {
            **{f"{k}_mean": v for k, v in values.items()},
            **{f"{k}_ci95": 0.1 for k in values},
        }

    base = row(0.0, 0.0, 0.0, 0.0)
    assert dominates(row(1, 1, 1, 0), base)
    assert dominates(row(1, 0, 1, 1), base)
    assert not dominates(row(1, 1, 0, 0), base)  # one measure alone
    assert not dominates(row(0.15, 1, 1, 1), base)  # reward within the intervals
    assert dominates(row(1, 1, 0, 0), base, at_least=1)
    with pytest.raises(ValueError, match="at_least must be between 1 and 3"):
        dominates(base, base, at_least=4)


def test_frontier_table_marks_the_fronts_and_what_dominates_the_baseline():
    """Token entropy front: divpo (3.6, 5.5) and interpolation (3.2, 6.0); RKL, T=0.8 (3.6, 5.0) and SFT (0, 5.1)
    are dominated. Distinct-2 front: the same two. Predictive entropy: interpolation (3.2, 2.6) and divpo/T=0.8 at
    reward 3.6 (divpo's 1.7 beats T=0.8's 1.6)."""
    table = frontier_table(summarize_configurations(ROWS), BASELINE)
    by_lever = {row["lever"]: row for row in table}
    assert {lever for lever, row in by_lever.items() if row["on_front"]} == {"divpo", "interpolation"}
    assert {lever for lever, row in by_lever.items() if row["on_front_distinct_2"]} == {
        "divpo",
        "interpolation",
    }
    assert {lever for lever, row in by_lever.items() if row["on_front_predictive_entropy"]} == {
        "divpo",
        "interpolation",
    }
    assert [lever for lever, row in by_lever.items() if row["dominates_rkl"]] == ["divpo"]
    divpo = by_lever["divpo"]
    assert divpo["reward_vs_rkl"] == pytest.approx(0.6)
    assert divpo["reward_vs_rkl_ci95"] == pytest.approx(2 * T_975_2 * 0.1 / math.sqrt(3))
    assert by_lever["sft"]["reward_vs_rkl_ci95"] is None
    assert by_lever["divergence"]["reward_vs_rkl"] == 0.0 and not by_lever["divergence"]["dominates_rkl"]
    on_distinct = frontier_table(summarize_configurations(ROWS), BASELINE, diversity="distinct_2")
    assert [row["on_front"] for row in on_distinct] == [row["on_front_distinct_2"] for row in table]
    with pytest.raises(ValueError, match="No configuration divergence/FKL"):
        frontier_table(summarize_configurations(ROWS), ("divergence", "FKL"))
    with pytest.raises(ValueError, match="not a diversity measure"):
        frontier_table(summarize_configurations(ROWS), BASELINE, diversity="self_bleu")


def test_paired_differences_subtract_the_baseline_at_the_same_seed():
    """T=0.8 minus RKL per seed: reward +0.6, +0.6, +0.6 (no spread: half-width 0, above 0); token entropy +0.1 at
    every seed; predictive entropy and distinct-2 0. Paired, T=0.8 wins on reward and token entropy only: one
    measure, no dominance. Unpaired its token entropy (+0.1 against 2 × 0.248) is not even separated."""
    shifted = _evaluations(
        "temperature", "T=0.8", [3.6, 3.7, 3.5], [1.6, 1.7, 1.5], [5.0, 5.1, 4.9], [0.22, 0.23, 0.21]
    )
    rows = [row for row in ROWS if row["lever"] != "temperature"] + shifted
    table = frontier_table(summarize_configurations(rows), BASELINE, evaluations=rows)
    by_lever = {row["lever"]: row for row in table}
    temperature = by_lever["temperature"]
    assert temperature["reward_paired_vs_rkl"] == pytest.approx(0.6)
    assert temperature["reward_paired_vs_rkl_ci95"] == pytest.approx(0.0, abs=1e-12)
    assert temperature["token_entropy_paired_vs_rkl"] == pytest.approx(0.1)
    assert not temperature["dominates_rkl_paired"] and not temperature["dominates_rkl"]
    assert by_lever["divpo"]["dominates_rkl_paired"] and not by_lever["divergence"]["dominates_rkl_paired"]
    # a lever shifted by a constant above the baseline at every seed dominates when paired, not unpaired
    lifted = _evaluations(
        "interpolation", "t=0.5", [3.2, 3.3, 3.1], [1.7, 1.8, 1.6], [5.0, 5.1, 4.9], [0.23, 0.24, 0.22]
    )
    rows = [row for row in ROWS if row["lever"] != "interpolation"] + lifted
    table = frontier_table(summarize_configurations(rows), BASELINE, evaluations=rows)
    interpolation = next(row for row in table if row["lever"] == "interpolation")
    assert interpolation["dominates_rkl_paired"] and not interpolation["dominates_rkl"]
    assert by_lever["sft"]["reward_paired_vs_rkl"] == pytest.approx(-3.0)  # seed 0 only: no interval
    assert (
        by_lever["sft"]["reward_paired_vs_rkl_ci95"] is None and not by_lever["sft"]["dominates_rkl_paired"]
    )


def test_write_frontier_writes_the_csv_and_the_plot(tmp_path):
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


# ----------------------------------------------------------------------------------------------------------------
# The study on tiny models (fdpo/frontier_study.py)


def _tiny_study(model_dir, classifier_dir):
    from fdpo.frontier_plan import FrontierSettings
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
    import fdpo.frontier_study as study
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


def test_frontier_settings_refuse_bad_values():
    from fdpo.frontier_plan import FrontierSettings
    from fdpo.sweep import SweepConfigError

    with pytest.raises(SweepConfigError, match="unknown frontier setting.*temperature"):
        FrontierSettings.from_dict({"temperature": [0.8]})
    with pytest.raises(SweepConfigError, match=r"temperatures has \[0\]; give finite numbers > 0"):
        FrontierSettings.from_dict({"temperatures": [0]})
    with pytest.raises(SweepConfigError, match=r"divpo_quantiles must be a list of numbers in \(0, 0.5\]"):
        FrontierSettings.from_dict({"divpo_quantiles": [0.25, 0.7]})
    with pytest.raises(SweepConfigError, match="lever_bases"):
        FrontierSettings.from_dict({"lever_bases": ["forward_kl"]})
    with pytest.raises(SweepConfigError, match="interpolation has duplicates"):
        FrontierSettings.from_dict({"interpolation": [0.5, 0.5]})


def test_frontier_command_reads_a_frontier_section_and_lists_the_plan(
    tiny_model_dir, tiny_classifier_dir, tmp_path, capsys
):
    from fdpo.cli import main

    config = tmp_path / "sweep.yaml"
    config.write_text(
        f"sft_model: {tiny_model_dir}\nreward_model: {tiny_classifier_dir}\nprompts: {{texts: ['This movie was']}}\n"
        "grid: {divergences: [forward_kl], betas: [0.1], seeds: [0, 1]}\n"
        "frontier: {temperatures: [0.9], interpolation: [], realignment: [], divpo: [ngram], lever_bases: [baseline]}\n",
        encoding="utf-8",
    )
    args = ["frontier", "--output-dir", str(tmp_path / "out"), "--config", str(config), "--dry-run"]
    assert main(args) == 0
    listed = capsys.readouterr().out
    assert "5 configurations x 2 seeds" in listed  # RKL (added: the baseline), SFT, FKL, DivPO, RKL at T=0.9
    for setting in ("RKL β=0.1", "SFT", "FKL β=0.1", "DivPO ngram q=0.5 RKL β=0.1", "RKL β=0.1 T=0.9"):
        assert f"  {setting}\n" in listed
    assert main([*args, "frontier.temperatures=[-1]"]) == 2
    assert "frontier.temperatures has [-1]; give finite numbers > 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written by a dry run or a refused config


def test_frontier_command_runs_and_resumes(tiny_model_dir, tiny_classifier_dir, tmp_path, capsys):
    """`fdpo frontier` end to end on tiny models (standard DPO, the SFT model and one realignment, one seed): the
    table printed and written; no Ray options (the study runs here); a rerun trains and evaluates nothing."""
    import json

    from _common import tiny_sweep_training

    from fdpo.cli import main

    config = tmp_path / "sweep.yaml"
    sweep = {
        "sft_model": tiny_model_dir,
        "reward_model": tiny_classifier_dir,
        "prompts": {"texts": ["This movie was", "The cast is"]},
        "generation": {"max_new_tokens": 4, "do_sample": True, "top_k": 0},
        "pairs": {"samples_per_prompt": 2, "strategy": "best_vs_worst"},
        "training": tiny_sweep_training(),
        "grid": {"divergences": ["reverse_kl"], "betas": [0.1], "seeds": [0]},
        "evaluation": {"samples_per_prompt": 2, "batch_size": 4},
        "frontier": {"temperatures": [], "interpolation": [], "realignment": [1.5], "divpo": []},
    }
    config.write_text(json.dumps(sweep), encoding="utf-8")  # JSON is YAML
    args = ["frontier", "--output-dir", str(tmp_path / "out"), "--config", str(config), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "frontier.csv" in out and "RKL β=0.1 λ=1.5" in out
    rows = read_csv(tmp_path / "out" / "frontier.csv")
    assert [(row["lever"], row["setting"]) for row in rows] == [
        ("divergence", "RKL β=0.1"),
        ("sft", "SFT"),
        ("realignment", "RKL β=0.1 λ=1.5"),
    ]
    done = sorted(p.stat().st_mtime_ns for p in (tmp_path / "out" / "runs").glob("*/metrics.json"))
    assert main(args) == 0 and "frontier.csv" in capsys.readouterr().out
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "out" / "runs").glob("*/metrics.json")) == done
    with pytest.raises(SystemExit) as exited:  # not an option of the frontier: argparse refuses it
        main([*args, "--executor", "ray"])
    assert exited.value.code == 2 and "unrecognized arguments: --executor" in capsys.readouterr().err


def test_realignment_is_planned_on_each_lever_base():
    """λ values are planned on standard DPO (and DivPO when it is a lever base); the default plans 0.5 and 1.5."""
    from fdpo.frontier_plan import Configuration, FrontierSettings, plan_frontier
    from fdpo.sweep import SweepConfig

    assert FrontierSettings().realignment == [0.5, 1.5]
    settings = FrontierSettings.from_dict(
        {"realignment": [0.5], "divpo": [], "temperatures": [], "interpolation": []}
    )
    config = SweepConfig.from_dict(
        {"sft_model": "org/sft", "reward_model": "org/reward", "prompts": {"texts": ["p"]}},
        check_models=False,
    )
    realigned = [c for c in plan_frontier(config, settings) if c.lever == "realignment"]
    assert realigned == [
        Configuration(
            "realignment", "RKL β=0.1 λ=0.5", "pairs", "reverse_kl", "sigmoid", 0.1, ("realignment", 0.5)
        )
    ]
