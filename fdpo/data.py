"""Preference pairs from scored samples."""

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

__all__ = ["STRATEGIES", "build_pairs", "load_pairs", "save_pairs"]

STRATEGIES = ("threshold", "best_vs_worst", "margin")


def _check_inputs(prompts, completions, rewards) -> tuple[list[str], list[str], np.ndarray]:
    for name, values in (("prompts", prompts), ("completions", completions)):
        if isinstance(values, str):
            raise TypeError(f"{name} must be a list of strings, got a single string.")
    prompts, completions = list(prompts), list(completions)
    rewards = np.asarray(rewards, dtype=np.float64)
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
            raise TypeError(f"{name} must be strings; positions {bad[:10]} are not.")
    empty = [index for index, value in enumerate(completions) if not value.strip()]
    if empty:
        raise ValueError(
            f"{len(empty)} completion(s) are empty (positions {empty[:10]}); drop them or sample with a minimum length "
            "(generate option min_new_tokens)."
        )
    if not np.isfinite(rewards).all():
        bad = np.flatnonzero(~np.isfinite(rewards)).tolist()
        raise ValueError(
            f"rewards hold NaN or inf at positions {bad[:10]}; score the samples again or drop them."
        )
    return prompts, completions, rewards


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
) -> Dataset | DatasetDict:
    """Builds a preference dataset (prompt, chosen, rejected, chosen_reward, rejected_reward).

    Strategies:
        ``threshold`` (the seed notebook's): winners have reward > ``high``, losers a reward in (``low``, ``high``);
            ``num_pairs`` random winner/loser pairs of the same prompt (default: as many as there are winners).
        ``best_vs_worst`` (the paper's): for each prompt, its highest- against its lowest-reward sample.
        ``margin``: random pairs of the same prompt whose rewards differ by at least ``margin``.

    Args:
        prompts: the query text each sample was generated from (what the model saw).
        completions: the generated completions.
        rewards: one reward per sample.
        test_size: fraction held out; with ``test_size > 0`` a ``DatasetDict`` with ``train`` and ``test``.

    Raises:
        ValueError: bad input, or a strategy that yields no pair (with the candidate counts).
    """
    prompts, completions, rewards = _check_inputs(prompts, completions, rewards)
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown pair strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if not 0.0 <= test_size < 1.0:
        raise ValueError(f"test_size must be in [0, 1), got {test_size}.")
    if num_pairs is not None and num_pairs < 1:
        raise ValueError(f"num_pairs must be a positive integer or None, got {num_pairs}.")
    rng = np.random.default_rng(seed)
    by_prompt: dict[str, list[int]] = defaultdict(list)
    for index, prompt in enumerate(prompts):
        by_prompt[prompt].append(index)

    pairs: list[tuple[int, int]] = []
    if strategy == "threshold":
        if not low < high:
            raise ValueError(f"threshold needs low < high, got low={low}, high={high}.")
        winners = np.flatnonzero(rewards > high)
        losers = np.flatnonzero((rewards > low) & (rewards < high))
        if len(winners) == 0 or len(losers) == 0:
            raise ValueError(
                f"The threshold strategy found {len(winners)} winner(s) (reward > {high}) and {len(losers)} loser(s) "
                f"(reward in ({low}, {high})) among {len(rewards)} samples (rewards range {rewards.min():.3g} to "
                f"{rewards.max():.3g}); lower `high`, widen (low, high), or sample more."
            )
        count = num_pairs or len(winners)
        chosen = rng.choice(winners, size=count, replace=count > len(winners))
        rejected = rng.choice(losers, size=count, replace=True)
        pairs = list(zip(chosen.tolist(), rejected.tolist(), strict=True))
    elif strategy == "best_vs_worst":
        for indices in by_prompt.values():
            values = rewards[indices]
            best, worst = indices[int(values.argmax())], indices[int(values.argmin())]
            if rewards[best] > rewards[worst]:
                pairs.append((best, worst))
        if not pairs:
            raise ValueError(
                f"best_vs_worst found no prompt with two samples of different reward among {len(by_prompt)} prompts; "
                "sample several completions per prompt (num_samples_per_prompt >= 2)."
            )
    else:
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}.")
        candidates = []
        for indices in by_prompt.values():
            for a_position, a in enumerate(indices):
                for b in indices[a_position + 1 :]:
                    if abs(rewards[a] - rewards[b]) >= margin:
                        candidates.append((a, b) if rewards[a] > rewards[b] else (b, a))
        if not candidates:
            spread = max((np.ptp(rewards[i]) for i in by_prompt.values()), default=0.0)
            raise ValueError(
                f"The margin strategy found no same-prompt pair whose rewards differ by >= {margin} (largest "
                f"spread within a prompt: {spread:.3g}, over {len(by_prompt)} prompts); lower `margin` or sample more."
            )
        order = rng.permutation(len(candidates))
        pairs = [candidates[i] for i in order[: num_pairs or len(candidates)]]
    if strategy == "best_vs_worst" and num_pairs is not None:
        pairs = [pairs[i] for i in rng.permutation(len(pairs))[:num_pairs]]

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
    if len(dataset) < 2 or math.floor(len(dataset) * test_size) < 1:
        raise ValueError(
            f"test_size={test_size} of {len(dataset)} pairs leaves no test pair; build more pairs."
        )
    return dataset.train_test_split(test_size=test_size, seed=seed)


def save_pairs(dataset: Dataset | DatasetDict, path: str | os.PathLike) -> Path:
    """Saves a pair dataset with ``save_to_disk``, atomically (a temporary folder renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    dataset.save_to_disk(str(staging / "data"))
    if path.exists():
        shutil.rmtree(path)
    os.replace(staging / "data", path)
    shutil.rmtree(staging, ignore_errors=True)
    return path


def load_pairs(path: str | os.PathLike) -> Dataset | DatasetDict:
    if not Path(path).exists():
        raise FileNotFoundError(
            f"No pair dataset at {path}; build one with build_pairs and save_pairs (or `fdpo pairs`)."
        )
    return load_from_disk(str(path))
