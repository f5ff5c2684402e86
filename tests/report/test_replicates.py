"""Tests for fdpo/report/replicates.py: every metric recomputed from saved generations on resampled prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _report_data import PROMPTS, sweep_dir

from fdpo._io import read_csv, write_json, write_jsonl
from fdpo.report import (
    RESAMPLING_SEED,
    summarize,
    sweep_replicates,
)
from fdpo.uncertainty import bootstrap_weights, ratio_bootstrap


def test_sweep_replicates_recompute_every_metric_on_shared_resamples(tmp_path, tiny_model_dir):
    rows, generations = sweep_dir(tmp_path, tiny_model_dir)
    replicates, notes = sweep_replicates(tmp_path, read_csv(tmp_path / "results.csv"), num_resamples=200)
    assert notes == []
    assert set(replicates) == {row["run_id"] for row in rows}
    columns = {"reward_logit_mean", "reward_prob_mean", "predictive_entropy", "kl_to_ref", "token_entropy",
               "distinct_1", "distinct_2"}  # fmt: skip
    for row in rows:
        run = replicates[row["run_id"]]
        assert set(run) == columns
        for column in columns:
            assert run[column].estimate == pytest.approx(row[column], rel=1e-9)
        assert run["token_entropy"].method == "jackknife" and run["token_entropy"].values.shape == (6,)
    # the bootstrap of every run uses the same draws, prompts numbered in sorted order
    index = {prompt: i for i, prompt in enumerate(sorted(PROMPTS))}
    records = generations["reverse_kl-1"]
    expected = ratio_bootstrap(
        np.array([index[r["prompt"]] for r in records]),
        np.array([r["reward_logit"] for r in records]),
        bootstrap_weights(6, 200, RESAMPLING_SEED),
    )
    assert np.allclose(replicates["reverse_kl-1"]["reward_logit_mean"].values, expected, rtol=1e-12)
    # the baseline's KL is 0 with no spread; the summary's prompt part comes from the replicates
    assert np.all(replicates["sft"]["kl_to_ref"].values == 0.0)
    summary = summarize(read_csv(tmp_path / "results.csv"), replicates=replicates)
    rkl = next(row for row in summary if row["divergence"] == "reverse_kl")
    assert rkl["token_entropy_se_prompts"] > 0 and rkl["token_entropy_se_seeds"] > 0
    assert rkl["token_entropy_se"] == pytest.approx(
        math.hypot(rkl["token_entropy_se_prompts"], rkl["token_entropy_se_seeds"])
    )


def test_sweep_replicates_say_which_runs_count_seeds_only(tmp_path, tiny_model_dir):
    rows, generations = sweep_dir(tmp_path, tiny_model_dir)
    results = read_csv(tmp_path / "results.csv")
    results[1]["distinct_2"] += 0.01  # a value the generations do not give
    write_jsonl(tmp_path / "runs" / "reverse_kl-1" / "generations.jsonl", generations["reverse_kl-1"][:-1])
    (tmp_path / "runs" / "forward_kl-0" / "generations.jsonl").unlink()
    for record in generations["forward_kl-1"]:
        del record["policy_logp"]
    write_jsonl(tmp_path / "runs" / "forward_kl-1" / "generations.jsonl", generations["forward_kl-1"])
    replicates, notes = sweep_replicates(tmp_path, results, num_resamples=50)
    text = "\n".join(notes)
    assert "reverse_kl-0: distinct_2 recomputed from generations.jsonl" in text
    assert "reverse_kl-1: generations.jsonl keeps 17 of its 18 samples" in text
    assert "forward_kl-0: no generations.jsonl" in text
    assert "kl_to_ref: the saved generations lack the per-sample values" in text
    assert "distinct_2" not in replicates["reverse_kl-0"] and "distinct_1" in replicates["reverse_kl-0"]
    assert set(replicates) == {"sft", "reverse_kl-0", "forward_kl-1"}
    # a configuration with one run lacking the prompt part gets the seed part alone
    fkl = next(row for row in summarize(results, replicates=replicates) if row["divergence"] == "forward_kl")
    assert fkl["reward_logit_se_prompts"] is None and fkl["reward_logit_se"] == fkl["reward_logit_se_seeds"]
    # different prompt sets cannot be paired
    generations["sft"][0]["prompt"] = "Another prompt"
    write_jsonl(tmp_path / "runs" / "sft" / "generations.jsonl", generations["sft"])
    replicates, notes = sweep_replicates(tmp_path, results)
    assert (
        replicates == {} and "The runs were evaluated on different prompts: no paired resampling" in notes[-1]
    )


def test_token_entropy_without_a_tokenizer_counts_seeds_only(tmp_path, tiny_model_dir):
    sweep_dir(tmp_path, tiny_model_dir)
    write_json(
        tmp_path / "sweep.json", {"config": {"sft_model": str(tmp_path / "missing"), "evaluation": {}}}
    )
    replicates, notes = sweep_replicates(tmp_path, read_csv(tmp_path / "results.csv"), num_resamples=50)
    assert "token_entropy" not in replicates["sft"] and "reward_logit_mean" in replicates["sft"]
    assert any("Could not load the tokenizer" in note for note in notes)
