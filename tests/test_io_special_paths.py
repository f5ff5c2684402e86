"""Tests for fdpo/_io.py's atomic writes to paths that are not regular files: a symlink is followed (its target
replaced, the link kept), a FIFO or a device is written through instead of replaced, a folder is refused."""

from __future__ import annotations

import os
import stat

import pytest

from fdpo._io import write_text
from fdpo.errors import InputError

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs and device nodes")


def test_a_symlink_is_followed_and_kept(tmp_path):
    target = write_text(tmp_path / "real.txt", "old\n")
    (tmp_path / "link.txt").symlink_to(target)
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "new.txt")
    write_text(tmp_path / "link.txt", "new\n")
    write_text(tmp_path / "dangling.txt", "created\n")
    assert (tmp_path / "link.txt").is_symlink() and target.read_text() == "new\n"
    assert (tmp_path / "dangling.txt").is_symlink() and (tmp_path / "new.txt").read_text() == "created\n"


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "to-d").symlink_to(tmp_path / "d")
    for name in ("d", "to-d"):
        with pytest.raises(IsADirectoryError, match="is a folder"):
            write_text(tmp_path / name, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "to-d"]


@posix_only
def test_a_fifo_is_written_through_or_refused_when_nobody_reads(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="no process is reading"):
        write_text(fifo, "x")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_text(fifo, "through\n")
        assert os.read(reader, 100) == b"through\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]  # no temporary file either


@posix_only
def test_a_character_device_is_written_through_not_replaced(tmp_path):
    device = tmp_path / "null"
    try:  # /dev/null is (1, 3); making one needs root
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as error:
        pytest.skip(f"cannot make a device node here: {error}")
    write_text(device, "into the void\n")
    assert stat.S_ISCHR(device.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]
