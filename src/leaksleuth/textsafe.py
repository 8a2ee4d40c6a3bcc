"""Names from a profiled service, made safe to print.

Function, file, variable and type names come from the service we inspect, so they are not
ours to trust: a name may carry terminal escape sequences (clear the screen, retitle the
window, fake a verdict in colour), carriage returns and backspaces that overwrite what we
printed, bidi overrides that reorder it, or lone surrogates that no UTF-8 stream can encode.
Text renderers pass every such string through ``printable``, which shows those characters as
visible escapes (``\\x1b``) and leaves every ordinary name, Unicode included, as it is.
JSON needs none of this (its encoder escapes them) and HTML relies on its own escaping.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

# control, surrogate, line/paragraph separator and format (bidi, zero-width) characters
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp", "Cf"})

T = TypeVar("T")


def _escape(c: str) -> str:
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{o - 0xDC00:02x}"
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def printable(s: str) -> str:
    """``s`` with control, format and separator characters shown as ``\\xNN``/``\\uNNNN``."""
    if s.isprintable():  # the common case, checked in C
        return s
    import unicodedata  # only for the rare unprintable name: keeps `top`'s start-up lean

    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c
                   for c in s)


def printable_tree(obj: T) -> T:
    """``obj`` (dataclasses, tuples, lists, dicts, strings) with every string ``printable``."""
    return _tree(obj)  # type: ignore[no-any-return]


def _tree(obj: Any) -> Any:
    if isinstance(obj, str):
        return printable(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: _tree(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                   if f.init}
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, tuple):
        return tuple(_tree(x) for x in obj)
    if isinstance(obj, list):
        return [_tree(x) for x in obj]
    if isinstance(obj, dict):
        return {_tree(k): _tree(v) for k, v in obj.items()}
    return obj
