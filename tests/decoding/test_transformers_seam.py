"""Tests for fdpo/decoding/_transformers.py and the check in sampling.py: what fdpo's decoding loop takes from
transformers still holds (these fail, naming the internal, on a transformers release that changes it), the check
notices a change, and ``sample`` then runs ``model.generate`` instead of the loop."""

from __future__ import annotations

import pytest
import torch
from _generation_helpers import PROMPTS, QUIET, GenerateSpy
from transformers import GenerationConfig
from transformers.cache_utils import DynamicLayer
from transformers.generation.logits_process import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
)
from transformers.generation.utils import GenerationMixin

from fdpo.decoding import sample, sampling
from fdpo.decoding._transformers import TRANSFORMERS_VERSION, internals_problems
from fdpo.errors import InputError

CHANGED = f"transformers {TRANSFORMERS_VERSION} changed what fdpo's decoding loop relies on (fdpo/decoding/_transformers.py):"


def test_the_transformers_internals_the_loop_relies_on_still_hold():
    """Each line names an internal: a settings resolver, a cache class or method, a logits processor's arguments."""
    problems = internals_problems.__wrapped__()
    assert not problems, "\n".join([CHANGED, *problems])


def test_the_loop_still_gives_generates_tokens_on_a_tiny_model():
    """The run-time check itself: the loop against generate on a tiny GPT-2 (plain, top-k/top-p and beam sampling,
    beam search), the beams' shared cache against a cache per beam (sdpa and eager attention)."""
    problems = sampling.fast_path_problems.__wrapped__()
    assert not problems, "\n".join([CHANGED, *problems])


def test_the_check_leaves_the_random_state_alone():
    torch.manual_seed(11)
    state = torch.random.get_rng_state()
    sampling.fast_path_problems.__wrapped__()
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    [
        # A base class keeps an abstract version: what changes is how the layer behaves. (fdpo's layers override
        # update whole, so its going would not matter.)
        (DynamicLayer, "lazy_initialization", "cache_utils.DynamicLayer's lazy_initialization/update"),
        (GenerationMixin, "_prepare_generation_config", "GenerationMixin._prepare_generation_config is gone"),
    ],
)
def test_a_missing_internal_is_named(monkeypatch, owner, name, expected):
    monkeypatch.delattr(owner, name)
    problems = internals_problems.__wrapped__()
    assert any(expected in problem for problem in problems), problems


def test_a_processor_with_other_arguments_is_named(monkeypatch):
    def renamed(self, k: int, keep: int = 1):  # top_k= and min_tokens_to_keep= renamed
        pass

    monkeypatch.setattr(TopKLogitsWarper, "__init__", renamed)
    problems = internals_problems.__wrapped__()
    assert any("logits_process.TopKLogitsWarper(top_k=, min_tokens_to_keep=) fails" in p for p in problems), (
        problems
    )


def test_other_default_settings_are_named(monkeypatch):
    """transformers itself needs GenerationConfig._get_default_generation_params, so it can only change, not go."""
    monkeypatch.setattr(GenerationConfig, "_get_default_generation_params", staticmethod(dict))
    problems = internals_problems.__wrapped__()
    assert any("GenerationConfig._get_default_generation_params() no longer maps" in p for p in problems), (
        problems
    )


def test_a_generate_with_other_processors_is_caught(monkeypatch):
    """generate building a logits processor the loop does not know of (here: an extra temperature) breaks the tiny
    decode's agreement, and the check says so."""
    original = GenerationMixin._get_logits_processor

    def with_extra_temperature(self, *args, **kwargs) -> LogitsProcessorList:
        processors = original(self, *args, **kwargs)
        processors.append(TemperatureLogitsWarper(0.5))
        return processors

    monkeypatch.setattr(GenerationMixin, "_get_logits_processor", with_extra_temperature)
    problems = sampling.fast_path_problems.__wrapped__()
    assert any("no longer returns generate()'s tokens" in problem for problem in problems), problems


@pytest.mark.parametrize("engine", ["auto", "exact"])
def test_sample_runs_generate_when_the_check_fails(tiny_lm, monkeypatch, engine):
    """With the check failing, every batch goes to model.generate, after a one-line warning that says why; the
    samples are generate's."""
    model, tokenizer = tiny_lm
    kwargs = dict(num_samples_per_prompt=2, batch_size=4, seed=0, max_new_tokens=6, **QUIET)
    expected = sample(model, tokenizer, PROMPTS, engine="generate", **kwargs)
    spy = GenerateSpy(model)
    model.generate = spy
    sample(model, tokenizer, PROMPTS, engine=engine, **kwargs)
    assert not spy.calls  # the loop ran
    reason = "transformers.cache_utils.DynamicLayer.update is gone or no longer takes ['key_states', 'value_states']"
    monkeypatch.setattr(sampling, "fast_path_problems", lambda: (reason,))
    with pytest.warns(RuntimeWarning) as caught:
        got = sample(model, tokenizer, PROMPTS, engine=engine, **kwargs)
    (message,) = [str(warning.message) for warning in caught if warning.category is RuntimeWarning]
    assert "\n" not in message and reason in message and "sampling with model.generate instead" in message
    assert len(spy.calls) == 3  # 10 samples in batches of 4
    assert got == expected


def test_realign_refuses_to_run_when_the_check_fails(tiny_lm, monkeypatch):
    """Realignment has no generate() to fall back on: a clear error instead of a silent change of distribution."""
    model, tokenizer = tiny_lm
    monkeypatch.setattr(sampling, "fast_path_problems", lambda: ("a changed internal",))
    with pytest.raises(
        InputError, match="realign runs in fdpo's decoding loop, which is off .*a changed internal"
    ):
        sample(model, tokenizer, ["a"], reference=model, realign=0.5, max_new_tokens=2, **QUIET)
