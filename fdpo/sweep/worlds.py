"""Worlds: named sources of the models, prompts and generation settings a sweep config leaves unset.

The embedded demo world is one (``fdpo.demo.world``), which can be rebuilt from another seed (``world_seed``). A
world is registered with ``register_world``; a built-in world's module is imported only when a config names it, so a
config that names none loads nothing of it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["World", "get_world", "list_worlds", "register_world", "world_problems"]


@dataclass(frozen=True)
class World:
    """A registered world.

    Attributes:
        name: what a config names it by (``world: NAME`` or ``NAME: VARIANT``).
        variants: the variants it accepts; the first is the default.
        resolve: ``resolve(variant, cache_dir, show_progress)`` builds or loads the world and returns a mapping with
            ``sft_model``, ``reward_model`` (paths), ``prompts``, ``prompt_template``, ``generation`` (generate()
            settings) and ``eval_prompts`` (may be empty). A ``seeded`` world's also takes ``seed=`` (an integer):
            the world built from that seed (a config's ``world_seed``), kept apart from the others in its cache.
        seeded: whether ``resolve`` takes ``seed=``; without it (or with the world's default seed) the world is the
            one it has always been.
    """

    name: str
    variants: tuple[str, ...]
    resolve: Callable[..., Mapping[str, Any]]
    seeded: bool = False


_WORLDS: dict[str, World] = {}
# Built-in worlds: name -> the module that registers it on import (imported only when a config names the world).
_BUILTIN_WORLD_MODULES = {"demo": "fdpo.demo.world"}


def register_world(world: World) -> World:
    """Adds a world to the registry; a second world of the same name is refused."""
    if world.name in _WORLDS and _WORLDS[world.name] != world:
        raise ValueError(f"A world named {world.name!r} is already registered.")
    _WORLDS[world.name] = world
    return world


def list_worlds() -> list[str]:
    """Names of the registered and built-in worlds."""
    return sorted({*_WORLDS, *_BUILTIN_WORLD_MODULES})


def get_world(name: str) -> World:
    """The world registered under ``name`` (a built-in one is imported first)."""
    if name not in _WORLDS and name in _BUILTIN_WORLD_MODULES:
        importlib.import_module(_BUILTIN_WORLD_MODULES[name])
    if name not in _WORLDS:
        raise KeyError(f"No world named {name!r}; known: {', '.join(list_worlds())}.")
    return _WORLDS[name]


def world_problems(value: Any) -> list[str]:
    """Problems of a config's ``world`` value (``NAME`` or ``NAME:VARIANT``)."""
    if not isinstance(value, str) or not value:
        return [f"world={value!r}: give a world name such as {', '.join(list_worlds())} (or null)."]
    name, _, variant = value.partition(":")
    try:
        world = get_world(name)
    except KeyError as error:
        return [f"world={value!r}: {error.args[0]}"]
    if variant and variant not in world.variants:
        return [
            f"world={value!r}: use {' or '.join(f'{name}:{v}' for v in world.variants)} (or {name}: VARIANT)."
        ]
    return []
