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
               "completion_ids": "completion_ids", "stop_ids": "stop_id"}  # fmt: skip
_COLUMNS = tuple(RECORD_KEYS)
#: The columns every file holds; ``stop_ids`` is optional (files written before it was recorded lack it).
_REQUIRED = _COLUMNS[:-1]


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
        stop_ids: per sample, the token that ended it (the end-of-sequence or pad id that cut ``completion_ids``), or
            None where it ran out of tokens (``max_new_tokens``). ``None`` for the whole column when unknown: files
            written before fdpo recorded it (no ``stop_id`` key) load with ``stop_ids=None``.
    """

    prompts: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)
    stop_ids: list[int | None] | None = None

    def __post_init__(self):
        lengths = {name: len(getattr(self, name)) for name in self._present()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Samples columns must have one entry per sample; got lengths {lengths}.")

    def _present(self) -> tuple[str, ...]:
        return _COLUMNS if self.stop_ids is not None else _REQUIRED

    def __len__(self) -> int:
        return len(self.completions)

    @property
    def sampled_ids(self) -> list[list[int]]:
        """Each sample's token ids as sampled: ``completion_ids`` with the stop token that ended it appended (what
        the policy generated and what TRL trains on). Without ``stop_ids`` (an old file) the stop token is unknown:
        the ids are ``completion_ids`` alone, as before."""
        if self.stop_ids is None:
            return [list(ids) for ids in self.completion_ids]
        return [
            [*ids, stop] if stop is not None else list(ids)
            for ids, stop in zip(self.completion_ids, self.stop_ids, strict=True)
        ]

    @property
    def finished(self) -> list[bool] | None:
        """Per sample, whether a stop token ended it (False: it ran out of tokens); None without ``stop_ids``."""
        return None if self.stop_ids is None else [stop is not None for stop in self.stop_ids]

    def to_dict(self) -> dict[str, list]:
        """The columns as lists (copies), e.g. for ``datasets.Dataset.from_dict``; ``stop_ids`` only when known."""
        columns = asdict(self)
        if self.stop_ids is None:
            del columns["stop_ids"]
        return columns

    def save(self, path: str | os.PathLike) -> Path:
        """Writes one JSON object per sample (JSONL) atomically: a reader sees the old file or the new one.

        Each record has the keys ``prompt``, ``query``, ``completion``, ``text``, ``completion_ids`` and ``stop_id``
        (null where the sample ran out of tokens; the key is left out when ``stop_ids`` is None).
        """
        path = Path(path)
        present = self._present()
        keys = [RECORD_KEYS[name] for name in present]
        with atomic_open(path) as file:
            for row in zip(*(getattr(self, name) for name in present), strict=True):
                file.write(json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Samples:
        """Reads a file written by ``save``. Files of fdpo 0.1 (plural keys: ``prompts``, ``completions``, ...) are
        still read, with a ``FutureWarning``. Files without ``stop_id`` keys (written before fdpo recorded the stop
        token) load with ``stop_ids=None``: ``sampled_ids`` is then ``completion_ids`` without the stop token, and
        ``finished`` is unknown. A file with the key in some records and not in others is refused."""
        columns: dict[str, list] = {name: [] for name in _COLUMNS}
        singular = [RECORD_KEYS[name] for name in _REQUIRED]
        stop_key = RECORD_KEYS["stop_ids"]
        with_stop = 0
        plural = False
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if "completion" not in row and "completions" in row:
                        plural = True
                        values = [row[name] for name in _REQUIRED]
                    else:
                        values = [row[key] for key in singular]
                    stop = row.get(stop_key)
                    with_stop += stop_key in row
                except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
                    raise ValueError(
                        f"{path}:{number} is not a Samples record ({type(error).__name__}: {error}); it needs the "
                        f"keys {singular} (and {stop_key!r} since fdpo records it). Write such files with Samples.save."
                    ) from error
                for name, value in zip(_REQUIRED, values, strict=True):
                    columns[name].append(value)
                columns["stop_ids"].append(stop)
        records = len(columns["completions"])
        if with_stop == 0:
            columns["stop_ids"] = None
        elif with_stop != records:
            raise ValueError(
                f"{path}: {with_stop} of its {records} records have a {stop_key!r} key and the others do not; a "
                "Samples file has it in every record or in none. Was it pasted together from two files?"
            )
        if plural:
            warnings.warn(
                f"{path} has the record keys of fdpo 0.1 (prompts, queries, completions, texts); they are read for "
                "now and will not be in a later release. Rewrite it with Samples.load(path).save(path) (or "
                "'fdpo generate' again): records now have the keys prompt, query, completion, text, completion_ids.",
                FutureWarning,
                stacklevel=2,
            )
        return cls(**columns)
