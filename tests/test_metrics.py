"""Tests for fdpo/metrics.py and fdpo/_logprobs.py: the notebook's token entropy, closed-form entropies and KLs,
padding-independent log-probs, exact small cases and every bad-input error."""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from torch import nn
from transformers import PreTrainedTokenizerFast

from fdpo import metrics
from fdpo.decoding import score_completions
from fdpo.divergences import get_divergence, list_divergences

TEXTS = [
    "This movie was great and the acting was wonderful.",
    "This movie was terrible and the plot was boring.",
    "A fine film with a lovely score.",
    "I loved every minute of it, a true delight!",
    "The worst film I have seen.",
]
PROMPTS = ["This movie", "A fine film with a lovely", "I", "The worst", ""]
COMPLETIONS = [" was great", " score", " loved every minute of it", " film", " A true delight"]


def notebook_token_entropy(generations, tokenizer):
    """The per-text ``token_entropy`` loop fdpo replaces, verbatim but for its tqdm progress bar."""
    stats = defaultdict(int)
    num_tokens = 0
    for example in generations:
        tokens = tokenizer.encode(example)
        for t in tokens:
            if t == tokenizer.pad_token_id:
                continue
            stats[t] += 1
            num_tokens += 1
    for k in stats.keys():
        stats[k] /= num_tokens
    return scipy.stats.entropy(list(stats.values()))


class FixedDistribution(nn.Module):
    """A 'language model' whose next-token logits are the same at every position, whatever the input."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.clone(), requires_grad=False)
        self.config = SimpleNamespace(vocab_size=logits.shape[0])

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.logits.expand(*input_ids.shape, -1))


@pytest.fixture(scope="module")
def wordpiece_tokenizer():
    """A BERT-style tokenizer (lower-casing, WordPiece, [CLS] … [SEP] added by encode), like DistilBERT's."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        TEXTS * 4,
        trainers.WordPieceTrainer(
            vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False
        ),
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )


def _random_generations(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = " ".join(TEXTS).split() + ["Zebra!", "naïve", "😀", "<|pad|>", "[PAD]"]
    return [" ".join(rng.choice(words, size=rng.integers(0, 30))) for _ in range(count)]


# ---------------------------------------------------------------------------------------------- token entropy


def test_token_entropy_equals_the_notebooks_bit_for_bit(tiny_lm, tiny_classifier, wordpiece_tokenizer):
    """Same value (==, not approx) for a byte-level BPE with distinct pad, and a WordPiece adding [CLS]/[SEP];
    the generations hold pad-token strings (which the notebook skips) and empty texts."""
    generations = _random_generations(400, seed=0)
    for tokenizer in (tiny_lm[1], tiny_classifier[1], wordpiece_tokenizer):
        expected = notebook_token_entropy(generations, tokenizer)
        assert metrics.token_entropy(generations, tokenizer) == expected
    tokenizer = tiny_lm[1]
    tokenizer_without_pad = copy.deepcopy(tokenizer)
    tokenizer_without_pad.pad_token = None
    assert metrics.token_entropy(generations, tokenizer_without_pad) == notebook_token_entropy(
        generations, tokenizer_without_pad
    )


def test_token_entropy_closed_form(tiny_lm):
    """Two texts of the same k distinct tokens: k equally frequent ids, entropy log k."""
    _, tokenizer = tiny_lm
    ids = tokenizer("a b", add_special_tokens=False)["input_ids"]
    text = tokenizer.decode(ids)
    assert metrics.token_entropy([text, text], tokenizer) == pytest.approx(math.log(len(set(ids))), rel=1e-12)
    assert metrics.token_entropy(["a"], tokenizer) == 0.0


def test_token_entropy_excludes_pads(tiny_lm):
    _, tokenizer = tiny_lm
    text = "great film"
    padded = text + tokenizer.pad_token * 5
    assert metrics.token_entropy([padded], tokenizer) == metrics.token_entropy([text], tokenizer)
    with pytest.raises(ValueError, match="hold no tokens"):
        metrics.token_entropy([tokenizer.pad_token, ""], tokenizer)


# ---------------------------------------------------------------------------------------------- distinct, BLEU


def test_distinct_n_exact():
    """'a b a b' and 'a b c': unigrams a,b,a,b,a,b,c → 3 of 7; bigrams ab,ba,ab,ab,bc → 3 of 5; trigrams
    aba,bab,abc → 3 of 3; none spans the two texts."""
    texts = ["a b a b", "a b c"]
    assert metrics.distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert metrics.distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert metrics.distinct_n(texts, 3) == pytest.approx(3 / 3)
    assert metrics.distinct_n(["a a a a"], 2) == pytest.approx(1 / 3)
    assert metrics.distinct_n(["a", "b"], 2) == 0.0  # no bigram at all
    assert metrics.distinct_n(["a b", "b c"], 3) == 0.0


def test_self_bleu_extremes():
    assert metrics.self_bleu(["the same sentence here"] * 4) == pytest.approx(100.0)
    assert metrics.self_bleu(["alpha beta gamma delta", "one two three four", "red green blue black"]) < 5.0
    many = [f"text number {i} says {i * 7} things" for i in range(30)]
    assert metrics.self_bleu(many, max_texts=10, seed=0) == metrics.self_bleu(many, max_texts=10, seed=0)


def test_reward_summary_against_scipy():
    values = np.random.default_rng(1).normal(2.0, 0.5, size=37)
    summary = metrics.reward_summary(values)
    low, high = scipy.stats.t.interval(
        0.95, len(values) - 1, loc=values.mean(), scale=scipy.stats.sem(values)
    )
    assert summary["n"] == 37 and summary["mean"] == pytest.approx(values.mean())
    assert summary["std"] == pytest.approx(values.std(ddof=1))
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((low, high))
    assert metrics.reward_summary([1.5]) == {"mean": 1.5, "std": 0.0, "ci_low": 1.5, "ci_high": 1.5, "n": 1}


# ---------------------------------------------------------------------------------------------- log-probs


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_log_probs_do_not_depend_on_batching_or_padding_side(tiny_lm, padding_side):
    """Batched scores equal one-at-a-time scores and a direct forward on the unpadded prompt + completion, however
    the tokenizer is set to pad."""
    model, tokenizer = tiny_lm
    tokenizer.padding_side = padding_side
    batched = score_completions(model, tokenizer, PROMPTS, COMPLETIONS, batch_size=5, entropy=True)
    for index in range(len(PROMPTS)):
        single = score_completions(
            model, tokenizer, PROMPTS[index : index + 1], COMPLETIONS[index : index + 1], entropy=True
        )
        np.testing.assert_allclose(batched.token_logps[index], single.token_logps[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            batched.token_entropies[index], single.token_entropies[0], rtol=1e-5, atol=1e-5
        )
        prompt_ids = tokenizer(PROMPTS[index], add_special_tokens=False)["input_ids"] or [
            tokenizer.bos_token_id
        ]
        completion_ids = tokenizer(COMPLETIONS[index], add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            log_probs = model(torch.tensor([prompt_ids + completion_ids])).logits[0].double().log_softmax(-1)
        rows = log_probs[len(prompt_ids) - 1 : -1]
        expected = rows[torch.arange(len(completion_ids)), completion_ids].numpy()
        np.testing.assert_allclose(batched.token_logps[index], expected, rtol=1e-5, atol=1e-5)
        expected_entropy = -(rows.exp() * rows).sum(-1).numpy()
        np.testing.assert_allclose(batched.token_entropies[index], expected_entropy, rtol=1e-5, atol=1e-5)


def test_token_id_completions_score_the_given_tokens(tiny_lm):
    model, tokenizer = tiny_lm
    ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in COMPLETIONS]
    from_text = score_completions(model, tokenizer, PROMPTS, COMPLETIONS)
    from_ids = score_completions(model, tokenizer, PROMPTS, ids)
    np.testing.assert_array_equal(from_ids.sum_logps, from_text.sum_logps)
    # A segmentation the tokenizer would not produce is scored as given: one token per character.
    characters = [[tokenizer.convert_tokens_to_ids(ch)] for ch in "ab"]
    split = score_completions(model, tokenizer, ["x"], [characters[0] + characters[1]])
    assert split.num_tokens.tolist() == [2]


def test_empty_completion_has_no_positions(tiny_lm):
    model, tokenizer = tiny_lm
    stats = metrics.completion_statistics(model, tokenizer, ["a", "b"], ["", " film"], entropy=True)
    film = len(tokenizer(" film", add_special_tokens=False)["input_ids"])
    assert stats["num_tokens"].tolist() == [0.0, film] and stats["logps"][0] == 0.0
    assert math.isnan(stats["entropy"][0]) and stats["entropy"][1] > 0
    value = metrics.predictive_entropy(model, tokenizer, ["a", "b"], ["", " film"])
    assert value == pytest.approx(stats["entropy"][1])
    with pytest.raises(ValueError, match="Every completion is empty"):
        metrics.predictive_entropy(model, tokenizer, ["a"], [""])


# ---------------------------------------------------------------------------------------------- entropy


def test_predictive_entropy_of_a_uniform_model_is_log_vocabulary(tiny_lm):
    model, tokenizer = tiny_lm
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()  # tied with the input embeddings: every logit is 0
    value = metrics.predictive_entropy(model, tokenizer, PROMPTS, COMPLETIONS, batch_size=2)
    assert value == pytest.approx(math.log(model.config.vocab_size), rel=1e-6)


def test_predictive_entropy_two_token_closed_form(tiny_lm):
    """p = (1/4, 3/4) on two tokens, −inf elsewhere: entropy −¼ log ¼ − ¾ log ¾ at every position."""
    _, tokenizer = tiny_lm
    logits = torch.full((len(tokenizer),), -float("inf"))
    logits[5], logits[6] = 0.0, math.log(3.0)
    value = metrics.predictive_entropy(FixedDistribution(logits), tokenizer, ["x", "y"], [[5, 6, 6], [6]])
    assert value == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), rel=1e-6)


def test_predictive_entropy_averages_positions_then_sequences():
    """A model uniform over 4 tokens (entropy log 4) at even positions and a point mass (0) at odd ones. With a
    one-token prompt, completion token j is predicted at position j. A = 3 tokens: positions 0, 1, 2 give
    log 4, 0, log 4, mean 2 log 4 / 3; B = 1 token: log 4. Predictive entropy = (2 log 4 / 3 + log 4) / 2, where
    pooling all positions would give 3 log 4 / 4."""

    class Alternating(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = SimpleNamespace(vocab_size=4)
            self.unused = nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask=None):
            logits = torch.zeros(*input_ids.shape, 4)
            logits[:, 1::2, 1:] = -float("inf")
            return SimpleNamespace(logits=logits)

    class OneTokenPrompts:
        bos_token_id = eos_token_id = pad_token_id = 0

        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[1] for _ in texts]}

    value = metrics.predictive_entropy(Alternating(), OneTokenPrompts(), ["p", "q"], [[0, 0, 0], [0]])
    assert value == pytest.approx((2 * math.log(4) / 3 + math.log(4)) / 2, rel=1e-6)


# ---------------------------------------------------------------------------------------------- KL and D_f


def test_kl_of_a_policy_with_an_identical_copy_is_zero(tiny_lm):
    model, tokenizer = tiny_lm
    reference = copy.deepcopy(model)  # a different object: the estimate goes through both forward passes
    assert metrics.kl_from_samples(model, reference, tokenizer, PROMPTS, COMPLETIONS) == pytest.approx(
        0.0, abs=1e-9
    )
    for name in list_divergences():
        value = metrics.divergence_from_samples(model, reference, tokenizer, PROMPTS, COMPLETIONS, name)
        assert value == pytest.approx(0.0, abs=1e-6), name  # f(1) = 0


def test_kl_and_divergences_closed_form(tiny_lm):
    """Position-independent p and q: each completion's log ratio is Σ_t log p(y_t)/q(y_t), known exactly; KL is
    their mean, D_f the mean of f(u)/u (for forward KL: −a e^(−a))."""
    _, tokenizer = tiny_lm
    generator = torch.Generator().manual_seed(0)
    p_logits = torch.randn(len(tokenizer), generator=generator, dtype=torch.float64)
    q_logits = torch.randn(len(tokenizer), generator=generator, dtype=torch.float64)
    policy, reference = FixedDistribution(p_logits.float()), FixedDistribution(q_logits.float())
    completions = [" great film", " the worst", " fine", " a lovely score"]
    prompts = ["a", "b", "c", ""]
    ratio = p_logits.log_softmax(0) - q_logits.log_softmax(0)
    log_ratios = torch.tensor(
        [ratio[tokenizer(c, add_special_tokens=False)["input_ids"]].sum().item() for c in completions],
        dtype=torch.float64,
    )
    np.testing.assert_allclose(
        metrics.log_ratios_from_samples(policy, reference, tokenizer, prompts, completions),
        log_ratios.numpy(),
        rtol=1e-5,
    )
    kl = metrics.kl_from_samples(policy, reference, tokenizer, prompts, completions, batch_size=3)
    assert kl == pytest.approx(log_ratios.mean().item(), rel=1e-5)
    for spec in ("reverse_kl", "forward_kl", "jensen_shannon", "alpha:0.3", "chi_squared_kl"):
        expected = get_divergence(spec).f_over_u(log_ratios).mean().item()
        value = metrics.divergence_from_samples(policy, reference, tokenizer, prompts, completions, spec)
        assert value == pytest.approx(expected, rel=1e-4), spec
    forward = metrics.divergence_from_samples(
        policy, reference, tokenizer, prompts, completions, "forward_kl"
    )
    assert forward == pytest.approx((-log_ratios * torch.exp(-log_ratios)).mean().item(), rel=1e-4)
    reverse = metrics.divergence_from_samples(
        policy, reference, tokenizer, prompts, completions, "reverse_kl"
    )
    assert reverse == pytest.approx(kl, rel=1e-5)  # f(u)/u = log u for reverse KL


def test_kl_expectation_over_all_one_token_completions():
    """Sampling one token from p many times, the estimate converges to Σ_v p(v) log p(v)/q(v) (checked to 3σ)."""
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    q = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    exact = float((p * (p / q).log()).sum())

    class OneTokenPrompts:
        bos_token_id = eos_token_id = pad_token_id = 0

        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[0] for _ in texts]}

    draws = torch.multinomial(p, 4000, replacement=True, generator=torch.Generator().manual_seed(0))
    completions = [[int(v)] for v in draws]
    prompts = ["x"] * len(completions)
    policy, reference = FixedDistribution(p.log().float()), FixedDistribution(q.log().float())
    estimate = metrics.kl_from_samples(
        policy, reference, OneTokenPrompts(), prompts, completions, batch_size=1000
    )
    terms = (p / q).log()[draws]
    assert abs(estimate - exact) < 3 * terms.std().item() / math.sqrt(len(draws))


# ---------------------------------------------------------------------------------------------- errors


def test_bad_input_errors(tiny_lm):
    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="generations is empty"):
        metrics.token_entropy([], tokenizer)
    with pytest.raises(TypeError, match="single string"):
        metrics.token_entropy("a text", tokenizer)
    with pytest.raises(TypeError, match="single string"):
        metrics.distinct_n("a b c", 1)
    with pytest.raises(TypeError, match=r"positions \[1\] are not \(first: int\)"):
        metrics.distinct_n(["a", 3], 1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        metrics.distinct_n(["a b"], 0)
    with pytest.raises(ValueError, match="2 prompts and 1 completions"):
        metrics.predictive_entropy(model, tokenizer, ["a", "b"], [" c"])
    with pytest.raises(ValueError, match="prompts is empty"):
        metrics.predictive_entropy(model, tokenizer, [], [])
    with pytest.raises(TypeError, match=r"positions \[1\]"):
        metrics.kl_from_samples(model, model, tokenizer, ["a", None], [" c", " d"])
    with pytest.raises(TypeError, match="all strings or all lists of token ids"):
        metrics.kl_from_samples(model, model, tokenizer, ["a", "b"], [" c", [1, 2]])
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        metrics.kl_from_samples(model, model, tokenizer, ["a"], [[10**6]])
    with pytest.raises(ValueError, match="longer than the model's 128 positions"):
        metrics.predictive_entropy(model, tokenizer, ["a"], [[5] * 200])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        metrics.predictive_entropy(model, tokenizer, ["a"], [" b"], batch_size=0)
    with pytest.raises(ValueError, match="rewards is empty"):
        metrics.reward_summary([])
    with pytest.raises(ValueError, match=r"NaN or inf value\(s\), at positions \[1\]"):
        metrics.reward_summary([1.0, float("nan")])
    with pytest.raises(ValueError, match="at least two texts"):
        metrics.self_bleu(["one"])
    with pytest.raises(ValueError, match="Unknown divergence"):
        metrics.divergence_from_samples(model, model, tokenizer, ["a"], [" b"], "total_variance")
