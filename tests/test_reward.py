"""Tests for fdpo/reward.py: batched classifier scores equal one-at-a-time scores; callables work alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from fdpo.errors import InputError
from fdpo.reward import RewardModel, as_reward_fn, score_texts

TEXTS = [
    "A lovely film.",
    "The worst film I have seen, dull and far too long and boring.",
    "Fine.",
    "great " * 300,  # longer than the classifier's 128 positions
    "Bad.",
]


def _one_at_a_time(model, tokenizer, text, max_length):
    """The notebook's ``classify`` for one text (plus truncation, which the notebook lacked)."""
    encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    encoded.pop("token_type_ids", None)
    with torch.no_grad():
        return model(**encoded).logits[0]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_batched_logits_and_probabilities_equal_single_passes(tiny_classifier_dir, padding_side):
    """Whatever side the tokenizer pads on, batches are padded on the right: DistilBERT's absolute positions stay
    those of a text scored alone."""
    reward = RewardModel.from_pretrained(tiny_classifier_dir, batch_size=2)
    reward.tokenizer.padding_side = padding_side
    logits = np.stack(
        [_one_at_a_time(reward.model, reward.tokenizer, t, reward.max_length).numpy() for t in TEXTS]
    )
    scores = reward.score(TEXTS)
    assert scores.dtype == np.float64 and scores.shape == (len(TEXTS),)
    np.testing.assert_allclose(scores, logits[:, 1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reward(TEXTS), scores)
    # softmax probability of class 1 = sigmoid(logit_1 − logit_0), not the notebook's sigmoid(logit_1)
    probabilities = 1 / (1 + np.exp(-(logits[:, 1] - logits[:, 0])))
    np.testing.assert_allclose(reward.score(TEXTS, kind="probability"), probabilities, rtol=1e-5, atol=1e-6)
    assert not np.allclose(probabilities, 1 / (1 + np.exp(-logits[:, 1])), atol=1e-3)


def test_scores_gives_every_kind_from_one_pass(tiny_classifier_dir):
    reward = RewardModel.from_pretrained(tiny_classifier_dir, batch_size=2)
    forwards = []
    reward.model.register_forward_hook(lambda module, args, output: forwards.append(1))
    both = reward.scores(TEXTS)
    assert len(forwards) == math.ceil(len(TEXTS) / 2)  # one pass over the texts serves both kinds
    np.testing.assert_array_equal(both["logit"], reward.score(TEXTS))
    np.testing.assert_array_equal(both["probability"], reward.score(TEXTS, kind="probability"))
    with pytest.raises(ValueError, match="kind must be one of .* got 'prob'"):
        reward.scores(TEXTS, kinds=("logit", "prob"))
    with pytest.raises(ValueError, match="kinds is empty"):
        reward.scores(TEXTS, kinds=())


def test_truncation_to_the_classifiers_length(tiny_classifier):
    model, tokenizer = tiny_classifier
    reward = RewardModel(model, tokenizer)
    assert reward.max_length == 128  # the model's positions, below the tokenizer's model_max_length of 512
    long_text = TEXTS[3]
    ids = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    assert len(ids) > 128
    head = tokenizer.decode(ids[:128])
    assert reward.score([long_text])[0] == pytest.approx(reward.score([head])[0], abs=1e-5)
    short = RewardModel(model, tokenizer, max_length=5)
    assert short.score([long_text])[0] == pytest.approx(short.score([tokenizer.decode(ids[:5])])[0], abs=1e-5)
    with pytest.raises(ValueError, match="exceeds the classifier's 128 position embeddings"):
        RewardModel(model, tokenizer, max_length=129)


def test_models_that_take_token_type_ids(tiny_classifier):
    """A BERT classifier gets the tokenizer's token type ids; batched equals single passes."""
    _, tokenizer = tiny_classifier
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
        num_labels=3,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForSequenceClassification(config).eval()
    reward = RewardModel(model, tokenizer, positive_index=2, batch_size=3)
    assert reward.max_length == 64
    with torch.no_grad():
        expected = [
            model(**tokenizer(t, truncation=True, max_length=64, return_tensors="pt")).logits[0, 2].item()
            for t in TEXTS
        ]
    np.testing.assert_allclose(reward.score(TEXTS), expected, rtol=1e-5, atol=1e-5)


def test_positive_index_selects_the_class(tiny_classifier):
    model, tokenizer = tiny_classifier
    positive = RewardModel(model, tokenizer, positive_index=1).score(TEXTS)
    negative = RewardModel(model, tokenizer, positive_index=0).score(TEXTS)
    assert not np.allclose(positive, negative)
    probability = RewardModel(model, tokenizer, positive_index=0).score(TEXTS, kind="probability")
    np.testing.assert_allclose(
        probability + RewardModel(model, tokenizer).score(TEXTS, kind="probability"), 1.0, rtol=1e-6
    )
    with pytest.raises(ValueError, match="positive_index=2 but the classifier has 2 classes"):
        RewardModel(model, tokenizer, positive_index=2)


def test_device_argument_moves_the_model(tiny_classifier):
    model, tokenizer = tiny_classifier
    reward = RewardModel(model, tokenizer, device="cpu")
    assert reward.device == torch.device("cpu") and not reward.model.training


def test_callables_are_accepted_wherever_a_reward_model_is(tiny_classifier):
    length_reward = lambda texts: [float(len(t)) for t in texts]  # noqa: E731
    np.testing.assert_array_equal(score_texts(length_reward, TEXTS), [len(t) for t in TEXTS])
    np.testing.assert_array_equal(as_reward_fn(length_reward)(TEXTS), [len(t) for t in TEXTS])
    np.testing.assert_array_equal(
        score_texts(length_reward, TEXTS, kind="probability"), [len(t) for t in TEXTS]
    )
    model, tokenizer = tiny_classifier
    reward = RewardModel(model, tokenizer)
    np.testing.assert_array_equal(
        score_texts(reward, TEXTS, kind="probability"), reward.score(TEXTS, kind="probability")
    )
    np.testing.assert_array_equal(as_reward_fn(reward)(TEXTS), reward.score(TEXTS))


def test_bad_callable_outputs(tiny_classifier):
    with pytest.raises(ValueError, match="returned 1 values for 5 texts"):
        score_texts(lambda texts: [1.0], TEXTS)
    with pytest.raises(ValueError, match=r"shape \(5, 2\) for 5 texts"):
        score_texts(lambda texts: [[1.0, 2.0]] * len(texts), TEXTS)
    with pytest.raises(ValueError, match=r"NaN or inf for texts at positions \[1\]"):
        score_texts(lambda texts: [0.0, math.nan] + [0.0] * (len(texts) - 2), TEXTS)
    with pytest.raises(ValueError, match=r"NaN or inf"):
        as_reward_fn(lambda texts: [math.inf] * len(texts))(TEXTS)
    with pytest.raises(TypeError, match="must return numbers"):
        score_texts(lambda texts: ["high"] * len(texts), TEXTS)
    with pytest.raises(TypeError, match="RewardModel or a callable"):
        as_reward_fn(3)
    with pytest.raises(TypeError, match="RewardModel or a callable"):
        score_texts("not a model", TEXTS)


def test_bad_input_errors(tiny_classifier):
    model, tokenizer = tiny_classifier
    reward = RewardModel(model, tokenizer)
    with pytest.raises(ValueError, match="texts is empty"):
        reward.score([])
    with pytest.raises(TypeError, match="single string"):
        reward.score("one text")
    with pytest.raises(TypeError, match=r"positions \[1\] are not \(first: NoneType\)"):
        reward.score(["a", None])
    with pytest.raises(ValueError, match=r"positions \[1\] give no tokens"):
        reward.score(["a", ""])
    with pytest.raises(ValueError, match="kind must be one of"):
        reward.score(TEXTS, kind="sigmoid")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        RewardModel(model, tokenizer, batch_size=0)
    with pytest.raises(TypeError, match="positive_index must be an int"):
        RewardModel(model, tokenizer, positive_index="POSITIVE")


def test_a_causal_lm_folder_is_refused_as_a_reward_model(tiny_model_dir):
    """AutoModelForSequenceClassification loads a GPT-2 LM checkpoint with a randomly initialised `score` head;
    scoring with it would give plausible-looking noise, so from_pretrained names the missing weights instead."""
    with pytest.raises(
        InputError, match=r"lacks 1 weight\(s\) of GPT2ForSequenceClassification \(score\.weight\)"
    ) as error:
        RewardModel.from_pretrained(tiny_model_dir)
    assert tiny_model_dir in str(error.value) and "allow_missing_weights=True" in str(error.value)
    # The escape hatch loads it, with the head transformers initialised
    reward = RewardModel.from_pretrained(tiny_model_dir, allow_missing_weights=True)
    assert reward.model.score.weight.shape[0] == reward.model.config.num_labels


def test_a_saved_classifier_loads_without_complaint(tiny_classifier_dir):
    reward = RewardModel.from_pretrained(tiny_classifier_dir)
    assert reward.score(["A lovely film."]).shape == (1,)
