"""Tests for fdpo/trainer.py: parity with TRL's DPOTrainer, the dpo_loss override point, and TRL's features.

TRL's own f-divergences are the reference: ``reverse_kl`` is TRL's default DPO, and TRL's ``forward_kl``,
``js_divergence`` and ``alpha_divergence`` (with ``f_alpha_divergence_coef`` = 1 − our α) compute the same f′ up to an
additive constant, which cancels in the sigmoid and hinge losses. These tests also pin the TRL internals that
``FDPOTrainer._compute_loss`` replaces: a change in TRL's ``_compute_loss`` or ``compute_ref_log_probs`` breaks them.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from _common import training_settings
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

from fdpo.config import FDPOConfig
from fdpo.divergences import FDivergence, get_divergence, register_divergence
from fdpo.losses import fdpo_loss
from fdpo.trainer import FDPOTrainer

REPO_ROOT = Path(__file__).resolve().parent.parent

PROMPTS = ["This movie was", "The cast is", "I loved", "The worst film", "A fine film", "The dialogue is"]
CHOSEN = [
    " great and fun.",
    " superb.",
    " every minute of it.",
    " ever made.",
    " with a lovely score.",
    " sharp.",
]
REJECTED = [
    " terrible.",
    " awful and cheap.",
    " nothing",
    " I have seen, dull and far too long.",
    " long.",
    " awful.",
]

# Our divergence spec -> (TRL f_divergence_type, TRL f_alpha_divergence_coef)
TRL_EQUIVALENTS = {
    "reverse_kl": ("reverse_kl", 0.5),
    "forward_kl": ("forward_kl", 0.5),
    "jensen_shannon": ("js_divergence", 0.5),
    "alpha:0.3": ("alpha_divergence", 0.7),
}
# Metrics that do not depend on the divergence: FDPOTrainer must log TRL's values.
SHARED_METRICS = (
    "entropy",
    "num_tokens",
    "logits/chosen",
    "logits/rejected",
    "mean_token_accuracy",
    "logps/chosen",
    "logps/rejected",
    "rewards/accuracies",
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and lose a lot to them when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pairs(n: int = 8) -> Dataset:
    return Dataset.from_dict(
        {
            "prompt": [PROMPTS[i % len(PROMPTS)] for i in range(n)],
            "chosen": [CHOSEN[i % len(CHOSEN)] for i in range(n)],
            "rejected": [REJECTED[(i + 1) % len(REJECTED)] for i in range(n)],
        }
    )


def _settings(tmp_path, **overrides) -> dict:
    return training_settings(str(tmp_path / "run"), **overrides)


def _policy(model_dir: str, scale: float = 0.05):
    """The saved model with its weights moved a little, so that log ratios are non-zero from the first batch."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model


def _reference(model_dir: str):
    return AutoModelForCausalLM.from_pretrained(model_dir)


def _fdpo_trainer(model_dir, tmp_path, divergence="reverse_kl", trainer_class=None, dataset=None, **settings):
    trainer_class = trainer_class or FDPOTrainer
    return trainer_class(
        model=_policy(model_dir),
        ref_model=_reference(model_dir),
        args=FDPOConfig(**_settings(tmp_path, divergence=divergence, **settings)),
        train_dataset=dataset if dataset is not None else _pairs(),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )


def _trl_trainer(model_dir, tmp_path, divergence="reverse_kl", dataset=None, **settings):
    f_divergence_type, coef = TRL_EQUIVALENTS[divergence]
    config = DPOConfig(
        **_settings(tmp_path, f_divergence_type=f_divergence_type, f_alpha_divergence_coef=coef, **settings)
    )
    return DPOTrainer(
        model=_policy(model_dir),
        ref_model=_reference(model_dir),
        args=config,
        train_dataset=dataset if dataset is not None else _pairs(),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )


def _loss_and_grads(trainer, batch):
    """One forward/backward of ``trainer.compute_loss`` in training mode: (loss, {name: grad}, metrics of the batch)."""
    trainer.model.train()
    trainer.model.zero_grad()
    trainer._metrics["train"].clear()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {
        name: parameter.grad.clone()
        for name, parameter in trainer.model.named_parameters()
        if parameter.grad is not None
    }
    metrics = {key: values[-1] for key, values in trainer._metrics["train"].items()}
    return loss.detach(), grads, metrics


def _first_batch(trainer):
    return trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))


def _losses_from(history) -> list[float]:
    return [entry["loss"] for entry in history if "loss" in entry]


def _losses(trainer) -> list[float]:
    return _losses_from(trainer.state.log_history)


def _sequence_logps(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs from plain logits (float64 log-softmax): an independent reference.

    Returns (chosen, rejected), each of shape (batch_size,).
    """
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.double()
    token_logps = (
        torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    )
    sums = (token_logps * batch["completion_mask"][:, 1:]).sum(dim=1)
    return sums.chunk(2)


# ---------------------------------------------------------------------------------------------------------------------
# TRL internals that FDPOTrainer relies on


def test_trl_private_api_is_the_one_fdpo_replaces():
    """FDPOTrainer overrides DPOTrainer._compute_loss and calls compute_ref_log_probs: their signatures must hold."""
    assert list(inspect.signature(DPOTrainer._compute_loss).parameters) == [
        "self",
        "model",
        "inputs",
        "return_outputs",
    ]
    assert list(inspect.signature(DPOTrainer.compute_ref_log_probs).parameters) == ["self", "model", "inputs"]
    assert "self._compute_loss(model, inputs, return_outputs)" in inspect.getsource(DPOTrainer.compute_loss)
    # FDPOTrainer also overrides _precompute_ref_logps, to keep reference columns a dataset already has
    assert list(inspect.signature(DPOTrainer._precompute_ref_logps).parameters) == [
        "self",
        "dataset",
        "name",
        "batch_size",
    ]


def test_trl_attributes_used_by_fdpo_exist(tiny_model_dir, tmp_path):
    trainer = _fdpo_trainer(tiny_model_dir, tmp_path)
    for name in (
        "precompute_ref_logps",
        "aux_loss_enabled",
        "router_aux_loss_coef",
        "ref_model",
        "_tp_size",
        "beta",
    ):
        assert hasattr(trainer, name), name
    assert set(trainer._metrics) == {"train", "eval"}
    assert trainer._total_train_tokens == 0
    assert trainer.divergence == get_divergence("reverse_kl")
    assert trainer.loss_type == "sigmoid"


# ---------------------------------------------------------------------------------------------------------------------
# Parity with TRL


def _parity_cases():
    for divergence in TRL_EQUIVALENTS:
        for loss_type in ("sigmoid", "hinge", "ipo"):
            # IPO divides each score by its completion length, so an additive constant in f′ does not cancel there:
            # both fdpo and TRL shift f′ so that f′(1) = 0, and this case checks it.
            yield pytest.param(divergence, loss_type, id=f"{divergence}-{loss_type}")


@pytest.mark.parametrize("divergence,loss_type", list(_parity_cases()))
def test_loss_and_gradients_match_trl(tiny_model_dir, tmp_path, divergence, loss_type):
    """Same batch, same weights: FDPOTrainer's loss and every parameter's gradient equal TRL's."""
    trl = _trl_trainer(tiny_model_dir, tmp_path, divergence, loss_type=[loss_type])
    ours = _fdpo_trainer(tiny_model_dir, tmp_path, divergence, loss_type=[loss_type])
    batch = _first_batch(trl)
    trl_loss, trl_grads, trl_metrics = _loss_and_grads(trl, batch)
    our_loss, our_grads, our_metrics = _loss_and_grads(ours, batch)

    assert torch.isfinite(trl_loss) and trl_loss > 0
    # reverse_kl is TRL's computation up to the order of two float32 operations; the others add one exp/log.
    tolerance = dict(rtol=2e-6, atol=1e-7) if divergence == "reverse_kl" else dict(rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(our_loss, trl_loss, **tolerance)
    assert our_grads.keys() == trl_grads.keys() and len(our_grads) > 10
    for name, grad in trl_grads.items():
        assert grad.abs().max() > 0 or name.endswith("bias"), name
        torch.testing.assert_close(
            our_grads[name], grad, **tolerance, msg=lambda m, name=name: f"{name}: {m}"
        )
    for key in SHARED_METRICS:
        assert our_metrics[key] == pytest.approx(trl_metrics[key], rel=1e-5, abs=1e-7), key
    if divergence == "reverse_kl":
        for key in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
            assert our_metrics[key] == pytest.approx(trl_metrics[key], rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize(
    "divergence,loss_type,extra",
    [
        ("reverse_kl", "sigmoid", {}),
        ("reverse_kl", "hinge", {}),
        ("reverse_kl", "ipo", {}),
        ("jensen_shannon", "sigmoid", {}),
        ("alpha:0.3", "hinge", {}),
        # TRL's default; the reference forward runs with checkpointing switched off
        ("forward_kl", "sigmoid", {"gradient_checkpointing": True}),
    ],
)
def test_loss_curve_matches_trl(tiny_model_dir, tmp_path, divergence, loss_type, extra):
    """8 optimizer steps from the same seed: the logged losses and gradient norms follow TRL's."""
    runs = []
    for make in (_trl_trainer, _fdpo_trainer):
        trainer = make(tiny_model_dir, tmp_path, divergence, loss_type=[loss_type], max_steps=8, **extra)
        trainer.train()
        runs.append(trainer.state.log_history)
    trl_history, our_history = runs
    trl_losses = torch.tensor(_losses_from(trl_history))
    our_losses = torch.tensor(_losses_from(our_history))
    assert len(trl_losses) == 8 and torch.isfinite(trl_losses).all()
    assert trl_losses[-1] != trl_losses[0]  # the run moves
    torch.testing.assert_close(our_losses, trl_losses, rtol=1e-4, atol=1e-6)
    trl_norms = torch.tensor([entry["grad_norm"] for entry in trl_history if "grad_norm" in entry])
    our_norms = torch.tensor([entry["grad_norm"] for entry in our_history if "grad_norm" in entry])
    torch.testing.assert_close(our_norms, trl_norms, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("divergence", ["forward_kl", "jensen_shannon", "alpha:0.3", "chi_squared_kl"])
def test_logged_rewards_are_beta_f_prime(tiny_model_dir, tmp_path, divergence):
    """rewards/* are the batch means of β·f′(a) from fdpo_loss, not TRL's β·a."""
    trainer = _fdpo_trainer(tiny_model_dir, tmp_path, divergence)
    batch = _first_batch(trainer)
    _, _, metrics = _loss_and_grads(trainer, batch)
    policy_chosen, policy_rejected = _sequence_logps(trainer.model, batch)
    ref_chosen, ref_rejected = _sequence_logps(trainer.ref_model, batch)
    _, chosen_rewards, rejected_rewards = fdpo_loss(
        policy_chosen, policy_rejected, ref_chosen, ref_rejected, divergence=divergence, beta=0.5
    )
    assert metrics["rewards/chosen"] == pytest.approx(chosen_rewards.mean().item(), rel=1e-4, abs=1e-5)
    assert metrics["rewards/rejected"] == pytest.approx(rejected_rewards.mean().item(), rel=1e-4, abs=1e-5)
    margins = (chosen_rewards - rejected_rewards).mean().item()
    assert metrics["rewards/margins"] == pytest.approx(margins, rel=1e-4, abs=1e-5)
    assert metrics["logps/chosen"] == pytest.approx(policy_chosen.mean().item(), rel=1e-5)
    log_ratio_rewards = 0.5 * (policy_chosen - ref_chosen).mean().item()  # what TRL would log
    assert abs(metrics["rewards/chosen"] - log_ratio_rewards) > 1e-2


# ---------------------------------------------------------------------------------------------------------------------
# The override point


class _DoublingTrainer(FDPOTrainer):
    """Doubles the default loss and reports constant rewards, counting its calls."""

    calls = 0

    def dpo_loss(
        self, policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, *lengths
    ):
        type(self).calls += 1
        losses, _, _ = super().dpo_loss(
            policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps
        )
        constant = torch.full_like(losses, 7.0)
        return 2 * losses, constant, constant - 1


def test_dpo_loss_override_drives_loss_and_rewards(tiny_model_dir, tmp_path):
    base = _fdpo_trainer(tiny_model_dir, tmp_path, "jensen_shannon")
    doubled = _fdpo_trainer(tiny_model_dir, tmp_path, "jensen_shannon", trainer_class=_DoublingTrainer)
    batch = _first_batch(base)
    base_loss, base_grads, _ = _loss_and_grads(base, batch)
    _DoublingTrainer.calls = 0
    loss, grads, metrics = _loss_and_grads(doubled, batch)
    assert _DoublingTrainer.calls == 1
    torch.testing.assert_close(loss, 2 * base_loss)
    for name, grad in base_grads.items():
        torch.testing.assert_close(grads[name], 2 * grad, rtol=1e-5, atol=1e-7)
    assert metrics["rewards/chosen"] == 7.0 and metrics["rewards/margins"] == 1.0
    assert metrics["rewards/accuracies"] == 1.0

    doubled.train()
    assert _DoublingTrainer.calls == 1 + 2  # one call per training step


def test_dpo_loss_returning_a_scalar_is_refused(tiny_model_dir, tmp_path):
    class ReducingTrainer(FDPOTrainer):
        def dpo_loss(self, *args):
            losses, chosen, rejected = super().dpo_loss(*args)
            return losses.mean(), chosen, rejected

    trainer = _fdpo_trainer(tiny_model_dir, tmp_path, trainer_class=ReducingTrainer)
    with pytest.raises(ValueError, match=r"dpo_loss returned losses of shape \(\); expected \(4,\)"):
        _loss_and_grads(trainer, _first_batch(trainer))


def test_user_registered_divergence_trains_unchanged(tiny_model_dir, tmp_path):
    """A divergence registered in user code works by name. f′(u) = 2 log u with β equals reverse KL with 2β."""

    @register_divergence
    class DoubledReverseKL(FDivergence):
        name = f"test_doubled_reverse_kl_{uuid.uuid4().hex[:8]}"

        def f_prime_exact(self, log_ratio):
            return 2 * log_ratio

        def f(self, log_ratio):
            return 2 * log_ratio * torch.exp(log_ratio)

    ours = _fdpo_trainer(tiny_model_dir, tmp_path, DoubledReverseKL.name, beta=0.25)
    assert isinstance(ours.divergence, DoubledReverseKL)
    trl = _trl_trainer(tiny_model_dir, tmp_path, "reverse_kl", beta=0.5)
    batch = _first_batch(trl)
    trl_loss, trl_grads, _ = _loss_and_grads(trl, batch)
    our_loss, our_grads, _ = _loss_and_grads(ours, batch)
    torch.testing.assert_close(our_loss, trl_loss, rtol=1e-6, atol=1e-7)
    for name, grad in trl_grads.items():
        torch.testing.assert_close(our_grads[name], grad, rtol=1e-5, atol=1e-7)
    ours.train()
    assert all(math.isfinite(loss) for loss in _losses(ours))


# ---------------------------------------------------------------------------------------------------------------------
# TRL features that keep working


def test_precomputed_reference_gives_the_same_run(tiny_model_dir, tmp_path):
    on_the_fly = _fdpo_trainer(tiny_model_dir, tmp_path, "forward_kl", max_steps=3)
    precomputed = _fdpo_trainer(
        tiny_model_dir, tmp_path, "forward_kl", max_steps=3, precompute_ref_log_probs=True
    )
    assert "ref_chosen_logps" in precomputed.train_dataset.column_names
    on_the_fly.train()
    precomputed.train()
    torch.testing.assert_close(
        torch.tensor(_losses(precomputed)), torch.tensor(_losses(on_the_fly)), rtol=1e-5, atol=1e-6
    )


def test_peft_lora_policy_uses_the_base_model_as_reference(tiny_model_dir, tmp_path):
    """With a LoRA policy and no ref_model, the reference is the policy with its adapter switched off."""
    peft = pytest.importorskip("peft")
    base = _reference(tiny_model_dir)
    trainer = FDPOTrainer(
        model=_reference(tiny_model_dir),
        args=FDPOConfig(**_settings(tmp_path, divergence="alpha:0.5", max_steps=3, learning_rate=5e-2)),
        train_dataset=_pairs(),
        processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        peft_config=peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0),
    )
    assert trainer.ref_model is None
    batch = _first_batch(trainer)
    ref_chosen, ref_rejected = trainer.compute_ref_log_probs(trainer.model, batch)
    expected_chosen, expected_rejected = _sequence_logps(base, batch)
    torch.testing.assert_close(ref_chosen.double(), expected_chosen, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ref_rejected.double(), expected_rejected, rtol=1e-5, atol=1e-4)

    trainer.train()
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    # LoRA's B starts at zero: policy == reference on the first step, so a = 0, f′(1) = 0 and the loss is log 2.
    assert history[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert history[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    assert history[-1]["rewards/margins"] != 0.0
    lora_b = [p for name, p in trainer.model.named_parameters() if "lora_B" in name]
    assert lora_b and all(p.abs().max() > 0 for p in lora_b)
    base_weight = dict(base.named_parameters())["transformer.h.0.attn.c_attn.weight"]
    trained_base_weight = trainer.model.get_base_model().transformer.h[0].attn.c_attn.base_layer.weight
    torch.testing.assert_close(trained_base_weight, base_weight, rtol=0, atol=0)


def test_gradient_accumulation_matches_the_large_batch(tiny_model_dir, tmp_path):
    """2 micro-batches of 2 with accumulation take the same SGD step as one batch of 4."""
    results = []
    for per_device, accumulation in ((4, 1), (2, 2)):
        trainer = _fdpo_trainer(
            tiny_model_dir,
            tmp_path,
            "alpha:0.3",
            per_device_train_batch_size=per_device,
            gradient_accumulation_steps=accumulation,
            max_steps=1,
            optim="sgd",
            learning_rate=1.0,
            max_grad_norm=0.0,
        )
        before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
        trainer.train()
        step = {name: p.detach() - before[name] for name, p in trainer.model.named_parameters()}
        results.append((step, _losses(trainer)[0]))
    (full_step, full_loss), (accumulated_step, accumulated_loss) = results
    assert accumulated_loss == pytest.approx(full_loss, rel=1e-5)
    assert max(step.abs().max() for step in full_step.values()) > 1e-3
    for name, step in full_step.items():
        torch.testing.assert_close(accumulated_step[name], step, rtol=1e-4, atol=1e-6, msg=name)


def test_evaluate_reports_f_prime_rewards_and_trl_loss(tiny_model_dir, tmp_path):
    eval_pairs = _pairs(6)
    trl = _trl_trainer(tiny_model_dir, tmp_path, "jensen_shannon")
    ours = _fdpo_trainer(tiny_model_dir, tmp_path, "jensen_shannon")
    trl_metrics = trl.evaluate(eval_pairs)
    our_metrics = ours.evaluate(eval_pairs)
    for key in (
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
        "logps/chosen",
    ):
        assert math.isfinite(our_metrics[f"eval_{key}"]), key
    assert our_metrics["eval_loss"] == pytest.approx(trl_metrics["eval_loss"], rel=1e-5)
    assert our_metrics["eval_logps/chosen"] == pytest.approx(trl_metrics["eval_logps/chosen"], rel=1e-5)
    # JS: β·(log 2 + log σ(a)) is not β·a
    assert abs(our_metrics["eval_rewards/chosen"] - trl_metrics["eval_rewards/chosen"]) > 1e-3


def test_synced_reference_is_the_one_used(tiny_model_dir, tmp_path):
    """TR-DPO sync with mixup 1 after every step copies the policy into the reference: from step 2 on, a = 0."""
    trainer = _fdpo_trainer(
        tiny_model_dir,
        tmp_path,
        "jensen_shannon",
        max_steps=3,
        sync_ref_model=True,
        ref_model_sync_steps=1,
        ref_model_mixup_alpha=1.0,
    )
    trainer.train()
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert history[0]["loss"] != pytest.approx(math.log(2), abs=1e-3)
    for entry in history[1:]:
        assert entry["loss"] == pytest.approx(math.log(2), abs=1e-6)
        assert entry["rewards/chosen"] == pytest.approx(0.0, abs=1e-6)


def test_moe_auxiliary_loss_matches_trl(tiny_model_dir, tmp_path):
    """A tiny Mixtral with its router load-balancing loss: FDPOTrainer adds it exactly as TRL does."""
    from transformers import MixtralConfig, MixtralForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = MixtralConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        output_router_logits=True,
        router_aux_loss_coef=0.5,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    moe_dir = tmp_path / "moe"
    MixtralForCausalLM(config).save_pretrained(moe_dir)
    tokenizer.save_pretrained(moe_dir)
    histories = []
    for trainer_class, config_class in ((DPOTrainer, DPOConfig), (FDPOTrainer, FDPOConfig)):
        trainer = trainer_class(
            model=_policy(str(moe_dir)),
            ref_model=_reference(str(moe_dir)),
            args=config_class(**_settings(tmp_path, max_steps=2)),
            train_dataset=_pairs(),
            processing_class=tokenizer,
        )
        assert trainer.aux_loss_enabled
        trainer.train()
        histories.append([entry for entry in trainer.state.log_history if "loss" in entry])
    trl_history, our_history = histories
    for trl_entry, our_entry in zip(trl_history, our_history, strict=True):
        assert our_entry["aux_loss"] > 0
        assert our_entry["aux_loss"] == pytest.approx(trl_entry["aux_loss"], rel=1e-5)
        assert our_entry["loss"] == pytest.approx(trl_entry["loss"], rel=1e-5)


# ---------------------------------------------------------------------------------------------------------------------
# Settings FDPOTrainer cannot honour


@pytest.mark.parametrize(
    "name,value",
    [
        ("loss_type", ["robust"]),
        ("loss_type", ["sigmoid", "sft"]),
        ("loss_weights", [0.5]),
        ("ld_alpha", 0.5),
        ("use_weighting", True),
        ("label_smoothing", 0.1),
        ("padding_free", True),
        ("f_divergence_type", "forward_kl"),
        ("f_alpha_divergence_coef", 0.3),
        ("beta", 0.0),
        ("divergence", "no_such_divergence"),
    ],
)
def test_settings_changed_after_config_are_refused_at_construction(tiny_model_dir, tmp_path, name, value):
    args = FDPOConfig(**_settings(tmp_path))
    setattr(args, name, value)
    expected = "no_such_divergence" if name == "divergence" else name
    with pytest.raises(ValueError, match=expected):
        FDPOTrainer(
            model=_policy(tiny_model_dir),
            ref_model=_reference(tiny_model_dir),
            args=args,
            train_dataset=_pairs(),
            processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        )


def test_plain_dpo_config_is_refused(tiny_model_dir, tmp_path):
    with pytest.raises(TypeError, match="FDPOConfig"):
        FDPOTrainer(
            model=_policy(tiny_model_dir),
            ref_model=_reference(tiny_model_dir),
            args=DPOConfig(**_settings(tmp_path)),
            train_dataset=_pairs(),
            processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        )


# ---------------------------------------------------------------------------------------------------------------------
# Multi-process training


@pytest.mark.slow
def test_two_process_training_matches_trl(tiny_model_dir, tmp_path):
    """2 CPU processes (gloo) through `accelerate launch`: FDPOTrainer follows TRL's DDP run step for step."""
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which(
        "accelerate"
    )
    assert accelerate, "accelerate's launcher is not installed"
    output = tmp_path / "histories.json"
    command = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(REPO_ROOT / "tests" / "_multiprocess_train.py"),
        tiny_model_dir,
        str(output),
    ]
    environment = {
        **os.environ,
        "ACCELERATE_USE_CPU": "true",
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    completed = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=240, cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(output.read_text())
    assert result["world_size"] == 2
    trl = [entry for entry in result["trl"] if "loss" in entry]
    ours = [entry for entry in result["fdpo"] if "loss" in entry]
    assert len(ours) == len(trl) == 3
    for step, (trl_entry, our_entry) in enumerate(zip(trl, ours, strict=True)):
        assert math.isfinite(our_entry["loss"])
        assert our_entry["loss"] == pytest.approx(trl_entry["loss"], rel=1e-5)
        assert our_entry["num_tokens"] == trl_entry["num_tokens"]  # tokens of both processes
        assert our_entry["entropy"] == pytest.approx(trl_entry["entropy"], rel=1e-5)
        if step < 2:
            # The third step holds 2 pairs padded with 2 duplicates: we average the real pairs only, TRL all 4.
            assert our_entry["logps/chosen"] == pytest.approx(trl_entry["logps/chosen"], rel=1e-5)
            # f′ is increasing, so the accuracies agree; over the 4 pairs of both processes they are multiples of 1/4
            assert our_entry["rewards/accuracies"] == trl_entry["rewards/accuracies"]
            assert (4 * our_entry["rewards/accuracies"]).is_integer()
    assert ours[0]["rewards/chosen"] != pytest.approx(trl[0]["rewards/chosen"], rel=1e-3)


def test_remove_fused_lm_head_restores_only_what_trl_patched(tiny_model_dir):
    """TRL's fused LM head makes a deep copy run the original's weights; removing it makes the copy independent,
    and a model TRL never patched is left alone (0 restored)."""
    import copy

    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from fdpo.trainer import remove_fused_lm_head

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    assert remove_fused_lm_head(model) == 0
    add_fused_lm_head(model)
    patched_copy = copy.deepcopy(model)
    with torch.no_grad():
        patched_copy.lm_head.weight.mul_(0.5)
        assert torch.equal(patched_copy(ids).logits, model(ids).logits)  # the upstream behaviour this guards
        assert remove_fused_lm_head(model) == 1 and "forward" not in model.__dict__
        restored_copy = copy.deepcopy(model)
        restored_copy.lm_head.weight.mul_(0.5)
        assert not torch.equal(restored_copy(ids).logits, model(ids).logits)
