"""Reward models: a Hugging Face sequence classifier, or any callable from texts to numbers.

``RewardModel`` replaces a one-text-at-a-time ``classify`` loop: texts are tokenized in one call,
truncated to the classifier's maximum length (the notebook's call failed beyond it), grouped by length and scored
in batches. Anywhere a ``RewardModel`` is accepted, a plain callable ``list[str] -> list[float]`` is too
(``score_texts``, ``as_reward_fn``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from fdpo.checks import check_strings, check_tokenizer
from fdpo.decoding.batching import forward_parameters, model_device, pad_batch
from fdpo.errors import InputError

__all__ = ["KINDS", "RewardModel", "as_reward_fn", "score_texts"]

KINDS = ("logit", "probability")


class RewardModel:
    """Scores texts with a sequence classifier: the positive class's logit (the notebook's reward) or probability.

    Args:
        model: an ``AutoModelForSequenceClassification`` (any number of classes).
        tokenizer: its tokenizer. Batches are padded on the right whatever ``tokenizer.padding_side`` says, so
            every token keeps the position it has when scored alone.
        positive_index: the class whose logit is the reward (1 for lvwerra/distilbert-imdb, whose labels are
            NEGATIVE = 0, POSITIVE = 1, and for the demo classifier).
        batch_size: texts per forward pass.
        device: where to run (moves the model); default: where the model already is.
        max_length: truncation length in tokens, special tokens included; default the tokenizer's
            ``model_max_length`` capped by the model's position embeddings.
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        positive_index: int = 1,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        max_length: int | None = None,
    ):
        num_labels = model.config.num_labels
        if isinstance(positive_index, bool) or not isinstance(positive_index, int):
            raise TypeError(f"positive_index must be an int, got {positive_index!r}.")
        if not 0 <= positive_index < num_labels:
            raise InputError(
                f"positive_index={positive_index} but the classifier has {num_labels} classes "
                f"(0 to {num_labels - 1}; labels {getattr(model.config, 'id2label', None)}). Set positive_index to "
                "the class whose logit is the reward (e.g. the index of POSITIVE)."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        positions = getattr(model.config, "max_position_embeddings", None) or getattr(
            model.config, "n_positions", None
        )
        limit = tokenizer.model_max_length if tokenizer.model_max_length < 1e9 else None
        default = min(value for value in (limit, positions, 512) if value is not None)
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"max_length must be a positive integer or None, got {max_length!r}.")
        if max_length is not None and positions is not None and max_length > positions:
            raise ValueError(
                f"max_length={max_length} exceeds the classifier's {positions} position embeddings; use at most "
                f"{positions}."
            )
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.tokenizer = tokenizer
        self.positive_index = positive_index
        self.batch_size = batch_size
        self.max_length = max_length or default
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = getattr(model.config, "pad_token_id", None)
        self._pad_id = pad_id if pad_id is not None else 0  # masked out; never seen by the model
        self._uses_token_type_ids = "token_type_ids" in (forward_parameters(model) or set())

    @classmethod
    def from_pretrained(
        cls, path_or_hub_id: str, *, allow_missing_weights: bool = False, **kwargs
    ) -> RewardModel:
        """Loads a classifier and its tokenizer from a local folder or a hub id (e.g. ``"lvwerra/distilbert-imdb"``).

        Args:
            path_or_hub_id: a folder written by ``save_pretrained`` or a hub id, holding a sequence classifier.
            allow_missing_weights: load even when the checkpoint lacks some of the classifier's weights, which
                ``transformers`` then initializes at random. Off by default: a causal LM or a bare encoder loaded as
                a classifier gets a random classification head and would score texts with noise.
            **kwargs: go to the constructor (``positive_index``, ``batch_size``, ``device``, ``max_length``).

        Raises:
            InputError: the checkpoint lacks weights of the classifier (named in the message) or holds weights of
                the wrong shape, and ``allow_missing_weights`` is off.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path_or_hub_id)
        check_tokenizer(f"Reward model {path_or_hub_id!r}", tokenizer)
        model, loading_info = AutoModelForSequenceClassification.from_pretrained(
            path_or_hub_id, output_loading_info=True
        )
        if not allow_missing_weights:
            _check_fully_loaded(path_or_hub_id, type(model).__name__, loading_info)
        return cls(model, tokenizer, **kwargs)

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    def score(self, texts: Sequence[str], kind: str = "logit", show_progress: bool = False) -> np.ndarray:
        """Rewards of ``texts``. Shape: (len(texts),), float64.

        Args:
            texts: the full texts to judge (query + completion, as the notebook scored them).
            kind: ``"logit"``, the positive class's logit (the notebook's reward), or ``"probability"``, its softmax
                probability. (The notebook's ``classify(as_proba=True)`` applied a sigmoid to the logit instead,
                which is not the class probability of a softmax classifier.)
            show_progress: a tqdm bar over batches.
        """
        return self.scores(texts, kinds=(kind,), show_progress=show_progress)[kind]

    @torch.no_grad()
    def scores(
        self, texts: Sequence[str], kinds: Sequence[str] = KINDS, show_progress: bool = False
    ) -> dict[str, np.ndarray]:
        """Several kinds of reward of ``texts`` from one pass of the classifier: ``{kind: array}``, each of shape
        (len(texts),), float64. ``kinds`` as ``score``'s ``kind``; by default both."""
        if not kinds:
            raise ValueError(f"kinds is empty: ask for any of {KINDS}.")
        bad = [kind for kind in kinds if kind not in KINDS]
        if bad:
            raise ValueError(f"kind must be one of {KINDS}, got {bad[0]!r}.")
        texts = check_strings("texts", texts)
        encoded = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=self._uses_token_type_ids,
        )
        all_ids = encoded["input_ids"]
        empty = [index for index, ids in enumerate(all_ids) if not ids]
        if empty:
            raise ValueError(
                f"Texts at positions {empty[:10]} give no tokens (e.g. {texts[empty[0]]!r}): a classifier cannot "
                "score them. Drop them, or use a tokenizer that adds a [CLS]-like token."
            )
        all_types = encoded.get("token_type_ids") if self._uses_token_type_ids else None
        order = np.argsort([len(ids) for ids in all_ids], kind="stable")  # similar lengths pad little
        device = self.device
        scores = {kind: np.empty(len(texts), dtype=np.float64) for kind in kinds}
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="Scoring", disable=not show_progress, unit="batch"):
            indices = order[start : start + self.batch_size]
            input_ids, attention_mask = pad_batch([all_ids[i] for i in indices], self._pad_id)
            inputs = {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
            if all_types is not None:
                inputs["token_type_ids"] = pad_batch([all_types[i] for i in indices], 0)[0].to(device)
            logits = self.model(**inputs).logits.float()
            for kind in kinds:
                values = logits.softmax(dim=-1) if kind == "probability" else logits
                scores[kind][indices] = values[:, self.positive_index].double().cpu().numpy()
        return scores

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """The logit rewards, so that a ``RewardModel`` is itself a ``list[str] -> array`` reward function."""
        return self.score(texts)


def _check_fully_loaded(source: str, class_name: str, loading_info: dict) -> None:
    """Raises ``InputError`` when ``from_pretrained`` initialized some weights at random instead of loading them."""
    missing = sorted(loading_info.get("missing_keys") or ())
    mismatched = sorted(
        str(key[0] if isinstance(key, tuple) else key) for key in loading_info.get("mismatched_keys") or ()
    )
    if not missing and not mismatched:
        return
    problems = []
    if missing:
        problems.append(
            f"lacks {len(missing)} weight(s) of {class_name} ({', '.join(missing[:8])}"
            + (", ..." if len(missing) > 8 else "")
            + ")"
        )
    if mismatched:
        problems.append(f"holds {len(mismatched)} weight(s) of the wrong shape ({', '.join(mismatched[:8])})")
    raise InputError(
        f"Reward model {source!r} {' and '.join(problems)}: transformers would initialize them at random, so the "
        "rewards would be noise. This happens when the folder holds a causal language model or a bare encoder "
        "rather than a sequence classifier. Pass a classifier trained for the reward (saved with "
        "AutoModelForSequenceClassification.save_pretrained, e.g. lvwerra/distilbert-imdb), or, if the missing "
        "weights are harmless, RewardModel.from_pretrained(..., allow_missing_weights=True)."
    )


def as_reward_fn(reward) -> Callable[[Sequence[str]], np.ndarray]:
    """A function from texts to a float64 array of logit rewards, from a ``RewardModel`` or a callable
    ``list[str] -> list[float]`` (checked: one finite number per text)."""
    if isinstance(reward, RewardModel):
        return reward.score
    if callable(reward):
        return lambda texts: score_texts(reward, texts)
    raise TypeError(
        f"reward must be a RewardModel or a callable list[str] -> list[float], got {type(reward).__name__}."
    )


def score_texts(reward, texts: Sequence[str], kind: str = "logit") -> np.ndarray:
    """Scores ``texts`` with a ``RewardModel`` (``kind`` picks logit or probability) or a callable.

    A callable returns its own numbers whatever ``kind`` says; they are checked (one finite number per text).
    Returns a float64 array, shape (len(texts),).
    """
    texts = check_strings("texts", texts)
    if isinstance(reward, RewardModel):
        return reward.score(texts, kind=kind)
    if not callable(reward):
        raise TypeError(
            f"reward must be a RewardModel or a callable list[str] -> list[float], got {type(reward).__name__}."
        )
    raw = reward(list(texts))
    try:
        scores = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"The reward function must return numbers, one per text; got {type(raw).__name__} ({error})."
        ) from error
    if scores.shape != (len(texts),):
        got = f"shape {scores.shape}" if scores.ndim != 1 else f"{scores.shape[0]} values"
        raise ValueError(
            f"The reward function returned {got} for {len(texts)} texts; it must return one per text."
        )
    if not np.isfinite(scores).all():
        bad = np.flatnonzero(~np.isfinite(scores)).tolist()
        raise ValueError(f"The reward function returned NaN or inf for texts at positions {bad[:10]}.")
    return scores
