"""Tests for fdpo/cli/frontier.py: ``fdpo frontier`` lists its plan, refuses bad settings, runs and resumes."""

from __future__ import annotations

import pytest

from fdpo._io import read_csv


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


def test_frontier_command_plans_the_demo_world_by_default(tmp_path, capsys):
    """Without --config: the demo sweep with the frontier's two divergences and every default lever (nothing built
    for a dry run): RKL, SFT, FKL, DivPO, then temperature, two interpolations and two realignments on RKL and DivPO."""
    from fdpo.cli import main
    from fdpo.cli.frontier import DEMO_FRONTIER, demo_frontier_dict

    assert main(["frontier", "--quick", "--dry-run", "--output-dir", str(tmp_path / "out")]) == 0
    listed = capsys.readouterr().out
    assert "14 configurations x 2 seeds" in listed and "  DivPO logprob q=0.5 λ=1.5\n" in listed
    full = demo_frontier_dict(cache_dir=tmp_path)
    assert full["name"] == DEMO_FRONTIER["name"] and full["evaluation"]["samples_per_prompt"] == 4
    assert full["grid"]["divergences"] == ["reverse_kl", "forward_kl"] and full["world_cache_dir"] == str(
        tmp_path
    )
