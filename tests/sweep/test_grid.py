"""Tests for fdpo/sweep/grid.py: the runs of a grid, β per divergence, run ids."""

from __future__ import annotations

import pytest

from fdpo.sweep import GridSettings, RunSpec, SweepConfig, make_run_id

VALID_HUB_CONFIG = {
    "sft_model": "lvwerra/gpt2-imdb",
    "reward_model": "lvwerra/distilbert-imdb",
    "prompts": {"texts": ["Good Review:"]},
}


def test_beta_per_divergence_spec_beats_name_beats_default():
    config = SweepConfig.from_dict(
        {
            **VALID_HUB_CONFIG,
            "grid": {
                "divergences": ["reverse_kl", "alpha:0.3", "alpha:0.7", "forward_kl"],
                "betas": [0.1],
                "beta_per_divergence": {"alpha": 0.01, "alpha:0.7": [0.02, 0.05], "forward_kl": [0.03]},
            },
        },
        check_models=False,
    )
    betas = [(run.divergence, run.beta) for run in config.runs()]
    assert betas == [
        ("reverse_kl", 0.1),
        ("alpha:0.3", 0.01),
        ("alpha:0.7", 0.02),
        ("alpha:0.7", 0.05),
        ("forward_kl", 0.03),
    ]


def test_numpy_scalars_are_accepted_as_beta():
    np = pytest.importorskip("numpy")
    config = SweepConfig.from_dict(
        {**VALID_HUB_CONFIG, "grid": {"betas": [np.float32(0.25), np.float64(0.1)]}}, check_models=False
    )
    assert [run.beta for run in config.runs()] == [0.25, 0.1]


def test_run_ids_are_unique_and_file_system_safe():
    ids = {make_run_id(d, loss, beta, seed) for d in ("alpha:0.3", "alpha:0.35", "reverse_kl") for loss in ("sigmoid", "hinge")
           for beta in (0.1, 0.01, 1e-5) for seed in (0, 1)}  # fmt: skip
    assert len(ids) == 3 * 2 * 3 * 2
    assert all(set(run_id) <= set("abcdefghijklmnopqrstuvwxyz_0123456789.-") for run_id in ids)
    assert make_run_id("alpha:0.3", "sigmoid", 0.01, 2) == "alpha-0.3__sigmoid__beta0.01__seed2"
    assert RunSpec("reverse_kl", "hinge", 1e-5, 0).run_id == "reverse_kl__hinge__beta1e-05__seed0"


def test_runs_follow_the_grid_order_and_name_where_each_beta_comes_from():
    grid = GridSettings(
        divergences=["alpha:0.30", "reverse_kl"],
        loss_types=["sigmoid", "hinge"],
        betas=[0.1],
        beta_per_divergence={"alpha": [0.01, 0.02]},
        seeds=[1, 0],
    )
    cells = [(run.divergence, run.loss_type, run.beta, run.seed) for run in grid.runs()]
    alpha = [
        ("alpha:0.3", loss, beta, seed)
        for loss in ("sigmoid", "hinge")
        for beta in (0.01, 0.02)
        for seed in (1, 0)
    ]
    rkl = [("reverse_kl", loss, 0.1, seed) for loss in ("sigmoid", "hinge") for seed in (1, 0)]
    assert cells == alpha + rkl
    assert grid.beta_source("alpha:0.3") == ("grid.beta_per_divergence['alpha']", [0.01, 0.02])
    assert grid.beta_source("reverse_kl") == ("grid.betas", [0.1])
    assert grid.betas_for("alpha:0.7") == [0.01, 0.02]
    assert grid.run_id_problems() == []


def test_cells_sharing_a_run_id_are_named_once_with_the_key_to_fix():
    assert GridSettings(betas=[0.1, 0.1], seeds=[0, 1]).run_id_problems() == [
        "grid.betas lists β=0.1 twice for reverse_kl: run 'reverse_kl__sigmoid__beta0.1__seed1' would be counted "
        "twice. List each β once."
    ]
    (problem,) = GridSettings(beta_per_divergence={"reverse_kl": [0.1, 0.1000001]}).run_id_problems()
    assert problem.startswith(
        "grid.beta_per_divergence['reverse_kl'] has β=0.1 and β=0.1000001 for reverse_kl, which share the run id "
        "'reverse_kl__sigmoid__beta0.1__seed0'"
    )
