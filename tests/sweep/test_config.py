"""Tests for fdpo/sweep/config.py and the sections of fdpo/sweep/settings.py: building, validating, the grid.

Everything here runs without loading a model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fdpo.sweep import RunSpec, SweepConfig, SweepConfigError, make_run_id, run_sweep
from fdpo.sweep.yamlio import load_yaml

REPO = Path(__file__).resolve().parents[2]
VALID_HUB_CONFIG = {
    "sft_model": "lvwerra/gpt2-imdb",
    "reward_model": "lvwerra/distilbert-imdb",
    "prompts": {"texts": ["Good Review:"]},
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_from_yaml_reads_floats_in_exponent_form_and_applies_overrides(tmp_path):
    path = _write(
        tmp_path / "sweep.yaml",
        """
sft_model: lvwerra/gpt2-imdb
reward_model: lvwerra/distilbert-imdb
prompts: {texts: ["Good Review:"]}
training:
  learning_rate: 1e-5
grid:
  divergences: [reverse_kl]
""",
    )
    config = SweepConfig.from_yaml(
        path,
        overrides=[
            "training.learning_rate=2e-5",
            "training.num_train_epochs=2",
            "grid.divergences=[reverse_kl,alpha:0.5]",
            "grid.seeds=[0, 1]",
            "pairs.num_pairs=null",
            "evaluation.generation.max_new_tokens=20",
        ],
        check_models=False,
    )
    assert config.training == {"learning_rate": 2e-5, "num_train_epochs": 2}
    assert isinstance(config.training["learning_rate"], float)
    assert config.grid.divergences == ["reverse_kl", "alpha:0.5"]
    assert config.evaluation.generation == {"max_new_tokens": 20}
    assert [run.run_id for run in config.runs()] == [
        "reverse_kl__sigmoid__beta0.1__seed0",
        "reverse_kl__sigmoid__beta0.1__seed1",
        "alpha-0.5__sigmoid__beta0.1__seed0",
        "alpha-0.5__sigmoid__beta0.1__seed1",
    ]


def test_example_imdb_config_validates():
    """The real study's config is valid (its hub models cannot be checked offline, hence check_models=False)."""
    config = SweepConfig.from_yaml(REPO / "examples" / "sweep_imdb.yaml", check_models=False)
    runs = config.runs()
    assert len(runs) == 8 * 2 * 3
    assert {run.beta for run in runs if run.divergence.startswith("alpha")} == {0.01}
    assert {run.beta for run in runs if run.divergence in ("reverse_kl", "jensen_shannon")} == {0.1}
    assert config.generation["num_beams"] == 5 and config.pairs.high == 2.0 and config.pairs.low == 0.0


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


def test_html_report_without_plotly_fails_at_validation(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    data = {"sft_model": "m", "reward_model": "r", "prompts": {"texts": ["p"]}, "report": {"html": True}}
    assert SweepConfig.from_dict(data, check_models=False).report.html
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "plotly" else real(name, *a)
    )
    with pytest.raises(
        SweepConfigError, match=r"report.html=true needs plotly: pip install \"fdpo\[html\]\""
    ):
        SweepConfig.from_dict(data, check_models=False)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("grid: {divergences: [reverse_kl, kl_forward]}", r"grid.divergences\[1\]='kl_forward'.*forward_kl"),
        ("grid: {divergences: ['alpha:1.5']}", r"grid.divergences\[0\]='alpha:1.5'"),
        ("grid: {seeds: []}", "The grid has no runs: grid.seeds is empty"),
        ("grid: {divergences: []}", "The grid has no runs: grid.divergences is empty"),
        ("grid: {loss_types: [dpo]}", "grid.loss_types has 'dpo'; use any of sigmoid, hinge, ipo"),
        ("grid: {betas: [0]}", r"grid.betas has \[0\]; β must be a finite number > 0"),
        ("grid: {beta_per_divergence: {jensen_shanon: 0.1}}", "key 'jensen_shanon', which is not a divergence"),
        ("grid: {beta_per_divergence: {'alpha:2': 0.1}}", "key 'alpha:2', which is not a divergence"),
        ("grid: {divergences: [reverse_kl, reverse_kl]}", "lists 'reverse_kl' twice"),
        ("sft_model: ./checkpoints/missing", "sft_model='./checkpoints/missing' does not exist as a local path"),
        ("reward_model: distilbert", "reward_model='distilbert' does not exist .* not a hub id of the form org/name"),
        ("sft_model: ''", "sft_model is not set"),
        ("training: {learnin_rate: 1.0e-5}", "training.learnin_rate is not a known FDPOConfig argument. Did you mean "
         "training.learning_rate"),
        ("training: {beta: 0.5}", "training.beta is set per run by the sweep: use grid.betas"),
        ("training: {label_smoothing: 0.1}", "label_smoothing"),
        ("generation: {top_kk: 5}", "generation.top_kk is not a known generate.. setting. Did you mean generation.top_k"),
        ("pairs: {strategy: random}", "pairs.strategy='random' is unknown"),
        ("pairs: {high: 0.0, low: 1.0}", "pairs.low=1.0 must be below pairs.high=0.0"),
        ("prompts: {texts: []}", "No prompts"),
        ("prompts: {texts: [a], template: 'Review:'}", "must contain '{prompt}'"),
        ("evaluation: {metrics: [reward, bleu]}", "evaluation.metrics has 'bleu'; use any of reward, token_entropy"),
        ("report: {diversity: distinct_1}", "report.diversity='distinct_1' is unknown; use one of predictive_entropy, "
         "token_entropy"),
        ("grid: {divergence: [reverse_kl]}", "grid.divergence is not a known key of grid. Did you mean grid.divergences"),
        ("modle: x", "modle is not a known top-level key"),
    ],
)  # fmt: skip
def test_invalid_configs_fail_with_a_clear_message_before_any_model_is_loaded(
    tmp_path, monkeypatch, no_model_loading, yaml_text, message
):
    for variable in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
    ):  # the hub ids of the base config are then valid
        monkeypatch.delenv(variable, raising=False)
    base = "sft_model: lvwerra/gpt2-imdb\nreward_model: lvwerra/distilbert-imdb\nprompts: {texts: [Good Review:]}\n"
    path = _write(tmp_path / "bad.yaml", base + yaml_text + "\n")
    config_data = load_yaml(path)
    with pytest.raises(SweepConfigError, match=message):
        SweepConfig.from_yaml(path)
    # run_sweep validates too, before anything is loaded or written into the sweep directory
    try:
        config = SweepConfig.from_dict(config_data, validate=False)
    except SweepConfigError:
        return  # an unknown key fails already here
    with pytest.raises(SweepConfigError, match=message):
        run_sweep(config, tmp_path / "out")
    assert not (tmp_path / "out" / "runs").exists()


def test_offline_hub_id_not_in_cache_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SweepConfigError, match="the hub is offline .* not in the local cache"):
        SweepConfig.from_dict({**VALID_HUB_CONFIG, "sft_model": "someone/not-cached-model"})


def test_all_problems_are_listed_at_once(tmp_path):
    path = _write(
        tmp_path / "bad.yaml",
        "sft_model: ./nope\nreward_model: ./nope2\nprompts: {texts: [a]}\ngrid: {seeds: []}\n",
    )
    with pytest.raises(SweepConfigError) as error:
        SweepConfig.from_yaml(path)
    text = str(error.value)
    assert "3 problems" in text and "sft_model" in text and "reward_model" in text and "grid.seeds" in text


def test_run_ids_are_unique_and_file_system_safe():
    ids = {make_run_id(d, loss, beta, seed) for d in ("alpha:0.3", "alpha:0.35", "reverse_kl") for loss in ("sigmoid", "hinge")
           for beta in (0.1, 0.01, 1e-5) for seed in (0, 1)}  # fmt: skip
    assert len(ids) == 3 * 2 * 3 * 2
    assert all(set(run_id) <= set("abcdefghijklmnopqrstuvwxyz_0123456789.-") for run_id in ids)
    assert make_run_id("alpha:0.3", "sigmoid", 0.01, 2) == "alpha-0.3__sigmoid__beta0.01__seed2"
    assert RunSpec("reverse_kl", "hinge", 1e-5, 0).run_id == "reverse_kl__hinge__beta1e-05__seed0"
