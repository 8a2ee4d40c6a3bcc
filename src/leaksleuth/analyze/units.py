"""Human-readable figures for evidence sentences and renderers (pprof-like units)."""

from __future__ import annotations

import math


def human_bytes(n: float) -> str:
    """``12.3 MB`` style (decimal units, like pprof's output)."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "?"
    sign = "-" if n < 0 else ""
    v = abs(float(n))
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if v < 1000 or unit == "TB":
            return f"{sign}{v:.0f} {unit}" if unit == "B" else f"{sign}{v:.1f} {unit}"
        v /= 1000
    return f"{sign}{v:.1f} TB"  # pragma: no cover


def human_rate(bytes_per_second: float) -> str:
    return f"{human_bytes(bytes_per_second)}/s"


def human_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def human_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.0e}" if p < 0.001 else f"{p:.3f}"
