"""Reward and diversity metrics, and divergence estimates from samples (definitions: docs/metrics.md).

Arguments named ``prompts`` are the texts the model was conditioned on (``Samples.queries``, the prompt after its
template) and ``completions`` the generated continuations: ``Samples.sampled_ids`` to score exactly the sampled
tokens with the stop token that ended each sample (what the evaluation scores, and what TRL trains on), or texts
(``Samples.completions``), which are re-tokenized and carry no stop token.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import scipy.special
import scipy.stats
import torch

from fdpo._optional import require
from fdpo.checks import check_strings
from fdpo.decoding import check_prompts_and_completions, score_completions
from fdpo.divergences import FDivergence, get_divergence
from fdpo.uncertainty import t_interval

__all__ = [
    "completion_statistics",
    "distinct_n",
    "distinct_n_rarefied",
    "divergence_from_samples",
    "entropy_measures",
    "kl_from_samples",
    "log_ratios_from_samples",
    "mean_token_logprobs",
    "predictive_entropy",
    "reward_summary",
    "self_bleu",
    "token_entropy",
    "within_prompt_diversity",
]


def reward_summary(rewards: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample standard deviation (ddof=1), Student-t confidence interval of the mean
    (``fdpo.uncertainty.t_interval``), and count.

    Args:
        rewards: one reward per sample. Shape: (n,).
        confidence: the interval's coverage, in (0, 1).

    Returns:
        ``{"mean", "std", "ci_low", "ci_high", "n"}``; with one sample, std is 0 and the interval is the point.
    """
    values = np.asarray(rewards, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("rewards is empty: nothing to summarise.")
    if not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values)).tolist()
        raise ValueError(
            f"rewards hold {len(bad)} NaN or inf value(s), at positions {bad[:10]}; score them again or drop them."
        )
    mean, std, half = t_interval(values, confidence)
    if values.size == 1:
        return {"mean": mean, "std": 0.0, "ci_low": mean, "ci_high": mean, "n": 1}
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": int(values.size)}


def token_entropy(generations: Sequence[str], tokenizer) -> float:
    """Shannon entropy (nats) of the pooled token-id frequencies of all generations, pad ids excluded.

    The per-text ``token_entropy`` loop of a typical notebook, vectorised, and equal to it bit for bit: the same tokenization
    (``tokenizer(texts)`` is ``tokenizer.encode`` on each text, special tokens added), the same frequencies
    count / total listed in order of first appearance, and the same ``scipy.stats.entropy`` on them (the order
    matters for the last bits of its sums). One batch encode, then ``np.bincount``: the tokenizer is the cost.

    Args:
        generations: the texts (the notebook passed whole texts: template + completion).
        tokenizer: the tokenizer whose ids are counted (the notebook used the reward model's).
    """
    generations = check_strings("generations", generations)
    encoded = tokenizer(generations, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    total = sum(map(len, encoded))
    ids = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64, count=total)
    if tokenizer.pad_token_id is not None:
        ids = ids[ids != tokenizer.pad_token_id]
    if ids.size == 0:
        raise ValueError("The generations hold no tokens (pads excluded): token entropy is undefined.")
    counts = np.bincount(ids)
    first_seen = np.full(counts.size, ids.size, dtype=np.int64)
    np.minimum.at(first_seen, ids, np.arange(ids.size, dtype=np.int64))
    present = np.flatnonzero(counts)
    in_order = present[np.argsort(first_seen[present], kind="stable")]
    return float(scipy.stats.entropy(counts[in_order] / ids.size))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / total n-grams, pooled over all texts; words split on whitespace.

    An n-gram never spans two texts. Returns 0.0 when no text has n words (no n-gram at all).
    """
    texts = check_strings("texts", texts)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    total, unique = 0, set()
    for text in texts:
        words = text.split()
        grams = list(zip(*(words[i:] for i in range(n)), strict=False))
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = text.split()
    return list(zip(*(words[i:] for i in range(n)), strict=False))


def distinct_n_rarefied(texts: Sequence[str], n: int, num_ngrams: int) -> float:
    """Distinct-n rarefied to ``num_ngrams`` n-grams: the expected number of distinct n-grams in a subsample of
    ``num_ngrams`` of the pooled n-grams drawn without replacement, divided by ``num_ngrams``.

    With N pooled n-grams (whitespace words, none spanning two texts) of which n-gram g occurs c_g times, a draw of
    m = ``num_ngrams`` misses g with the hypergeometric probability C(N − c_g, m) / C(N, m), so

        E[distinct] = Σ_g [1 − C(N − c_g, m) / C(N, m)]     (Hurlbert's rarefaction; exact, no random draw).

    Unlike ``distinct_n``, whose denominator is every n-gram there is, it compares sets of generations of different
    total length at one n-gram count. m = N gives ``distinct_n``.

    Raises:
        ValueError: fewer than ``num_ngrams`` n-grams in all (the subsample cannot be drawn), or a bad n or count.
    """
    texts = check_strings("texts", texts)
    for name, value in (("n", n), ("num_ngrams", num_ngrams)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    counts: dict[tuple[str, ...], int] = {}
    for text in texts:
        for gram in _ngrams(text, n):
            counts[gram] = counts.get(gram, 0) + 1
    total = sum(counts.values())
    if total < num_ngrams:
        raise ValueError(
            f"The texts hold {total} {n}-grams, fewer than num_ngrams={num_ngrams} to rarefy to; lower num_ngrams "
            "(evaluation.rarefy_ngrams) or sample more or longer completions."
        )
    c = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    m = float(num_ngrams)
    # log C(N − c, m) − log C(N, m) = lnΓ(N−c+1) − lnΓ(N−c−m+1) − lnΓ(N+1) + lnΓ(N−m+1), where N − c ≥ m.
    reachable = total - c >= m
    log_miss = (
        scipy.special.gammaln(total - c[reachable] + 1)
        - scipy.special.gammaln(total - c[reachable] - m + 1)
        - scipy.special.gammaln(total + 1)
        + scipy.special.gammaln(total - m + 1)
    )
    miss = np.zeros_like(c)
    miss[reachable] = np.exp(log_miss)
    return float((1.0 - miss).sum() / m)


def within_prompt_diversity(texts: Sequence[str], samples_per_prompt: int, n: int = 2) -> float:
    """Mean over prompts of the mean pairwise n-gram Jaccard distance among that prompt's samples.

    ``texts`` hold each prompt's ``samples_per_prompt`` samples next to each other (the order of ``Samples``). The
    distance of two samples is 1 − |A ∩ B| / |A ∪ B| over their sets of word n-grams (0 for two empty sets), as
    ``fdpo.pairs.ngram_diversity`` computes it for DivPO; a prompt's value is the mean over its sample pairs. It
    asks how different one prompt's samples are from each other, which pooled measures (distinct-n, token entropy)
    mix with how different the prompts are. Higher is more diverse; in [0, 1].

    Raises:
        ValueError: fewer than two samples per prompt (no pair), or a count that does not divide ``len(texts)``.
    """
    from fdpo.pairs import ngram_diversity  # fdpo.pairs imports datasets

    texts = check_strings("texts", texts)
    if (
        isinstance(samples_per_prompt, bool)
        or not isinstance(samples_per_prompt, int)
        or samples_per_prompt < 2
    ):
        raise ValueError(
            f"within_prompt_diversity compares a prompt's samples with each other: it needs samples_per_prompt >= 2, "
            f"got {samples_per_prompt!r}."
        )
    if len(texts) % samples_per_prompt:
        raise ValueError(
            f"{len(texts)} texts are not whole groups of samples_per_prompt={samples_per_prompt}; pass each prompt's "
            "samples next to each other, as Samples holds them."
        )
    groups = [range(start, start + samples_per_prompt) for start in range(0, len(texts), samples_per_prompt)]
    per_sample = ngram_diversity(texts, groups, n=n)
    # With equal group sizes, the mean over a group of each sample's mean distance to the others is the mean over
    # its pairs.
    return float(per_sample.reshape(-1, samples_per_prompt).mean(axis=1).mean())


def self_bleu(texts: Sequence[str], max_texts: int = 200, seed: int = 0) -> float:
    """Mean sacrebleu sentence BLEU (0 to 100) of each text against all the others as references.

    High means the texts repeat each other; lower is more diverse. Quadratic in the number of texts, so at most
    ``max_texts`` of them, drawn with ``seed``, are compared.
    """
    sacrebleu = require("sacrebleu", "study", "self_bleu")
    texts = check_strings("texts", texts)
    if len(texts) < 2:
        raise ValueError(f"self_bleu needs at least two texts, got {len(texts)}.")
    if max_texts < 2:
        raise ValueError(f"max_texts must be at least 2, got {max_texts}.")
    if len(texts) > max_texts:
        rng = np.random.default_rng(seed)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), size=max_texts, replace=False))]
    scores = [
        sacrebleu.sentence_bleu(text, texts[:index] + texts[index + 1 :]).score
        for index, text in enumerate(texts)
    ]
    return float(np.mean(scores))


def completion_statistics(
    model,
    tokenizer,
    prompts: Sequence[str],
    completions,
    *,
    batch_size: int = 16,
    entropy: bool = False,
    desc: str = "Scoring completions",
    show_progress: bool = False,
) -> dict[str, np.ndarray]:
    """Per completion: log π(y|x) summed over its tokens, its token count, and optionally its mean next-token
    entropy over its positions (``fdpo.decoding.score_completions`` does the work).

    Returns:
        ``{"logps": (n,), "num_tokens": (n,), "entropy": (n,)}`` as float64 numpy arrays; ``entropy`` only when
        asked for, NaN for an empty completion.
    """
    scores = score_completions(
        model,
        tokenizer,
        prompts,
        completions,
        batch_size=batch_size,
        entropy=entropy,
        show_progress=show_progress,
        desc=desc,
    )
    result = {"logps": scores.sum_logps, "num_tokens": scores.num_tokens.astype(np.float64)}
    if entropy:
        result["entropy"] = scores.mean_entropies
    return result


def mean_token_logprobs(
    model,
    tokenizer,
    prompts: Sequence[str],
    completions,
    *,
    batch_size: int = 16,
    show_progress: bool = False,
) -> np.ndarray:
    """Each completion's mean per-token log π(y_t | x, y_<t) (NaN for an empty completion). Shape: (n,), float64.

    The ``logprob`` diversity criterion of DivPO pairs (``fdpo.pairs.build_pairs(strategy="divpo")``; lower is more
    diverse). ``completions`` are texts or token-id lists, scored as ``completion_statistics`` scores them.
    """
    stats = completion_statistics(
        model, tokenizer, prompts, completions, batch_size=batch_size, show_progress=show_progress
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(stats["num_tokens"] > 0, stats["logps"] / stats["num_tokens"], np.nan)


def entropy_measures(
    token_entropies: Sequence[np.ndarray], prefix_tokens: int = 8
) -> dict[str, float | None]:
    """The policy's entropies over sampled completions, from the next-token entropies Hₜ at each scored position.

    Pass ``score_completions(..., Samples.sampled_ids, entropy=True).token_entropies``: the positions are then the
    sampled tokens with the stop token included where one ended the sample.

    Args:
        token_entropies: per completion, Hₜ at each of its positions. Each shape: (num_tokens_i,).
        prefix_tokens: k of the fixed-prefix entropy.

    Returns:
        ``sequence_entropy``: mean over completions of Σₜ Hₜ (by the chain rule, an unbiased estimate of the entropy
        of the whole sequence, H(π(·|x)) of completions cut at the length limit, when the completions were sampled
        from the model itself (temperature 1, no top-k/top-p) and the stop token is scored);
        ``entropy_rate``: Σ Hₜ / Σ tokens pooled over all completions (token-weighted);
        ``predictive_entropy``: mean over completions of each one's mean Hₜ (empty completions left out; None if
        every completion is empty);
        ``prefix_entropy``: mean over completions of Σ_{t≤k} Hₜ (a completion that stopped before k adds nothing
        after its stop token: it has ended, nothing more is drawn).
    """
    if isinstance(prefix_tokens, bool) or not isinstance(prefix_tokens, int) or prefix_tokens < 1:
        raise ValueError(f"prefix_tokens must be a positive integer, got {prefix_tokens!r}.")
    values = [np.asarray(entropies, dtype=np.float64).ravel() for entropies in token_entropies]
    if not values:
        raise ValueError("token_entropies is empty: give one array per completion.")
    sums = np.array([v.sum() for v in values])
    counts = np.array([v.size for v in values])
    nonempty = counts > 0
    return {
        "sequence_entropy": float(sums.mean()),
        "entropy_rate": float(sums.sum() / counts.sum()) if counts.sum() else None,
        "predictive_entropy": float((sums[nonempty] / counts[nonempty]).mean()) if nonempty.any() else None,
        "prefix_entropy": float(np.mean([v[:prefix_tokens].sum() for v in values])),
    }


def predictive_entropy(
    model, tokenizer, prompts, completions, *, batch_size: int = 16, show_progress: bool = False
) -> float:
    """The mean over completions of each one's mean next-token entropy, in nats per token (what fdpo has reported as
    the paper's diversity measure; ``entropy_measures`` gives it with the per-sequence and token-weighted forms).

    For each completion, the full-vocabulary entropy −Σ_v p(v) log p(v) of the model's next-token distribution
    at each scored position (given the prompt and the completion so far), averaged over its positions; then
    the mean over completions. Empty completions have no position and are left out. Pass ``Samples.sampled_ids``
    to score the stop token that ended each sample too, as the evaluation does.
    """
    stats = completion_statistics(
        model,
        tokenizer,
        prompts,
        completions,
        batch_size=batch_size,
        entropy=True,
        desc="Predictive entropy",
        show_progress=show_progress,
    )
    keep = stats["num_tokens"] > 0
    if not keep.any():
        raise ValueError("Every completion is empty: predictive entropy is undefined.")
    return float(stats["entropy"][keep].mean())


def log_ratios_from_samples(
    policy, reference, tokenizer, prompts, completions, *, batch_size: int = 16, show_progress: bool = False
) -> np.ndarray:
    """a = log π(y|x) − log π_ref(y|x) of each completion, summed over its tokens. Shape: (n,), float64."""
    prompts, completions = check_prompts_and_completions(prompts, completions)

    def sum_logps(model, desc: str) -> np.ndarray:
        return score_completions(
            model,
            tokenizer,
            prompts,
            completions,
            batch_size=batch_size,
            show_progress=show_progress,
            desc=desc,
        ).sum_logps

    policy_logps = sum_logps(policy, "Policy log-probs")
    if reference is policy:
        return np.zeros_like(policy_logps)
    return policy_logps - sum_logps(reference, "Reference log-probs")


def kl_from_samples(
    policy, reference, tokenizer, prompts, completions, *, batch_size: int = 16, show_progress: bool = False
) -> float:
    """Monte-Carlo KL(π‖π_ref) in nats: the mean over completions sampled from π of Σ_t (log π − log π_ref).

    Unbiased only when the completions were sampled from ``policy`` (plain sampling, no beams, top-k or top-p,
    which change the distribution sampled from); a single sample's term can be negative. It is
    ``divergence_from_samples`` with the reverse KL, f(u) = u log u, whose f(u)/u is the log ratio itself.
    """
    return divergence_from_samples(
        policy,
        reference,
        tokenizer,
        prompts,
        completions,
        "reverse_kl",
        batch_size=batch_size,
        show_progress=show_progress,
    )


def divergence_from_samples(
    policy,
    reference,
    tokenizer,
    prompts,
    completions,
    divergence: FDivergence | str,
    *,
    batch_size: int = 16,
    show_progress: bool = False,
) -> float:
    """Monte-Carlo D_f(π‖π_ref) = E_π[f(u)/u], u = π(y|x)/π_ref(y|x) per completion sampled from π.

    Computed from the log ratio a = log u with the divergence's ``f_over_u`` (log space, float64), so u itself is
    never formed. For forward-KL-like divergences f(u)/u grows like e^(−a): the estimate is heavy-tailed.

    Args:
        divergence: a registered name, a spec such as ``"alpha:0.3"`` (the paper's α), or an ``FDivergence``.
    """
    divergence = get_divergence(divergence)
    log_ratios = log_ratios_from_samples(
        policy,
        reference,
        tokenizer,
        prompts,
        completions,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    return float(divergence.f_over_u(torch.from_numpy(log_ratios)).double().mean())
