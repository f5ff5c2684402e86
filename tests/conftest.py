"""Shared fixtures: tiny tokenizers and models built here, saved with ``save_pretrained`` and loaded back."""
# ruff: noqa: E402  (the hub variables below must be set before transformers is imported)

from __future__ import annotations

import os

# No test may reach a model hub, whatever the caller's environment: set before huggingface_hub reads them.
for _variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_variable] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import random

import numpy as np
import pytest
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from fdpo.demo.models import build_causal_lm, build_classifier, save_pretrained, train_tokenizer

TINY_CORPUS = [
    "This movie was great and the acting was wonderful.",
    "This movie was terrible and the plot was boring.",
    "A fine film with a lovely score and a clever story.",
    "The worst film I have seen, dull and far too long.",
    "I loved every minute of it, a true delight.",
    "I hated the ending, it was a waste of time.",
    "The cast is superb, the script is sharp and funny.",
    "The dialogue is awful and the effects look cheap.",
] * 8


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer GPT-2 and its byte-level BPE tokenizer, saved to disk (random weights)."""
    torch.manual_seed(0)
    tokenizer = train_tokenizer(TINY_CORPUS, vocab_size=300)
    model = build_causal_lm(tokenizer, n_layer=2, n_embd=32, n_head=2, n_positions=128)
    return str(save_pretrained(model, tokenizer, tmp_path_factory.mktemp("tiny-gpt2")))


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory):
    """A 2-layer DistilBERT two-class classifier and its tokenizer, saved to disk (random weights)."""
    torch.manual_seed(1)
    tokenizer = train_tokenizer(TINY_CORPUS, vocab_size=300)
    tokenizer.padding_side = "right"
    model = build_classifier(tokenizer, n_layers=2, dim=32, n_heads=2)
    return str(save_pretrained(model, tokenizer, tmp_path_factory.mktemp("tiny-distilbert")))


@pytest.fixture
def tiny_lm(tiny_model_dir):
    """(model, tokenizer) loaded back through ``from_pretrained``."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return model, tokenizer


@pytest.fixture
def tiny_classifier(tiny_classifier_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir)
    return model, tokenizer


@pytest.fixture
def no_model_loading(monkeypatch):
    """Every from_pretrained raises: a test using this proves that nothing was loaded."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model or tokenizer was loaded")

    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification", "AutoTokenizer"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)
