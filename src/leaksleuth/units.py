"""Figures for people: the one place bytes, rates, durations and p-values are spelled, and the
one place the sizes, rates and durations users type are parsed.

Every renderer (text, JSON evidence sentences, HTML, the watcher's alerts and tables) spells
bytes in decimal SI units (``kB``, ``MB``, ``GB``: powers of 1000) and rates per second, so a
figure reads the same in the diagnosis sentence and on the card beside it. The pprof-style
``top``/``diff`` tables keep pprof's own spelling (``report.tables``) so they can be compared
with ``go tool pprof`` byte for byte. Input accepts both ``MB`` and ``MiB``.
"""

from __future__ import annotations

import math
import re

from leaksleuth.errors import UsageError


def human_bytes(n: float | None) -> str:
    """``12.3 MB`` style (decimal units); ``?`` for a missing or NaN figure."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "?"
    sign = "-" if n < 0 else ""
    v = abs(float(n))
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if v < 1000 or unit == "TB":
            return f"{sign}{v:.0f} {unit}" if unit == "B" else f"{sign}{v:.1f} {unit}"
        v /= 1000
    return f"{sign}{v:.1f} TB"  # pragma: no cover


def human_rate(bytes_per_second: float | None) -> str:
    """Bytes per second, ``1.2 MB/s``."""
    if bytes_per_second is None or not math.isfinite(float(bytes_per_second)):
        return "?"
    return f"{human_bytes(bytes_per_second)}/s"


def human_duration(seconds: float) -> str:
    """``4.2 s``, ``30 s``, ``12.5 min``, ``3.0 h``, ``2.5 d``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def human_p(p: float | None) -> str:
    """A p-value: ``0.012``, or ``3e-05`` when tiny."""
    if p is None:
        return "n/a"
    return f"{p:.0e}" if p < 0.001 else f"{p:.3f}"


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


def parse_rate(text: str) -> float:
    """Bytes per second in ``text``: ``20kB/s``, ``1MiB/s``, ``50000``; a size without
    ``/s`` is per second, as the watch configuration's growth thresholds are."""
    s = text.strip()
    body = s[:-2].rstrip() if s.lower().endswith("/s") else s
    try:
        value = parse_size(body)
    except UsageError:
        raise UsageError(f"not a rate: {text!r} (examples: 20kB/s, 1MiB/s, 50000)") from None
    if value <= 0:
        raise UsageError(f"rate must be positive: {text!r}")
    return float(value)
