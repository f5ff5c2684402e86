"""Tests for fdpo/demo: the corpus, and the cached build of the demo world loaded back through from_pretrained."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from fdpo.demo import _vocabulary as words
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


def test_vocabulary_gives_each_adjective_one_value():
    """An adjective in two lists would take the value of the later one and mislabel reviews."""
    lists = (words.POSITIVE_STRONG, words.POSITIVE_MILD, words.NEGATIVE_STRONG, words.NEGATIVE_MILD)
    lists += (words.NEUTRAL_ADJECTIVES,)
    assert sum(map(len, lists)) == len(words.ADJECTIVE_VALUES)
    for adjectives, value in zip(lists, (2.0, 1.0, -2.0, -1.0, 0.0), strict=True):
        assert {words.ADJECTIVE_VALUES[word] for word in adjectives} == {value}


@pytest.fixture(scope="module")
def quick_assets():
    # The default cache ($FDPO_CACHE/demo): the CLI's demo test reuses this build instead of making its own.
    return demo_assets.build_demo_assets(quick=True, show_progress=False)


def test_quick_build_loads_back_through_from_pretrained(quick_assets):
    tokenizer = AutoTokenizer.from_pretrained(quick_assets.sft_model_path)
    model = AutoModelForCausalLM.from_pretrained(quick_assets.sft_model_path)
    encoded = tokenizer(quick_assets.prompts[:2], return_tensors="pt", padding=True)
    output = model.generate(**encoded, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert output.shape[1] <= encoded["input_ids"].shape[1] + 5
    classifier = AutoModelForSequenceClassification.from_pretrained(quick_assets.reward_model_path)
    assert classifier.config.num_labels == 2
    recipe = demo_assets.QUICK_RECIPE
    assert (
        len(quick_assets.prompts) == recipe.num_prompts
        and len(quick_assets.eval_prompts) == recipe.num_eval_prompts
    )
    assert not set(quick_assets.prompts) & set(
        quick_assets.eval_prompts
    )  # evaluation on openings not trained on
    assert quick_assets.version == demo_assets.demo_version(recipe)
    assert quick_assets.info["recipe"]["name"] == "quick"


def test_quick_classifier_beats_chance_on_held_out_reviews(quick_assets):
    reward = RewardModel.from_pretrained(quick_assets.reward_model_path)
    held_out = generate_reviews(300, seed=999)
    logits = torch.tensor(reward.score([r.text for r in held_out]))
    accuracy = ((logits > 0).long() == torch.tensor([r.label for r in held_out])).float().mean().item()
    assert accuracy > 0.65
    assert quick_assets.info["classifier_accuracy"] > 0.65  # measured at build time, after from_pretrained


def test_version_follows_the_recipe():
    recipe = demo_assets.QUICK_RECIPE
    assert demo_assets.demo_version(recipe) == demo_assets.demo_version(dataclasses.replace(recipe))
    assert demo_assets.demo_version(recipe) != demo_assets.demo_version(
        dataclasses.replace(recipe, lm_epochs=2.0)
    )
    assert demo_assets.demo_version(recipe) != demo_assets.demo_version(demo_assets.FULL_RECIPE)


def _fake_build(calls, fail=False):
    def build(recipe, folder, version, show_progress):
        calls.append(folder)
        for name in ("sft", "reward"):
            (folder / name).mkdir()
        if fail:
            raise KeyboardInterrupt
        manifest = {
            "version": version,
            "recipe": {"name": recipe.name},
            "prompts": ["A prompt"],
            "eval_prompts": ["Another"],
            "prompt_template": "{prompt}",
            "generation_kwargs": {"do_sample": True},
            "classifier_accuracy": 0.9,
        }
        (folder / "demo.json").write_text(json.dumps(manifest))
        return manifest

    return build


def test_cache_is_reused_and_partial_builds_do_not_count(tmp_path, monkeypatch):
    version = demo_assets.demo_version(demo_assets.QUICK_RECIPE)
    calls = []
    monkeypatch.setattr(demo_assets, "_build", _fake_build(calls))
    (tmp_path / f".tmp-{version}-leftover").mkdir()  # an interrupted build's staging folder
    (tmp_path / version).mkdir()  # a folder under the final name without a manifest is not a build
    first = demo_assets.build_demo_assets(tmp_path, quick=True, show_progress=False)
    second = demo_assets.build_demo_assets(tmp_path, quick=True, show_progress=False)
    assert len(calls) == 1 and first == second
    assert first.prompts == ["A prompt"] and first.eval_prompts == ["Another"] and first.version == version
    assert first.sft_model_path == str(tmp_path / version / "sft")

    calls.clear()
    monkeypatch.setattr(demo_assets, "_build", _fake_build(calls, fail=True))
    with pytest.raises(KeyboardInterrupt):
        demo_assets.build_demo_assets(tmp_path / "other", quick=True, show_progress=False)
    assert len(calls) == 1 and not list((tmp_path / "other").iterdir())  # the staging folder is cleaned up


def test_demo_sweep_is_one_packaged_yaml_with_quick_and_study_overlays():
    """`fdpo demo` runs fdpo/demo/sweep.yaml (shipped with the package), `--quick` and `--study` that file with
    sweep_quick.yaml or sweep_study.yaml merged on top; `fdpo demo --print-config` prints a file `fdpo sweep` reads
    back to the same config."""
    from importlib import resources

    from fdpo.demo.world import demo_config_dict, demo_config_text
    from fdpo.sweep import SweepConfig
    from fdpo.sweep.yamlio import parse_yaml

    full = SweepConfig.from_dict(demo_config_dict(), check_models=False)
    packaged = resources.files("fdpo.demo").joinpath("sweep.yaml").read_text(encoding="utf-8")
    assert demo_config_text() == packaged
    assert full.world == "demo:full" and full.grid.seeds == [0, 1, 2]
    family = ["reverse_kl", "alpha:0.5", "forward_kl"]
    assert [run.divergence for run in full.runs()][:: len(full.grid.seeds)] == family
    assert full.evaluation.checkpoints[-1] == 32 and full.evaluation.control_temperatures == [0.85]
    quick = SweepConfig.from_dict(demo_config_dict(quick=True), check_models=False)
    assert quick.world == "demo:quick" and quick.grid.seeds == [0, 1]
    assert quick.pairs.strategy == full.pairs.strategy == "best_vs_worst"  # merged, not replaced
    assert quick.training == full.training and quick.evaluation.checkpoints == [2, 4]
    assert quick.grid.beta_per_divergence == full.grid.beta_per_divergence
    study = SweepConfig.from_dict(demo_config_dict(study=True), check_models=False)
    assert study.grid.seeds == list(range(20)) and study.world == "demo:full"
    assert (
        study.evaluation == full.evaluation and study.training == full.training
    )  # the same design, more seeds
    for kind in ("quick", "study"):
        printed = SweepConfig.from_dict(parse_yaml(demo_config_text(**{kind: True})), check_models=False)
        assert printed.to_dict() == SweepConfig.from_dict(demo_config_dict(**{kind: True})).to_dict()
    with pytest.raises(ValueError, match="exclude each other"):
        demo_config_dict(quick=True, study=True)


def test_world_shorthand_and_bad_variants():
    from fdpo.sweep import SweepConfig, SweepConfigError

    base = {"grid": {"divergences": ["reverse_kl"]}}
    assert SweepConfig.from_dict({**base, "demo": "quick"}, check_models=False).world == "demo:quick"
    assert SweepConfig.from_dict({**base, "world": "demo"}, check_models=False).world == "demo"
    with pytest.raises(SweepConfigError, match=r"world='demo:fast': use demo:full or demo:quick"):
        SweepConfig.from_dict({**base, "demo": "fast"}, check_models=False)
    with pytest.raises(SweepConfigError, match="No world named 'nowhere'"):
        SweepConfig.from_dict({**base, "world": "nowhere"}, check_models=False)
    with pytest.raises(SweepConfigError, match="No prompts"):  # without a world, prompts are needed
        SweepConfig.from_dict(base, check_models=False)


def test_the_manifest_records_the_thread_count_the_world_was_built_with(tmp_path):
    """The world's weights depend on torch's thread count during the build, so the manifest says what it was."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assets = demo_assets.build_demo_assets(tmp_path, quick=True, show_progress=False)
    finally:
        torch.set_num_threads(before)
    assert assets.info["build_threads"] == 1
    manifest = json.loads((Path(assets.sft_model_path).parent / "demo.json").read_text(encoding="utf-8"))
    assert manifest["build_threads"] == 1
