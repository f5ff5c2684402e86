"""Plain torch training loops for the demo world: the SFT language model and the sentiment classifier.

Both loops run on the CPU with AdamW, a linear warm-up and a cosine decay, gradient clipping, length-bucketed
batches (little padding) and a tqdm progress bar. They are seeded: the same inputs give the same weights.

The classifier is trained on soft targets σ(k·score), where ``score`` is the review's known summed sentiment
(``fdpo.demo.corpus``), so that its logit difference tracks the amount and strength of sentiment rather than
saturating on the label, and with a small penalty on the sum of its two logits, so that the positive-class logit
alone (the reward of the study, as with ``lvwerra/distilbert-imdb``) is half that difference: a graded reward that
preference optimization can raise by writing more, or stronger, praise.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tokenizers import processors
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from fdpo.decoding.batching import pad_batch
from fdpo.demo.corpus import Review

__all__ = [
    "classifier_accuracy",
    "classifier_logits",
    "disable_dropout",
    "make_classifier_tokenizer",
    "train_causal_lm",
    "train_classifier",
]


def make_classifier_tokenizer(tokenizer, max_length: int = 128):
    """A copy of ``tokenizer`` for a DistilBERT classifier: right padding and a ``<|cls|>`` token prepended.

    DistilBERT classifies from the hidden state of the first position; with the language model's left padding
    that position would be a pad. The prefix is part of the saved ``tokenizer.json``, so a tokenizer loaded back
    with ``AutoTokenizer.from_pretrained`` adds it too.
    """
    if tokenizer.cls_token_id is None:
        raise ValueError(
            "The tokenizer has no cls_token; build it with fdpo.demo.models.train_tokenizer, which adds <|cls|>."
        )
    classifier_tokenizer = copy.deepcopy(tokenizer)
    cls_token = classifier_tokenizer.cls_token
    classifier_tokenizer.backend_tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{cls_token} $A",
                pair=f"{cls_token} $A $B",
                special_tokens=[(cls_token, classifier_tokenizer.cls_token_id)],
            ),
        ]
    )
    classifier_tokenizer.padding_side = "right"
    classifier_tokenizer.model_max_length = max_length
    return classifier_tokenizer


def disable_dropout(model: PreTrainedModel) -> PreTrainedModel:
    """Sets every dropout probability of ``model`` (modules and config) to 0, in place, and returns the model.

    Dropout slows the learning of models this small trained for well under an epoch's worth of distinct data; the
    config is updated too, so the saved model says what it was trained with.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    for key in (
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
        "dropout",
        "attention_dropout",
        "seq_classif_dropout",
    ):
        if hasattr(model.config, key):
            setattr(model.config, key, 0.0)
    return model


def _bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Index batches of similar lengths, in random order: shuffle, sort within chunks of 50 batches, split."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = 50 * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda index: lengths[index])
        batches.extend(block[offset : offset + batch_size] for offset in range(0, len(block), batch_size))
    rng.shuffle(batches)
    return batches


def _schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.05):
    """Linear warm-up, then cosine decay to 10% of the peak learning rate."""
    warmup = max(1, int(warmup_fraction * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _check_positive(**values) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}.")


@dataclass(frozen=True)
class _Schedule:
    """How both loops optimize: checked when made, before any data is encoded."""

    epochs: float
    batch_size: int
    learning_rate: float
    betas: tuple[float, float]
    weight_decay: float
    seed: int
    show_progress: bool

    def __post_init__(self) -> None:
        _check_positive(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate)


def _fit(
    model: PreTrainedModel,
    batch_loss: Callable[[list[int]], torch.Tensor],
    encoded: Sequence[Sequence[int]],
    schedule: _Schedule,
    desc: str,
) -> list[float]:
    """AdamW with gradient clipping over ``schedule.epochs`` passes of length-bucketed batches of the indices of
    ``encoded`` (token ids per example); ``batch_loss(indices)`` gives each step's loss. Seeded by
    ``schedule.seed``. Returns the loss of each step; leaves ``model`` in eval mode."""
    torch.manual_seed(schedule.seed)
    rng = random.Random(schedule.seed)
    lengths = [len(ids) for ids in encoded]
    epochs, batch_size = schedule.epochs, schedule.batch_size
    n_batches_per_epoch = math.ceil(len(lengths) / batch_size)
    total_steps = max(1, round(epochs * n_batches_per_epoch))
    batches: list[list[int]] = []
    while len(batches) < total_steps:
        batches.extend(_bucketed_batches(lengths, batch_size, rng))
    batches = batches[:total_steps]

    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=schedule.learning_rate,
        betas=schedule.betas,
        weight_decay=schedule.weight_decay,
    )
    scheduler = _schedule(optimizer, total_steps)
    model.train()
    losses = []
    progress = tqdm(batches, desc=desc, disable=not schedule.show_progress, leave=False)
    for batch in progress:
        loss = batch_loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if len(losses) % 20 == 0:
            progress.set_postfix(loss=f"{sum(losses[-20:]) / 20:.3f}")
    model.eval()
    return losses


def train_causal_lm(
    model: PreTrainedModel,
    tokenizer,
    texts: Sequence[str],
    *,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.98),
    seed: int = 0,
    show_progress: bool = True,
) -> list[float]:
    """Trains a causal LM on ``texts`` (each followed by the end-of-text token) with next-token cross-entropy.

    Texts are not packed: every text starts at position 0, as a prompt does when the model is sampled. Texts longer
    than the model's context (``n_positions``) are cut to fit, end-of-text token included.

    Args:
        epochs: passes over ``texts``; a fraction trains on that fraction of the batches.

    Returns:
        The training loss of each step.
    """
    schedule = _Schedule(epochs, batch_size, learning_rate, betas, weight_decay, seed, show_progress)
    if not texts:
        raise ValueError("texts is empty: the language model needs a corpus to train on.")
    context = model.config.n_positions
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    encoded = [
        ids[: context - 1] + [eos_id] for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    ]

    def batch_loss(batch: list[int]) -> torch.Tensor:
        ids, mask = pad_batch([encoded[index] for index in batch], pad_id)
        return model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss

    return _fit(model, batch_loss, encoded, schedule, "Training the SFT language model")


def train_classifier(
    model: PreTrainedModel,
    tokenizer,
    reviews: Sequence[Review],
    *,
    epochs: float = 2.0,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.98),
    score_scale: float = 2.5,
    logit_sum_penalty: float = 0.1,
    seed: int = 0,
    show_progress: bool = True,
) -> list[float]:
    """Trains a two-class classifier (index 1 positive) on reviews with known sentiment scores.

    The loss is the cross-entropy against the soft target p = σ(``score_scale``·score), plus ``logit_sum_penalty``
    times the mean of (logit₀ + logit₁)²: the logit difference learns ≈ ``score_scale``·score and the positive
    logit ≈ half of it. The argmax is still the label, since the target is above ½ exactly when score > 0.

    Args:
        tokenizer: the classifier's tokenizer (``make_classifier_tokenizer``), which prepends ``<|cls|>``.
        reviews: ``Review`` objects; their ``score`` makes the targets.
        epochs: passes over ``reviews``; a fraction trains on that fraction of the batches.

    Returns:
        The training loss of each step.
    """
    schedule = _Schedule(epochs, batch_size, learning_rate, betas, weight_decay, seed, show_progress)
    _check_positive(score_scale=score_scale)
    if not reviews:
        raise ValueError("reviews is empty: the classifier needs labelled reviews to train on.")
    max_length = model.config.max_position_embeddings
    encoded = tokenizer([review.text for review in reviews], truncation=True, max_length=max_length)[
        "input_ids"
    ]
    targets = torch.sigmoid(
        score_scale * torch.tensor([review.score for review in reviews], dtype=torch.float32)
    )

    def batch_loss(batch: list[int]) -> torch.Tensor:
        ids, mask = pad_batch([encoded[index] for index in batch], tokenizer.pad_token_id)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()  # (batch, 2)
        positive = targets[batch]
        soft_targets = torch.stack([1 - positive, positive], dim=1)
        loss = -(soft_targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()
        return loss + logit_sum_penalty * logits.sum(-1).pow(2).mean()

    return _fit(model, batch_loss, encoded, schedule, "Training the sentiment classifier")


@torch.no_grad()
def classifier_logits(
    model: PreTrainedModel, tokenizer, texts: Sequence[str], batch_size: int = 128
) -> torch.Tensor:
    """The classifier's logits for ``texts``. Shape: (len(texts), 2)."""
    model.eval()
    chunks = []
    for start in range(0, len(texts), batch_size):
        inputs = tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=model.config.max_position_embeddings,
            return_tensors="pt",
        )
        chunks.append(model(**inputs).logits.float())
    return torch.cat(chunks) if chunks else torch.empty((0, 2))


def classifier_accuracy(model: PreTrainedModel, tokenizer, reviews: Sequence[Review]) -> float:
    """Fraction of ``reviews`` whose label is the classifier's argmax."""
    if not reviews:
        raise ValueError("reviews is empty: accuracy needs at least one labelled review.")
    predictions = classifier_logits(model, tokenizer, [review.text for review in reviews]).argmax(-1)
    labels = torch.tensor([review.label for review in reviews])
    return (predictions == labels).float().mean().item()
