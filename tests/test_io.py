"""Tests for fdpo/_io.py: atomic writes, the JSON/JSONL/CSV round trips every stage relies on, file permissions,
readers that name file and line, and stale temporary files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fdpo._io import (
    MalformedFileError,
    atomic_open,
    read_csv,
    read_json,
    read_jsonl,
    remove_stale_temp_files,
    write_csv,
    write_json,
    write_jsonl,
    write_text,
)
from fdpo.errors import InputError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and process ids")


@pytest.fixture
def umask():
    """Sets the process umask for one test and restores it."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ----------------------------------------------------------------------------------------------------------------
# Atomic writes and round trips


def test_atomic_open_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = write_json(tmp_path / "metrics.json", {"reward": 1.0})
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_open(path) as handle:
            handle.write('{"reward": 2.')  # half a file...
            raise RuntimeError("killed")  # ...then the writer dies
    assert read_json(path) == {"reward": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary file left


def test_atomic_open_refuses_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_json_jsonl_csv_round_trips(tmp_path):
    write_json(tmp_path / "a" / "b.json", {"x": float("nan"), "y": [1, float("inf")], "z": Path("p")})
    assert read_json(tmp_path / "a" / "b.json") == {"x": None, "y": [1, None], "z": "p"}
    records = [{"text": "naïve ☺", "n": 1}, {"text": "two\nlines", "n": 2}]
    write_jsonl(tmp_path / "r.jsonl", records)
    assert read_jsonl(tmp_path / "r.jsonl") == records
    rows = [
        {"name": "alpha:0.3", "beta": 0.01, "seed": 0, "kl": None},
        {"name": "sft", "beta": float("nan"), "seed": 1},
    ]
    write_csv(tmp_path / "t.csv", rows, ["name", "beta", "seed", "kl"])
    assert read_csv(tmp_path / "t.csv") == [
        {"name": "alpha:0.3", "beta": 0.01, "seed": 0, "kl": None},
        {"name": "sft", "beta": None, "seed": 1, "kl": None},
    ]


# ----------------------------------------------------------------------------------------------------------------
# Permissions: what open(path, "w") would give, not mkstemp's 0600


@posix_only
@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_get_the_umask_permissions(tmp_path, umask, mask, expected):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = [
        write_text(tmp_path / "a.txt", "x"),
        write_json(tmp_path / "b.json", {"x": 1}),
        write_jsonl(tmp_path / "c.jsonl", [{"x": 1}]),
        write_csv(tmp_path / "d.csv", [{"x": 1}]),
    ]
    with atomic_open(tmp_path / "e.png", "wb") as handle:
        handle.write(b"\x89PNG")
    written.append(tmp_path / "e.png")
    assert _mode(plain) == expected  # what the system gives a plain write
    assert {path.name: _mode(path) for path in written} == {path.name: expected for path in written}


@posix_only
def test_rewriting_a_file_keeps_its_permissions(tmp_path, umask):
    umask(0o022)
    path = write_json(tmp_path / "metrics.json", {"x": 1})
    os.chmod(path, 0o640)
    write_json(path, {"x": 2})
    assert _mode(path) == 0o640 and read_json(path) == {"x": 2}


# ----------------------------------------------------------------------------------------------------------------
# Readers: errors that name the file and the line


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def test_read_jsonl_reads_objects_skips_blank_lines_and_keeps_unicode_separators(tmp_path):
    records = [{"text": "a\u2028b\u0085c"}, {"text": "naïve ☺", "n": 2}]
    path = write_jsonl(tmp_path / "r.jsonl", records)
    assert read_jsonl(path) == records
    _write_bytes(path, b'\xef\xbb\xbf{"a": 1}\r\n\n  \n{"a": 2}')  # BOM, CRLF, blank lines, no final newline
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    "content,line,words",
    [
        (b'{"a": 1}\n{"a": 2,}\n{"a": 3}\n', 2, "line 2: not valid JSON"),
        (b'{"a": 1}\n\n[1, 2]\n', 3, "line 3: holds a JSON array where a JSON object"),
        (b'{"a": 1}\n"text"\n', 2, "holds a JSON string"),
        (b'{"a": 1}\nnull\n', 2, "holds a JSON null"),
        (
            b'{"a": 1}\n{"a": 2}\n{"prompt": "cut sho',
            3,
            "line 3: the last line is not valid JSON (Unterminated string",
        ),
        (b'{"a": 1}\n{"a": 2}\n{"a": 0.', 3, "cut short by an interrupted write"),
        (b'{"a": 1}\n{"a": "caf\xe9"}\n', 2, "line 2: not UTF-8"),
    ],
)
def test_read_jsonl_errors_name_the_file_and_line(tmp_path, content, line, words):
    path = _write_bytes(tmp_path / "pairs.jsonl", content)
    with pytest.raises(MalformedFileError) as error:
        read_jsonl(path)
    message = str(error.value)
    assert message.startswith(f"{path}, line {line}:") and words in message
    assert error.value.path == path and error.value.line == line
    assert isinstance(error.value, InputError) and isinstance(error.value, ValueError)


def test_a_bad_line_inside_the_file_is_not_called_truncated(tmp_path):
    path = _write_bytes(tmp_path / "x.jsonl", b'{"a": "unterminated\n{"a": 2}\n')
    with pytest.raises(MalformedFileError, match="line 1: not valid JSON") as error:
        read_jsonl(path)
    assert "cut short" not in str(error.value)
    path = _write_bytes(tmp_path / "y.json", b'{"a": 1,, "b": 2}\n')
    with pytest.raises(MalformedFileError, match="line 1: the file is not valid JSON") as error:
        read_json(path)
    assert "cut short" not in str(error.value)


@pytest.mark.parametrize(
    "content,words",
    [
        (b'{"reward": 1.0, "kl": 0.', "line 1: the file is not valid JSON"),
        (b'{\n  "reward": 1.0,\n  "kl', "line 3: the file is not valid JSON (Unterminated string"),
        (b'{\n  "reward": 1.0,\n  "kl": ', "cut short by an interrupted write"),
        (b"", "is empty"),
        (b'{"reward": 1.0} trailing', "is not valid JSON (Extra data"),
        (b'{"reward": "\xff"}', "not UTF-8"),
    ],
)
def test_read_json_errors_name_the_file(tmp_path, content, words):
    path = _write_bytes(tmp_path / "metrics.json", content)
    with pytest.raises(MalformedFileError, match=r"metrics\.json, line \d+: ") as error:
        read_json(path)
    assert words in str(error.value)


# ----------------------------------------------------------------------------------------------------------------
# Temporary files left by a killed write


_KILLED_WRITER = """
import os, sys
from fdpo._io import atomic_open
with atomic_open(sys.argv[1]) as handle:
    handle.write("half a fi")
    handle.flush()
    os._exit(9)  # dies like kill -9: no cleanup runs
"""


@posix_only
def test_a_killed_writer_leaves_a_named_temp_file_that_cleanup_removes(tmp_path):
    destination = tmp_path / "runs" / "x" / "results.csv"
    write_text(destination, "old\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(destination)], env=env)
    assert result.returncode == 9
    (left,) = [path for path in destination.parent.iterdir() if path.name != "results.csv"]
    assert left.name.startswith(".results.csv.") and left.name.endswith(".tmp")
    unrelated = [destination.parent / ".notes.tmp", destination.parent / "keep.tmp"]
    for path in unrelated:
        path.write_text("mine")

    assert remove_stale_temp_files(tmp_path) == [left]  # recursive by default; the writer's pid is gone
    assert sorted(path.name for path in destination.parent.iterdir()) == [
        ".notes.tmp",
        "keep.tmp",
        "results.csv",
    ]
    assert destination.read_text() == "old\n"
    assert remove_stale_temp_files(tmp_path / "missing") == []


@posix_only
def test_cleanup_leaves_a_write_in_progress_alone(tmp_path):
    destination = tmp_path / "results.csv"
    with atomic_open(destination) as handle:
        handle.write("in progress")
        assert remove_stale_temp_files(tmp_path) == []
        (temporary,) = tmp_path.iterdir()
    assert not temporary.exists() and destination.read_text() == "in progress"


@posix_only
def test_cleanup_of_temp_files_from_another_host_waits_for_min_age(tmp_path):
    fresh = tmp_path / ".results.csv.12345@otherhost.abcd1234.tmp"
    fresh.write_text("x")
    assert remove_stale_temp_files(tmp_path) == []  # another machine may still be writing it
    old = fresh.stat().st_mtime - 7200
    os.utime(fresh, (old, old))
    assert remove_stale_temp_files(tmp_path) == [fresh]


@posix_only
def test_cleanup_is_not_recursive_when_asked(tmp_path):
    nested = tmp_path / "sub" / ".a.json.999999999@otherhost.abcd1234.tmp"
    nested.parent.mkdir()
    nested.write_text("x")
    os.utime(nested, (0, 0))
    assert remove_stale_temp_files(tmp_path, recursive=False) == []
    assert remove_stale_temp_files(tmp_path, recursive=True) == [nested]
