"""The one gzip inflater: bounded, streaming, and optionally ahead of time into private maps.

Every gzip body leaksleuth reads (profile files, stored snapshots, responses from a service,
credential scrubbing) is inflated here, a piece at a time, under one cap tied to what a real
profile can be (``MAX_INFLATED``) and to the compressed size: a pprof profile never inflates
to more than ``MAX_RATIO`` times its gzip size, whereas zeros inflate about 1000x. The ratio is
checked as output arrives, against the input consumed so far, so a bomb is rejected after at
most ``SLACK`` bytes of output, in milliseconds and with bounded memory.

Kept free of numpy so that a command can start inflating (zlib releases the GIL) on a second
core while numpy and the analysis modules are still being imported (``gunzip_ahead``).
"""

from __future__ import annotations

import mmap
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from leaksleuth.errors import ProfileError
from leaksleuth.units import human_bytes

_fast_zlib: Any
try:  # ISA-L's inflater (python-isal): zlib's interface, same checks (CRC, size), faster
    from isal import isal_zlib as _fast_zlib
except ImportError:  # pragma: no cover - a declared dependency; zlib does the same, slower
    _fast_zlib = None

GZIP_MAGIC = b"\x1f\x8b"
# Larger than any real profile (a million deep heap samples inflate to a few hundred MB).
MAX_INFLATED = 2 << 30
# Go writes profiles with gzip.BestSpeed; varint-packed stacks and a string table compress a
# few times, far from this bound (the ratio of a stream of zeros is about 1000).
MAX_RATIO = 100
# Any gzip may inflate to this much, whatever its ratio (small, very regular bodies).
SLACK = 64 << 20
_CHUNK = 1 << 20
# Piece (compressed input read, and most output per call) of the inflater that writes into a
# map: zlib runs without the GIL for a whole piece, so a thread inflating ahead while the main
# thread runs Python waits for the GIL once per piece (a switch interval each time), not once
# per MiB. The caps are still checked after every piece.
_MAP_CHUNK = 16 << 20


def inflate_limit(compressed: int) -> int:
    """The most a gzip body of ``compressed`` bytes may inflate to."""
    return min(MAX_INFLATED, MAX_RATIO * compressed + SLACK)


def _inflate(read: Callable[[int], bytes], sink: Callable[[bytes], None], source: str,
             room: int | None = None, chunk: int = _CHUNK, fast: bool = False
             ) -> tuple[int, bytes]:
    """Inflate one gzip member from ``read`` into ``sink``; (bytes out, data after the member).

    ``room``: stop (with a ``ProfileError``) once the output would pass it (the map's size).
    ``fast``: with ISA-L when installed (its error texts differ from zlib's: only for callers
    that fall back to the zlib path on any error, which then names the problem).
    Raises ``ProfileError`` for a bomb, truncated or corrupt data.
    """
    lib: Any = _fast_zlib if fast and _fast_zlib is not None else zlib
    errors: tuple[type[Exception], ...] = (zlib.error,) if lib is zlib else (zlib.error,
                                                                              lib.error)
    d = lib.decompressobj(16 + zlib.MAX_WBITS)
    fed = pos = 0
    try:
        while not d.eof:
            data = d.unconsumed_tail
            if not data:
                data = read(chunk)
                if not data:
                    raise ProfileError("truncated gzip data", source)
                fed += len(data)
            want = chunk if room is None else min(room - pos + 1, chunk)
            out = d.decompress(data, want)
            pos += len(out)
            consumed = fed - len(d.unconsumed_tail)
            if pos > SLACK and pos > MAX_RATIO * consumed:
                raise ProfileError(
                    f"gzip data inflates to over {human_bytes(pos)} from {consumed} bytes (more "
                    f"than {MAX_RATIO}x, which no profile compresses to): refusing a gzip bomb",
                    source)
            if pos > MAX_INFLATED:
                raise ProfileError(f"gzip data inflates beyond {human_bytes(MAX_INFLATED)}, more "
                                   "than any real profile: refusing it", source)
            if room is not None and pos > room:
                raise ProfileError("gzip data longer than its trailer says", source)
            sink(out)
    except errors as exc:
        raise ProfileError(f"corrupt gzip data ({exc})", source) from None
    return pos, d.unused_data


def inflate(data: bytes, source: str = "<bytes>") -> bytes:
    """Inflate a gzip body held in memory (the first member; later bytes are ignored, as Go
    writes one member), within the caps; ``ProfileError`` names the problem."""
    view = memoryview(data)
    at = 0

    def read(n: int) -> bytes:
        nonlocal at
        piece = bytes(view[at:at + n])
        at += len(piece)
        return piece

    out = bytearray()
    _inflate(read, out.extend, source)
    return bytes(out)


def _gunzip(path: str) -> mmap.mmap | None:
    """Inflate the gzip file ``path`` into a private anonymous map of the size its trailer
    gives; None for anything else (not gzip, a size mismatch, a bomb, any error): the usual
    path (``inflate``) then names the problem."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != GZIP_MAGIC:
                return None
            total = f.seek(0, 2)
            f.seek(-4, 2)
            size = int.from_bytes(f.read(4), "little")  # ISIZE: the size mod 2^32
            if (size == 0 or size > inflate_limit(total) or not hasattr(mmap, "MADV_DONTNEED")
                    or not hasattr(mmap, "MAP_PRIVATE")):
                return None
            f.seek(0)
            # private: MADV_DONTNEED then frees the pages (on a shared anonymous map, Python's
            # default, they only leave RSS and stay allocated as shmem)
            mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            pos = 0

            def sink(out: bytes) -> None:
                nonlocal pos
                mm[pos:pos + len(out)] = out
                pos += len(out)

            n, rest = _inflate(f.read, sink, path, room=size, chunk=_MAP_CHUNK, fast=True)
            if n != size or rest or f.read(1):
                return None  # several members or trailing bytes: the usual path decides
            return mm
    except (OSError, ValueError, OverflowError, ProfileError):
        return None


_ahead: dict[str, mmap.mmap | None] = {}
_ahead_lock = threading.Lock()
_ahead_thread: threading.Thread | None = None
_asked: set[str] = set()  # paths decompressed ahead (or being) and not yet taken


def gunzip_ahead(paths: Sequence[str]) -> None:
    """Start decompressing ``paths`` in a background thread; ``gunzip_owned`` then takes the
    result (waiting for it if needed). Harmless for files that are not gzip, and for paths
    already asked for and not yet taken (the program's entry point asks first)."""
    global _ahead_thread
    with _ahead_lock:
        todo = [p for p in dict.fromkeys(paths) if p not in _asked]
        _asked.update(todo)
    if not todo:
        return
    wait_ahead()

    def work() -> None:
        for p in todo:
            mm = _gunzip(p)
            with _ahead_lock:
                _ahead[p] = mm

    _ahead_thread = threading.Thread(target=work, name="gunzip-ahead", daemon=True)
    _ahead_thread.start()


def wait_ahead() -> None:
    """Wait for ``gunzip_ahead`` to finish (before a fork: threads do not survive one)."""
    global _ahead_thread
    if _ahead_thread is not None:
        _ahead_thread.join()
        _ahead_thread = None


def gunzip_owned(path: str) -> mmap.mmap | None:
    """The decompressed gzip file ``path`` in a private anonymous map the caller owns (its
    pages can be released as they are read); None when it is not a single-member gzip file
    within the caps (the caller then reads it the usual way, which names any problem)."""
    with _ahead_lock:
        pending = path in _ahead or (_ahead_thread is not None and _ahead_thread.is_alive())
    if pending:
        wait_ahead()
        with _ahead_lock:
            _asked.discard(path)
            if path in _ahead:
                return _ahead.pop(path)
    return _gunzip(path)


def discard(path: str) -> None:
    """Free the map decompressed ahead for ``path`` if not taken (after a fork, when the
    other process reads that file)."""
    wait_ahead()
    with _ahead_lock:
        _asked.discard(path)
        mm = _ahead.pop(path, None)
    if mm is not None:
        mm.close()
