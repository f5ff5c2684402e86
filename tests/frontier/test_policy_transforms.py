"""Tests for fdpo/frontier/policy_transforms.py: weight interpolation's closed cases, the temperature settings, and
what each transform samples with."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from fdpo.frontier.policy_transforms import (
    Interpolation,
    Realignment,
    Temperature,
    interpolate_weights,
    with_temperature,
)


def _perturbed(model: torch.nn.Module, scale: float = 0.1, seed: int = 1) -> torch.nn.Module:
    """A copy of ``model`` with every parameter moved by seeded noise (a stand-in for a trained policy)."""
    generator = torch.Generator().manual_seed(seed)
    other = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return other


def _states(model):
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_interpolation_endpoints_are_exact_and_the_midpoint_is_the_float64_mean(tiny_lm):
    reference, _ = tiny_lm
    policy = _perturbed(reference)
    before = (_states(reference), _states(policy))
    for t, expected in ((0.0, before[0]), (1.0, before[1])):
        state = interpolate_weights(reference, policy, t).state_dict()
        for name, tensor in expected.items():
            assert torch.equal(state[name], tensor), (t, name)
    middle = interpolate_weights(reference, policy, 0.5)
    for name, tensor in middle.state_dict().items():
        midpoint = ((before[0][name].double() + before[1][name].double()) / 2).to(tensor.dtype)
        torch.testing.assert_close(tensor, midpoint, rtol=0, atol=0)
        assert not torch.equal(tensor, before[0][name]) or torch.equal(before[0][name], before[1][name])
    # the inputs are untouched and share no storage with the result; tied weights stay tied
    for model, state in zip((reference, policy), before, strict=True):
        for name, tensor in model.state_dict().items():
            assert torch.equal(tensor, state[name])
    assert middle.transformer.wte.weight.data_ptr() == middle.lm_head.weight.data_ptr()
    assert middle.transformer.wte.weight.data_ptr() != policy.transformer.wte.weight.data_ptr()
    # the result runs: t = 0 gives the reference's logits exactly
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(
            interpolate_weights(reference, policy, 0).eval()(ids).logits, reference.eval()(ids).logits
        )


def test_interpolation_runs_its_own_weights_when_the_policys_forward_was_patched(tiny_lm):
    """TRL's trainer replaces a policy's forward with a closure over the original model's forward (its fused LM head,
    added here by TRL's own function); a plain deep copy would run the original's weights whatever its own state
    dict says."""
    from trl.trainer.utils import add_fused_lm_head

    reference, _ = tiny_lm
    policy = _perturbed(reference)
    add_fused_lm_head(policy)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        expected = reference.eval()(ids).logits
        assert not torch.equal(policy.eval()(ids).logits, expected)
        plain_copy = copy.deepcopy(policy)
        plain_copy.load_state_dict(reference.state_dict())
        assert not torch.equal(plain_copy(ids).logits, expected)  # what the restored forward prevents
        assert torch.equal(interpolate_weights(reference, policy, 0.0).eval()(ids).logits, expected)


def test_interpolation_mixes_float_buffers_and_takes_other_buffers_from_the_nearer_endpoint():
    """BatchNorm's running mean (float) is interpolated; its num_batches_tracked (int64) cannot be."""
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    policy = copy.deepcopy(reference)
    policy.train()
    for _ in range(3):
        policy(torch.randn(8, 3) + 1.0)  # updates running_mean/var and counts 3 batches
    reference_state, policy_state = reference.state_dict(), policy.state_dict()
    assert reference_state["1.num_batches_tracked"] == 0 and policy_state["1.num_batches_tracked"] == 3
    for t, counter in ((0.0, 0), (0.25, 0), (0.5, 3), (1.0, 3)):
        state = interpolate_weights(reference, policy, t).state_dict()
        expected = (1 - t) * reference_state["1.running_mean"].double() + t * policy_state[
            "1.running_mean"
        ].double()
        torch.testing.assert_close(state["1.running_mean"], expected.float(), rtol=0, atol=0)
        assert state["1.num_batches_tracked"].item() == counter


def test_interpolation_refuses_models_that_do_not_match(tiny_lm):
    reference, _ = tiny_lm
    config = reference.config
    other_width = GPT2LMHeadModel(GPT2Config(**{**config.to_dict(), "n_embd": 64}))
    with pytest.raises(ValueError, match=r"differ in shape .*first: transformer\.wte\.weight"):
        interpolate_weights(reference, other_width, 0.5)
    deeper = GPT2LMHeadModel(GPT2Config(**{**config.to_dict(), "n_layer": config.n_layer + 1}))
    with pytest.raises(
        ValueError, match=r"different parameters: 0 only in the reference .* only in the policy"
    ):
        interpolate_weights(reference, deeper, 0.5)
    with pytest.raises(ValueError, match="Cannot interpolate a GPT2LMHeadModel with a Linear"):
        interpolate_weights(reference, torch.nn.Linear(2, 2), 0.5)
    for bad in (float("nan"), float("inf"), "0.5", True):
        with pytest.raises(ValueError, match="t must be a finite number"):
            interpolate_weights(reference, reference, bad)


def test_with_temperature_sets_sampling_at_that_temperature():
    base = {"top_k": 0, "max_new_tokens": 8, "do_sample": False, "temperature": 1.0}
    assert with_temperature(base, 0.7) == {
        "top_k": 0,
        "max_new_tokens": 8,
        "do_sample": True,
        "temperature": 0.7,
    }
    assert base["temperature"] == 1.0  # not modified
    assert with_temperature(None, 2) == {"do_sample": True, "temperature": 2.0}
    for bad in (0, -1.0, float("nan"), float("inf"), None, True):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            with_temperature(base, bad)


def test_each_transform_gives_the_model_and_settings_to_sample_with(tiny_lm):
    """Temperature and realignment sample the policy itself with other settings; interpolation samples a new model
    (in eval mode) with the settings as they are. None of them changes the settings it is given."""
    reference, _ = tiny_lm
    policy = _perturbed(reference)
    generation = {"max_new_tokens": 4, "top_k": 0}
    model, settings = Temperature(0.7).apply(reference, policy, generation)
    assert model is policy and settings == {**generation, "do_sample": True, "temperature": 0.7}
    model, settings = Realignment(1.5).apply(reference, policy, generation)
    assert model is policy and settings == {**generation, "reference": reference, "realign": 1.5}
    model, settings = Interpolation(0.0).apply(reference, policy, generation)
    assert model is not policy and not model.training and settings == generation
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor)
    assert generation == {"max_new_tokens": 4, "top_k": 0}
    assert [(t.lever, t.label) for t in (Temperature(0.85), Interpolation(1.25), Realignment(0.5))] == [
        ("temperature", "T=0.85"),
        ("interpolation", "t=1.25"),
        ("realignment", "λ=0.5"),
    ]
