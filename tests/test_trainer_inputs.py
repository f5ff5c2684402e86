"""Tests for FDPOTrainer's input checks and its model card (fdpo/trainer.py, fdpo/checks.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from _common import training_settings
from datasets import Dataset, IterableDataset
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from transformers import AutoModelForCausalLM, AutoTokenizer

from fdpo.config import FDPOConfig
from fdpo.errors import FDPOError, InputError
from fdpo.trainer import FDPOTrainer

REPO_ROOT = Path(__file__).resolve().parent.parent
# A model path that does not exist: a check that fires before the model is loaded never gets to it.
NO_MODEL = "no/such-model-folder"


def _config(tmp_path, **overrides) -> FDPOConfig:
    return FDPOConfig(**training_settings(str(tmp_path / "run"), **overrides))


def _pairs(**columns) -> Dataset:
    base = {
        "prompt": ["This movie was", "The cast is"],
        "chosen": [" great.", " superb."],
        "rejected": [" terrible.", " awful."],
    }
    base.update(columns)
    return Dataset.from_dict({key: value for key, value in base.items() if value is not None})


@pytest.mark.parametrize("missing", ["rejected", "chosen"])
def test_a_dataset_without_a_completion_column_names_the_expected_formats(tmp_path, missing):
    dataset = _pairs(**{missing: None})
    with pytest.raises(InputError, match=f"train_dataset has no '{missing}' column") as error:
        FDPOTrainer(model=NO_MODEL, args=_config(tmp_path), train_dataset=dataset)
    message = str(error.value)
    assert "'prompt', 'chosen', 'rejected'" in message and "implicit prompt" in message
    assert str(dataset.column_names) in message


def test_samples_instead_of_pairs_are_refused_in_the_eval_dataset_too(tmp_path):
    samples = Dataset.from_dict({"prompt": ["a"], "completion": ["b"], "reward": [0.5]})
    with pytest.raises(InputError, match=r"eval_dataset\['held_out'\] has no 'chosen' or 'rejected' column"):
        FDPOTrainer(
            model=NO_MODEL, args=_config(tmp_path), train_dataset=_pairs(), eval_dataset={"held_out": samples}
        )


def test_an_empty_dataset_is_refused(tmp_path):
    empty = _pairs().select([])
    with pytest.raises(InputError, match=r"train_dataset is empty \(0 rows"):
        FDPOTrainer(model=NO_MODEL, args=_config(tmp_path), train_dataset=empty)
    stream = IterableDataset.from_generator(lambda: iter(()))
    with pytest.raises(InputError, match="train_dataset is empty: it yields no preference pairs"):
        FDPOTrainer(model=NO_MODEL, args=_config(tmp_path), train_dataset=stream)


@pytest.mark.parametrize(
    "column,values,words",
    [
        ("rejected", [" fine.", None], "row 1: 'rejected' is null"),
        ("chosen", [3, 4], "row 0: 'chosen' is of type int"),
        ("prompt", [["not", "messages"], ["x"]], "row 0: 'prompt' is of type list"),
    ],
)
def test_values_that_are_not_text_or_messages_name_the_row(tmp_path, column, values, words):
    with pytest.raises(InputError, match=words):
        FDPOTrainer(model=NO_MODEL, args=_config(tmp_path), train_dataset=_pairs(**{column: values}))


def _trainer(model_dir, tmp_path, dataset, **settings):
    return FDPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        ref_model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=_config(tmp_path, **settings),
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )


def test_identical_pairs_are_warned_about(tiny_model_dir, tmp_path):
    same = _pairs(rejected=[" great.", " superb."])
    with pytest.warns(UserWarning, match="every pair has chosen == rejected"):
        _trainer(tiny_model_dir, tmp_path, same)
    partly = _pairs(rejected=[" great.", " awful."])
    with pytest.warns(UserWarning, match="1 of 2 pairs have chosen == rejected"):
        _trainer(tiny_model_dir, tmp_path, partly)


def test_implicit_prompt_and_conversational_datasets_pass_without_warnings(tiny_model_dir, tmp_path):
    implicit = Dataset.from_dict(
        {
            "chosen": ["This movie was great.", "The cast is superb."],
            "rejected": ["This movie was bad.", "The cast is awful."],
        }
    )
    conversational = Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": "Review?"}]],
            "chosen": [[{"role": "assistant", "content": "Great."}]],
            "rejected": [[{"role": "assistant", "content": "Bad."}]],
        }
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*chosen == rejected.*")
        warnings.filterwarnings("error", message=".*empty chosen or rejected.*")
        FDPOTrainer._check_datasets(None, None, None, None, implicit, conversational)
        _trainer(tiny_model_dir, tmp_path, implicit)


# ----------------------------------------------------------------------------------------------------------------
# Model card


def _card(folder) -> tuple[dict, str]:
    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md")
    return card.data.to_dict(), card.text


@pytest.mark.parametrize(
    "divergence,beta,loss_type,trl_type,trl_coef,row",
    [
        ("alpha:0.3", 0.01, "sigmoid", "alpha_divergence", 0.7, "| α (paper convention"),
        ("jensen_shannon", 0.1, "hinge", "js_divergence", 0.5, '`f_divergence_type="js_divergence"`'),
        ("chi_squared_kl", 0.2, "ipo", None, None, "TRL's DPOTrainer has no such f-divergence"),
    ],
)
def test_save_model_writes_a_card_with_the_f_dpo_settings(
    tiny_model_dir, tmp_path, divergence, beta, loss_type, trl_type, trl_coef, row
):
    trainer = _trainer(
        tiny_model_dir, tmp_path, _pairs(), divergence=divergence, beta=beta, loss_type=loss_type
    )
    saved = tmp_path / "final"
    trainer.save_model(str(saved))
    assert (saved / "model.safetensors").is_file()
    metadata, text = _card(saved)
    settings = metadata["fdpo"]
    assert (
        settings["divergence"] == divergence
        and settings["beta"] == beta
        and settings["loss_type"] == loss_type
    )
    assert settings["alpha"] == (0.3 if divergence == "alpha:0.3" else None)
    assert settings.get("trl_f_divergence_type") == trl_type
    if trl_coef is not None:
        assert settings["trl_f_alpha_divergence_coef"] == pytest.approx(trl_coef)
    assert f"f-divergence:{divergence.split(':')[0]}" in metadata["tags"] and "f-dpo" in metadata["tags"]
    assert "### f-DPO settings" in text and f"`{divergence}`" in text and row in text
    assert f"| β | {beta:g} |" in text and f"| loss type | {loss_type} |" in text
    assert text.index("### f-DPO settings") < text.index("### Framework versions")  # inside TRL's card
    if divergence == "alpha:0.3":
        assert "`f_alpha_divergence_coef=0.7` (= 1 − α)" in text
    assert (tmp_path / "run" / "README.md").read_text() == (saved / "README.md").read_text()


def test_save_model_writes_the_card_for_a_lora_adapter(tiny_model_dir, tmp_path):
    peft = pytest.importorskip("peft")
    trainer = FDPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        args=_config(tmp_path, divergence="alpha", alpha=0.5, beta=0.05),
        train_dataset=_pairs(),
        processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        peft_config=peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0),
    )
    trainer.save_model()  # default: args.output_dir
    saved = tmp_path / "run"
    assert (saved / "adapter_model.safetensors").is_file()
    metadata, text = _card(saved)
    assert metadata["fdpo"]["divergence"] == "alpha:0.5" and metadata["fdpo"]["beta"] == 0.05
    assert metadata["fdpo"]["trl_f_alpha_divergence_coef"] == pytest.approx(0.5)
    assert "### f-DPO settings" in text and "| α (paper convention" in text


# ----------------------------------------------------------------------------------------------------------------
# The TRL pin


@pytest.mark.parametrize("installed", ["1.15.2", "1.17.0", "1.17.0rc1", "2.0.0"])
def test_another_trl_is_refused_with_the_reason_for_the_pin(installed):
    from fdpo.trainer import IncompatibleTRLError, _check_trl_version

    with pytest.raises(IncompatibleTRLError, match=rf"TRL {re.escape(installed)} is installed") as error:
        _check_trl_version(installed)
    assert "DPOTrainer._compute_loss, a private method of TRL 1.16" in str(error.value)
    assert 'pip install "trl>=1.16,<1.17"' in str(error.value)
    assert isinstance(error.value, ImportError) and isinstance(error.value, FDPOError)


@pytest.mark.parametrize("installed", ["1.16.0", "1.16.3", "1.16.1.post1"])
def test_the_pinned_trl_releases_are_accepted(installed):
    from fdpo.trainer import _check_trl_version

    _check_trl_version(installed)


def test_importing_the_trainer_under_another_trl_fails_with_the_reason():
    script = "import trl; trl.__version__ = '1.17.0'; import fdpo.trainer"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "IncompatibleTRLError: fdpo needs TRL >=1.16,<1.17, but TRL 1.17.0 is installed" in result.stderr


def test_package_metadata_pins_trl_as_the_trainer_does_and_nothing_pins_torch_above():
    tomllib = pytest.importorskip("tomllib")
    from fdpo.trainer import TRL_REQUIREMENT

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = {Requirement(text).name: Requirement(text) for text in project["dependencies"]}
    assert str(requirements["trl"].specifier) == str(SpecifierSet(TRL_REQUIREMENT))
    assert str(requirements["torch"].specifier) == ">=2.4"
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    assert set(project["urls"]) == {"Homepage", "Documentation", "Issues"}
    assert all(url.startswith("https://github.com/fdpo-project/fdpo") for url in project["urls"].values())
