"""Sweep configs as YAML: reading a file, dotted command-line overrides, and the one deep merge both rely on."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fdpo.errors import SweepConfigError

__all__ = ["apply_overrides", "deep_merge", "load_yaml", "parse_override", "parse_yaml"]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-5`` as a float (YAML 1.1, hence PyYAML, wants ``1.0e-5``) and refuses a key
    written twice in one mapping (PyYAML would keep the last one without a word)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *defaults` merges are meant to be overridden
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                try:
                    if key in first_lines:
                        raise _DuplicateKey(key, first_lines[key], line)
                    first_lines[key] = line
                except TypeError:  # an unhashable key: PyYAML's own error says so
                    continue
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, second: int):
        super().__init__(key, first, second)
        self.key, self.first, self.second = key, first, second


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a sweep YAML file into a dict.

    Raises:
        SweepConfigError: the file is missing, is not valid YAML (the message gives ``file:line:column``), or its
            top level is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepConfigError(f"Sweep config {str(path)!r} does not exist. Pass the path of a YAML file.")
    return parse_yaml(path.read_text(encoding="utf-8"), source=str(path))


def parse_yaml(text: str, *, source: str = "config") -> dict[str, Any]:
    """``load_yaml`` for text already read; ``source`` names it in messages."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        # problem_mark is where the parser noticed the error, context_mark where the construct it was reading
        # began (an unclosed bracket, say): give both lines.
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = error.problem or "syntax error"
        context = ""
        if error.context and error.context_mark is not None:
            context = f" ({error.context} at line {error.context_mark.line + 1}, column {error.context_mark.column + 1})"
        raise SweepConfigError(
            f"{where}: malformed YAML: {problem}{context}. Fix the syntax there."
        ) from None
    except yaml.YAMLError as error:
        raise SweepConfigError(f"{source}: malformed YAML: {error}") from None
    except _DuplicateKey as error:
        where = (
            f"lines {error.first} and {error.second}" if error.first != error.second else "both on that line"
        )
        raise SweepConfigError(
            f"{source}:{error.second}: key {error.key!r} is set twice in one mapping ({where}); only one value can "
            "hold. Keep one of them."
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SweepConfigError(
            f"{source}: the top level of a sweep config must be a mapping (keys such as sft_model, grid, training), "
            f"got a {type(data).__name__}."
        )
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Splits ``"training.learning_rate=1e-5"`` into ``(["training", "learning_rate"], 1e-05)``.

    The value is read as YAML, so ``grid.divergences=[reverse_kl,alpha:0.5]`` gives a list, ``pairs.num_pairs=null``
    gives ``None`` and ``1e-5`` a float; quote it (``name='"123"'``) to force a string.
    """
    key, separator, value = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise SweepConfigError(
            f"Override {text!r} is not of the form section.key=value (e.g. training.learning_rate=1e-5)."
        )
    keys = key.split(".")
    if any(not part for part in keys):
        raise SweepConfigError(f"Override {text!r} has an empty key part; write section.key=value.")
    try:
        parsed = yaml.load(value, Loader=_Loader) if value.strip() else ""  # noqa: S506
    except _DuplicateKey as error:
        raise SweepConfigError(
            f"Override {text!r}: key {error.key!r} is set twice in its value; keep one of them."
        ) from None
    except yaml.YAMLError as error:
        raise SweepConfigError(f"Override {text!r}: its value is not valid YAML ({error}).") from None
    return keys, parsed


class _Replace:
    """A value that ``deep_merge`` puts in place as a whole, even a mapping (an override's value)."""

    def __init__(self, value: Any):
        self.value = value


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """A deep copy of ``base`` with ``update`` merged in: mappings merge key by key, other values replace.

    A key of ``base`` that is unset (``None``) takes ``update``'s mapping as it is.

    Raises:
        SweepConfigError: ``update`` gives keys under a key whose value in ``base`` is not a mapping.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, _Replace):
            merged[key] = copy.deepcopy(value.value)
        elif isinstance(value, Mapping) and merged.get(key) is not None:
            if not isinstance(merged[key], Mapping):
                raise SweepConfigError(
                    f"{where}{key} is a {type(merged[key]).__name__}, not a section, so it has no keys to set."
                )
            merged[key] = deep_merge(merged[key], value, where=f"{where}{key}.")
        else:
            is_section = isinstance(value, Mapping)
            merged[key] = (
                deep_merge({}, value, where=f"{where}{key}.") if is_section else copy.deepcopy(value)
            )
    return merged


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Returns a deep copy of ``data`` with each ``section.key=value`` override applied (later ones win).

    The value replaces what was there, a mapping included; the sections on the way are created when unset.
    """
    result = copy.deepcopy(dict(data))
    for text in overrides:
        keys, value = parse_override(text)
        update: Any = _Replace(value)
        for key in reversed(keys):
            update = {key: update}
        try:
            result = deep_merge(result, update)
        except SweepConfigError as error:
            raise SweepConfigError(f"Override {text!r}: {error}") from None
    return result
