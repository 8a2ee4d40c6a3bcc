"""Opening a user's ELF file (executable or core) with pyelftools, and the errors every
inspect command gives for one it cannot use: no such file, not ELF, unreadable; and finding
the executable of a running process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from leaksleuth.errors import InspectError


@contextmanager
def open_elf(path: Path, what: str = "executable", not_elf: str | None = None
             ) -> Iterator[ELFFile]:
    """The parsed ELF file at ``path``, open for the ``with`` block; a missing, unreadable or
    malformed file (also when a section read inside the block fails) is an ``InspectError``
    naming ``what`` it should have been (``not_elf``: the message for a file that is not ELF).
    """
    bad = not_elf or f"{path} is not an ELF {what}"
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise InspectError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise InspectError(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        try:
            elf = ELFFile(fh)
        except ELFError:
            raise InspectError(bad) from None
        try:
            yield elf
        except ELFError:
            raise InspectError(bad) from None
        except OSError as exc:
            raise InspectError(f"{path}: cannot read ({exc.strerror})") from None


def check_alive(pid: int) -> None:
    """``InspectError`` for a PID with no process behind it."""
    if pid <= 0 or not Path(f"/proc/{pid}").exists():
        raise InspectError(f"no process with PID {pid}")


def running_image(pid: int) -> Path:
    """``/proc/PID/exe``: the very file process ``pid`` runs, to read PCs from. Its path may
    name another file by now (a rebuild renamed over it); this one cannot."""
    check_alive(pid)
    return Path(f"/proc/{pid}/exe")


def exe_of_pid(pid: int) -> Path:
    """The executable of process ``pid`` by its path, for gdb (which follows ``/proc/PID/exe``
    to the file's name anyway); ``/proc/PID/exe`` itself when the file was replaced or
    deleted (the kernel still holds it open)."""
    check_alive(pid)
    try:
        target = os.readlink(f"/proc/{pid}/exe")
    except OSError as exc:
        raise InspectError(f"cannot find the executable of PID {pid} ({exc.strerror}); pass "
                           "--exe") from None
    if target.endswith(" (deleted)") or not Path(target).exists():
        return Path(f"/proc/{pid}/exe")
    return Path(target)
