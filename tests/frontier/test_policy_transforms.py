"""Tests for fdpo/levers.py: weight interpolation's closed cases, the temperature settings, mean token log-probs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from fdpo.levers import interpolate_weights, mean_token_logprobs, with_temperature


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


def test_mean_token_logprobs_against_a_float64_forward(tiny_lm):
    """Completion token ids scored after the prompt's ids, in one float64 forward: the mean of log-softmax picks."""
    model, tokenizer = tiny_lm
    prompts = ["This movie was", "A fine film"]
    completions = [[5, 17, 42, 9], [7, 7]]
    values = mean_token_logprobs(model, tokenizer, prompts, completions)
    double = copy.deepcopy(model).double().eval()
    for prompt, completion, value in zip(prompts, completions, values, strict=True):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + completion])
        with torch.no_grad():
            logps = torch.log_softmax(double(ids).logits[0], dim=-1)
        picks = [logps[len(prompt_ids) + k - 1, token].item() for k, token in enumerate(completion)]
        np.testing.assert_allclose(value, np.mean(picks), rtol=1e-5)
    empty = mean_token_logprobs(model, tokenizer, ["This movie was"], [[]])
    assert np.isnan(empty[0])


def test_make_pairs_divpo_picks_by_the_sft_models_mean_token_logprob(tiny_lm):
    """One prompt, four samples with rewards 3, 2, 1, 0: pools {0, 1} and {2, 3} (quantile 0.5). Chosen is the
    top-pool sample with the lower mean token log-prob, rejected the bottom-pool sample with the higher one."""
    from fdpo.generation import Samples
    from fdpo.stages import make_pairs
    from fdpo.sweep.settings import PairSettings

    model, tokenizer = tiny_lm
    ids = [[5, 17, 42], [7, 7, 7, 7], [11, 30], [9, 12, 50, 61]]
    completions = [tokenizer.decode(i) for i in ids]
    samples = Samples(["p"] * 4, ["p"] * 4, completions, ["p" + c for c in completions], ids)
    logprobs = mean_token_logprobs(model, tokenizer, ["p"] * 4, ids)
    settings = PairSettings(strategy="divpo", diversity="logprob", quantile=0.5)
    pairs = make_pairs(samples, [3.0, 2.0, 1.0, 0.0], settings, model=model, tokenizer=tokenizer)
    chosen = 0 if logprobs[0] < logprobs[1] else 1
    rejected = 2 if logprobs[2] > logprobs[3] else 3
    assert (pairs["chosen"], pairs["rejected"]) == ([completions[chosen]], [completions[rejected]])
    with pytest.raises(ValueError, match="need the SFT model and its tokenizer"):
        make_pairs(samples, [3.0, 2.0, 1.0, 0.0], settings)
    ngram = make_pairs(samples, [3.0, 2.0, 1.0, 0.0], PairSettings(strategy="divpo", diversity="ngram"))
    assert len(ngram) == 1
    assert PairSettings(strategy="divpo", quantile=0.7).problems() == [
        "pairs.quantile must be in (0, 0.5], got 0.7."
    ]
    assert "pairs.diversity='entropy' is unknown" in PairSettings(diversity="entropy").problems()[0]
