"""Tests for fdpo/demo: the corpus, and the cached build of the demo world loaded back through from_pretrained."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from fdpo.demo import assets as demo_assets
from fdpo.demo.corpus import demo_prompts, generate_reviews
from fdpo.reward import RewardModel


def test_corpus_is_seeded_varied_and_labelled():
    reviews = generate_reviews(400, seed=3)
    assert [r.text for r in reviews] == [r.text for r in generate_reviews(400, seed=3)]
    assert [r.text for r in reviews] != [r.text for r in generate_reviews(400, seed=4)]
    positives = sum(r.label for r in reviews)
    assert 0.3 < positives / len(reviews) < 0.7  # mixed sentiment, so DPO has something to move
    assert len({r.text for r in reviews}) > 0.95 * len(reviews)
    assert all(r.text.startswith(r.prompt) for r in reviews)
    assert demo_prompts(5, seed=1) == demo_prompts(5, seed=1)


@pytest.fixture(scope="module")
def quick_assets(tmp_path_factory):
    return demo_assets.build_demo_assets(
        tmp_path_factory.mktemp("fdpo-cache"), quick=True, show_progress=False
    )


def test_quick_build_loads_back_through_from_pretrained(quick_assets):
    tokenizer = AutoTokenizer.from_pretrained(quick_assets.sft_model_path)
    model = AutoModelForCausalLM.from_pretrained(quick_assets.sft_model_path)
    encoded = tokenizer(quick_assets.prompts[:2], return_tensors="pt", padding=True)
    output = model.generate(**encoded, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert output.shape[1] <= encoded["input_ids"].shape[1] + 5
    classifier = AutoModelForSequenceClassification.from_pretrained(quick_assets.reward_model_path)
    assert classifier.config.num_labels == 2 and len(quick_assets.prompts) > 0


def test_quick_classifier_beats_chance_on_held_out_reviews(quick_assets):
    reward = RewardModel.from_pretrained(quick_assets.reward_model_path)
    held_out = generate_reviews(300, seed=999)
    logits = torch.tensor(reward.score([r.text for r in held_out]))
    accuracy = ((logits > 0).long() == torch.tensor([r.label for r in held_out])).float().mean().item()
    assert accuracy > 0.65


def test_cache_is_reused_and_partial_builds_do_not_count(tmp_path, monkeypatch):
    recipe = demo_assets.RECIPES["quick"]
    built = []

    def fake_build(folder, recipe, show_progress):
        built.append(folder)
        for name in ("sft", "reward"):
            (folder / name).mkdir()
        (folder / "prompts.txt").write_text("A prompt\n")
        return 1.0

    monkeypatch.setattr(demo_assets, "_build", fake_build)
    (tmp_path / f".{recipe['version']}.leftover").mkdir()  # an interrupted build's staging folder
    first = demo_assets.build_demo_assets(tmp_path, quick=True, show_progress=False)
    second = demo_assets.build_demo_assets(tmp_path, quick=True, show_progress=False)
    assert len(built) == 1 and first == second and first.prompts == ["A prompt"]

    def failing_build(folder, recipe, show_progress):
        (folder / "prompts.txt").write_text("half\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_assets, "_build", failing_build)
    with pytest.raises(KeyboardInterrupt):
        demo_assets.build_demo_assets(tmp_path / "other", quick=True, show_progress=False)
    assert not (tmp_path / "other" / recipe["version"]).exists()
    assert not [p for p in (tmp_path / "other").iterdir()]  # the staging folder is cleaned up
