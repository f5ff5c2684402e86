"""Tests for fdpo/reward.py: batched classifier scores equal one-at-a-time scores; callables work alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fdpo.reward import RewardModel, as_reward_fn, score_texts

TEXTS = [
    "A lovely film.",
    "The worst film I have seen, dull and far too long and boring.",
    "Fine.",
    "great " * 300,
]


def _one_at_a_time(model, tokenizer, text, max_length):
    encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    encoded.pop("token_type_ids", None)
    with torch.no_grad():
        return model(**encoded).logits[0]


def test_batched_logits_and_probabilities_equal_single_passes(tiny_classifier_dir):
    reward = RewardModel.from_pretrained(tiny_classifier_dir, batch_size=3)
    logits = np.stack(
        [_one_at_a_time(reward.model, reward.tokenizer, t, reward.max_length).numpy() for t in TEXTS]
    )
    np.testing.assert_allclose(reward.score(TEXTS), logits[:, 1], rtol=1e-5, atol=1e-5)
    probabilities = torch.tensor(logits).softmax(-1)[:, 1].numpy()
    np.testing.assert_allclose(reward.score(TEXTS, kind="probability"), probabilities, rtol=1e-5, atol=1e-6)
    assert (
        reward.max_length == 128
    )  # the classifier's positions; the 300-word text is truncated, not an error


def test_positive_index_selects_the_class(tiny_classifier):
    model, tokenizer = tiny_classifier
    positive = RewardModel(model, tokenizer, positive_index=1).score(TEXTS)
    negative = RewardModel(model, tokenizer, positive_index=0).score(TEXTS)
    assert not np.allclose(positive, negative)
    with pytest.raises(ValueError, match="positive_index=2 but the classifier has 2 classes"):
        RewardModel(model, tokenizer, positive_index=2)


def test_callables_are_accepted_wherever_a_reward_model_is(tiny_classifier):
    length_reward = lambda texts: [float(len(t)) for t in texts]  # noqa: E731
    np.testing.assert_array_equal(score_texts(length_reward, TEXTS), [len(t) for t in TEXTS])
    np.testing.assert_array_equal(as_reward_fn(length_reward)(TEXTS), [len(t) for t in TEXTS])
    model, tokenizer = tiny_classifier
    reward = RewardModel(model, tokenizer)
    np.testing.assert_array_equal(
        score_texts(reward, TEXTS, kind="probability"), reward.score(TEXTS, kind="probability")
    )
    with pytest.raises(ValueError, match="returned 1 values for 4 texts"):
        score_texts(lambda texts: [1.0], TEXTS)
    with pytest.raises(ValueError, match="NaN or inf"):
        score_texts(lambda texts: [float("nan")] * len(texts), TEXTS)
    with pytest.raises(TypeError, match="RewardModel or a callable"):
        as_reward_fn(3)


def test_bad_input_errors(tiny_classifier):
    reward = RewardModel(*tiny_classifier)
    with pytest.raises(ValueError, match="texts is empty"):
        reward.score([])
    with pytest.raises(TypeError, match="single string"):
        reward.score("one text")
    with pytest.raises(ValueError, match="kind must be one of"):
        reward.score(TEXTS, kind="sigmoid")
