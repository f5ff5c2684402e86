"""Tests for fdpo/sweep/config.py and the sections of fdpo/settings.py: building, validating, checking.

Everything here runs without loading a model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fdpo.sweep import GridSettings, PromptSettings, SweepConfig, SweepConfigError, run_sweep
from fdpo.sweep.yamlio import apply_overrides, deep_merge, load_yaml

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
        ("grid: {betas: [0.1, 0]}", r"grid.betas\[1\]=0 must be a finite number > 0"),
        ("grid: {beta_per_divergence: {jensen_shanon: 0.1}}", "key 'jensen_shanon', which is not a divergence"),
        ("grid: {beta_per_divergence: {'alpha:2': 0.1}}", "key 'alpha:2', which is not a divergence"),
        ("grid: {divergences: [reverse_kl, reverse_kl]}", "lists 'reverse_kl' twice"),
        ("sft_model: ./checkpoints/missing", "sft_model='./checkpoints/missing' does not exist as a local folder"),
        ("reward_model: distil--bert", "reward_model='distil--bert' is neither an existing local folder nor a valid "
         "hub id .*--"),
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
    data = deep_merge(VALID_HUB_CONFIG, yaml.safe_load(yaml_text))
    path = _write(tmp_path / "bad.yaml", yaml.safe_dump(data))
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


# ----------------------------------------------------------------------------------------------------------------
# Inputs that used to run, train nothing or the wrong thing, or crash after the shared stages (issue: bad inputs)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # two β that share one run id: the second was never trained
        ("grid.beta_per_divergence={reverse_kl: [0.1, 0.1000001]}",
         r"grid.beta_per_divergence\['reverse_kl'\] has β=0.1 and β=0.1000001 for reverse_kl, which share the run id "
         r"'reverse_kl__sigmoid__beta0.1__seed0'"),
        ("grid.betas=[0.1, 0.1]", "grid.betas lists β=0.1 twice for reverse_kl"),
        # no training step: every trained row was the SFT row
        ("training.num_train_epochs=-1", r"training.num_train_epochs=-1 trains no step .* training.max_steps > 0"),
        ("training.num_train_epochs=0", "training.num_train_epochs=0 trains no step"),
        ("training.learning_rate=0", r"training.learning_rate=0 must be a finite number > 0"),
        # values of the wrong type or range, which used to fail after sampling, scoring and reference log-probs
        ("training.learning_rate=abc", r"training.learning_rate='abc' must be a finite number > 0"),
        ("training.num_train_epochs=abc", r"training.num_train_epochs='abc' trains no step"),
        ("training.per_device_train_batch_size=0", "training.per_device_train_batch_size=0 must be a positive integer"),
        ("training.per_device_train_batch_size=2.5", "training.per_device_train_batch_size=2.5 must be a positive "
         "integer"),
        ("training.weight_decay=abc", r"training.weight_decay='abc' must be a number \(FDPOConfig.weight_decay\)"),
        ("training.gradient_checkpointing=yes please", "training.gradient_checkpointing='yes please' must be true or "
         "false"),
        ("training.max_length=1", "training.max_length=1 must be an integer >= 2, or unset: it must leave room for a "
         "prompt and a completion"),
        ("training.lr_scheduler_type=cosinus", r"training arguments for reverse_kl__sigmoid__beta0.1__seed0 .*"
         "cosinus is not a valid SchedulerType"),
        ("grid.seeds=[-1]", r"grid.seeds has -1; a seed must be an integer from 0 to 4294967295"),
        ("grid.seeds=[99999999999999999999]", "grid.seeds has 99999999999999999999; a seed must be an integer from 0"),
        ("pairs.seed=-3", "pairs.seed has -3"),
        ("evaluation.prompts=[1, 2]", r"evaluation.prompts must be a non-empty list of strings .* got \[1, 2\]"),
        ("device=banana", "device='banana' is not a torch device"),
        ('name="line one\\nline two"', "must be one line of text"),
        ("name='<script>alert(1)</script>'", "holds HTML markup"),
        ("name='Tom &amp; Jerry'", "holds HTML markup"),
        # divergence specs are parsed strictly; the grid key is named with the parser's message
        ("grid.divergences=['alpha:0.3,0.7']", r"grid.divergences\[0\]='alpha:0.3,0.7': .*more than one value"),
        ("grid.divergences=['alpha:alpha=0.2,alpha=0.4']", r"grid.divergences\[0\]='alpha:alpha=0.2,alpha=0.4'"),
        ("grid.divergences=['alpha:']", r"grid.divergences\[0\]='alpha:': .*no parameter"),
        ("grid.beta_per_divergence={'alpha:0.3,0.7': 0.1}", r"key 'alpha:0.3,0.7', which is not a divergence name or "
         r"spec \(.*more than one value"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_by_validation_before_any_work(no_model_loading, override, message):
    with pytest.raises(SweepConfigError, match=message):
        SweepConfig.from_dict(apply_overrides(VALID_HUB_CONFIG, [override]), check_models=False)


def test_every_grid_cell_builds_its_fdpo_config_up_front(monkeypatch):
    """A setting that only one cell refuses (here, through a patched FDPOConfig) is found by validation."""
    import fdpo.config

    real = fdpo.config.FDPOConfig

    class RefusingOneCell(real):
        def __post_init__(self):
            if self.seed == 1 and self.beta == 0.2:
                raise ValueError("cell-specific refusal")
            super().__post_init__()

    monkeypatch.setattr(fdpo.config, "FDPOConfig", RefusingOneCell)
    data = apply_overrides(VALID_HUB_CONFIG, ["grid.seeds=[0,1]", "grid.betas=[0.1,0.2]"])
    with pytest.raises(SweepConfigError, match="training arguments for reverse_kl__sigmoid__beta0.2__seed1 do not "
                       "build an FDPOConfig: ValueError: cell-specific refusal"):  # fmt: skip
        SweepConfig.from_dict(data, check_models=False)


def test_a_plain_name_may_hold_any_printable_text():
    name = "β < 1 & α > 0: reward_logit * 2 # 1"
    assert SweepConfig.from_dict({**VALID_HUB_CONFIG, "name": name}, check_models=False).name == name


def test_callers_name_keys_the_way_their_users_wrote_them():
    """A caller whose user set ``grid.betas`` with ``--beta`` must see --beta, not a key its user never wrote."""
    config = SweepConfig(
        sft_model="gpt2",
        prompts=PromptSettings(texts=["Good Review:"]),
        training={"learning_rate": "abc"},
        grid=GridSettings(divergences=["alpha:0.3,0.7"], betas=[float("nan")], seeds=[0]),
    )
    names = {"grid.betas": "--beta", "grid.divergences": "--divergence", "training.": "--set "}
    with pytest.raises(SweepConfigError) as error:
        config.check(quick=True, check_models=False, source="a command", names=names)
    text = str(error.value)
    assert text.startswith("a command: 3 problems")
    assert "--divergence='alpha:0.3,0.7'" in text and "--beta=nan must be a finite number > 0" in text
    assert "--set learning_rate='abc' must be a finite number > 0" in text
    assert "grid." not in text and "training." not in text
    config = SweepConfig(
        sft_model="gpt2",
        prompts=PromptSettings(texts=["Good Review:"]),
        grid=GridSettings(betas=[float("nan")]),
    )
    with pytest.raises(SweepConfigError, match=r"^a command: --beta=nan must be a finite number > 0"):
        config.check(quick=True, check_models=False, source="a command", names=names)


# ----------------------------------------------------------------------------------------------------------------
# check(): what `fdpo sweep --dry-run` runs, and run_sweep before it creates anything


def _local_config(model_dir: str, classifier_dir: str, *overrides: str) -> SweepConfig:
    data = {**VALID_HUB_CONFIG, "sft_model": model_dir, "reward_model": classifier_dir}
    return SweepConfig.from_dict(apply_overrides(data, overrides))


def test_check_measures_prompts_against_max_length_with_the_tokenizer(
    tiny_model_dir, tiny_classifier_dir, tmp_path
):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = ["The cast is", "This movie was great and the acting was"]
    longest = max(len(tokenizer(p)["input_ids"]) for p in prompts)
    overrides = [f"prompts.texts={prompts}", "generation.max_new_tokens=5"]
    _local_config(
        tiny_model_dir, tiny_classifier_dir, *overrides, f"training.max_length={longest + 1}"
    ).check()
    config = _local_config(tiny_model_dir, tiny_classifier_dir, *overrides, f"training.max_length={longest}")
    expected = (
        rf"training.max_length={longest} is too short: the longest prompt \('This movie was great and the acting was'\) "
        rf"is {longest} tokens.* Use at least {longest + 1}; {longest + 5} keeps whole completions"
    )
    with pytest.raises(SweepConfigError, match=expected):
        config.check()
    # the quick checks alone cannot know (they read nothing), run_sweep refuses before it creates the output folder
    config.check(quick=True)
    with pytest.raises(SweepConfigError, match=expected):
        run_sweep(config, tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\n  \n\n", "holds only blank lines"),
        (b"Good Review:\n\xff\xfe bad bytes\n", "cannot be read as UTF-8 text"),
    ],
)
def test_check_reads_the_prompt_files(tiny_model_dir, tiny_classifier_dir, tmp_path, content, message):
    for key in ("prompts.file", "evaluation.prompts_file"):
        path = tmp_path / "prompts.txt"
        path.write_bytes(content)
        overrides = [
            f"{key}={path}"
        ]  # prompts.texts are given too: a file given for nothing is still a mistake
        config = _local_config(tiny_model_dir, tiny_classifier_dir, *overrides)
        with pytest.raises(SweepConfigError, match=rf"{key}=.*{message}"):
            config.check()


def test_check_passes_a_valid_local_config_without_loading_a_model(
    tiny_model_dir, tiny_classifier_dir, monkeypatch
):
    import transformers

    refuse = lambda *a, **k: pytest.fail("a model was loaded")  # noqa: E731
    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)
    _local_config(tiny_model_dir, tiny_classifier_dir, "grid.seeds=[0,1]").check()


def test_all_problems_are_listed_at_once(tmp_path):
    path = _write(
        tmp_path / "bad.yaml",
        "sft_model: ./nope\nreward_model: ./nope2\nprompts: {texts: [a]}\ngrid: {seeds: []}\n",
    )
    with pytest.raises(SweepConfigError) as error:
        SweepConfig.from_yaml(path)
    text = str(error.value)
    assert "3 problems" in text and "sft_model" in text and "reward_model" in text and "grid.seeds" in text


def test_check_refuses_a_positive_index_beyond_the_classes_and_absurd_samples(
    tiny_model_dir, tiny_classifier_dir
):
    """The Python API refuses what the command's dry run refuses: run_sweep calls the same check."""
    _local_config(tiny_model_dir, tiny_classifier_dir).check()
    with pytest.raises(SweepConfigError, match=r"reward.positive_index=5, but reward_model=.* has 2 classes"):
        _local_config(tiny_model_dir, tiny_classifier_dir, "reward.positive_index=5").check()
    with pytest.raises(SweepConfigError, match=r"pairs.samples_per_prompt=1e\+20 .* GiB of memory"):
        _local_config(tiny_model_dir, tiny_classifier_dir, "pairs.samples_per_prompt=1e20").check()
