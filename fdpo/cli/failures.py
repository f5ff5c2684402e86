"""The one error path of the ``fdpo`` command: a failure the user can fix is one paragraph and exit code 2.

A command fails in one of two ways:

- An input the user can fix: an ``fdpo.errors.FDPOError`` (every fdpo input error derives from it), or a library
  exception whose cause is known: a missing, unreadable, empty or non-UTF-8 file, a folder where a file is expected,
  a file where a folder is expected, a read-only folder, a full disk, a malformed JSON file, a corrupted model folder,
  a missing optional package (named with the ``pip install`` that brings it).
  The command prints ``fdpo <command>: error: <paragraph>`` (what, where, how to fix), no traceback, and exits with 2.
- Anything else is a bug: the traceback is printed with a one-line request to report it, exit code 1.

``--debug`` (or ``FDPO_DEBUG=1``) prints the traceback of the first kind too. Where the command knows what it is
reading (``about("--samples 'x.jsonl'")``), the message names it; a ``json.JSONDecodeError`` or a
``UnicodeDecodeError`` carries no file name of its own.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from fdpo.errors import FDPOError, InputError

__all__ = [
    "DEBUG_VARIABLE",
    "about",
    "debug_requested",
    "explain",
    "guarded",
    "missing_roots",
    "remove_new_empty_folders",
]

DEBUG_VARIABLE = "FDPO_DEBUG"

_BUG_HINT = (
    "fdpo {command}: unexpected {name}. This is not an input fdpo knows to be wrong, so it is probably a bug: please "
    "report it with the command you ran and the traceback above (rerun with --debug for the full detail)."
)


# Packages that come with an extra of fdpo (pip install "fdpo[peft]"), or whose pip name is not the import name.
_EXTRAS = {"peft": '"fdpo[peft]"', "plotly": '"fdpo[html]"', "yaml": "pyyaml", "ray": '"fdpo[ray]"',
           "matplotlib": '"fdpo[study]"', "sacrebleu": '"fdpo[study]"'}  # fmt: skip


def debug_requested() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def _first_paragraph(text: str, limit: int = 600) -> str:
    paragraph = text.strip().split("\n\n")[0].replace("\n", " ")
    return paragraph if len(paragraph) <= limit else paragraph[: limit - 3] + "..."


def _os_error(error: OSError, subject: str | None) -> str:
    name = os.fspath(error.filename) if error.filename is not None else None
    if subject and name and name not in subject:
        where = f"{subject} ({name})"
    else:
        where = subject or (repr(name) if name else "a file")
    if error.errno == errno.ENOSPC:
        return (
            f"No space left on the device while writing {where}. Free some space or write to another folder, then "
            "rerun the same command: files already finished are kept and a sweep resumes where it stopped."
        )
    if error.errno == errno.EROFS:
        return f"{where} is on a read-only file system. Write to a folder on a writable disk."
    if error.errno == errno.EDQUOT:
        return f"Disk quota exceeded while writing {where}. Free some space or write to another folder."
    if isinstance(error, FileNotFoundError):
        return f"{where} does not exist. Check the path (relative paths start from the current folder)."
    if isinstance(error, IsADirectoryError):
        return f"{where} is a folder where a file is expected. Give the path of the file."
    if isinstance(error, NotADirectoryError):
        return f"{where}: part of the path is a file where a folder is expected. Give a folder path."
    if isinstance(error, FileExistsError):
        return f"{where} exists and is not a folder. Give another path or move the file away."
    if isinstance(error, PermissionError):
        return (
            f"Permission denied for {where}: the folder is read-only for you or the file is not readable. Choose a "
            "path you can read and write, or fix its permissions."
        )
    detail = _first_paragraph(str(error))
    if subject:
        return (
            f"{subject} could not be read: {detail} If it is a model folder, it may be incomplete or corrupted "
            "(config.json not valid JSON, a weights file cut short): save it again with save_pretrained or "
            "download it again."
        )
    return detail


def explain(error: BaseException, subject: str | None = None, *, also: tuple[type, ...] = ()) -> str | None:
    """The one-paragraph message for an error with a known cause, or None for one that looks like a bug.

    Args:
        subject: what was being read or written (``"--samples 'x.jsonl'"``), named in the message.
        also: further exception types that, inside this subject, mean a bad input (e.g. ``ValueError`` raised by
            a file reader about the file's content); their message is kept, prefixed by the subject.
    """
    if isinstance(error, FDPOError):
        return str(error)
    prefix = f"{subject}: " if subject else ""
    if isinstance(error, UnicodeDecodeError):
        return (
            f"{prefix or 'A file: '}not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}). "
            "Save the file as UTF-8."
        )
    if isinstance(error, json.JSONDecodeError):
        return (
            f"{prefix or 'A JSON file: '}not valid JSON ({error.msg}, line {error.lineno}, column {error.colno}); "
            "a file cut short by an interrupted write looks like this. Fix or regenerate the file."
        )
    if isinstance(error, OSError):
        return _os_error(error, subject)
    if isinstance(error, ModuleNotFoundError) and error.name and not error.name.startswith("fdpo"):
        package = error.name.split(".")[0]
        install = _EXTRAS.get(package, package)
        return (
            f"{prefix}this needs the Python package {package!r}, which is not installed here. Install it: "
            f"pip install {install}"
        )
    if type(error).__name__ == "UnpicklingError":  # torch.load(weights_only=True) refused a pickled object
        return (
            f"{prefix or 'A model: '}a weights file (pytorch_model.bin) holds Python objects that torch loads only "
            f"by running code from the file, which fdpo does not do ({_first_paragraph(str(error), 160)}). Convert "
            "the model to safetensors where you trust it (model.save_pretrained(FOLDER, safe_serialization=True)) "
            "or download it again."
        )
    if type(error).__name__ == "SafetensorError":  # safetensors' own type; not imported here (heavy)
        return (
            f"{prefix or 'A model: '}a weights file (.safetensors) is corrupted or cut short ({error}). Save the model "
            "again with save_pretrained or download it again."
        )
    if also and isinstance(error, also):
        if isinstance(error, KeyError):
            return f"{prefix}missing key {error.args[0]!r}."
        return f"{prefix}{_first_paragraph(str(error))}"
    return None


@contextlib.contextmanager
def about(subject: str, *, also: tuple[type, ...] = ()) -> Iterator[None]:
    """Turns an error with a known cause raised inside into an ``InputError`` that names ``subject``."""
    try:
        yield
    except FDPOError:
        raise
    except Exception as error:
        message = explain(error, subject, also=also)
        if message is None:
            raise
        raise InputError(message) from error


def guarded(command: str, run: Callable[[], int], *, debug: bool) -> int:
    """Runs a command: its status; 2 with one paragraph for a bad input; 1 with the traceback for a bug."""
    try:
        return run()
    except KeyboardInterrupt:
        print(f"fdpo {command}: interrupted.", file=sys.stderr)
        return 130
    except Exception as error:
        message = explain(error)
        if message is None:
            traceback.print_exc()
            print(_BUG_HINT.format(command=command, name=type(error).__name__), file=sys.stderr)
            return 1
        if debug:
            traceback.print_exc()
        print(f"fdpo {command}: error: {message}", file=sys.stderr)
        return 2


def missing_roots(paths: list[str | os.PathLike]) -> list[Path]:
    """For each path, the outermost of it and its parents that does not exist yet (what a command would create)."""
    roots = []
    for path in map(Path, paths):
        root = None
        for candidate in (path, *path.parents):
            if candidate.exists() or candidate.is_symlink():
                break
            root = candidate
        if root is not None:
            roots.append(root)
    return roots


def remove_new_empty_folders(roots: list[Path]) -> None:
    """Removes the folders of ``roots`` (created by a command that failed) that hold nothing but empty folders."""
    for root in roots:
        if not root.is_dir() or root.is_symlink():
            continue
        for folder in sorted(
            (p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            with contextlib.suppress(OSError):
                folder.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()
