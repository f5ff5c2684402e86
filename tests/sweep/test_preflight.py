"""Tests for fdpo/sweep/preflight.py: model references (local folders, hub ids, an offline or unreachable hub) and
devices, checked without loading a model."""

from __future__ import annotations

import re
import time

import pytest

from fdpo.sweep import SweepConfig, SweepConfigError, run_sweep
from fdpo.sweep.preflight import device_problems, model_reference_problems

VALID_HUB_CONFIG = {
    "sft_model": "lvwerra/gpt2-imdb",
    "reward_model": "lvwerra/distilbert-imdb",
    "prompts": {"texts": ["Good Review:"]},
}


def test_device_cuda_is_refused_on_a_machine_without_a_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SweepConfigError, match="device='cuda', but no CUDA GPU is visible here"):
        SweepConfig.from_dict({**VALID_HUB_CONFIG, "device": "cuda"}, check_models=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device_problems("cuda:1") == device_problems("cpu") == device_problems(None) == []
    assert device_problems("cuda:2") == [
        "device='cuda:2', but this machine has 2 CUDA GPU(s): cuda:0 to cuda:1."
    ]


# ----------------------------------------------------------------------------------------------------------------
# Model references: every id the hub accepts, local folders, and a hub that cannot be reached


@pytest.mark.parametrize("model", ["gpt2", "lvwerra/gpt2-imdb", "EleutherAI/pythia-70m", "Qwen/Qwen2.5-0.5B"])
def test_every_hub_id_the_hub_accepts_is_accepted(monkeypatch, model):
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    assert model_reference_problems("sft_model", model) == []


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("org/na--me", r"neither an existing local folder nor a valid hub id \(.*--"),
        ("-org/name", "neither an existing local folder nor a valid hub id"),
        ("org/name.git", "neither an existing local folder nor a valid hub id"),
        ("a" * 97, "neither an existing local folder nor a valid hub id"),
        ("./missing-folder", "does not exist as a local folder"),
        ("datasets/org/name", "does not exist as a local folder"),
        ("", "sft_model is not set"),
    ],
)
def test_malformed_model_references_are_refused_with_the_hub_rules(monkeypatch, model, message):
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    (problem,) = model_reference_problems("sft_model", model)
    assert re.search(message, problem), problem


def test_a_local_folder_needs_a_config_json(tmp_path, tiny_model_dir):
    assert model_reference_problems("sft_model", tiny_model_dir) == []
    (tmp_path / "empty").mkdir()
    (problem,) = model_reference_problems("sft_model", str(tmp_path / "empty"))
    assert "is not a model directory (no config.json in it)" in problem


def test_offline_hub_id_not_in_cache_fails_in_seconds_and_leaves_no_folder(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 and an id nobody has: refused at once, saying what to do; nothing is created."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = {**VALID_HUB_CONFIG, "sft_model": "someone/not-cached-model"}
    with pytest.raises(SweepConfigError) as error:
        SweepConfig.from_dict(data)
    text = str(error.value)
    assert (
        "sft_model='someone/not-cached-model' is not a local folder, and the hub is offline (HF_HUB_OFFLINE=1)"
        in text
    )
    assert "Check the id" in text and "pass a local folder" in text and "unset HF_HUB_OFFLINE" in text
    config = SweepConfig.from_dict(data, validate=False)
    started = time.perf_counter()
    with pytest.raises(SweepConfigError, match="someone/not-cached-model"):
        run_sweep(config, tmp_path / "out", show_progress=False)
    assert (
        time.perf_counter() - started < 30
    )  # a bound far above the milliseconds it takes, far below 55 s retries
    assert not (tmp_path / "out").exists()


def test_unreachable_hub_fails_fast_with_what_to_do(monkeypatch, tmp_path, tiny_classifier_dir):
    """Online but the hub cannot be reached (here: a local port nothing listens on): one look-up, no retries."""
    from huggingface_hub import constants

    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    config = SweepConfig.from_dict(
        {**VALID_HUB_CONFIG, "sft_model": "someone/typo-model", "reward_model": tiny_classifier_dir}
    )
    with pytest.raises(SweepConfigError) as error:
        run_sweep(config, tmp_path / "out", show_progress=False)
    text = str(error.value)
    assert "sft_model='someone/typo-model' is not in the local cache and the hub (http://127.0.0.1:9) could not be " \
        "reached" in text  # fmt: skip
    assert "check the id, pass a local folder" in text and "HF_HUB_OFFLINE=1" in text
    assert not (tmp_path / "out").exists()
