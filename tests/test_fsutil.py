"""The one atomic writer: a file is replaced whole or left as it was, and no temp file stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leaksleuth import fsutil


def test_writes_and_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    fsutil.atomic_write_text(target, "first")
    fsutil.atomic_write_bytes(target, b"second \xff")
    assert target.read_bytes() == b"second \xff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "ctrl-c"])
def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        failure: BaseException) -> None:
    target = tmp_path / "analysis-inputs.json"
    target.write_text("old")

    def fsync(fd: int) -> None:
        raise failure

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(type(failure)):
        fsutil.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis-inputs.json"]


def test_a_directory_in_the_way_is_an_oserror(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(OSError):
        fsutil.atomic_write_text(tmp_path / "out", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
