"""Reward and diversity metrics, and divergence estimates from samples (definitions: docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.stats
import torch
from tqdm.auto import tqdm

from fdpo.divergences import FDivergence, get_divergence

__all__ = [
    "completion_statistics",
    "distinct_n",
    "divergence_from_samples",
    "kl_from_samples",
    "predictive_entropy",
    "reward_summary",
    "self_bleu",
    "token_entropy",
]


def _check_texts(name: str, texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings, got a single string; wrap it in a list.")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{name} is empty: a metric needs at least one text.")
    bad = [index for index, text in enumerate(texts) if not isinstance(text, str)]
    if bad:
        raise TypeError(f"{name} must be strings; positions {bad[:10]} are not.")
    return texts


def _check_pairs(prompts, completions) -> tuple[list[str], list[str]]:
    prompts, completions = _check_texts("prompts", prompts), _check_texts("completions", completions)
    if len(prompts) != len(completions):
        raise ValueError(
            f"prompts and completions must pair up: got {len(prompts)} prompts, {len(completions)} completions."
        )
    return prompts, completions


def reward_summary(rewards: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample standard deviation, Student-t confidence interval of the mean, and count."""
    values = np.asarray(rewards, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("rewards is empty: nothing to summarise.")
    if not np.isfinite(values).all():
        raise ValueError(f"rewards hold {int((~np.isfinite(values)).sum())} NaN or inf value(s).")
    mean = float(values.mean())
    if values.size == 1:
        return {"mean": mean, "std": 0.0, "ci_low": mean, "ci_high": mean, "n": 1}
    std = float(values.std(ddof=1))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, values.size - 1) * std / np.sqrt(values.size))
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "n": int(values.size)}


def token_entropy(generations: Sequence[str], tokenizer) -> float:
    """Shannon entropy (nats) of the pooled token-id frequencies of all generations, pads excluded.

    The seed notebook's ``token_entropy``, vectorised: same tokenization (``tokenizer(text)``, special tokens
    included as ``encode`` adds them), same frequencies in order of first appearance, same ``scipy.stats.entropy``.
    """
    generations = _check_texts("generations", generations)
    encoded = tokenizer(generations)["input_ids"]
    ids = np.fromiter((token for row in encoded for token in row), dtype=np.int64)
    if tokenizer.pad_token_id is not None:
        ids = ids[ids != tokenizer.pad_token_id]
    if ids.size == 0:
        raise ValueError("The generations hold no tokens: token entropy is undefined.")
    unique, first_seen, counts = np.unique(ids, return_index=True, return_counts=True)
    order = np.argsort(first_seen, kind="stable")
    return float(scipy.stats.entropy(counts[order] / ids.size))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / total n-grams over all texts, words split on whitespace (0 if no text has n words)."""
    texts = _check_texts("texts", texts)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    total, unique = 0, set()
    for text in texts:
        words = text.split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def self_bleu(texts: Sequence[str], max_texts: int = 200, seed: int = 0) -> float:
    """Mean sentence BLEU (sacrebleu, 0–100) of each text against all the others: high means repetitive.

    Quadratic in the number of texts, so at most ``max_texts`` (drawn with ``seed``) are compared.
    """
    import sacrebleu

    texts = _check_texts("texts", texts)
    if len(texts) < 2:
        raise ValueError("self_bleu needs at least two texts.")
    if len(texts) > max_texts:
        rng = np.random.default_rng(seed)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), size=max_texts, replace=False))]
    scores = [
        sacrebleu.sentence_bleu(text, texts[:index] + texts[index + 1 :]).score
        for index, text in enumerate(texts)
    ]
    return float(np.mean(scores))


@torch.no_grad()
def completion_statistics(
    model,
    tokenizer,
    prompts: Sequence[str],
    completions: Sequence[str],
    *,
    batch_size: int = 16,
    entropy: bool = False,
    desc: str = "Scoring completions",
    show_progress: bool = False,
) -> dict[str, np.ndarray]:
    """Per completion: the summed log-prob under ``model`` given its prompt, its token count, and optionally the
    mean full-vocabulary entropy of the next-token distribution at its positions.

    Prompt and completion are tokenized separately and concatenated, right-padded, so every position is exact.

    Returns:
        ``{"logps": (n,), "num_tokens": (n,), "entropy": (n,)}`` as float64 numpy arrays (entropy only if asked).
    """
    prompts, completions = _check_pairs(prompts, completions)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completions, add_special_tokens=False)["input_ids"]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n = len(prompts)
    logps, num_tokens, entropies = np.zeros(n), np.zeros(n), np.zeros(n)
    order = np.argsort(
        [len(p) + len(c) for p, c in zip(prompt_ids, completion_ids, strict=True)], kind="stable"
    )
    try:
        for start in tqdm(range(0, n, batch_size), desc=desc, disable=not show_progress, unit="batch"):
            indices = order[start : start + batch_size]
            rows = []
            for i in indices:
                prefix = prompt_ids[i] or [
                    tokenizer.bos_token_id if tokenizer.bos_token_id is not None else pad_id
                ]
                rows.append((prefix, completion_ids[i]))
            width = max(len(p) + len(c) for p, c in rows)
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros_like(input_ids)
            target_mask = torch.zeros_like(input_ids, dtype=torch.bool)
            for row, (prefix, completion) in enumerate(rows):
                length = len(prefix) + len(completion)
                input_ids[row, :length] = torch.tensor(prefix + completion)
                attention_mask[row, :length] = 1
                target_mask[row, len(prefix) : length] = True
            input_ids, attention_mask, target_mask = (
                input_ids.to(device),
                attention_mask.to(device),
                target_mask.to(device),
            )
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
            log_probs = logits.log_softmax(dim=-1)
            targets, mask = input_ids[:, 1:], target_mask[:, 1:]
            token_logps = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * mask
            counts = mask.sum(dim=1)
            logps[indices] = token_logps.sum(dim=1).double().cpu().numpy()
            num_tokens[indices] = counts.cpu().numpy()
            if entropy:
                probs = log_probs.exp()
                # 0·log 0 = 0: a model may put −inf logits on tokens it rules out.
                position_entropy = -(probs * log_probs.masked_fill(probs == 0, 0.0)).sum(dim=-1) * mask
                entropies[indices] = (
                    (position_entropy.sum(dim=1) / counts.clamp(min=1)).double().cpu().numpy()
                )
    finally:
        model.train(was_training)
    result = {"logps": logps, "num_tokens": num_tokens}
    if entropy:
        result["entropy"] = entropies
    return result


def predictive_entropy(
    model, tokenizer, prompts, completions, *, batch_size: int = 16, show_progress: bool = False
) -> float:
    """The paper's diversity measure: per sequence, the mean over generated positions of the full-vocabulary
    entropy of the policy's next-token distribution, then the mean over sequences (empty completions skipped)."""
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


def _sequence_log_ratios(
    policy, reference, tokenizer, prompts, completions, batch_size, show_progress
) -> np.ndarray:
    policy_logps = completion_statistics(
        policy,
        tokenizer,
        prompts,
        completions,
        batch_size=batch_size,
        desc="Policy log-probs",
        show_progress=show_progress,
    )["logps"]
    reference_logps = completion_statistics(
        reference,
        tokenizer,
        prompts,
        completions,
        batch_size=batch_size,
        desc="Reference log-probs",
        show_progress=show_progress,
    )["logps"]
    return policy_logps - reference_logps


def kl_from_samples(
    policy, reference, tokenizer, prompts, completions, *, batch_size: int = 16, show_progress: bool = False
) -> float:
    """Monte-Carlo KL(π‖π_ref): the mean over completions sampled from π of Σ_t (log π − log π_ref)."""
    return float(
        _sequence_log_ratios(
            policy, reference, tokenizer, prompts, completions, batch_size, show_progress
        ).mean()
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
    """Monte-Carlo D_f(π‖π_ref) = E_π[f(u)/u], u = π/π_ref per completion sampled from π, in log space (float64)."""
    divergence = get_divergence(divergence)
    log_ratios = _sequence_log_ratios(
        policy, reference, tokenizer, prompts, completions, batch_size, show_progress
    )
    return float(divergence.f_over_u(torch.from_numpy(log_ratios)).mean())
