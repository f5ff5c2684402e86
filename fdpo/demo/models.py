"""Builders for small tokenizers and models, saved with ``save_pretrained`` and loaded back.

Used by the demo world and by the test suite: both need a causal LM and a sentiment classifier that go through
``from_pretrained`` exactly like a hub model does, without any download.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from transformers import (
    DistilBertConfig,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)

BOS_EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
CLS_TOKEN = "<|cls|>"


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 512, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Trains a byte-level BPE tokenizer on ``texts`` and wraps it for ``transformers``.

    The tokenizer pads on the left (what generation and TRL expect) and has distinct end-of-text, pad and
    classification tokens, so padding never hides a real end of sequence.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[BOS_EOS_TOKEN, PAD_TOKEN, CLS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_EOS_TOKEN,
        eos_token=BOS_EOS_TOKEN,
        pad_token=PAD_TOKEN,
        cls_token=CLS_TOKEN,
        padding_side="left",
        model_max_length=512,
    )


def build_causal_lm(
    tokenizer: PreTrainedTokenizerFast,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_positions: int = 128,
) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 whose vocabulary and special tokens match ``tokenizer``."""
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def build_classifier(
    tokenizer: PreTrainedTokenizerFast,
    n_layers: int = 2,
    dim: int = 64,
    n_heads: int = 4,
    max_position_embeddings: int = 128,
) -> DistilBertForSequenceClassification:
    """A freshly initialised two-class DistilBERT (index 0 negative, index 1 positive, as lvwerra/distilbert-imdb)."""
    config = DistilBertConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_position_embeddings,
        n_layers=n_layers,
        n_heads=n_heads,
        dim=dim,
        hidden_dim=4 * dim,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
        pad_token_id=tokenizer.pad_token_id,
    )
    return DistilBertForSequenceClassification(config)


def save_pretrained(model, tokenizer, path: str | Path) -> Path:
    """Saves a model with its tokenizer in one folder, as a hub repository holds them."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
