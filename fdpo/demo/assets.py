"""The demo world on disk: an SFT language model and a sentiment reward model, built once and cached.

``build_demo_assets()`` draws the synthetic review corpus (``fdpo.demo.corpus``), trains a byte-level BPE tokenizer
on it, an SFT GPT-2 and a DistilBERT sentiment classifier (``fdpo.demo.training``), saves both with
``save_pretrained`` and hands back their paths. Everything downstream loads them with
``AutoModelForCausalLM`` / ``AutoModelForSequenceClassification`` / ``AutoTokenizer.from_pretrained``, the code path
of hub models such as ``lvwerra/gpt2-imdb`` and ``lvwerra/distilbert-imdb``; the build itself reloads the classifier
that way to measure its accuracy.

Cache layout (``root`` is ``cache_dir``, else ``$FDPO_CACHE/demo``, else ``~/.cache/fdpo/demo``)::

    root/<version>/sft/         GPT-2 + tokenizer (left padding)
    root/<version>/reward/      DistilBERT + tokenizer (right padding, <|cls|> prepended)
    root/<version>/demo.json    manifest: recipe, prompts, generation settings, classifier accuracy, build time
                                and torch's thread count during the build (the trained weights depend on it:
                                float sums split over another number of threads round differently)

``<version>`` names the recipe and changes whenever the recipe, the corpus generator or the format changes, so a
stale cache is never reused. A build happens in a temporary sibling folder that is renamed into place with
``os.replace`` once complete (the manifest is its last file): a build killed halfway leaves only a ``.tmp-*`` folder,
which never counts as built, and two concurrent builds both finish with one complete folder.

The sweep run on this world (``fdpo demo``) is the YAML file ``fdpo/demo/sweep.yaml`` (see ``fdpo.demo.world``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from fdpo.demo.corpus import PROMPT_WORDS, demo_prompts, generate_reviews
from fdpo.demo.models import build_causal_lm, build_classifier, save_pretrained, train_tokenizer
from fdpo.demo.training import (
    classifier_accuracy,
    disable_dropout,
    make_classifier_tokenizer,
    train_causal_lm,
    train_classifier,
)

__all__ = [
    "DEMO_FORMAT_VERSION",
    "DemoAssets",
    "DemoRecipe",
    "FULL_RECIPE",
    "QUICK_RECIPE",
    "build_demo_assets",
    "default_cache_dir",
    "demo_version",
]

#: Bumped by hand when the layout of the cache or the meaning of a recipe field changes.
DEMO_FORMAT_VERSION = 2

_MANIFEST = "demo.json"
_TMP_PREFIX = ".tmp-"
_CORPUS_SEED = 0
_PROMPT_SEED = 1
_HELD_OUT_SEED = 12345


@dataclass(frozen=True)
class DemoRecipe:
    """Everything that determines the demo world. Its fields enter the cache version."""

    name: str
    vocab_size: int
    # SFT language model (GPT-2)
    lm_reviews: int
    lm_epochs: float
    lm_layers: int
    lm_dim: int
    lm_heads: int
    lm_context: int
    lm_batch_size: int
    lm_learning_rate: float
    # Reward model (DistilBERT)
    classifier_reviews: int
    classifier_epochs: float
    classifier_layers: int
    classifier_dim: int
    classifier_heads: int
    classifier_context: int
    classifier_batch_size: int
    classifier_learning_rate: float
    score_scale: float
    # Prompts and sampling
    num_prompts: int
    num_eval_prompts: int
    max_new_tokens: int
    seed: int = 0


#: The demo world of ``fdpo demo``: built in 80 to 90 seconds on 2 CPU cores.
FULL_RECIPE = DemoRecipe(
    name="full",
    vocab_size=1536,
    lm_reviews=24_000,
    lm_epochs=1.0,
    lm_layers=4,
    lm_dim=128,
    lm_heads=4,
    lm_context=64,
    lm_batch_size=32,
    lm_learning_rate=3e-3,
    classifier_reviews=48_000,
    classifier_epochs=2.0,
    classifier_layers=2,
    classifier_dim=64,
    classifier_heads=4,
    classifier_context=128,
    classifier_batch_size=64,
    classifier_learning_rate=3e-3,
    score_scale=2.5,
    num_prompts=512,
    num_eval_prompts=128,
    max_new_tokens=48,
)

#: A smaller world for smoke tests and ``fdpo demo --quick``: well under 30 seconds on 2 CPU cores.
QUICK_RECIPE = dataclasses.replace(
    FULL_RECIPE,
    name="quick",
    vocab_size=1024,
    lm_reviews=6_000,
    lm_layers=2,
    lm_dim=64,
    classifier_reviews=16_000,
    classifier_epochs=1.0,
    num_prompts=64,
    num_eval_prompts=32,
    max_new_tokens=40,
)


@dataclass(frozen=True)
class DemoAssets:
    """Paths and settings of a built demo world.

    Attributes:
        sft_model_path: folder of the SFT GPT-2 and its tokenizer (``AutoModelForCausalLM.from_pretrained``).
        reward_model_path: folder of the sentiment DistilBERT and its tokenizer
            (``AutoModelForSequenceClassification.from_pretrained``); logit index 1 is positive.
        prompts: review openings (the first ``PROMPT_WORDS`` words of unseen synthetic reviews) to sample from.
        prompt_template: how a prompt becomes the model's query; the demo model was trained on bare reviews.
        generation_kwargs: ``generate()`` settings the demo was tuned with.
        eval_prompts: openings distinct from ``prompts``, for evaluating trained policies.
        version: the cache version the assets were built under.
        info: the manifest: recipe, held-out classifier accuracy, build seconds and build threads.
    """

    sft_model_path: str
    reward_model_path: str
    prompts: list[str]
    prompt_template: str = "{prompt}"
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_prompts: list[str] = field(default_factory=list)
    version: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def load_sft(self):
        """``(model, tokenizer)`` of the SFT model, through ``from_pretrained``."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        return AutoModelForCausalLM.from_pretrained(self.sft_model_path), AutoTokenizer.from_pretrained(
            self.sft_model_path
        )

    def load_reward(self):
        """``(model, tokenizer)`` of the reward classifier, through ``from_pretrained``."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        return AutoModelForSequenceClassification.from_pretrained(
            self.reward_model_path
        ), AutoTokenizer.from_pretrained(self.reward_model_path)


def _corpus_fingerprint() -> str:
    """Changes whenever the corpus generator's output changes."""
    sample = generate_reviews(64, seed=_CORPUS_SEED)
    return hashlib.sha256(json.dumps([dataclasses.astuple(review) for review in sample]).encode()).hexdigest()


def demo_version(recipe: DemoRecipe) -> str:
    """The cache folder name of ``recipe``: ``v<format>-<name>-<hash of recipe and corpus>``."""
    payload = json.dumps(
        {
            "format": DEMO_FORMAT_VERSION,
            "recipe": dataclasses.asdict(recipe),
            "corpus": _corpus_fingerprint(),
        },
        sort_keys=True,
    )
    return f"v{DEMO_FORMAT_VERSION}-{recipe.name}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def default_cache_dir() -> Path:
    """``$FDPO_CACHE/demo`` if ``FDPO_CACHE`` is set, else ``~/.cache/fdpo/demo``."""
    root = os.environ.get("FDPO_CACHE")
    return Path(root).expanduser() / "demo" if root else Path.home() / ".cache" / "fdpo" / "demo"


def _generation_kwargs(recipe: DemoRecipe) -> dict[str, Any]:
    # Pure sampling: the diversity the study measures is the model's own, not a truncation's.
    return {
        "do_sample": True,
        "top_k": 0,
        "top_p": 1.0,
        "temperature": 1.0,
        "max_new_tokens": recipe.max_new_tokens,
    }


def _load_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    if not ((folder / "sft").is_dir() and (folder / "reward").is_dir()):
        return None
    return manifest


def _assets_from(folder: Path, manifest: dict[str, Any]) -> DemoAssets:
    return DemoAssets(
        sft_model_path=str(folder / "sft"),
        reward_model_path=str(folder / "reward"),
        prompts=list(manifest["prompts"]),
        prompt_template=manifest["prompt_template"],
        generation_kwargs=dict(manifest["generation_kwargs"]),
        eval_prompts=list(manifest["eval_prompts"]),
        version=manifest["version"],
        info={
            key: manifest[key]
            for key in ("recipe", "classifier_accuracy", "build_seconds", "build_threads")
            if key in manifest
        },
    )


def _build(recipe: DemoRecipe, folder: Path, version: str, show_progress: bool) -> dict[str, Any]:
    """Trains the world into ``folder`` and returns its manifest (written last)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    start = time.perf_counter()
    stages = tqdm(total=4, desc=f"Building the demo world ({recipe.name})", disable=not show_progress)

    n_reviews = max(recipe.lm_reviews, recipe.classifier_reviews)
    reviews = generate_reviews(n_reviews, seed=recipe.seed + _CORPUS_SEED)
    tokenizer = train_tokenizer(
        (review.text for review in reviews[: recipe.lm_reviews]), vocab_size=recipe.vocab_size
    )
    tokenizer.model_max_length = recipe.lm_context
    stages.update()

    torch.manual_seed(recipe.seed)
    language_model = disable_dropout(
        build_causal_lm(
            tokenizer,
            n_layer=recipe.lm_layers,
            n_embd=recipe.lm_dim,
            n_head=recipe.lm_heads,
            n_positions=recipe.lm_context,
        )
    )
    train_causal_lm(
        language_model,
        tokenizer,
        [review.text for review in reviews[: recipe.lm_reviews]],
        epochs=recipe.lm_epochs,
        batch_size=recipe.lm_batch_size,
        learning_rate=recipe.lm_learning_rate,
        seed=recipe.seed,
        show_progress=show_progress,
    )
    save_pretrained(language_model, tokenizer, folder / "sft")
    stages.update()

    classifier_tokenizer = make_classifier_tokenizer(tokenizer, max_length=recipe.classifier_context)
    torch.manual_seed(recipe.seed + 1)
    classifier = disable_dropout(
        build_classifier(
            classifier_tokenizer,
            n_layers=recipe.classifier_layers,
            dim=recipe.classifier_dim,
            n_heads=recipe.classifier_heads,
            max_position_embeddings=recipe.classifier_context,
        )
    )
    train_classifier(
        classifier,
        classifier_tokenizer,
        reviews[: recipe.classifier_reviews],
        epochs=recipe.classifier_epochs,
        batch_size=recipe.classifier_batch_size,
        learning_rate=recipe.classifier_learning_rate,
        score_scale=recipe.score_scale,
        seed=recipe.seed,
        show_progress=show_progress,
    )
    save_pretrained(classifier, classifier_tokenizer, folder / "reward")
    stages.update()

    # Measure the classifier as every consumer will see it: loaded back through from_pretrained.
    reloaded = AutoModelForSequenceClassification.from_pretrained(folder / "reward")
    reloaded_tokenizer = AutoTokenizer.from_pretrained(folder / "reward")
    accuracy = classifier_accuracy(reloaded, reloaded_tokenizer, generate_reviews(2000, seed=_HELD_OUT_SEED))
    # One draw of distinct openings, split: the evaluation openings are ones no preference pair was built from.
    openings = demo_prompts(recipe.num_prompts + recipe.num_eval_prompts, seed=recipe.seed + _PROMPT_SEED)
    manifest = {
        "version": version,
        "recipe": dataclasses.asdict(recipe),
        "prompts": openings[: recipe.num_prompts],
        "eval_prompts": openings[recipe.num_prompts :],
        "prompt_words": PROMPT_WORDS,
        "prompt_template": "{prompt}",
        "generation_kwargs": _generation_kwargs(recipe),
        "classifier_accuracy": accuracy,
        "build_seconds": round(time.perf_counter() - start, 1),
        "build_threads": torch.get_num_threads(),
    }
    (folder / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    stages.update()
    stages.close()
    return manifest


def build_demo_assets(
    cache_dir: str | os.PathLike | None = None,
    *,
    quick: bool = False,
    show_progress: bool = True,
    seed: int = 0,
) -> DemoAssets:
    """Builds the demo world once and returns where it is; later calls reuse the cached build.

    Args:
        cache_dir: folder holding one subfolder per demo version (default: ``default_cache_dir()``).
        quick: the small ``QUICK_RECIPE`` world (seconds) instead of ``FULL_RECIPE`` (80 to 90 seconds on 2 CPU cores).
        show_progress: tqdm bars while building.
        seed: the recipe's seed (corpus, prompts, tokenizer, SFT model and classifier are drawn from it); it enters
            the cache version, so each seed's world is cached apart. 0 is the default world.

    Returns:
        ``DemoAssets`` with the model folders, prompts, prompt template and generation settings.
    """
    recipe = QUICK_RECIPE if quick else FULL_RECIPE
    if seed != recipe.seed:
        recipe = dataclasses.replace(recipe, seed=int(seed))
    version = demo_version(recipe)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = root / version
    manifest = _load_manifest(final)
    if manifest is not None:
        return _assets_from(final, manifest)

    root.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=root, prefix=f"{_TMP_PREFIX}{version}-"))
    try:
        _build(recipe, temporary, version, show_progress)
        if final.exists() and _load_manifest(final) is None:
            # An incomplete folder under the final name (not written by this module): replace it.
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(temporary, final)
        except OSError:
            # Another process finished first (the target is a non-empty folder): keep its build.
            if _load_manifest(final) is None:
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(temporary)
    manifest = _load_manifest(final)
    if manifest is None:
        raise RuntimeError(
            f"The demo world built into {final} has no readable {_MANIFEST}; delete {final} and rerun."
        )
    return _assets_from(final, manifest)
