"""The demo world as a sweep world, and the demo sweep (``fdpo demo``) read from the YAML files of this package.

``sweep.yaml`` is the sweep of ``fdpo demo``; ``sweep_quick.yaml`` is merged on top of it for ``fdpo demo --quick``
and ``sweep_study.yaml`` for ``fdpo demo --study`` (the full study: the same design with the seeds its power needs).
Importing this module registers the world ``demo`` (variants ``full`` and ``quick``), which a sweep config names
with ``demo: full`` (or ``world: demo:full``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from typing import Any

from fdpo.sweep.config import SweepConfig
from fdpo.sweep.worlds import World, register_world
from fdpo.sweep.yamlio import apply_overrides, deep_merge, parse_yaml

__all__ = ["DEMO_WORLD", "demo_config", "demo_config_dict", "demo_config_text"]

_FULL = "sweep.yaml"
_QUICK_OVERLAY = "sweep_quick.yaml"
_STUDY_OVERLAY = "sweep_study.yaml"


def _resolve(variant: str, cache_dir: str | None, show_progress: bool, seed: int = 0) -> dict[str, Any]:
    from fdpo.demo.assets import build_demo_assets

    assets = build_demo_assets(cache_dir, quick=variant == "quick", show_progress=show_progress, seed=seed)
    return {
        "sft_model": assets.sft_model_path,
        "reward_model": assets.reward_model_path,
        "prompts": assets.prompts,
        "prompt_template": assets.prompt_template,
        "generation": assets.generation_kwargs,
        "eval_prompts": assets.eval_prompts,
    }


#: The embedded movie-review world: ``full`` (``fdpo demo``) or ``quick`` (``fdpo demo --quick``); ``world_seed: N``
#: (``fdpo demo --world-seed N``) rebuilds it from seed N (corpus, prompts, tokenizer, SFT model, classifier), seed 0
#: being the default world.
DEMO_WORLD = register_world(World("demo", ("full", "quick"), _resolve, seeded=True))


def _read(name: str) -> str:
    return resources.files("fdpo.demo").joinpath(name).read_text(encoding="utf-8")


def _overlay(quick: bool, study: bool) -> str | None:
    if quick and study:
        raise ValueError(
            "quick and study exclude each other: the quick world is a smoke run, the study the full one."
        )
    return _QUICK_OVERLAY if quick else _STUDY_OVERLAY if study else None


def demo_config_dict(*, quick: bool = False, study: bool = False) -> dict[str, Any]:
    """The ``fdpo demo`` sweep as a config dict: sweep.yaml, with sweep_quick.yaml (``quick``) or sweep_study.yaml
    (``study``) merged on top."""
    data = parse_yaml(_read(_FULL), source=f"fdpo/demo/{_FULL}")
    overlay = _overlay(quick, study)
    if overlay:
        data = deep_merge(data, parse_yaml(_read(overlay), source=f"fdpo/demo/{overlay}"))
    return data


def demo_config_text(*, quick: bool = False, study: bool = False) -> str:
    """The demo sweep as YAML a user can save and edit (``fdpo demo --print-config``): sweep.yaml as it is, or with
    an overlay the merged config (without the comments)."""
    overlay = _overlay(quick, study)
    if overlay is None:
        return _read(_FULL)
    import yaml

    header = f"# The sweep of `fdpo demo --{'quick' if quick else 'study'}`: fdpo/demo/sweep.yaml with {overlay} merged on top.\n"
    return header + yaml.safe_dump(
        demo_config_dict(quick=quick, study=study), sort_keys=False, allow_unicode=True
    )


def demo_config(
    *,
    quick: bool = False,
    study: bool = False,
    cache_dir: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    show_progress: bool = True,
    world_seed: int | None = None,
) -> SweepConfig:
    """The ``fdpo demo`` sweep, with the demo world built or loaded (``resolved``) and ``overrides`` applied;
    ``world_seed`` builds the world from that seed (None: the config's ``world_seed``, else the default world)."""
    data = apply_overrides(demo_config_dict(quick=quick, study=study), overrides)
    if cache_dir is not None:
        data["world_cache_dir"] = str(cache_dir)
    if world_seed is not None:
        data["world_seed"] = world_seed
    return SweepConfig.from_dict(data, source="fdpo demo", check_models=False).resolved(
        show_progress=show_progress
    )
