"""Tests for fdpo/pipeline/training.py: reference log-probs computed once give the same training as TRL's reference forwards."""

from __future__ import annotations

import copy

import pytest
import torch
from _common import tiny_sweep_training
from datasets import Dataset

from fdpo.pipeline import compute_reference_log_probs, load_causal_lm, train_policy
from fdpo.sweep import RunSpec, SweepConfig


def _tiny_pairs() -> Dataset:
    prompts = ["This movie was", "The cast is", "I loved", "The worst film"]
    chosen = [" great and fun.", " superb.", " every minute.", " I have seen"]
    rejected = [" terrible.", " awful and cheap.", " nothing at all", " ever, dull."]
    return Dataset.from_dict({"prompt": prompts * 2, "chosen": chosen * 2, "rejected": rejected * 2})


def test_reused_reference_log_probs_match_trl_and_train_identically(tiny_model_dir, tmp_path):
    """The precomputed columns equal TRL's own precompute, and training on them equals training with a reference
    model forward at every step (TRL's default): same losses, same weights."""
    from fdpo.trainer import FDPOTrainer

    model, tokenizer = load_causal_lm(tiny_model_dir)
    config = SweepConfig(
        sft_model=tiny_model_dir, reward_model=tiny_model_dir, training=tiny_sweep_training()
    )
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
    # the policy runs its own weights, and so does a copy of it (TRL's fused LM head is removed)
    assert "forward" not in reused.__dict__
    ids = torch.tensor([tokenizer("The movie was").input_ids])
    copied = copy.deepcopy(reused)
    with torch.no_grad():
        copied.transformer.wte.weight.mul_(0.5)
        assert not torch.equal(copied(ids).logits, reused(ids).logits)
    # the SFT model itself is never trained
    pristine, _ = load_causal_lm(tiny_model_dir)
    for a, b in zip(model.parameters(), pristine.parameters(), strict=True):
        assert a.equal(b)


def test_train_policy_with_reuse_needs_the_columns(tiny_model_dir, tmp_path):
    model, tokenizer = load_causal_lm(tiny_model_dir)
    config = SweepConfig(
        sft_model=tiny_model_dir, reward_model=tiny_model_dir, training=tiny_sweep_training()
    )
    args = config.fdpo_config(RunSpec("reverse_kl", "sigmoid", 0.1, 0), tmp_path)
    with pytest.raises(ValueError, match="compute_reference_log_probs"):
        train_policy(model, tokenizer, _tiny_pairs(), args, reuse_reference=True)
