"""Figures for people: the one place bytes, rates, durations and p-values are spelled, and the
one place the sizes, rates and durations users type are parsed.

Every renderer (text, JSON evidence sentences, HTML, the watcher's alerts and tables) spells
bytes in decimal SI units (``kB``, ``MB``, ``GB``: powers of 1000) and rates per second, so a
figure reads the same in the diagnosis sentence and on the card beside it. The pprof-style
``top``/``diff`` tables (``report.tables``) use the second spelling here, pprof's own
(``pprof_label``, ``go_duration``), so they can be compared with ``go tool pprof`` byte for
byte. Moments are UTC (``human_time``). Input accepts both ``MB`` and ``MiB``.
"""

from __future__ import annotations

import math
import re
import time

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


def human_time(ts: float, *, date: bool = True, zone: bool = True) -> str:
    """A moment in UTC: ``2026-01-31 14:05:09 UTC``; ``date=False`` for the time of day
    (sentences about one session), ``zone=False`` under a column that says UTC."""
    t = time.gmtime(ts)
    out = time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", t)
    return out + " UTC" if zone else out


def human_p(p: float | None) -> str:
    """A p-value: ``0.012``, or ``3e-05`` when tiny."""
    if p is None:
        return "n/a"
    return f"{p:.0e}" if p < 0.001 else f"{p:.3f}"


# --- pprof's spelling ------------------------------------------------------------------------
# The ``top``/``diff`` tables are compared with ``go tool pprof -top`` line by line, so they
# spell figures as pprof does (its measurement package: 1024-based ``kB``/``MB``, ``%.2f`` with
# ``.00`` trimmed, one unit for a whole table) and durations as Go's ``time.Duration`` does.

# pprof's memory units (measurement.UnitTypes[0]): canonical name, factor
_MEMORY = (("B", 1), ("kB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40),
           ("PB", 1 << 50))
_MEMORY_ALIASES = {
    "b": 0, "byte": 0, "kb": 1, "kbyte": 1, "kilobyte": 1, "mb": 2, "mbyte": 2,
    "megabyte": 2, "gb": 3, "gbyte": 3, "gigabyte": 3, "tb": 4, "tbyte": 4, "terabyte": 4,
    "pb": 5, "pbyte": 5, "petabyte": 5,
}
_TIME = (("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
         ("hrs", 3_600_000_000_000))
_TIME_ALIASES = {"ns": 0, "nanosecond": 0, "μs": 1, "us": 1, "microsecond": 1, "ms": 2,
                 "millisecond": 2, "s": 3, "sec": 3, "second": 3, "hour": 4, "hr": 4}


def _sniff(unit: str) -> tuple[tuple[tuple[str, int], ...], int] | None:
    u = unit.lower()
    if len(u) > 2:
        u = u.removesuffix("s")
    if u in _MEMORY_ALIASES:
        return _MEMORY, _MEMORY_ALIASES[u]
    if u in _TIME_ALIASES:
        return _TIME, _TIME_ALIASES[u]
    return None


def pprof_scale(value: int, from_unit: str, to_unit: str) -> tuple[float, str]:
    """pprof's measurement.Scale: ``to_unit`` "minimum"/"auto" picks the best-fitting unit."""
    if value < 0:
        v, u = pprof_scale(-value, from_unit, to_unit)
        return -v, u
    sniffed = _sniff(from_unit)
    if sniffed is None:
        if to_unit in ("count", "sample", "unit", "minimum", "auto"):
            return float(value), ""
        return float(value), to_unit
    units, i = sniffed
    base = float(value) * units[i][1]
    if to_unit in ("minimum", "auto"):
        best = None
        for name, factor in units:
            if base / factor >= 1.0:
                best = (name, factor)
        if best is None:
            best = units[0] if units is _MEMORY else units[3]
        return base / best[1], best[0]
    target = _sniff(to_unit)
    if target is None or target[0] is not units:
        name, factor = units[0] if units is _MEMORY else units[3]
        return base / factor, name
    name, factor = units[target[1]]
    return base / factor, name


def _go_f2(v: float) -> str:
    s = f"{v:.2f}"
    return "0" if s in ("0.00", "-0.00") else s.removesuffix(".00")


def pprof_label(value: int, from_unit: str, to_unit: str) -> str:
    """pprof's measurement.ScaledLabel: e.g. ``1.50MB``, ``500kB``, ``1234``."""
    v, u = pprof_scale(value, from_unit, to_unit)
    s = _go_f2(v)
    return "0" if s in ("0", "-0") else s + u


def go_duration(ns: int) -> str:
    """Go's time.Duration.String for the common cases (e.g. ``30s``, ``1m30s``, ``1.5s``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{ns / 1_000:g}µs"
    if ns < 1_000_000_000:
        return f"{sign}{ns / 1_000_000:g}ms"
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    secs = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".")
    out = f"{h}h{m}m{secs}s" if h else (f"{m}m{secs}s" if m else f"{secs}s")
    return sign + out


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
