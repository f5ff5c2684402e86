"""The one error path of the fdpo command (fdpo/cli/failures.py): --debug and FDPO_DEBUG show the traceback of an
input error, an unexpected exception is shown as a bug with its traceback (exit 1), a failed command removes the
folders it created, and library exceptions with a known cause become one paragraph naming the input."""

from __future__ import annotations

import errno
import json

import pytest

from fdpo.cli import main
from fdpo.cli.failures import about, explain
from fdpo.errors import InputError


@pytest.mark.parametrize("how", ["--debug first", "--debug last", "FDPO_DEBUG"])
def test_debug_shows_the_traceback_of_an_input_error(how, tmp_path, capsys, monkeypatch):
    argv = ["report", str(tmp_path / "f.txt")]
    (tmp_path / "f.txt").write_text("x")
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err
    if how == "FDPO_DEBUG":
        monkeypatch.setenv("FDPO_DEBUG", "1")
    argv = (
        ["--debug", *argv]
        if how == "--debug first"
        else [*argv, "--debug"]
        if how == "--debug last"
        else argv
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "InputError" in err
    assert err.rstrip().splitlines()[-1].startswith("fdpo report: error: ")


def test_an_unexpected_exception_is_a_bug_with_its_traceback(tmp_path, capsys, monkeypatch):
    import fdpo.report

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(fdpo.report, "write_report", broken)
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: boom" in err
    assert "probably a bug: please report it" in err


def test_a_failed_command_removes_the_folders_it_created_and_nothing_else(tmp_path, capsys):
    """--output a/b/samples.jsonl with bad prompts: a/ and a/b/ are gone afterwards, the existing folder stays."""
    output = tmp_path / "a" / "b" / "samples.jsonl"
    (tmp_path / "keep").mkdir()
    assert main(["generate", "--model", "x/y", "--output", str(output)]) == 2
    assert "No prompts" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and (tmp_path / "keep").is_dir()


def test_known_causes_name_the_input():
    assert "No space left" in explain(OSError(errno.ENOSPC, "No space left on device"), "--output 'x'")
    assert "'x'" in explain(OSError(errno.ENOSPC, "No space left on device"), "--output 'x'")
    assert "read-only file system" in explain(OSError(errno.EROFS, "Read-only file system", "/r/x"))
    assert "is a folder where a file" in explain(IsADirectoryError(errno.EISDIR, "Is a directory", "d"))
    try:
        json.loads('{"a": ')
    except json.JSONDecodeError as error:
        message = explain(error, "--pairs 'p.jsonl'")
    assert message.startswith("--pairs 'p.jsonl': not valid JSON") and "line 1" in message
    assert explain(ValueError("x")) is None and explain(KeyError("k")) is None  # unknown: a bug
    missing = ModuleNotFoundError("No module named 'peft'", name="peft")
    assert explain(missing, "--use_peft") == (
        "--use_peft: this needs the Python package 'peft', which is not installed here. Install it: "
        'pip install "fdpo[peft]"'
    )
    assert explain(ModuleNotFoundError("No module named 'fdpo.nope'", name="fdpo.nope")) is None  # a bug
    assert (
        explain(KeyError("chosen"), "--pairs 'p'", also=(KeyError,)) == "--pairs 'p': missing key 'chosen'."
    )
    with pytest.raises(InputError, match="^--samples 's': not UTF-8 text") as raised:
        with about("--samples 's'"):
            b"\xff".decode("utf-8")
    assert isinstance(raised.value.__cause__, UnicodeDecodeError)
    with pytest.raises(ZeroDivisionError), about("--samples 's'"):
        1 / 0  # noqa: B018
