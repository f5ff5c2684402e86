"""Tests for fdpo/experiment.py (and the atomic writes of fdpo/_io.py it relies on).

Config parsing, overrides and validation run without any model; the sweep tests use the tiny GPT-2 and DistilBERT of
tests/conftest.py, a handful of prompts and two training steps per run.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import transformers
from datasets import Dataset

import fdpo.experiment as experiment
from fdpo._io import atomic_open, read_csv, read_json, read_jsonl, write_csv, write_json, write_jsonl
from fdpo.experiment import (
    RESULT_COLUMNS,
    RunSpec,
    RunStore,
    SweepConfig,
    SweepConfigError,
    apply_overrides,
    compute_reference_log_probs,
    load_causal_lm,
    make_run_id,
    parse_override,
    run_sweep,
    train_policy,
)

REPO = Path(__file__).resolve().parents[1]
VALID_HUB_CONFIG = {
    "sft_model": "lvwerra/gpt2-imdb",
    "reward_model": "lvwerra/distilbert-imdb",
    "prompts": {"texts": ["Good Review:"]},
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_model_loading(monkeypatch):
    """Every from_pretrained raises: a test using this proves that nothing was loaded."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model or tokenizer was loaded")

    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification", "AutoTokenizer"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)


# ----------------------------------------------------------------------------------------------------------------
# fdpo/_io.py


def test_atomic_open_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = write_json(tmp_path / "metrics.json", {"reward": 1.0})
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_open(path) as handle:
            handle.write('{"reward": 2.')  # half a file...
            raise RuntimeError("killed")  # ...then the writer dies
    assert read_json(path) == {"reward": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary file left


def test_atomic_open_refuses_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_json_jsonl_csv_round_trips(tmp_path):
    write_json(tmp_path / "a" / "b.json", {"x": float("nan"), "y": [1, float("inf")], "z": Path("p")})
    assert read_json(tmp_path / "a" / "b.json") == {"x": None, "y": [1, None], "z": "p"}
    records = [{"text": "naïve ☺", "n": 1}, {"text": "two\nlines", "n": 2}]
    write_jsonl(tmp_path / "r.jsonl", records)
    assert read_jsonl(tmp_path / "r.jsonl") == records
    rows = [
        {"name": "alpha:0.3", "beta": 0.01, "seed": 0, "kl": None},
        {"name": "sft", "beta": float("nan"), "seed": 1},
    ]
    write_csv(tmp_path / "t.csv", rows, ["name", "beta", "seed", "kl"])
    assert read_csv(tmp_path / "t.csv") == [
        {"name": "alpha:0.3", "beta": 0.01, "seed": 0, "kl": None},
        {"name": "sft", "beta": None, "seed": 1, "kl": None},
    ]


# ----------------------------------------------------------------------------------------------------------------
# Config: YAML, overrides, validation


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


def test_parse_override_values_are_yaml():
    assert parse_override("training.learning_rate=1e-5") == (["training", "learning_rate"], 1e-5)
    assert parse_override("grid.divergences=[reverse_kl,alpha:0.5]")[1] == ["reverse_kl", "alpha:0.5"]
    assert parse_override("name=a=b") == (["name"], "a=b")
    assert parse_override("device=") == (["device"], "")
    for bad in ("training.learning_rate", "=3", "training..lr=1"):
        with pytest.raises(SweepConfigError, match="section.key=value"):
            parse_override(bad)


def test_apply_overrides_does_not_touch_the_input_and_refuses_keys_under_a_value():
    data = {"training": {"learning_rate": 1.0}, "name": "x"}
    assert apply_overrides(data, ["training.seed_x=1"])["training"] == {"learning_rate": 1.0, "seed_x": 1}
    assert data == {"training": {"learning_rate": 1.0}, "name": "x"}
    with pytest.raises(SweepConfigError, match="name is a str, not a section"):
        apply_overrides(data, ["name.first=1"])


def test_example_imdb_config_validates():
    """The real study's config is valid (its hub models cannot be checked offline, hence check_models=False)."""
    config = SweepConfig.from_yaml(REPO / "examples" / "sweep_imdb.yaml", check_models=False)
    runs = config.runs()
    assert len(runs) == 8 * 2 * 3
    assert {run.beta for run in runs if run.divergence.startswith("alpha")} == {0.01}
    assert {run.beta for run in runs if run.divergence in ("reverse_kl", "jensen_shannon")} == {0.1}
    assert config.generation["num_beams"] == 5 and config.pairs.high == 2.0 and config.pairs.low == 0.0


def test_example_demo_config_is_what_fdpo_demo_runs():
    """examples/sweep_demo.yaml spells out `fdpo demo`'s sweep; the two must not drift apart."""
    from fdpo.experiment import demo_config_dict

    from_yaml = SweepConfig.from_yaml(REPO / "examples" / "sweep_demo.yaml", check_models=False)
    assert from_yaml.to_dict() == SweepConfig.from_dict(demo_config_dict(), check_models=False).to_dict()
    quick = SweepConfig.from_dict(demo_config_dict(quick=True), check_models=False)
    assert quick.demo == "quick" and len({run.seed for run in quick.runs()}) >= 2
    assert [run.divergence for run in quick.runs()][:: len(quick.grid.seeds)] == experiment.DEMO_DIVERGENCES


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
        ("evaluation: {metrics: [reward, bleu]}", r"evaluation.metrics has \['bleu'\]"),
        ("report: {diversity: distinct_1}", "report.diversity='distinct_1' is not a diversity measure"),
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
    config_data = experiment.load_yaml(path)
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


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _write(
        tmp_path / "broken.yaml",
        "sft_model: a/b\ngrid:\n  divergences: [reverse_kl, alpha:0.3\n  seeds: [0]\n",
    )
    with pytest.raises(SweepConfigError, match=rf"{path}:\d+:\d+: malformed YAML: .*line 3"):
        SweepConfig.from_yaml(path)
    top_level_list = _write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(SweepConfigError, match="top level of a sweep config must be a mapping"):
        SweepConfig.from_yaml(top_level_list)
    with pytest.raises(SweepConfigError, match="does not exist"):
        SweepConfig.from_yaml(tmp_path / "missing.yaml")


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


# ----------------------------------------------------------------------------------------------------------------
# Run store


def test_run_store_finished_iff_metrics_exist_and_tables_are_regenerated(tmp_path):
    store = RunStore(tmp_path)
    store.begin("a", {"x": 1})
    assert not store.is_finished("a") and (tmp_path / "runs" / "a" / "config.json").is_file()
    store.finish("a", {"run_id": "a", "divergence": "reverse_kl", "loss_type": "sigmoid", "beta": 0.1, "seed": 0,
                       "reward_logit_mean": 1.0}, [{"completion": "hi"}])  # fmt: skip
    assert store.is_finished("a")
    with pytest.raises(RuntimeError, match="already finished"):
        store.begin("a", {})
    # an unfinished attempt leaves files behind; begin() clears them
    (tmp_path / "runs" / "b").mkdir()
    _write(tmp_path / "runs" / "b" / "generations.jsonl", "stale\n")
    store.begin("b", {"x": 2})
    assert sorted(p.name for p in (tmp_path / "runs" / "b").iterdir()) == ["config.json"]
    store.finish("b", {"run_id": "b", "divergence": "reverse_kl", "loss_type": "sigmoid", "beta": 0.1, "seed": 1,
                       "reward_logit_mean": 3.0})  # fmt: skip
    rows = store.write_tables(order=["b", "a"])
    assert [row["run_id"] for row in rows] == ["b", "a"]
    results = read_csv(tmp_path / "results.csv")
    assert list(results[0])[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    summary = read_csv(tmp_path / "summary.csv")
    assert len(summary) == 1 and summary[0]["n"] == 2 and summary[0]["reward_logit_mean"] == 2.0


# ----------------------------------------------------------------------------------------------------------------
# Reference log-probs: computed once, identical training


def _tiny_pairs() -> Dataset:
    prompts = ["This movie was", "The cast is", "I loved", "The worst film"]
    chosen = [" great and fun.", " superb.", " every minute.", " I have seen"]
    rejected = [" terrible.", " awful and cheap.", " nothing at all", " ever, dull."]
    return Dataset.from_dict({"prompt": prompts * 2, "chosen": chosen * 2, "rejected": rejected * 2})


def _tiny_training(**extra) -> dict:
    return {
        "per_device_train_batch_size": 4,
        "max_steps": 2,
        "learning_rate": 1e-2,
        "gradient_checkpointing": False,
        **extra,
    }


def test_reused_reference_log_probs_match_trl_and_train_identically(tiny_model_dir, tmp_path):
    """The precomputed columns equal TRL's own precompute, and training on them equals training with a reference
    model forward at every step (TRL's default): same losses, same weights."""
    from fdpo.trainer import FDPOTrainer

    model, tokenizer = load_causal_lm(tiny_model_dir)
    config = SweepConfig(sft_model=tiny_model_dir, reward_model=tiny_model_dir, training=_tiny_training())
    run = RunSpec("alpha:0.5", "sigmoid", 0.5, 0)
    with_ref = compute_reference_log_probs(
        model, tokenizer, _tiny_pairs(), config.fdpo_config(run, tmp_path / "r")
    )
    assert with_ref.column_names == ["prompt", "chosen", "rejected", "ref_chosen_logps", "ref_rejected_logps"]

    trl_args = config.fdpo_config(run, tmp_path / "t", precompute_ref_log_probs=True)
    trl_trainer = FDPOTrainer(
        model=tiny_model_dir, args=trl_args, train_dataset=_tiny_pairs(), processing_class=tokenizer
    )
    assert with_ref["ref_chosen_logps"] == pytest.approx(
        trl_trainer.train_dataset["ref_chosen_logps"], abs=1e-5
    )
    assert with_ref["ref_rejected_logps"] == pytest.approx(
        trl_trainer.train_dataset["ref_rejected_logps"], abs=1e-5
    )

    reused, _, reused_log = train_policy(model, tokenizer, with_ref, config.fdpo_config(run, tmp_path / "a"))
    fresh, _, fresh_log = train_policy(
        model, tokenizer, with_ref, config.fdpo_config(run, tmp_path / "b"), reuse_reference=False
    )
    losses = [entry["loss"] for entry in reused_log if "loss" in entry]
    assert len(losses) == 2 and losses[1] != losses[0]
    assert losses == pytest.approx([entry["loss"] for entry in fresh_log if "loss" in entry], abs=1e-6)
    for a, b in zip(reused.parameters(), fresh.parameters(), strict=True):
        assert (a - b).abs().max().item() < 1e-5
    # the SFT model itself is never trained
    pristine, _ = load_causal_lm(tiny_model_dir)
    for a, b in zip(model.parameters(), pristine.parameters(), strict=True):
        assert a.equal(b)


def test_train_policy_with_reuse_needs_the_columns(tiny_model_dir, tmp_path):
    model, tokenizer = load_causal_lm(tiny_model_dir)
    config = SweepConfig(sft_model=tiny_model_dir, reward_model=tiny_model_dir, training=_tiny_training())
    args = config.fdpo_config(RunSpec("reverse_kl", "sigmoid", 0.1, 0), tmp_path)
    with pytest.raises(ValueError, match="compute_reference_log_probs"):
        train_policy(model, tokenizer, _tiny_pairs(), args, reuse_reference=True)


# ----------------------------------------------------------------------------------------------------------------
# The sweep end to end on tiny models: resumability


def _tiny_sweep_config(model_dir: str, classifier_dir: str, **grid) -> SweepConfig:
    return SweepConfig.from_dict(
        {
            "name": "tiny",
            "sft_model": model_dir,
            "reward_model": classifier_dir,
            "prompts": {"texts": ["This movie was", "The cast is", "I loved", "The worst film"]},
            "generation": {"max_new_tokens": 6, "do_sample": True, "top_k": 0},
            "pairs": {"samples_per_prompt": 4, "strategy": "best_vs_worst", "batch_size": 16},
            "training": _tiny_training(),
            "grid": {
                "divergences": ["reverse_kl", "jensen_shannon"],
                "betas": [0.1],
                "seeds": [0, 1],
                **grid,
            },
            "evaluation": {"samples_per_prompt": 2, "batch_size": 8, "num_saved_generations": 3},
        }
    )


class _CountingTrainer:
    """Wraps experiment.train_policy: counts calls and raises on the call numbered ``fail_on``."""

    def __init__(self, fail_on: int | None = None):
        self.calls: list[str] = []
        self.fail_on = fail_on
        self.real = experiment.train_policy

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
    monkeypatch.setattr(experiment, "train_policy", crashing)
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
    monkeypatch.setattr(experiment, "train_policy", resumed)
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
    with_ref = read_jsonl(output / "pairs_with_ref.jsonl")
    assert with_ref and {"ref_chosen_logps", "ref_rejected_logps"} <= set(with_ref[0])

    # a third run has nothing left to do: no training, no model loaded
    untouched = _CountingTrainer()
    monkeypatch.setattr(experiment, "train_policy", untouched)
    monkeypatch.setattr(
        experiment, "load_causal_lm", lambda *a, **k: pytest.fail("model loaded for a finished sweep")
    )
    assert [row["run_id"] for row in run_sweep(config, output, show_progress=False)] == ["sft", *runs]
    assert untouched.calls == []

    # growing the grid runs only the new cells; changing shared settings is refused
    monkeypatch.undo()
    bigger = config.with_overrides(["grid.seeds=[0,1,2]"])
    counting = _CountingTrainer()
    monkeypatch.setattr(experiment, "train_policy", counting)
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
    monkeypatch.setattr(
        experiment, "evaluate_policy", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
    )
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, tmp_path, show_progress=False)
    recorded = json.loads((tmp_path / "sweep.json").read_text())
    assert SweepConfig.from_dict(recorded["config"]).to_dict() == config.to_dict()
    assert recorded["shared"] == config.shared_dict()
    assert os.path.isfile(tmp_path / "runs" / "sft" / "config.json")


def test_evaluate_policy_matches_the_metrics_module(tiny_model_dir, tiny_classifier_dir):
    """evaluate_policy fuses the policy passes of predictive entropy and KL; the numbers are fdpo.metrics's."""
    import torch

    from fdpo import metrics
    from fdpo.experiment import EvaluationSettings, evaluate_policy, load_reward_model

    reference, tokenizer = load_causal_lm(tiny_model_dir)
    policy, _ = load_causal_lm(tiny_model_dir)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    reward = load_reward_model(tiny_classifier_dir)
    settings = EvaluationSettings(samples_per_prompt=3, batch_size=4, metrics=[*experiment.METRIC_NAMES])
    prompts = ["This movie was", "The cast is"]
    result, generations = evaluate_policy(
        policy, tokenizer, reward, prompts, reference=reference, settings=settings,
        generation={"max_new_tokens": 5, "min_new_tokens": 2}, seed=3, show_progress=False,
    )  # fmt: skip
    queries = [g["query"] for g in generations]
    completions = [g["completion"] for g in generations]
    assert len(generations) == result["num_eval_samples"] == 6
    assert result["predictive_entropy"] == pytest.approx(
        metrics.predictive_entropy(policy, tokenizer, queries, completions)
    )
    assert result["kl_to_ref"] == pytest.approx(
        metrics.kl_from_samples(policy, reference, tokenizer, queries, completions)
    )
    logits = reward.score([q + c for q, c in zip(queries, completions, strict=True)])
    assert result["reward_logit_mean"] == pytest.approx(float(logits.mean()), rel=1e-6)
    assert [g["reward_logit"] for g in generations] == pytest.approx(logits.tolist(), rel=1e-6)
    assert result["distinct_1"] == metrics.distinct_n(completions, 1)
    assert result["token_entropy"] == pytest.approx(metrics.token_entropy(completions, tokenizer))
    assert 0.0 <= result["reward_prob_mean"] <= 1.0 and result["self_bleu"] >= 0.0
    # the policy evaluated against itself: KL is exactly 0 and no second pass is needed
    same, _ = evaluate_policy(policy, tokenizer, reward, prompts, reference=None, settings=settings,
                              generation={"max_new_tokens": 5}, seed=3, show_progress=False)  # fmt: skip
    assert same["kl_to_ref"] == 0.0
