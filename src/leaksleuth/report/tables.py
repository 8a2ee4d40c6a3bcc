"""Render ``top``/``diff`` results (``profile.ops.TopResult``): rich, plain text or JSON.

The plain text is ``go tool pprof -top``'s layout and number formatting (one output unit
chosen for the whole table from the smallest and largest values, ``%.2f`` with ``.00``
trimmed, 1024-based kB/MB/GB, percentages of the absolute total), so the two can be compared
line by line. A terminal gets the same figures in a rich table.

JSON shape (``to_json``), schema ``leaksleuth.top/1``::

    {"schema": "leaksleuth.top/1", "kind": "top" | "diff",
     "files": [path, ...], "sample_type": "inuse_space", "unit": "bytes",
     "total": int, "shown": int, "node_count": int, "dropped_nodes": int,
     "sort": "flat" | "cum", "filters": ["focus=RE", ...],
     "time_nanos": int, "duration_nanos": int,
     "rows": [{"function": str, "flat": int, "flat_pct": float, "sum_pct": float,
               "cum": int, "cum_pct": float, "inline": "" | "inline" | "partial-inline"},
              ...]}

Values are raw integers in ``unit``; in a diff they are signed (positive = grew) and
percentages are of the absolute total, as in pprof.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from leaksleuth.profile.summary import TopResult
from leaksleuth.textsafe import printable

if TYPE_CHECKING:  # rich costs ~40 ms to import: only a terminal needs it
    from rich.console import Console

SCHEMA = "leaksleuth.top/1"

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


def scale(value: int, from_unit: str, to_unit: str) -> tuple[float, str]:
    """pprof's measurement.Scale: ``to_unit`` "minimum"/"auto" picks the best-fitting unit."""
    if value < 0:
        v, u = scale(-value, from_unit, to_unit)
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


def scaled_label(value: int, from_unit: str, to_unit: str) -> str:
    """pprof's measurement.ScaledLabel: e.g. ``1.50MB``, ``500kB``, ``1234``."""
    v, u = scale(value, from_unit, to_unit)
    s = _go_f2(v)
    return "0" if s in ("0", "-0") else s + u


def percentage(value: int, total: int) -> str:
    """pprof's measurement.Percentage (of the absolute value)."""
    ratio = abs(value / total) * 100 if total else 0.0
    if 99.95 <= ratio <= 100.05:
        return "  100%"
    if ratio >= 1.0:
        return f"{ratio:5.2f}%"
    return f"{ratio:5.2g}%"


def _ratio(value: int, total: int) -> float:
    return round(abs(value / total) * 100, 4) if total else 0.0


def output_unit(result: TopResult) -> str:
    """pprof's selectOutputUnit: one unit for the whole table."""
    if not result.rows:  # pprof keeps "minimum": every value picks its own unit
        return "minimum"
    min_value = 0
    for r in result.rows:
        m = abs(r.flat) or abs(r.cum)
        if m > 0 and (min_value == 0 or m < min_value):
            min_value = m
    max_value = result.total
    if min_value == 0:
        min_value = max_value
    _, min_unit = scale(min_value, result.unit, "minimum")
    _, max_unit = scale(max_value, result.unit, "minimum")
    unit = min_unit
    if min_unit != max_unit and min_value * 100 < max_value:
        _, unit = scale(100 * min_value, result.unit, "minimum")
    return unit or result.unit


def _go_duration(ns: int) -> str:
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


def header_lines(result: TopResult, files: Sequence[str] = ()) -> list[str]:
    """The lines above the table, as pprof prints them."""
    unit = output_unit(result)
    lines: list[str] = []
    if files:
        shown = [printable(f) for f in files]
        lines.append("File: " + " - ".join(shown) if len(shown) > 1 else f"File: {shown[0]}")
    lines.append(f"Type: {printable(result.sample_type)}")
    if result.time_nanos:
        t = _dt.datetime.fromtimestamp(result.time_nanos / 1e9, tz=_dt.UTC)
        lines.append("Time: " + t.strftime("%Y-%m-%d %H:%M:%S UTC"))
    if result.duration_nanos:
        lines.append(f"Duration: {_go_duration(result.duration_nanos)}")
    if result.filters:
        lines.append("Active filters: " + " ".join(printable(f) for f in result.filters))
    lines.append(
        f"Showing nodes accounting for {scaled_label(result.shown, result.unit, unit)}, "
        f"{percentage(result.shown, result.total).strip()} of "
        f"{scaled_label(result.total, result.unit, unit)} total"
    )
    if result.total and result.dropped_nodes:
        lines.append(
            f"Dropped {result.dropped_nodes} node{'s' if result.dropped_nodes > 1 else ''} "
            f"(cum <= {scaled_label(result.dropped_cutoff, result.unit, unit)})"
        )
    if len(result.rows) < result.node_count:
        lines.append(f"Showing top {len(result.rows)} nodes out of {result.node_count}")
    return lines


def render_text(result: TopResult, files: Sequence[str] = ()) -> str:
    """Plain text, laid out like ``go tool pprof -top``."""
    unit = output_unit(result)
    out = header_lines(result, files)
    out.append("      flat  flat%   sum%        cum   cum%")
    running = 0
    for r in result.rows:
        running += r.flat
        out.append(
            f"{scaled_label(r.flat, result.unit, unit):>10} {percentage(r.flat, result.total)} "
            f"{percentage(running, result.total)} {scaled_label(r.cum, result.unit, unit):>10} "
            f"{percentage(r.cum, result.total)}  {printable(r.name)}"
            f"{f' ({r.inline})' if r.inline else ''}"
        )
    return "\n".join(out) + "\n"


def render_rich(result: TopResult, console: Console, files: Sequence[str] = (),
                diff: bool = False) -> None:
    """A rich table for a terminal; in a diff, growth is red and shrinkage green."""
    from rich.table import Table
    from rich.text import Text

    unit = output_unit(result)
    for line in header_lines(result, files):
        console.print(Text(line, style="dim"))
    table = Table(show_edge=False, box=None, header_style="bold")
    for col in ("flat", "flat%", "sum%", "cum", "cum%"):
        table.add_column(col, justify="right")
    table.add_column("function", overflow="fold")
    running = 0
    for r in result.rows:
        running += r.flat
        style = ""
        if diff:
            style = "red" if r.flat > 0 or (r.flat == 0 and r.cum > 0) else "green"
        table.add_row(
            scaled_label(r.flat, result.unit, unit), percentage(r.flat, result.total).strip(),
            percentage(running, result.total).strip(), scaled_label(r.cum, result.unit, unit),
            percentage(r.cum, result.total).strip(),
            Text(printable(r.name) + (f" ({r.inline})" if r.inline else "")), style=style,
        )
    console.print(table)


def to_json(result: TopResult, files: Sequence[str] = (), diff: bool = False) -> dict[str, Any]:
    """The ``leaksleuth.top/1`` document (see the module docstring)."""
    rows = []
    running = 0
    for r in result.rows:
        running += r.flat
        rows.append({
            "function": r.name, "flat": r.flat, "flat_pct": _ratio(r.flat, result.total),
            "sum_pct": _ratio(running, result.total), "cum": r.cum,
            "cum_pct": _ratio(r.cum, result.total), "inline": r.inline,
        })
    return {
        "schema": SCHEMA, "kind": "diff" if diff else "top", "files": list(files),
        "sample_type": result.sample_type, "unit": result.unit, "total": result.total,
        "shown": result.shown, "node_count": result.node_count,
        "dropped_nodes": result.dropped_nodes, "sort": "cum" if result.cum_sort else "flat",
        "filters": list(result.filters), "time_nanos": result.time_nanos,
        "duration_nanos": result.duration_nanos, "rows": rows,
    }


def render(result: TopResult, out: TextIO, *, files: Sequence[str] = (), as_json: bool = False,
           diff: bool = False, terminal: bool | None = None) -> None:
    """Pick the format: JSON if asked, rich on a terminal, plain text when piped."""
    if as_json:
        out.write(json.dumps(to_json(result, files, diff), indent=2) + "\n")
        return
    if terminal is None:
        terminal = out.isatty()
    if terminal:
        from rich.console import Console

        render_rich(result, Console(file=out), files, diff)
    else:
        out.write(render_text(result, files))
