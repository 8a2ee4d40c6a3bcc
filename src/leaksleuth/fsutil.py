"""The one way leaksleuth writes a file: whole or not at all.

A half-written session file, analysis input or report is worse than none (a reader would
take it for the real thing), so every write goes to a temporary name in the same directory,
is flushed to disk, renamed over the target and the rename made durable. Errors are the
plain ``OSError``: each caller knows what was being written and which error to raise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only when the ``with`` block ends without an error:
    temp file, fsync, rename, fsync of the directory (for writers that stream, e.g. tarfile).

    The temporary name is hidden and carries the pid, so two processes writing the same
    target never share one; it is removed when anything fails (Ctrl-C included).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``atomic_open``)."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """``atomic_write_bytes`` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))
