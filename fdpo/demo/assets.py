"""The demo world's models, built once and cached on disk, loaded back through ``from_pretrained``."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fdpo.demo.corpus import demo_prompts, generate_reviews
from fdpo.demo.models import build_causal_lm, build_classifier, save_pretrained, train_tokenizer
from fdpo.demo.training import (
    classifier_accuracy,
    make_classifier_tokenizer,
    train_causal_lm,
    train_classifier,
)

__all__ = ["DEMO_SWEEP_DEFAULTS", "DemoAssets", "RECIPES", "build_demo_assets", "default_cache_dir"]

#: What a build makes. The version names the cache folder: change it whenever a recipe changes.
RECIPES = {
    "full": dict(
        version="full-v1",
        reviews=12_000,
        vocab_size=1536,
        lm=dict(n_layer=4, n_embd=128, n_head=4),
        lm_epochs=1.0,
        classifier=dict(n_layers=2, dim=64, n_heads=4),
        classifier_reviews=8_000,
        classifier_epochs=2.0,
        prompts=64,
    ),
    "quick": dict(
        version="quick-v2",
        reviews=2_000,
        vocab_size=512,
        lm=dict(n_layer=2, n_embd=64, n_head=4),
        lm_epochs=1.0,
        classifier=dict(n_layers=2, dim=64, n_heads=4),
        classifier_reviews=3_000,
        classifier_epochs=4.0,
        prompts=8,
    ),
}
CONTEXT = 64
PROMPT_TEMPLATE = "{prompt}"
GENERATION_KWARGS = {"do_sample": True, "top_p": 0.95, "top_k": 0, "max_new_tokens": 40}

#: Sweep settings for `fdpo demo` (sections of a sweep config), the "quick" entry on top for --quick.
DEMO_SWEEP_DEFAULTS = {
    "pairs": {"samples_per_prompt": 8, "strategy": "best_vs_worst", "seed": 0},
    "training": {
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "learning_rate": 1e-3,
        "max_length": CONTEXT,
    },
    "grid": {"betas": [0.1], "beta_per_divergence": {"alpha": 0.05, "forward_kl": 0.05}},
    "evaluation": {"samples_per_prompt": 4, "batch_size": 64},
    "quick": {
        "pairs": {"samples_per_prompt": 4},
        "training": {"num_train_epochs": 1, "per_device_train_batch_size": 8},
        "evaluation": {"samples_per_prompt": 2},
    },
}


@dataclass
class DemoAssets:
    sft_model_path: str
    reward_model_path: str
    prompts: list[str]
    prompt_template: str = PROMPT_TEMPLATE
    generation_kwargs: dict = field(default_factory=lambda: dict(GENERATION_KWARGS))
    classifier_accuracy: float | None = None


def default_cache_dir() -> Path:
    return Path(os.environ.get("FDPO_CACHE") or Path.home() / ".cache" / "fdpo") / "demo"


def _build(folder: Path, recipe: dict, show_progress: bool) -> float:
    torch.manual_seed(0)
    reviews = generate_reviews(recipe["reviews"], seed=0)
    texts = [review.text for review in reviews]
    tokenizer = train_tokenizer(texts, vocab_size=recipe["vocab_size"])
    tokenizer.model_max_length = CONTEXT
    lm = build_causal_lm(tokenizer, n_positions=CONTEXT, **recipe["lm"])
    train_causal_lm(lm, tokenizer, texts, epochs=recipe["lm_epochs"], show_progress=show_progress)
    save_pretrained(lm, tokenizer, folder / "sft")

    classifier_tokenizer = make_classifier_tokenizer(tokenizer, max_length=CONTEXT)
    classifier = build_classifier(
        classifier_tokenizer, max_position_embeddings=CONTEXT, **recipe["classifier"]
    )
    train_classifier(
        classifier,
        classifier_tokenizer,
        reviews[: recipe["classifier_reviews"]],
        epochs=recipe["classifier_epochs"],
        show_progress=show_progress,
    )
    accuracy = classifier_accuracy(classifier, classifier_tokenizer, generate_reviews(500, seed=12345))
    save_pretrained(classifier, classifier_tokenizer, folder / "reward")
    (folder / "prompts.txt").write_text(
        "\n".join(demo_prompts(recipe["prompts"], seed=1)) + "\n", encoding="utf-8"
    )
    (folder / "accuracy.txt").write_text(f"{accuracy}\n")
    return accuracy


def build_demo_assets(
    cache_dir: str | os.PathLike | None = None, *, quick: bool = False, show_progress: bool = True
):
    """Builds the demo world once (tokenizer, SFT GPT-2, DistilBERT reward model, prompts) and returns its paths.

    The build happens in a temporary folder renamed into place when complete, so an interrupted build is redone,
    never half-used. Set ``$FDPO_CACHE`` (or pass ``cache_dir``) to choose where it lives.
    """
    recipe = RECIPES["quick" if quick else "full"]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / recipe["version"]
    if not (folder / "prompts.txt").exists():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{recipe['version']}."))
        try:
            _build(staging, recipe, show_progress)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    prompts = (folder / "prompts.txt").read_text(encoding="utf-8").splitlines()
    accuracy = float((folder / "accuracy.txt").read_text()) if (folder / "accuracy.txt").exists() else None
    return DemoAssets(str(folder / "sft"), str(folder / "reward"), prompts, classifier_accuracy=accuracy)
