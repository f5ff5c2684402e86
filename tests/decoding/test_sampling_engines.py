"""Tests for fdpo's decoding loop (fdpo/decoding/sampling.py, beams.py, streams.py): token for token against
``model.generate`` (engine="exact"), in distribution (engine="auto"), options it lacks sent to ``generate``, and
decoding-time realignment. The beams' shared cache is in test_beams.py."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import pytest
import torch
from _generation_helpers import PROMPTS, QUIET, GenerateSpy, likely_eos, no_stop, peaked
from scipy.stats import chi2_contingency

from fdpo.decoding import sample
from fdpo.decoding.batching import pad_batch
from fdpo.decoding.sampling import decode, plan

# ---------------------------------------------------------------------------------------------------------------------
# fdpo's decoding loop against model.generate

NOTEBOOK = dict(
    do_sample=True,
    top_k=50,
    num_beams=5,
    early_stopping=True,
    no_repeat_ngram_size=2,
    renormalize_logits=True,
)
SETTINGS = {
    "pure sampling": dict(do_sample=True, top_k=0, top_p=1.0, temperature=1.0),
    "top-k, top-p, temperature, min_new_tokens": dict(
        do_sample=True, top_k=20, top_p=0.9, temperature=0.7, min_new_tokens=4
    ),
    "greedy": dict(do_sample=False),
    "notebook beam sampling": NOTEBOOK,
    "beam sampling, early_stopping never": dict(do_sample=True, num_beams=3, early_stopping="never"),
    "beam search, length_penalty": dict(do_sample=False, num_beams=4, length_penalty=0.5),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_exact_engine_gives_generates_tokens(tiny_lm, name):
    """engine="exact": for the same seed, the completions of model.generate, over several batches (the random
    stream carries from batch to batch) of left-padded prompts of 0 to 5 tokens, with rows ending at EOS."""
    model, tokenizer = tiny_lm
    likely_eos(model, tokenizer)
    kwargs = dict(
        num_samples_per_prompt=3, batch_size=4, seed=3, max_new_tokens=16, **SETTINGS[name], **QUIET
    )
    exact = sample(model, tokenizer, PROMPTS, engine="exact", **kwargs)
    reference = sample(model, tokenizer, PROMPTS, engine="generate", **kwargs)
    assert exact == reference
    assert min(len(ids) for ids in exact.completion_ids) < 16  # EOS ended some rows


@pytest.mark.parametrize("name", list(SETTINGS))
def test_decode_returns_generates_tensor_and_random_state(tiny_lm, name):
    """The loop itself: the very tensor generate returns (prompt, new tokens, pad after EOS, output length) for a
    left-padded batch, and the same number of random draws (the generator state afterwards is the same)."""
    model, tokenizer = tiny_lm
    likely_eos(model, tokenizer)
    input_ids, attention_mask = pad_batch(
        [tokenizer(p, add_special_tokens=False)["input_ids"] or [tokenizer.bos_token_id] for p in PROMPTS],
        tokenizer.pad_token_id,
        side="left",
    )
    settings = dict(SETTINGS[name], max_new_tokens=12, pad_token_id=tokenizer.pad_token_id)
    decode_plan, reason = plan(model, settings)
    assert decode_plan is not None, reason
    for seed in range(3):
        torch.manual_seed(seed)
        expected = model.generate(input_ids=input_ids, attention_mask=attention_mask, **settings)
        expected_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        got = decode(model, decode_plan, input_ids, attention_mask)
        assert torch.equal(got, expected)
        assert torch.equal(torch.random.get_rng_state(), expected_state)


def test_max_and_min_length_in_fdpos_loop(tiny_lm):
    """max_length counts each prompt; min_new_tokens holds EOS back: with EOS made very likely, every completion
    has at least 5 tokens, and exactly what generate gives."""
    model, tokenizer = tiny_lm
    likely_eos(model, tokenizer, scale=4.0)
    kwargs = dict(seed=0, num_samples_per_prompt=4, min_new_tokens=5, max_length=24, **QUIET)
    got = sample(model, tokenizer, PROMPTS, engine="exact", **kwargs)
    assert got == sample(model, tokenizer, PROMPTS, engine="generate", **kwargs)
    for prompt, ids in zip(got.prompts, got.completion_ids, strict=True):
        prompt_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) or 1
        assert 5 <= len(ids) <= 24 - prompt_length
    assert any(
        len(ids) < 24 - 13 for ids in got.completion_ids
    )  # EOS did end some (prompts have ≤ 12 tokens)


def test_unsupported_options_run_in_generate(tiny_lm):
    """An option fdpo's loop does not implement (repetition_penalty) is never dropped: the call goes to
    model.generate, in both engines."""
    model, tokenizer = tiny_lm
    spy = GenerateSpy(model)
    model.generate = spy
    settings = dict(seed=0, max_new_tokens=5, repetition_penalty=1.3, **QUIET)
    for engine in ("auto", "exact"):
        spy.calls.clear()
        sample(model, tokenizer, PROMPTS, engine=engine, **settings)
        assert spy.calls and all(call["repetition_penalty"] == 1.3 for call in spy.calls)
    assert (
        plan(model, dict(max_new_tokens=5, repetition_penalty=1.3))[1]
        == "repetition_penalty=1.3 is not supported"
    )
    spy.calls.clear()
    sample(model, tokenizer, PROMPTS, seed=0, max_new_tokens=5, **QUIET)
    assert not spy.calls  # supported settings run in fdpo's loop
    with pytest.raises(ValueError, match="engine must be one of"):
        sample(model, tokenizer, PROMPTS, engine="vllm")


def _two_sample_p_value(first: list, second: list, min_count: int = 10) -> float:
    """Chi-square test of homogeneity between two samples of outcomes; outcomes seen fewer than ``min_count``
    times in the two samples together share one cell."""
    first_counts, second_counts = Counter(first), Counter(second)
    total = first_counts + second_counts
    cells = [outcome for outcome, count in total.items() if count >= min_count]
    rare = [outcome for outcome in total if total[outcome] < min_count]
    table = [
        [counts[outcome] for outcome in cells] + [sum(counts[o] for o in rare)]
        for counts in (first_counts, second_counts)
    ]
    table = np.array(table)
    table = table[:, table.sum(0) > 0]
    return float(chi2_contingency(table).pvalue)


DISTRIBUTION_CASES = {
    # (settings, gain, outcomes): beam sampling keeps the best of its beams, which needs a flatter model to vary;
    # each of the first two completion tokens takes more than `outcomes` values.
    "pure sampling": (dict(do_sample=True, top_k=0, max_new_tokens=2, num_samples_per_prompt=3000), 16.0, 10),
    "notebook beam sampling": (dict(NOTEBOOK, max_new_tokens=2, num_samples_per_prompt=1500), 4.0, 10),
    # top_k 16 of 300 tokens: row_top_k's strided path (top_k 50 falls back to torch.topk on 300 tokens).
    "beam sampling, top_k 16": (
        dict(NOTEBOOK, top_k=16, max_new_tokens=2, num_samples_per_prompt=3000),
        4.0,
        5,
    ),
}


@pytest.mark.parametrize("name", list(DISTRIBUTION_CASES))
def test_auto_engine_draws_from_generates_distribution(tiny_lm, name):
    """engine="auto" draws other random numbers than generate (so other tokens for a seed) from the same
    distribution: chi-square tests on the frequencies of the first and of the second completion token, thousands
    of draws each, do not tell them apart; the same tests do tell generate from a sampler at temperature 1.3."""
    model, tokenizer = tiny_lm
    settings, gain, outcomes = DISTRIBUTION_CASES[name]
    peaked(model, gain)
    settings = dict(settings, batch_size=500, **QUIET)

    def completions(engine, seed, **overrides):
        samples = sample(
            model, tokenizer, ["This movie"], engine=engine, seed=seed, **{**settings, **overrides}
        )
        return [tuple(ids) + (-1,) * (2 - len(ids)) for ids in samples.completion_ids]  # -1: ended

    def p_value(first, second):  # the smaller of the two positions' p-values
        return min(_two_sample_p_value([c[i] for c in first], [c[i] for c in second]) for i in (0, 1))

    generated = completions("generate", 0)
    assert len({c[0] for c in generated}) > outcomes and len({c[1] for c in generated}) > outcomes
    fast = completions("auto", 1)
    assert fast != completions("exact", 1)  # the random stream did change
    assert p_value(generated, fast) > 0.005
    assert p_value(generated, completions("generate", 1, temperature=1.3)) < 1e-6
    assert p_value(generated, completions("auto", 1, temperature=1.3)) < 1e-6


# ---------------------------------------------------------------------------------------------------------------------
# Decoding-time realignment (DeRa): softmax(λ·policy logits + (1 − λ)·reference logits)


@pytest.fixture
def policy_and_reference(tiny_lm):
    """Two different GPT-2s over one tokenizer (the fixture's, and a second with other random weights), both with
    sharper next-token distributions so that the mixture differs visibly from either model."""
    from fdpo.demo.models import build_causal_lm

    policy, tokenizer = tiny_lm
    torch.manual_seed(7)
    reference = build_causal_lm(tokenizer, n_layer=2, n_embd=32, n_head=2, n_positions=128).eval()
    return peaked(policy, 4.0), peaked(reference, 4.0), tokenizer


def _mixture_log_probs(policy, reference, ids: list[int], realign: float) -> torch.Tensor:
    """Float64 next-token log-probabilities of the realigned model after ``ids`` (no cache, no padding)."""
    inputs = torch.tensor([ids])
    with torch.no_grad():
        logits = [copy.deepcopy(m).double()(inputs).logits[0, -1] for m in (policy, reference)]
    return torch.log_softmax(realign * logits[0] + (1.0 - realign) * logits[1], dim=-1)


@pytest.mark.parametrize("engine", ["auto", "exact"])
def test_realign_one_is_the_policy_and_zero_the_reference(policy_and_reference, engine):
    policy, reference, tokenizer = policy_and_reference
    likely_eos(policy, tokenizer)
    likely_eos(reference, tokenizer, scale=2.0)
    kwargs = dict(num_samples_per_prompt=3, batch_size=4, seed=2, max_new_tokens=12, engine=engine, **QUIET)
    kwargs |= dict(do_sample=True, top_k=0)
    alone = sample(policy, tokenizer, PROMPTS, **kwargs)
    reference_alone = sample(reference, tokenizer, PROMPTS, **kwargs)
    assert alone.completion_ids != reference_alone.completion_ids
    assert sample(policy, tokenizer, PROMPTS, reference=reference, realign=1.0, **kwargs) == alone
    assert sample(policy, tokenizer, PROMPTS, reference=reference, realign=0, **kwargs) == reference_alone


@pytest.mark.parametrize("realign", [0.5, 2.0])
def test_realigned_greedy_decoding_follows_the_float64_mixture(policy_and_reference, realign):
    """Greedy decoding of the mixture, left-padded batch and two caches, equals the argmax of the float64 mixture
    recomputed without cache at every step (λ = 2 extrapolates away from the reference)."""
    policy, reference, tokenizer = policy_and_reference
    got = sample(
        policy,
        tokenizer,
        PROMPTS,
        reference=reference,
        realign=realign,
        do_sample=False,
        max_new_tokens=6,
        batch_size=5,
        **no_stop(tokenizer),
        **QUIET,
    )
    alone = sample(
        policy, tokenizer, PROMPTS, do_sample=False, max_new_tokens=6, **no_stop(tokenizer), **QUIET
    )
    assert got.completion_ids != alone.completion_ids
    suppressed = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    for query, completion in zip(got.queries, got.completion_ids, strict=True):
        ids = tokenizer(query, add_special_tokens=False)["input_ids"] or [tokenizer.bos_token_id]
        for token in completion:
            log_probs = _mixture_log_probs(policy, reference, ids, realign)
            log_probs[suppressed] = -torch.inf
            assert token == int(log_probs.argmax())
            ids = ids + [token]


def test_realigned_sampling_draws_from_the_float64_mixture(policy_and_reference):
    """First tokens of 4000 realigned samples (λ = 0.5) fit the float64 mixture's probabilities (chi-square
    goodness of fit, cells with expected count < 10 pooled), and the same test rejects the policy alone."""
    from scipy.stats import chisquare

    policy, reference, tokenizer = policy_and_reference
    draws = 4000
    samples = sample(
        policy,
        tokenizer,
        ["This movie"],
        num_samples_per_prompt=draws,
        batch_size=1000,
        seed=0,
        reference=reference,
        realign=0.5,
        do_sample=True,
        top_k=0,
        max_new_tokens=1,
        **no_stop(tokenizer),
        **QUIET,
    )
    observed = np.bincount([ids[0] for ids in samples.completion_ids], minlength=len(tokenizer))
    ids = tokenizer("This movie", add_special_tokens=False)["input_ids"]

    def p_value(log_probs):
        log_probs = log_probs.clone()
        log_probs[[tokenizer.eos_token_id, tokenizer.pad_token_id]] = -torch.inf
        expected = torch.softmax(log_probs, -1).numpy() * draws
        common = expected >= 10
        assert common.sum() > 10  # many cells
        cells_observed = np.append(observed[common], observed[~common].sum())
        cells_expected = np.append(expected[common], expected[~common].sum())
        return chisquare(cells_observed, cells_expected * draws / cells_expected.sum()).pvalue

    assert p_value(_mixture_log_probs(policy, reference, ids, 0.5)) > 0.005
    assert p_value(_mixture_log_probs(policy, reference, ids, 1.0)) < 1e-6


def test_realign_bad_input(policy_and_reference, tiny_lm):
    policy, reference, tokenizer = policy_and_reference
    cases = [
        (dict(realign=0.5), "needs both reference= .* and realign="),
        (dict(reference=reference), "needs both reference="),
        (dict(reference=reference, realign=-0.1), "finite number λ ≥ 0"),
        (dict(reference=reference, realign=float("inf")), "finite number λ ≥ 0"),
        (dict(reference=reference, realign="0.5"), "finite number λ ≥ 0"),
        (dict(reference=reference, realign=0.5, num_beams=3), "plain sampling only"),
        (dict(reference=reference, realign=0.5, engine="generate"), "fdpo's decoding loop only"),
        (
            dict(reference=reference, realign=0.5, repetition_penalty=1.2),
            "repetition_penalty=1.2 is not supported",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            sample(policy, tokenizer, ["a"], max_new_tokens=2, **kwargs, **QUIET)
    from fdpo.demo.models import build_causal_lm, train_tokenizer

    other = build_causal_lm(train_tokenizer(PROMPTS * 4, vocab_size=200), n_layer=1, n_embd=16, n_head=2)
    assert other.config.vocab_size != len(tokenizer)
    with pytest.raises(
        ValueError, match=r"must share one tokenizer; the model has 300 output tokens and the ref"
    ):
        sample(policy, tokenizer, ["a"], reference=other, realign=0.5, max_new_tokens=2, **QUIET)
