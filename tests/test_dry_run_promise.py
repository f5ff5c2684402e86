"""`fdpo sweep --dry-run` is a promise: what it refuses, the run refuses the same way before any work, and what it
calls valid, the run carries out (on the tiny test models)."""

from __future__ import annotations

import dataclasses

import pytest
import test_bad_inputs as corpus
import yaml
from _common import tiny_sweep_training
from test_bad_inputs import assets  # noqa: F401  (the corpus's files, a fixture)

from fdpo.cli.app import main

DRY_RUN_CASES = [case for case in corpus.CASES if case.argv.startswith("sweep ") and "--dry-run" in case.argv]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DRY_RUN_CASES])
def test_what_the_dry_run_refuses_the_run_refuses_before_any_work(
    case,
    tmp_path,
    tiny_model_dir,
    tiny_classifier_dir,
    assets,  # noqa: F811
    monkeypatch,
    capsys,
):
    if case.needs or case.code != 2:
        pytest.skip("not a refusal")
    run = dataclasses.replace(case, argv=case.argv.replace(" --dry-run", ""))
    monkeypatch.chdir(tmp_path)
    code, output = corpus.run_case(run, tmp_path, {"lm": tiny_model_dir, "clf": tiny_classifier_dir}, assets,
                                   monkeypatch, capsys)  # fmt: skip
    assert "Traceback" not in output and code == 2, output
    assert all(word in output for word in case.words), output
    assert not (tmp_path / "out" / "sweep.json").exists()  # refused before the sweep started


VALID = {
    "plain": {},
    "curves and controls, per-seed prompts": {
        "evaluation": {
            "samples_per_prompt": 2,
            "max_prompts": 2,
            "prompt_draw": "per_seed",
            "checkpoints": [1, 2],
            "control_temperatures": [0.85],
        },
    },
    "hinge loss, top-k sampling, two betas": {
        "generation": {"max_new_tokens": 4, "do_sample": True, "top_k": 5},
        "grid": {"divergences": ["forward_kl"], "loss_types": ["hinge"], "betas": [0.1, 0.5], "seeds": [0]},
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VALID))
def test_what_the_dry_run_calls_valid_runs(name, tmp_path, tiny_model_dir, tiny_classifier_dir, capsys):
    config = {
        "sft_model": tiny_model_dir,
        "reward_model": tiny_classifier_dir,
        "prompts": {"texts": ["This movie was", "The cast is", "I loved"]},
        "generation": {"max_new_tokens": 4, "do_sample": True, "top_k": 0},
        # best against worst: the default threshold strategy depends on rewards no check can know before sampling
        "pairs": {"samples_per_prompt": 2, "batch_size": 8, "strategy": "best_vs_worst"},
        "training": tiny_sweep_training(lr_scheduler_type="constant"),
        "grid": {"divergences": ["reverse_kl"], "seeds": [0]},
        "evaluation": {"prompts": ["A film", "The plot", "It was"], "samples_per_prompt": 1, "batch_size": 8},
        **VALID[name],
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = ["sweep", str(path), "--output-dir", str(tmp_path / "out"), "--no-progress"]
    assert main([*argv, "--dry-run"]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(argv) == 0
    assert (tmp_path / "out" / "results.csv").is_file()
