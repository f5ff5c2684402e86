"""Reward models: a Hugging Face sequence classifier, or any callable from texts to numbers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["RewardModel", "as_reward_fn", "score_texts"]

KINDS = ("logit", "probability")


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, got a single string; wrap it in a list.")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: give at least one text to score.")
    bad = [index for index, text in enumerate(texts) if not isinstance(text, str)]
    if bad:
        raise TypeError(f"texts must be strings; positions {bad[:10]} are not.")
    return texts


class RewardModel:
    """Scores texts with a sequence classifier: the positive class's logit (the notebook's reward) or probability.

    Args:
        model: an ``AutoModelForSequenceClassification``.
        tokenizer: its tokenizer.
        positive_index: the positive class (1 for lvwerra/distilbert-imdb and for the demo classifier).
        batch_size: texts per forward pass.
        device: where to run; default the model's device.
        max_length: truncation length; default the tokenizer's ``model_max_length`` capped by the model's positions.
    """

    def __init__(
        self, model, tokenizer, *, positive_index: int = 1, batch_size: int = 64, device=None, max_length=None
    ):
        num_labels = model.config.num_labels
        if not 0 <= positive_index < num_labels:
            raise ValueError(
                f"positive_index={positive_index} but the classifier has {num_labels} classes (0 to {num_labels - 1})."
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.tokenizer = tokenizer
        self.positive_index = positive_index
        self.batch_size = batch_size
        positions = getattr(model.config, "max_position_embeddings", None) or 512
        limit = tokenizer.model_max_length if tokenizer.model_max_length < 1e9 else positions
        self.max_length = max_length or min(limit, positions)

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str, **kwargs) -> RewardModel:
        """Loads a classifier and its tokenizer from a local folder or a hub id (e.g. ``lvwerra/distilbert-imdb``)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path_or_hub_id)
        model = AutoModelForSequenceClassification.from_pretrained(path_or_hub_id)
        return cls(model, tokenizer, **kwargs)

    @torch.no_grad()
    def score(self, texts: Sequence[str], kind: str = "logit", show_progress: bool = False) -> np.ndarray:
        """Rewards of ``texts``, shape (len(texts),), float32.

        ``kind="logit"``: the positive class's logit. ``kind="probability"``: its softmax probability (the notebook
        applied a sigmoid to the logit instead, which is not a probability for a softmax classifier).
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
        texts = _check_texts(texts)
        device = next(self.model.parameters()).device
        order = np.argsort([len(text) for text in texts], kind="stable")  # similar lengths pad little
        scores = np.empty(len(texts), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="Scoring", disable=not show_progress, unit="batch"):
            indices = order[start : start + self.batch_size]
            encoded = self.tokenizer(
                [texts[i] for i in indices],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            encoded.pop("token_type_ids", None)
            logits = self.model(**encoded).logits.float()
            if kind == "probability":
                values = logits.softmax(dim=-1)[:, self.positive_index]
            else:
                values = logits[:, self.positive_index]
            scores[indices] = values.cpu().numpy()
        return scores

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.score(texts)


def as_reward_fn(reward) -> Callable[[Sequence[str]], np.ndarray]:
    """A function from texts to a float array, from a ``RewardModel`` or a callable ``list[str] -> list[float]``."""
    if isinstance(reward, RewardModel):
        return reward.score
    if callable(reward):
        return lambda texts: np.asarray(reward(list(texts)), dtype=np.float64)
    raise TypeError(
        f"reward must be a RewardModel or a callable list[str] -> list[float], got {type(reward).__name__}."
    )


def score_texts(reward, texts: Sequence[str], kind: str = "logit") -> np.ndarray:
    """Scores ``texts`` with a RewardModel (``kind`` picks logit or probability) or a callable (its own numbers)."""
    texts = _check_texts(texts)
    if isinstance(reward, RewardModel):
        return reward.score(texts, kind=kind)
    scores = as_reward_fn(reward)(texts)
    if scores.shape != (len(texts),):
        raise ValueError(
            f"The reward function returned {scores.shape[0] if scores.ndim else 'a scalar'} values for {len(texts)} texts; it must return one per text."
        )
    if not np.isfinite(scores).all():
        raise ValueError("The reward function returned NaN or inf values.")
    return scores
