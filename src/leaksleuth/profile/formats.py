"""Recognise a profile's format from its bytes (never its file name) and dispatch to a parser.

Entry points every layer uses:
- ``detect(data)``: which format the bytes are, or a ``ProfileError`` saying what they are not.
- ``load_profile(data, source)``: any profile format as a ``Profile`` (goroutine dumps are
  turned into counts per stack, like the protobuf goroutine profile).
- ``read_profile(path)``: the same from a file, errors naming the file.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from leaksleuth.errors import ProfileError
from leaksleuth.profile.gunzip import GZIP_MAGIC, inflate
from leaksleuth.profile.model import Profile

_COUNT_TEXT = re.compile(r"[a-z_]+ profile: total \d+\s")


class Format(enum.Enum):
    PPROF = "pprof"  # protobuf, uncompressed
    PPROF_GZIP = "pprof+gzip"
    HEAP_TEXT = "heap-text"  # heap?debug=1
    GOROUTINE_TEXT = "goroutine-text"  # goroutine?debug=1
    GOROUTINE_DUMP = "goroutine-dump"  # goroutine?debug=2


def _text_head(data: bytes) -> str:
    return data[:256].lstrip().decode("utf-8", "replace")


def detect(data: bytes, source: str = "<bytes>") -> Format:
    if not data:
        raise ProfileError("empty file", source)
    if data[:2] == GZIP_MAGIC:
        return Format.PPROF_GZIP
    head = _text_head(data)
    low = head.lower()
    if head.startswith("heap profile:"):
        return Format.HEAP_TEXT
    if _COUNT_TEXT.match(head):  # goroutine?debug=1, or threadcreate and the like
        return Format.GOROUTINE_TEXT
    if head.startswith("goroutine ") and head[10:11].isdigit():
        return Format.GOROUTINE_DUMP
    # Only bytes that open like markup are HTML: a profile's string table may well contain
    # "<html" (0x3c, '<', is never a valid first protobuf tag).
    if low.startswith("<"):
        raise ProfileError("an HTML page, not a profile (wrong URL or an error page?)", source)
    if low.startswith(("{", "[")):
        raise ProfileError("JSON, not a profile", source)
    if head.startswith("--- "):
        raise ProfileError("a legacy C++/Java profile (tcmalloc/threadz/contention/heapz text), "
                           "not a Go profile: convert it with `go tool pprof -proto FILE`", source)
    if data[:8] == bytes(8):
        raise ProfileError("a legacy binary CPU profile, not a heap or goroutine profile: "
                           "convert it with `go tool pprof -proto FILE`", source)
    # A pprof Profile starts with a field tag of wire type 0 or 2 and field number 1..15.
    first = data[0]
    if (first & 7) in (0, 2) and 1 <= (first >> 3) <= 15:
        return Format.PPROF
    raise ProfileError("not a profile: unknown format (expected pprof protobuf or Go text)", source)


def load_profile(data: bytes, source: str = "<bytes>") -> Profile:
    """Parse any supported format into a ``Profile``."""
    fmt = detect(data, source)
    if fmt is Format.PPROF_GZIP:
        data = inflate(data, source)
        if not data:
            raise ProfileError("empty profile inside gzip", source)
        inner = detect(data, source)
        if inner is Format.PPROF_GZIP:
            raise ProfileError("gzip inside gzip", source)
        fmt = inner
    from leaksleuth.profile import pprof, text

    if fmt is Format.PPROF:
        return pprof.parse_pprof(data, source)
    if fmt is Format.HEAP_TEXT:
        # the pprof view: unsymbolised runtime PCs dropped, as in the protobuf (the raw PCs
        # are kept by text.parse_heap_text's default, for inspection)
        return text.parse_heap_text(data, source, runtime_pcs=False)[0]
    if fmt is Format.GOROUTINE_TEXT:
        return text.parse_goroutine_text(data, source, runtime_pcs=False)
    return text.dump_to_profile(text.parse_goroutine_dump(data, source))


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise ProfileError("is a directory, not a profile file", str(path)) from None
    except FileNotFoundError:
        raise ProfileError("no such file", str(path)) from None
    except OSError as exc:
        raise ProfileError(f"cannot read ({exc.strerror})", str(path)) from None


def read_profile(path: str | Path) -> Profile:
    return load_profile(read_bytes(path), str(path))
