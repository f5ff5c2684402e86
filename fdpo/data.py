"""Preference pairs from scored samples: the notebook's thresholds, the paper's best-vs-worst, a reward margin, or
DivPO's diverse pairs (Lanchantin et al., 2025).

Every pair shares its prompt: DPO compares two responses to the same query. With a single prompt (the notebook's
"Good Review:") the threshold strategy is exactly the notebook's global random pairing.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, load_from_disk

__all__ = [
    "COLUMNS",
    "DIVERSITY_CRITERIA",
    "REFERENCE_COLUMNS",
    "STRATEGIES",
    "build_pairs",
    "load_pairs",
    "mean_token_logprobs",
    "ngram_diversity",
    "save_pairs",
]

STRATEGIES = ("threshold", "best_vs_worst", "margin", "divpo")
#: How ``divpo`` measures a sample's diversity.
DIVERSITY_CRITERIA = ("logprob", "ngram")
COLUMNS = ("prompt", "chosen", "rejected", "chosen_reward", "rejected_reward")
#: Reference log-probs of a pair's completions, summed over their tokens, as TRL's precompute names them.
REFERENCE_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")


def _check_inputs(prompts, completions, rewards) -> tuple[list[str], list[str], np.ndarray]:
    for name, values in (("prompts", prompts), ("completions", completions)):
        if isinstance(values, str):
            raise TypeError(f"{name} must be a list of strings, got a single string; wrap it in a list.")
    prompts, completions = list(prompts), list(completions)
    try:
        rewards = np.asarray(rewards, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"rewards must be numbers, one per sample ({error}).") from error
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be one number per sample (1-D), got shape {rewards.shape}.")
    if not completions:
        raise ValueError("No samples: completions is empty.")
    if not (len(prompts) == len(completions) == len(rewards)):
        raise ValueError(
            f"prompts, completions and rewards must have one entry per sample; got {len(prompts)}, "
            f"{len(completions)} and {len(rewards)}."
        )
    for name, values in (("prompts", prompts), ("completions", completions)):
        bad = [index for index, value in enumerate(values) if not isinstance(value, str)]
        if bad:
            raise TypeError(
                f"{name} must be strings; positions {bad[:10]} are not (first: {type(values[bad[0]]).__name__})."
            )
    empty = [index for index, value in enumerate(completions) if not value.strip()]
    if empty:
        raise ValueError(
            f"{len(empty)} completion(s) are empty or blank (positions {empty[:10]}); drop them before pairing, "
            "or sample with a minimum length (generate option min_new_tokens)."
        )
    if not np.isfinite(rewards).all():
        bad = np.flatnonzero(~np.isfinite(rewards)).tolist()
        raise ValueError(
            f"rewards hold NaN or inf at positions {bad[:10]}; score those samples again or drop them."
        )
    return prompts, completions, rewards


def _threshold_pairs(by_prompt, rewards, high, low, num_pairs, rng) -> list[tuple[int, int]]:
    winners_of, losers_of = {}, {}
    for prompt, indices in by_prompt.items():
        indices = np.asarray(indices)
        values = rewards[indices]
        winners_of[prompt] = indices[values > high]
        losers_of[prompt] = indices[(values > low) & (values < high)]
    # A winner can be paired only when its prompt has a loser.
    eligible = [prompt for prompt in by_prompt if len(winners_of[prompt]) and len(losers_of[prompt])]
    if not eligible:
        winners = sum(len(w) for w in winners_of.values())
        losers = sum(len(v) for v in losers_of.values())
        both = (
            f" No prompt has both: pairs must share a prompt ({len(by_prompt)} prompts)."
            if winners and losers
            else ""
        )
        raise ValueError(
            f"The threshold strategy found {winners} winner(s) (reward > {high}) and {losers} loser(s) (reward in "
            f"({low}, {high})) among {len(rewards)} samples, rewards ranging {rewards.min():.4g} to "
            f"{rewards.max():.4g}.{both} Lower `high`, widen (low, high), sample more, or use strategy "
            "'best_vs_worst'."
        )
    winners = np.concatenate([winners_of[prompt] for prompt in eligible])
    prompt_of_winner = np.concatenate([[k] * len(winners_of[prompt]) for k, prompt in enumerate(eligible)])
    # The notebook: winners and losers drawn uniformly at random (here: the loser among the winner's prompt).
    # By default each eligible winner is used once, in random order; num_pairs beyond that draws with replacement.
    count = len(winners) if num_pairs is None else num_pairs
    picks = rng.choice(len(winners), size=count, replace=count > len(winners))
    pairs = []
    for pick in picks.tolist():
        losers = losers_of[eligible[prompt_of_winner[pick]]]
        pairs.append((int(winners[pick]), int(losers[rng.integers(len(losers))])))
    return pairs


def _best_vs_worst_pairs(by_prompt, rewards, num_pairs, rng) -> list[tuple[int, int]]:
    pairs = []
    for indices in by_prompt.values():
        values = rewards[indices]
        best, worst = indices[int(values.argmax())], indices[int(values.argmin())]
        if rewards[best] > rewards[worst]:
            pairs.append((best, worst))
    if not pairs:
        several = sum(len(indices) >= 2 for indices in by_prompt.values())
        raise ValueError(
            f"best_vs_worst found no prompt with two samples of different reward: {len(by_prompt)} prompts, "
            f"{several} of them with two or more samples (all tied). Sample several completions per prompt "
            "(num_samples_per_prompt >= 2)."
        )
    if num_pairs is not None:
        pairs = [pairs[i] for i in rng.permutation(len(pairs))[:num_pairs]]
    return pairs


def _margin_pairs(by_prompt, rewards, margin, num_pairs, rng) -> list[tuple[int, int]]:
    candidates = []
    for indices in by_prompt.values():
        indices = np.asarray(indices)
        values = rewards[indices]
        first, second = np.triu_indices(len(indices), k=1)
        keep = np.abs(values[first] - values[second]) >= margin
        for a, b in zip(indices[first[keep]].tolist(), indices[second[keep]].tolist(), strict=True):
            candidates.append((a, b) if rewards[a] > rewards[b] else (b, a))
    if not candidates:
        spread = max(float(np.ptp(rewards[indices])) for indices in by_prompt.values())
        several = sum(len(indices) >= 2 for indices in by_prompt.values())
        raise ValueError(
            f"The margin strategy found no same-prompt pair whose rewards differ by >= {margin}: {len(by_prompt)} "
            f"prompts, {several} with two or more samples, largest reward spread within a prompt {spread:.4g}. "
            "Lower `margin` or sample more completions per prompt."
        )
    order = rng.permutation(len(candidates))
    return [candidates[i] for i in order[: num_pairs or len(candidates)]]


def ngram_diversity(completions: Sequence[str], groups: Sequence[Sequence[int]], n: int = 2) -> np.ndarray:
    """Each completion's mean n-gram Jaccard distance to the other completions of its group (its prompt's samples).

    The n-grams of a text are its sets of n consecutive whitespace-separated words; the Jaccard distance of two
    sets is 1 − |A ∩ B| / |A ∪ B| (0 for two empty sets: neither has an n-gram the other lacks). A completion
    alone in its group has no other to differ from: NaN.

    Args:
        completions: the texts. Shape: (n_samples,).
        groups: lists of indices into ``completions`` (e.g. the samples of each prompt), disjoint.
        n: the n-gram length (2: bigrams).

    Returns:
        float64 array of shape (n_samples,); higher is more diverse.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    grams = []
    for text in completions:
        words = text.split()
        grams.append(set(zip(*(words[i:] for i in range(n)), strict=False)))
    diversity = np.full(len(completions), np.nan)
    for indices in groups:
        indices = list(indices)
        if len(indices) < 2:
            continue
        for i in indices:
            distances = []
            for j in indices:
                if j == i:
                    continue
                union = len(grams[i] | grams[j])
                distances.append(1.0 - len(grams[i] & grams[j]) / union if union else 0.0)
            diversity[i] = float(np.mean(distances))
    return diversity


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

    DivPO's ``logprob`` diversity criterion (``build_pairs(diversity="logprob", logprobs=...)``), scored under the
    SFT model that drew the samples: a lower value is a rarer, so more diverse, completion. ``completions`` are
    texts or token-id lists, scored as ``fdpo.metrics`` scores them (``score_completions``).
    """
    from fdpo.metrics import completion_statistics

    stats = completion_statistics(
        model, tokenizer, prompts, completions, batch_size=batch_size, show_progress=show_progress
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(stats["num_tokens"] > 0, stats["logps"] / stats["num_tokens"], np.nan)


def _divpo_pairs(by_prompt, rewards, diversity, quantile, high, low, num_pairs, rng) -> list[tuple[int, int]]:
    """Per prompt: the most diverse sample of its high-reward pool against the least diverse of its low-reward pool.

    Pools: with ``quantile`` q, the k = max(1, ⌊q·n⌋) highest- and k lowest-reward of the prompt's n samples
    (reward ties broken by sample order); with ``quantile=None``, reward > ``high`` and reward < ``low``. Diversity
    ties go to the earlier sample. A prompt gives no pair when a pool is empty or the chosen reward is not above
    the rejected one (ties across the pools).
    """
    pairs, pooled = [], 0
    for indices in by_prompt.values():
        indices = np.asarray(indices)
        values = rewards[indices]
        if quantile is not None:
            if len(indices) < 2:
                continue
            k = max(1, math.floor(quantile * len(indices)))
            order = np.argsort(values, kind="stable")
            top, bottom = indices[order[-k:]], indices[order[:k]]
        else:
            top, bottom = indices[values > high], indices[values < low]
            if not len(top) or not len(bottom):
                continue
        pooled += 1
        chosen = int(top[int(np.argmax(diversity[top]))])
        rejected = int(bottom[int(np.argmin(diversity[bottom]))])
        if rewards[chosen] > rewards[rejected]:
            pairs.append((chosen, rejected))
    if not pairs:
        pools = (
            f"the top and bottom {quantile:g} of each prompt's samples by reward"
            if quantile is not None
            else f"reward > {high} and reward < {low}"
        )
        raise ValueError(
            f"divpo found no pair among {len(by_prompt)} prompts ({len(rewards)} samples): {pooled} prompt(s) have "
            f"both pools ({pools}), and in none does the chosen sample out-score the rejected one. Sample several "
            "completions per prompt (num_samples_per_prompt >= 2)"
            + (", or lower `high` / raise `low`." if quantile is None else ".")
        )
    if num_pairs is not None:
        pairs = [pairs[i] for i in rng.permutation(len(pairs))[:num_pairs]]
    return pairs


def _check_divpo_options(diversity, logprobs, quantile, ngram, high, low, size) -> np.ndarray | None:
    """Validates DivPO's options; returns the log-probs as a float64 array (None for the ngram criterion)."""
    if diversity not in DIVERSITY_CRITERIA:
        raise ValueError(
            f"Unknown diversity criterion {diversity!r}; choose one of {', '.join(DIVERSITY_CRITERIA)}."
        )
    if quantile is not None:
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0.0 < quantile <= 0.5:
            raise ValueError(
                f"quantile must be in (0, 0.5] (the share of each prompt's samples in each reward pool) or None "
                f"(pools by high/low), got {quantile!r}."
            )
    elif not low <= high:
        raise ValueError(f"divpo with quantile=None needs low <= high, got low={low}, high={high}.")
    if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
        raise ValueError(f"ngram must be a positive integer, got {ngram!r}.")
    if diversity == "ngram":
        if logprobs is not None:
            raise ValueError(
                "logprobs is used only with diversity='logprob'; leave it out for diversity='ngram'."
            )
        return None
    if logprobs is None:
        raise ValueError(
            "diversity='logprob' needs logprobs: the mean per-token log-prob of each completion under the SFT model "
            "(e.g. fdpo.metrics.completion_statistics: logps / num_tokens); or use diversity='ngram'."
        )
    try:
        values = np.asarray(logprobs, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"logprobs must be numbers, one per sample ({error}).") from error
    if values.shape != (size,):
        raise ValueError(f"logprobs must hold one number per sample ({size}), got shape {values.shape}.")
    if not np.isfinite(values).all():
        bad = np.flatnonzero(~np.isfinite(values)).tolist()
        raise ValueError(
            f"logprobs hold NaN or inf at positions {bad[:10]}; compute them again or drop those samples."
        )
    return values


def build_pairs(
    prompts: Sequence[str],
    completions: Sequence[str],
    rewards: Sequence[float],
    *,
    strategy: str = "threshold",
    high: float = 2.0,
    low: float = 0.0,
    margin: float = 1.0,
    num_pairs: int | None = None,
    seed: int = 0,
    test_size: float = 0.0,
    diversity: str = "logprob",
    logprobs: Sequence[float] | None = None,
    quantile: float | None = 0.25,
    ngram: int = 2,
) -> Dataset | DatasetDict:
    """Builds a preference dataset with columns prompt, chosen, rejected, chosen_reward, rejected_reward.

    Strategies (pairs always share a prompt):
        ``threshold`` (a global reward cut, the simplest recipe): winners have reward > ``high``, losers a reward in (``low``, ``high``);
            each pair is a random winner and a random loser of that winner's prompt. ``num_pairs`` pairs (default:
            each eligible winner once, in random order; more than that reuses winners).
        ``best_vs_worst`` (the paper's): for each prompt, its highest- against its lowest-reward sample (prompts
            whose samples all tie give none); ``num_pairs`` keeps a random subset.
        ``margin``: every pair of samples of the same prompt whose rewards differ by at least ``margin``, in random
            order; ``num_pairs`` keeps the first ones.
        ``divpo`` (DivPO, Lanchantin et al., 2025): for each prompt, chosen is the *most diverse* sample of its
            high-reward pool and rejected the *least diverse* of its low-reward pool. Pools: the top and bottom
            ``quantile`` of the prompt's samples by reward (at least one each), or with ``quantile=None`` the
            samples with reward > ``high`` and < ``low``. ``diversity`` picks the criterion: ``"logprob"`` (a lower
            mean per-token log-prob under the SFT model, given in ``logprobs``, is more diverse) or ``"ngram"``
            (``ngram_diversity``: mean ``ngram``-gram Jaccard distance to the prompt's other samples).
            ``num_pairs`` keeps a random subset.

    Args:
        prompts: the query text each sample was generated from (``Samples.queries``: what the model saw).
        completions: the generated completions (``Samples.completions``).
        rewards: one reward per sample (e.g. ``RewardModel.score(samples.texts)``).
        seed: seeds the random pairing and the split.
        test_size: fraction of pairs held out; with ``test_size > 0`` a ``DatasetDict`` with ``train`` and
            ``test``. The split is over pairs, as the notebook's: pairs sharing a prompt may land on both sides.
        diversity, logprobs, quantile, ngram: the ``divpo`` options (above); ``logprobs`` has shape (n_samples,).

    Raises:
        TypeError, ValueError: bad input (empty or non-string texts, NaN rewards, mismatched lengths, bad
            options), or a strategy that yields no pair (the message gives the candidate counts and the fix).
    """
    prompts, completions, rewards = _check_inputs(prompts, completions, rewards)
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown pair strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    for name, value in (("high", high), ("low", low), ("margin", margin), ("test_size", test_size)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(f"{name} must be a number, got {value!r}.")
    if not 0.0 <= test_size < 1.0:
        raise ValueError(f"test_size must be in [0, 1), got {test_size}.")
    if num_pairs is not None and (
        isinstance(num_pairs, bool) or not isinstance(num_pairs, int) or num_pairs < 1
    ):
        raise ValueError(f"num_pairs must be a positive integer or None, got {num_pairs!r}.")
    rng = np.random.default_rng(seed)
    by_prompt: dict[str, list[int]] = defaultdict(list)
    for index, prompt in enumerate(prompts):
        by_prompt[prompt].append(index)

    if strategy == "threshold":
        if not low < high:
            raise ValueError(f"The threshold strategy needs low < high, got low={low}, high={high}.")
        pairs = _threshold_pairs(by_prompt, rewards, high, low, num_pairs, rng)
    elif strategy == "best_vs_worst":
        pairs = _best_vs_worst_pairs(by_prompt, rewards, num_pairs, rng)
    elif strategy == "margin":
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}.")
        pairs = _margin_pairs(by_prompt, rewards, margin, num_pairs, rng)
    else:
        mean_logprobs = _check_divpo_options(diversity, logprobs, quantile, ngram, high, low, len(rewards))
        if mean_logprobs is not None:
            sample_diversity = -mean_logprobs  # rarer under the SFT model = more diverse
        else:
            sample_diversity = ngram_diversity(completions, list(by_prompt.values()), ngram)
        pairs = _divpo_pairs(by_prompt, rewards, sample_diversity, quantile, high, low, num_pairs, rng)

    dataset = Dataset.from_dict(
        {
            "prompt": [prompts[c] for c, _ in pairs],
            "chosen": [completions[c] for c, _ in pairs],
            "rejected": [completions[r] for _, r in pairs],
            "chosen_reward": [float(rewards[c]) for c, _ in pairs],
            "rejected_reward": [float(rewards[r]) for _, r in pairs],
        }
    )
    if test_size == 0.0:
        return dataset
    if math.floor(len(dataset) * test_size) < 1 or math.ceil(len(dataset) * (1 - test_size)) < 1:
        raise ValueError(
            f"test_size={test_size} of {len(dataset)} pairs leaves an empty split; build more pairs "
            "(num_pairs) or raise test_size."
        )
    return dataset.train_test_split(test_size=test_size, seed=seed)


def save_pairs(dataset: Dataset | DatasetDict, path: str | os.PathLike) -> Path:
    """Saves a pair dataset with ``save_to_disk``, atomically: written to a temporary sibling folder, then moved
    into place (an existing dataset at ``path`` is replaced)."""
    if not isinstance(dataset, (Dataset, DatasetDict)):
        raise TypeError(
            f"save_pairs takes a Dataset or DatasetDict from build_pairs, got {type(dataset).__name__}."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        dataset.save_to_disk(str(staging / "data"))
        if path.exists():
            # Move the old one aside first, so that `path` is never a half-written folder.
            old = staging / "old"
            os.replace(path, old)
        os.replace(staging / "data", path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def load_pairs(path: str | os.PathLike) -> Dataset | DatasetDict:
    """Loads a dataset written by ``save_pairs``."""
    if not Path(path).exists():
        raise FileNotFoundError(
            f"No pair dataset at {path}; build one with build_pairs and save it with save_pairs (or `fdpo pairs`)."
        )
    return load_from_disk(str(path))
