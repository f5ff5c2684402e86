"""Tests for fdpo/generation.py and fdpo/_sampling.py: seeded, batched sampling with left padding, fdpo's decoding
loop against ``model.generate`` (token for token, or in distribution), and the Samples file format."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from fdpo._batching import pad_batch
from fdpo._logprobs import score_completions
from fdpo._sampling import decode, plan
from fdpo.generation import Samples, sample

PROMPTS = ["This movie", "The worst film I have", "A", "I loved every minute of", ""]
QUIET = dict(show_progress=False)


class GenerateSpy:
    """Wraps ``model.generate``: records each call's keyword arguments, and optionally asks for the raw logits."""

    def __init__(self, model, with_logits: bool = False):
        self.model, self.original, self.with_logits = model, model.generate, with_logits
        self.calls: list[dict] = []
        self.outputs = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.with_logits:
            kwargs = dict(kwargs, return_dict_in_generate=True, output_logits=True)
            output = self.original(**kwargs)
            self.outputs.append((kwargs["input_ids"], output))
            return output.sequences
        return self.original(**kwargs)


def _no_stop(tokenizer) -> dict:
    # A random model may emit end-of-text or pad at any step; suppressing them makes lengths predictable.
    return dict(suppress_tokens=[tokenizer.eos_token_id, tokenizer.pad_token_id])


def test_same_seed_same_samples_and_order(tiny_lm):
    model, tokenizer = tiny_lm
    kwargs = dict(num_samples_per_prompt=3, batch_size=4, max_new_tokens=6, **QUIET)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = sample(model, tokenizer, PROMPTS, seed=0, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is left alone
    assert sample(model, tokenizer, PROMPTS, seed=0, **kwargs) == first
    assert sample(model, tokenizer, PROMPTS, seed=1, **kwargs).completion_ids != first.completion_ids
    assert len(first) == 15
    assert first.prompts == [p for p in PROMPTS for _ in range(3)]
    assert first.queries == first.prompts
    for text, query, completion, ids in zip(
        first.texts, first.queries, first.completions, first.completion_ids, strict=True
    ):
        assert text == query + completion
        assert completion == tokenizer.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )


def test_left_padding_batched_equals_unbatched_and_plain_generate(tiny_lm):
    """Greedy decoding in float64: a prompt's continuation must not depend on the other prompts of its batch
    (lengths 0 to 5 tokens, so padding is heavy), and equals generate on the unpadded prompt."""
    model, tokenizer = tiny_lm
    model = model.double()
    kwargs = dict(do_sample=False, max_new_tokens=8, **QUIET)
    batched = sample(model, tokenizer, PROMPTS, batch_size=len(PROMPTS), **kwargs)
    one_by_one = sample(model, tokenizer, PROMPTS, batch_size=1, **kwargs)
    assert batched.completion_ids == one_by_one.completion_ids
    ids = tokenizer(PROMPTS[1], add_special_tokens=False, return_tensors="pt")["input_ids"]
    direct = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=8,
        pad_token_id=tokenizer.pad_token_id,
    )
    expected = direct[0, ids.shape[1] :].tolist()
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    cut = next((i for i, t in enumerate(expected) if t in stop), len(expected))
    assert batched.completion_ids[1] == expected[:cut]


def test_sampled_tokens_log_probs_equal_unbatched_scoring(tiny_lm):
    """Sampling with left padding and the KV cache: the raw log-probs generate saw for every sampled token equal
    those of an unpadded forward pass without cache (score_completions), prompt lengths 0 to 5 in one batch."""
    model, tokenizer = tiny_lm
    spy = GenerateSpy(model, with_logits=True)
    model.generate = spy
    samples = sample(
        model,
        tokenizer,
        PROMPTS,
        batch_size=5,
        seed=0,
        max_new_tokens=6,
        engine="generate",
        **_no_stop(tokenizer),
        **QUIET,
    )
    ((input_ids, output),) = spy.outputs
    logits = torch.stack(output.logits, dim=1).double().log_softmax(-1)  # (batch, new tokens, vocab)
    lengths = [len(tokenizer(q, add_special_tokens=False)["input_ids"]) or 1 for q in samples.queries]
    order = sorted(range(len(PROMPTS)), key=lambda i: (lengths[i], i))  # sample() sorts its batch by length
    assert input_ids.shape == (len(PROMPTS), max(lengths))
    scores = score_completions(model, tokenizer, samples.queries, samples.completion_ids)
    for row, index in enumerate(order):
        ids = samples.completion_ids[index]
        during_generation = logits[row, torch.arange(len(ids)), ids].numpy()
        np.testing.assert_allclose(during_generation, scores.token_logps[index], rtol=1e-4, atol=1e-4)


def test_max_length_counts_the_prompt_as_for_a_prompt_alone(tiny_lm):
    """max_length=L gives every sample exactly L − (its prompt length) new tokens when nothing stops it early,
    in a batch of mixed lengths as alone; greedy results equal the unbatched ones."""
    model, tokenizer = tiny_lm
    spy = GenerateSpy(model)
    model.generate = spy
    kwargs = dict(do_sample=False, max_length=20, **_no_stop(tokenizer), **QUIET)
    batched = sample(model, tokenizer, PROMPTS, batch_size=5, engine="generate", **kwargs)
    for prompt, ids in zip(PROMPTS, batched.completion_ids, strict=True):
        prompt_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) or 1
        assert len(ids) == 20 - prompt_length
    assert spy.calls and all("max_length" not in call for call in spy.calls)  # max_new_tokens per batch
    assert batched.completion_ids == sample(model, tokenizer, PROMPTS, batch_size=1, **kwargs).completion_ids
    assert batched.completion_ids == sample(model, tokenizer, PROMPTS, batch_size=5, **kwargs).completion_ids


def test_notebook_generation_settings_pass_through(tiny_lm):
    model, tokenizer = tiny_lm
    spy = GenerateSpy(model)
    model.generate = spy
    notebook = dict(
        top_k=50,
        num_beams=5,
        max_length=24,
        early_stopping=True,
        no_repeat_ngram_size=2,
        renormalize_logits=True,
    )
    samples = sample(
        model,
        tokenizer,
        ["great", "bad", ""],
        prompt_template="Good Review: {prompt}",
        seed=0,
        engine="generate",
        **notebook,
        **QUIET,
    )
    assert samples.queries == [
        "Good Review: great",
        "Good Review: bad",
        "Good Review:",
    ]  # rstripped, as the notebook
    for call in spy.calls:
        assert {
            key: call[key] for key in ("top_k", "num_beams", "early_stopping", "no_repeat_ngram_size")
        } == {
            "top_k": 50,
            "num_beams": 5,
            "early_stopping": True,
            "no_repeat_ngram_size": 2,
        }
        assert call["renormalize_logits"] is True and call["do_sample"] is True
        assert call["max_new_tokens"] == 24 - call["input_ids"].shape[1]
    for query, ids in zip(samples.queries, samples.completion_ids, strict=True):
        full = tokenizer(query, add_special_tokens=False)["input_ids"] + ids
        assert len(full) <= 24  # max_length counts the prompt
        bigrams = list(zip(full, full[1:], strict=False))
        assert len(bigrams) == len(set(bigrams))  # no_repeat_ngram_size=2 reached generate


def test_completions_stop_at_eos_and_hold_no_pad(tiny_lm):
    model, tokenizer = tiny_lm
    with torch.no_grad():  # make end-of-text likely so that early stops happen
        model.get_output_embeddings().weight[tokenizer.eos_token_id] += 0.5
    samples = sample(model, tokenizer, PROMPTS, num_samples_per_prompt=4, seed=0, max_new_tokens=12, **QUIET)
    assert any(len(ids) < 12 for ids in samples.completion_ids)
    for ids, completion in zip(samples.completion_ids, samples.completions, strict=True):
        assert tokenizer.eos_token_id not in ids and tokenizer.pad_token_id not in ids
        assert tokenizer.pad_token not in completion and tokenizer.eos_token not in completion


def test_template_and_tokenizer_left_alone(tiny_lm):
    model, tokenizer = tiny_lm
    tokenizer.padding_side = "right"
    before = copy.deepcopy(tokenizer.special_tokens_map), tokenizer.padding_side
    samples = sample(
        model, tokenizer, ["film"], prompt_template="{x} says: {prompt}  ", max_new_tokens=2, seed=0, **QUIET
    )
    assert samples.queries == ["{x} says: film"]  # other braces are literal; trailing spaces dropped
    kept = sample(
        model, tokenizer, ["film"], prompt_template="{prompt} ", rstrip_query=False, max_new_tokens=2, **QUIET
    )
    assert kept.queries == ["film "]
    assert (tokenizer.special_tokens_map, tokenizer.padding_side) == before


def test_save_and_load_round_trip(tiny_lm, tmp_path):
    model, tokenizer = tiny_lm
    samples = sample(model, tokenizer, PROMPTS, seed=0, max_new_tokens=5, **QUIET)
    path = samples.save(tmp_path / "sub" / "samples.jsonl")
    assert Samples.load(path) == samples
    assert [p.name for p in path.parent.iterdir()] == ["samples.jsonl"]  # no temporary file left
    path.write_text('{"prompts": "x"}\n')
    with pytest.raises(ValueError, match="samples.jsonl:1 is not a Samples record"):
        Samples.load(path)
    with pytest.raises(ValueError, match="one entry per sample"):
        Samples(prompts=["a"], queries=[], completions=[], texts=[], completion_ids=[])


def test_bad_input_errors(tiny_lm):
    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="prompts is empty"):
        sample(model, tokenizer, [])
    with pytest.raises(TypeError, match="single string"):
        sample(model, tokenizer, "This movie")
    with pytest.raises(TypeError, match=r"positions \[1\] are not \(first: int\)"):
        sample(model, tokenizer, ["a", 3])
    with pytest.raises(ValueError, match="must contain '\\{prompt\\}'"):
        sample(model, tokenizer, ["a"], prompt_template="Good Review:")
    with pytest.raises(ValueError, match="num_samples_per_prompt must be a positive integer, got 0"):
        sample(model, tokenizer, ["a"], num_samples_per_prompt=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        sample(model, tokenizer, ["a"], batch_size=0)
    with pytest.raises(ValueError, match="pass num_samples_per_prompt instead"):
        sample(model, tokenizer, ["a"], num_return_sequences=2)
    with pytest.raises(ValueError, match="input_ids is built by sample"):
        sample(model, tokenizer, ["a"], input_ids=torch.tensor([[1]]))
    with pytest.raises(ValueError, match=r"max_length=3 counts the prompt"):
        sample(model, tokenizer, ["I loved every minute of"], max_length=3)


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


def _likely_eos(model, tokenizer, scale: float = 1.0):
    """Gives end-of-text a logit that varies with the context (adding a constant to its output row would cancel in
    the final layer norm), so that some rows end early and others do not."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        weight = model.get_output_embeddings().weight
        weight[tokenizer.eos_token_id] += scale * torch.randn(weight.shape[1], generator=generator)
    return model


@pytest.mark.parametrize("name", list(SETTINGS))
def test_exact_engine_gives_generates_tokens(tiny_lm, name):
    """engine="exact": for the same seed, the completions of model.generate, over several batches (the random
    stream carries from batch to batch) of left-padded prompts of 0 to 5 tokens, with rows ending at EOS."""
    model, tokenizer = tiny_lm
    _likely_eos(model, tokenizer)
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
    _likely_eos(model, tokenizer)
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
    _likely_eos(model, tokenizer, scale=4.0)
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


def _peaked(model, gain: float):
    """Sharper next-token distributions (the final layer norm's gain × ``gain``; a randomly initialised model is
    nearly uniform over its 300 tokens), so that a wrong temperature shows."""
    with torch.no_grad():
        model.transformer.ln_f.weight.mul_(gain)
    return model


DISTRIBUTION_CASES = {
    # (settings, gain): beam sampling keeps the best of its beams, which needs a flatter model to vary.
    "pure sampling": (dict(do_sample=True, top_k=0, max_new_tokens=2, num_samples_per_prompt=3000), 16.0),
    "notebook beam sampling": (dict(NOTEBOOK, max_new_tokens=2, num_samples_per_prompt=1500), 4.0),
}


@pytest.mark.parametrize("name", list(DISTRIBUTION_CASES))
def test_auto_engine_draws_from_generates_distribution(tiny_lm, name):
    """engine="auto" draws other random numbers than generate (so other tokens for a seed) from the same
    distribution: chi-square tests on the frequencies of the first and of the second completion token, thousands
    of draws each, do not tell them apart; the same tests do tell generate from a sampler at temperature 1.3."""
    model, tokenizer = tiny_lm
    settings, gain = DISTRIBUTION_CASES[name]
    _peaked(model, gain)
    settings = dict(settings, batch_size=500, **QUIET)

    def completions(engine, seed, **overrides):
        samples = sample(
            model, tokenizer, ["This movie"], engine=engine, seed=seed, **{**settings, **overrides}
        )
        return [tuple(ids) + (-1,) * (2 - len(ids)) for ids in samples.completion_ids]  # -1: ended

    def p_value(first, second):  # the smaller of the two positions' p-values
        return min(_two_sample_p_value([c[i] for c in first], [c[i] for c in second]) for i in (0, 1))

    generated = completions("generate", 0)
    assert len({c[0] for c in generated}) > 10 and len({c[1] for c in generated}) > 10  # many outcomes
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
    return _peaked(policy, 4.0), _peaked(reference, 4.0), tokenizer


def _mixture_log_probs(policy, reference, ids: list[int], realign: float) -> torch.Tensor:
    """Float64 next-token log-probabilities of the realigned model after ``ids`` (no cache, no padding)."""
    inputs = torch.tensor([ids])
    with torch.no_grad():
        logits = [copy.deepcopy(m).double()(inputs).logits[0, -1] for m in (policy, reference)]
    return torch.log_softmax(realign * logits[0] + (1.0 - realign) * logits[1], dim=-1)


@pytest.mark.parametrize("engine", ["auto", "exact"])
def test_realign_one_is_the_policy_and_zero_the_reference(policy_and_reference, engine):
    policy, reference, tokenizer = policy_and_reference
    _likely_eos(policy, tokenizer)
    _likely_eos(reference, tokenizer, scale=2.0)
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
        **_no_stop(tokenizer),
        **QUIET,
    )
    alone = sample(
        policy, tokenizer, PROMPTS, do_sample=False, max_new_tokens=6, **_no_stop(tokenizer), **QUIET
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
        **_no_stop(tokenizer),
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
