"""Atomic file writes: a reader (or a run restarted after ``kill -9``) sees the old file or the new one, never half.

Each writer writes a temporary file in the destination's directory, flushes and fsyncs it, then ``os.replace``s it
over the destination, which POSIX and Windows both perform atomically within one file system. Any module may use
these helpers; they create missing parent directories.

The file gets the permissions a plain ``open(path, "w")`` would give it: the destination's current mode if it exists,
otherwise 0666 minus the process's umask (``tempfile.mkstemp`` alone would leave 0600).

Temporary files are named ``.<destination name>.<pid>@<host>.<random>.tmp`` (for ``results.csv``:
``.results.csv.4242@node1.k3j_x9a2.tmp``), next to the destination. A writer killed between creating and renaming one
leaves it behind; ``remove_stale_temp_files`` deletes those whose writer is gone.

The readers raise ``MalformedFileError`` (an ``InputError``, hence a ``ValueError``) naming the file, the line and
the problem, for a file that is not valid UTF-8 or JSON, a JSONL line that is not an object, or a last line cut short
by an interrupted write.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import math
import os
import re
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from fdpo.errors import InputError

__all__ = [
    "MalformedFileError",
    "atomic_open",
    "write_text",
    "write_json",
    "read_json",
    "write_jsonl",
    "read_jsonl",
    "write_csv",
    "read_csv",
    "remove_stale_temp_files",
    "sha256_of",
]

_TEMP_SUFFIX = ".tmp"
# .<name>.<pid>@<host>.<random>.tmp ; mkstemp's random part is 8 characters of [a-z0-9_]
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9_-]*)\.[a-z0-9_]+\.tmp$")
_ACTIVE_TEMPS: set[str] = set()  # temporary files this process is writing now
_ACTIVE_LOCK = threading.Lock()


class MalformedFileError(InputError):
    """A file fdpo reads is not in the expected format; ``path`` and ``line`` (1-based, or ``None``) locate it."""

    def __init__(self, message: str, path: str | os.PathLike, line: int | None = None):
        super().__init__(message)
        self.path = Path(path)
        self.line = line


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32]


def _new_file_mode(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: the existing file's, or 0666 minus the umask."""
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


def _umask() -> int:
    # /proc avoids os.umask's set-and-restore, which is not thread-safe; other systems fall back to it.
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _destination(path: Path) -> Path:
    """The file a write to ``path`` must change: a symlink's target (the link is kept, as ``open(path, "w")`` keeps
    it), ``path`` itself otherwise. A folder is refused."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # a dangling link's target is created, as open() would
    if path.is_dir():
        raise IsADirectoryError(
            errno.EISDIR,
            "is a folder, so no file can be written there: give the path of a file (inside it, for example)",
            os.fspath(path),
        )
    return path


@contextlib.contextmanager
def _write_through(path: Path, mode: str, encoding: str | None) -> Iterator[io.IOBase]:
    """Writes into an existing non-regular file (a device such as /dev/null, a FIFO) instead of replacing it.

    Replacing it would turn ``/dev/null`` into a regular file. Such a write is not atomic, which a device or pipe
    cannot be anyway. A FIFO nobody reads would block forever, so it is opened without blocking and refused.
    """
    if stat.S_ISSOCK(path.stat().st_mode):
        raise InputError(
            f"{os.fspath(path)} is a socket, which fdpo cannot write a file into. Give the path of a regular file."
        )
    try:
        descriptor = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        if error.errno == errno.ENXIO:  # a FIFO with no reader
            raise InputError(
                f"{os.fspath(path)} is a named pipe (FIFO) that no process is reading, so a write would wait "
                "forever. Start the reader first (e.g. `cat PATH &`) or give the path of a regular file."
            ) from error
        raise
    if hasattr(os, "set_blocking"):
        os.set_blocking(descriptor, True)  # the reader is there now; let writes wait for it as usual
    kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
    with os.fdopen(descriptor, mode, **kwargs) as handle:
        yield handle


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[io.IOBase]:
    """Opens a temporary file next to ``path``; on a clean exit it replaces ``path``, on an exception it is removed.

    A symlink is followed: its target is replaced and the link kept. An existing path that is not a regular file (a
    device such as ``/dev/null``, a FIFO) is written through, never replaced; a folder or a socket is refused.

    Args:
        path: the destination. Its parent directory is created if missing.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding; ignored in binary mode.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}.")
    path = _destination(Path(path))
    if path.exists() and not path.is_file():
        with _write_through(path, mode, encoding) as handle:
            yield handle
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    file_mode = _new_file_mode(path)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}@{_host_tag()}.", suffix=_TEMP_SUFFIX
    )
    with _ACTIVE_LOCK:
        _ACTIVE_TEMPS.add(os.path.abspath(temporary))
    try:
        if hasattr(os, "fchmod"):
            with contextlib.suppress(
                OSError
            ):  # some network and FUSE file systems refuse chmod: keep mkstemp's
                os.fchmod(descriptor, file_mode)
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
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE_TEMPS.discard(os.path.abspath(temporary))


def _process_is_gone(pid: int) -> bool | None:
    """True if no process ``pid`` runs on this machine, False if one does, None if this system cannot tell."""
    if os.name != "posix":
        return None  # on Windows os.kill(pid, 0) would send CTRL_C_EVENT
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    except OSError:
        return None
    return False


def remove_stale_temp_files(
    directory: str | os.PathLike, *, recursive: bool = True, min_age_seconds: float = 3600.0
) -> list[Path]:
    """Deletes the temporary files that atomic writes killed mid-way left in ``directory``, and returns their paths.

    A file named ``.<name>.<pid>@<host>.<random>.tmp`` (the scheme of ``atomic_open``) is stale when it was written on
    this host by a process that is no longer running (or by this process, outside a write in progress). A temporary
    file from another host (a file system shared by several machines) or in an unknown state is removed only once it
    has not been modified for ``min_age_seconds``, so that a write in progress elsewhere is left alone. Other files,
    including other ``*.tmp`` files, are never touched.

    Args:
        directory: the folder to clean; a missing folder is not an error.
        recursive: also clean its sub-folders.
        min_age_seconds: age beyond which a temporary file whose writer cannot be checked counts as stale.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    candidates = directory.rglob(f".*{_TEMP_SUFFIX}") if recursive else directory.glob(f".*{_TEMP_SUFFIX}")
    host, now, removed = _host_tag(), time.time(), []
    for candidate in candidates:
        match = _TEMP_NAME.match(candidate.name)
        if match is None or not candidate.is_file():
            continue
        pid = int(match["pid"])
        gone = None
        if match["host"] == host:
            if pid == os.getpid():
                with _ACTIVE_LOCK:
                    gone = os.path.abspath(candidate) not in _ACTIVE_TEMPS
            else:
                gone = _process_is_gone(pid)
        if gone is None:
            with contextlib.suppress(OSError):
                gone = now - candidate.stat().st_mtime >= min_age_seconds
        if gone:
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
    return removed


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


def _read_text(path: str | os.PathLike) -> str:
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")  # a byte-order mark some editors write is dropped
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise MalformedFileError(
            f"{os.fspath(path)}, line {line}: not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start}). "
            "Save the file as UTF-8.",
            path,
            line,
        ) from error


def _cut_short(text: str, error: json.JSONDecodeError) -> bool:
    """Whether a JSON error looks like a write that stopped early: no final newline, error on the last line.

    (Every writer here ends its files with a newline.)
    """
    return not text.endswith("\n") and "\n" not in text[error.pos :]


def read_json(path: str | os.PathLike) -> Any:
    """Reads a JSON file.

    Raises:
        MalformedFileError: the file is not UTF-8 or not valid JSON (e.g. cut short by an interrupted write).
    """
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if not text.strip():
            problem = "is empty, where a JSON document was expected"
        elif _cut_short(text, error):
            problem = (
                f"is not valid JSON ({error.msg}, column {error.colno}) and has no final newline: it was probably "
                "cut short by an interrupted write"
            )
        else:
            problem = f"is not valid JSON ({error.msg}, column {error.colno})"
        raise MalformedFileError(
            f"{os.fspath(path)}, line {error.lineno}: the file {problem}. Fix or delete the file.",
            path,
            error.lineno,
        ) from error


def write_jsonl(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> Path:
    """Writes one JSON object per line, atomically, and returns the path."""
    with atomic_open(path) as handle:
        for record in records:
            handle.write(
                json.dumps(_finite_or_none(record), default=_json_default, ensure_ascii=False) + "\n"
            )
    return Path(path)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads a JSONL file: one JSON object per line; blank lines are skipped.

    Raises:
        MalformedFileError: naming the file and line, for text that is not UTF-8, a line that is not valid JSON, a
            last line cut short by an interrupted write (said as such) or a line holding
            something other than an object.
    """
    text = _read_text(path)
    lines = text.split("\n")  # not splitlines(): records may hold U+2028 and the like, which JSON leaves raw
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines) and _cut_short(line, error):  # the last line, with no newline after it
                problem = (
                    f"the last line is not valid JSON ({error.msg}, column {error.colno}) and has no final newline: "
                    "the file was probably cut short by an interrupted write. Delete that line or regenerate the "
                    "file."
                )
            else:
                problem = (
                    f"not valid JSON ({error.msg}, column {error.colno}). Each line must be one JSON object."
                )
            raise MalformedFileError(f"{os.fspath(path)}, line {number}: {problem}", path, number) from error
        if not isinstance(record, dict):
            raise MalformedFileError(
                f"{os.fspath(path)}, line {number}: holds a JSON {_json_type(record)} where a JSON object "
                '({"key": value, ...}) was expected. Each line must be one object.',
                path,
                number,
            )
        records.append(record)
    return records


def _json_type(value: Any) -> str:
    names = {
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


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


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
