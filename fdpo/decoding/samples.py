"""``Samples``: generations in prompt order, and their JSONL file format (one record per sample)."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fdpo._io import atomic_open

__all__ = ["RECORD_KEYS", "Samples"]

#: The key of each column in a samples file's records (one record per sample, singular keys as in pairs files).
RECORD_KEYS = {"prompts": "prompt", "queries": "query", "completions": "completion", "texts": "text",
               "completion_ids": "completion_ids"}  # fmt: skip
_COLUMNS = tuple(RECORD_KEYS)


@dataclass
class Samples:
    """Generations, one entry per sample, in prompt order (each prompt's samples next to each other).

    Attributes:
        prompts: the raw prompt of each sample.
        queries: the prompt after the template, i.e. the text the model was conditioned on.
        completions: the generated text after the query: cut at the first end-of-sequence token, special tokens
            removed.
        texts: query + completion (what a reward model scores).
        completion_ids: the generated token ids, cut at the first end-of-sequence (or pad) token, which is left out.
    """

    prompts: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)

    def __post_init__(self):
        lengths = {name: len(getattr(self, name)) for name in _COLUMNS}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Samples columns must have one entry per sample; got lengths {lengths}.")

    def __len__(self) -> int:
        return len(self.completions)

    def to_dict(self) -> dict[str, list]:
        """The five columns as lists (copies), e.g. for ``datasets.Dataset.from_dict``."""
        return asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes one JSON object per sample (JSONL) atomically: a reader sees the old file or the new one.

        Each record has the keys ``prompt``, ``query``, ``completion``, ``text`` and ``completion_ids``.
        """
        path = Path(path)
        keys = [RECORD_KEYS[name] for name in _COLUMNS]
        with atomic_open(path) as file:
            for row in zip(*(getattr(self, name) for name in _COLUMNS), strict=True):
                file.write(json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Samples:
        """Reads a file written by ``save``. Files of fdpo 0.1 (plural keys: ``prompts``, ``completions``, ...) are
        still read, with a ``FutureWarning``."""
        columns: dict[str, list] = {name: [] for name in _COLUMNS}
        singular = [RECORD_KEYS[name] for name in _COLUMNS]
        plural = False
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if "completion" not in row and "completions" in row:
                        plural = True
                        values = [row[name] for name in _COLUMNS]
                    else:
                        values = [row[key] for key in singular]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(
                        f"{path}:{number} is not a Samples record ({type(error).__name__}: {error}); it needs the "
                        f"keys {singular}. Write such files with Samples.save."
                    ) from error
                for name, value in zip(_COLUMNS, values, strict=True):
                    columns[name].append(value)
        if plural:
            warnings.warn(
                f"{path} has the record keys of fdpo 0.1 (prompts, queries, completions, texts); they are read for "
                "now and will not be in a later release. Rewrite it with Samples.load(path).save(path) (or "
                "'fdpo generate' again): records now have the keys prompt, query, completion, text, completion_ids.",
                FutureWarning,
                stacklevel=2,
            )
        return cls(**columns)
