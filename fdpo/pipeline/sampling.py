"""Sampling from a model and scoring the samples with the reward model, with a stage's settings.

Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["generate_samples", "reward_logits_and_probabilities", "score_samples"]


def generate_samples(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    samples_per_prompt: int = 1,
    batch_size: int = 32,
    seed: int | None = 0,
    prompt_template: str = "{prompt}",
    generation: Mapping[str, Any] | None = None,
    show_progress: bool = True,
):
    """``fdpo.decoding.sample`` with a sweep's settings; returns ``Samples``."""
    from fdpo.decoding import sample

    return sample(
        model,
        tokenizer,
        list(prompts),
        num_samples_per_prompt=samples_per_prompt,
        batch_size=batch_size,
        seed=seed,
        prompt_template=prompt_template,
        show_progress=show_progress,
        **dict(generation or {}),
    )


def score_samples(reward_model, texts: Sequence[str], kind: str = "logit"):
    """Rewards of ``texts`` (a ``RewardModel`` or a callable ``list[str] -> list[float]``) as a numpy array."""
    import numpy as np

    from fdpo.reward import score_texts

    return np.asarray(score_texts(reward_model, list(texts), kind=kind), dtype=np.float64)


def reward_logits_and_probabilities(reward_model, texts: Sequence[str]):
    """Both rewards of ``texts``: a ``RewardModel``'s from one pass of the classifier; a callable's own numbers
    (what ``score_samples`` gives for either kind) from one call."""
    from fdpo.reward import RewardModel

    if isinstance(reward_model, RewardModel):
        both = reward_model.scores(list(texts))
        return both["logit"], both["probability"]
    rewards = score_samples(reward_model, texts)
    return rewards, rewards
