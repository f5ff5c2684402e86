"""Atomic file writes: a reader (or a run restarted after ``kill -9``) sees the old file or the new one, never half.

Each writer writes a temporary file in the destination's directory, flushes and fsyncs it, then ``os.replace``s it
over the destination, which POSIX and Windows both perform atomically within one file system. Any module may use
these helpers; they create missing parent directories.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_open",
    "write_text",
    "write_json",
    "read_json",
    "write_jsonl",
    "read_jsonl",
    "write_csv",
    "read_csv",
]


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[io.IOBase]:
    """Opens a temporary file next to ``path``; on a clean exit it replaces ``path``, on an exception it is removed.

    Args:
        path: the destination. Its parent directory is created if missing.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding; ignored in binary mode.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with os.fdopen(descriptor, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` to ``path`` atomically and returns the path."""
    with atomic_open(path) as handle:
        handle.write(text)
    return Path(path)


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays, paths and dataclass-like objects, without importing numpy here
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable: {value!r}")


def _finite_or_none(value: Any) -> Any:
    """NaN and ±inf become null: JSON has no such numbers and ``json.dumps`` would write invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Writes ``obj`` as JSON atomically (NaN/inf written as ``null``) and returns the path."""
    text = json.dumps(_finite_or_none(obj), indent=indent, default=_json_default, ensure_ascii=False)
    return write_text(path, text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Reads a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_jsonl(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> Path:
    """Writes one JSON object per line, atomically, and returns the path."""
    with atomic_open(path) as handle:
        for record in records:
            handle.write(
                json.dumps(_finite_or_none(record), default=_json_default, ensure_ascii=False) + "\n"
            )
    return Path(path)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads a JSONL file; blank lines are skipped."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _csv_cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def write_csv(
    path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], fieldnames: Sequence[str] | None = None
) -> Path:
    """Writes ``rows`` as CSV with a header, atomically; ``None`` and NaN become empty cells.

    Args:
        rows: one mapping per row.
        fieldnames: the columns, in order. Defaults to the keys of all rows in first-seen order.
    """
    if fieldnames is None:
        fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_open(path) as handle:
        writer = csv.DictWriter(
            handle, fieldnames=list(fieldnames), extrasaction="raise", lineterminator="\n"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_cell(row.get(key)) for key in fieldnames})
    return Path(path)


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def read_csv(path: str | os.PathLike, *, parse_numbers: bool = True) -> list[dict[str, Any]]:
    """Reads a CSV written by ``write_csv``: numbers parsed back (ints, then floats), empty cells as ``None``."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not parse_numbers:
        return rows
    return [{key: _parse_cell(value) for key, value in row.items()} for row in rows]
