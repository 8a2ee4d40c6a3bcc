"""Parsing the durations and sizes users type: ``5s``, ``500ms``, ``10m``, ``1h``, ``64MiB``."""

from __future__ import annotations

import re

from leaksleuth.errors import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
               "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
               "tb": 1000**4, "tib": 1024**4}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: Go-style ``1h30m``, ``5s``, ``500ms``; a bare number is seconds."""
    s = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        value = float(s)
    else:
        pos, value = 0, 0.0
        for m in _DURATION.finditer(s):
            if m.start() != pos:
                break
            value += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
            pos = m.end()
        if pos != len(s) or not s:
            raise UsageError(f"not a duration: {text!r} (examples: 500ms, 5s, 10m, 1h)")
    if value <= 0:
        raise UsageError(f"duration must be positive: {text!r}")
    return value


def parse_size(text: str) -> int:
    """Bytes in ``text``: ``1048576``, ``64MiB``, ``100MB``, ``2GiB``."""
    m = _SIZE.fullmatch(text.strip())
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _SIZE_UNITS:
        raise UsageError(f"not a size: {text!r} (examples: 1048576, 64MiB, 100MB)")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])
