"""Tests for FDPOTrainer's guards against silently wrong training (fdpo/trainer.py, fdpo/checks.py): a non-finite loss
or gradient stops training, non-finite weights are never saved, an empty tokenizer and a reference with another
vocabulary are refused before any step, and β is bounded in FDPOConfig."""

from __future__ import annotations

import shutil

import pytest
import torch
from _common import training_settings
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from fdpo.checks import MAX_BETA, check_same_vocabulary, check_tokenizer
from fdpo.config import FDPOConfig
from fdpo.errors import InputError
from fdpo.trainer import FDPOTrainer, NonFiniteTrainingError


def _pairs() -> Dataset:
    return Dataset.from_dict(
        {
            "prompt": ["This movie was", "The cast is"],
            "chosen": [" great.", " superb."],
            "rejected": [" terrible.", " awful."],
        }
    )


def _trainer(model_dir, tmp_path, cls=FDPOTrainer, ref_model=None, **settings):
    return cls(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        ref_model=ref_model or AutoModelForCausalLM.from_pretrained(model_dir),
        args=FDPOConfig(**training_settings(str(tmp_path / "run"), **settings)),
        train_dataset=_pairs(),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )


class _NaNLoss(FDPOTrainer):
    def dpo_loss(self, *args, **kwargs):
        losses, chosen, rejected = super().dpo_loss(*args, **kwargs)
        return losses * float("nan"), chosen, rejected


def test_a_non_finite_loss_stops_training_at_the_first_step(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path, cls=_NaNLoss)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(NonFiniteTrainingError, match=r"step 1: the loss is nan.*Lower beta"):
        trainer.train()
    for old, new in zip(before, trainer.model.parameters(), strict=True):
        assert torch.isfinite(new).all()
        torch.testing.assert_close(new.detach(), old, rtol=0, atol=0)


def test_a_non_finite_gradient_is_caught_before_the_optimizer_step(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path)
    optimizer = trainer.create_optimizer()
    parameter = next(p for group in optimizer.param_groups for p in group["params"])
    parameter.grad = torch.full_like(parameter, float("inf"))
    before = parameter.detach().clone()
    with pytest.raises(NonFiniteTrainingError, match="a gradient is NaN or infinite"):
        optimizer.step()
    torch.testing.assert_close(parameter.detach(), before, rtol=0, atol=0)


def test_non_finite_weights_are_never_saved(tiny_model_dir, tmp_path):
    trainer = _trainer(tiny_model_dir, tmp_path)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteTrainingError, match="Not saving to .*holds NaN"):
        trainer.save_model(str(tmp_path / "saved"))
    assert not (tmp_path / "saved" / "model.safetensors").exists()


@pytest.mark.parametrize("beta", [1e308, MAX_BETA * 10, float("inf")])
def test_a_beta_that_overflows_is_refused_with_the_bound(tmp_path, beta):
    with pytest.raises(InputError, match=f"at most {MAX_BETA:g}"):
        FDPOConfig(str(tmp_path), beta=beta)
    FDPOConfig(str(tmp_path), beta=MAX_BETA, report_to="none")  # the bound itself is accepted


def test_a_model_folder_without_tokenizer_files_is_refused_before_training(tiny_model_dir, tmp_path):
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model_dir, folder)
    for file in folder.glob("tokenizer*"):
        file.unlink()
    empty = AutoTokenizer.from_pretrained(folder)
    with pytest.raises(InputError, match="its tokenizer has 1 entries, so it is empty"):
        check_tokenizer(str(folder), empty)
    with pytest.raises(InputError, match="tokenizer has .* entries"):
        FDPOTrainer(
            model=str(folder),
            args=FDPOConfig(**training_settings(str(tmp_path / "run"))),
            train_dataset=_pairs(),
        )


def test_the_tokenizer_must_fit_the_model(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    check_tokenizer("lm", tokenizer, vocab_size=len(tokenizer))
    with pytest.raises(InputError, match="only 3 token embeddings"):
        check_tokenizer("lm", tokenizer, vocab_size=3)


def test_a_reference_with_another_vocabulary_is_refused(tiny_model_dir, tmp_path):
    from fdpo.demo.models import build_causal_lm, train_tokenizer

    other_tokenizer = train_tokenizer(
        ["a b c d e f g h i j k"] * 20 + ["the movie was good"] * 20, vocab_size=280
    )
    other = build_causal_lm(other_tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(InputError, match=r"'pol' and 'ref' have different vocabularies \(300 and \d+ tokens"):
        check_same_vocabulary("'pol'", tokenizer, "'ref'", other_tokenizer)
    check_same_vocabulary("'pol'", tokenizer, "'ref'", AutoTokenizer.from_pretrained(tiny_model_dir))
    with pytest.raises(InputError, match="300 token embeddings and the reference .* has \\d+"):
        _trainer(tiny_model_dir, tmp_path, ref_model=other)


def test_the_model_card_names_a_local_base_model(tiny_model_dir, tmp_path):
    """TRL's card template says "fine-tuned version of [None](https://huggingface.co/None)" for a local model."""
    from huggingface_hub import ModelCard

    trainer = _trainer(tiny_model_dir, tmp_path)
    trainer.save_model(str(tmp_path / "final"))
    text = ModelCard.load(tmp_path / "final" / "README.md").text
    assert "[None]" not in text and f"fine-tuned version of `{tiny_model_dir}`" in text
