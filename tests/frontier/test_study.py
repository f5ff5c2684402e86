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
