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

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from leaksleuth.profile.summary import TopResult
from leaksleuth.textsafe import printable
from leaksleuth.units import go_duration, human_time, pprof_label, pprof_scale

if TYPE_CHECKING:  # rich costs ~40 ms to import: only a terminal needs it
    from rich.console import Console

SCHEMA = "leaksleuth.top/1"

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
    _, min_unit = pprof_scale(min_value, result.unit, "minimum")
    _, max_unit = pprof_scale(max_value, result.unit, "minimum")
    unit = min_unit
    if min_unit != max_unit and min_value * 100 < max_value:
        _, unit = pprof_scale(100 * min_value, result.unit, "minimum")
    return unit or result.unit


def header_lines(result: TopResult, files: Sequence[str] = ()) -> list[str]:
    """The lines above the table, as pprof prints them."""
    unit = output_unit(result)
    lines: list[str] = []
    if files:
        shown = [printable(f) for f in files]
        lines.append("File: " + " - ".join(shown) if len(shown) > 1 else f"File: {shown[0]}")
    lines.append(f"Type: {printable(result.sample_type)}")
    if result.time_nanos:
        lines.append("Time: " + human_time(result.time_nanos / 1e9))
    if result.duration_nanos:
        lines.append(f"Duration: {go_duration(result.duration_nanos)}")
    if result.filters:
        lines.append("Active filters: " + " ".join(printable(f) for f in result.filters))
    lines.append(
        f"Showing nodes accounting for {pprof_label(result.shown, result.unit, unit)}, "
        f"{percentage(result.shown, result.total).strip()} of "
        f"{pprof_label(result.total, result.unit, unit)} total"
    )
    if result.total and result.dropped_nodes:
        lines.append(
            f"Dropped {result.dropped_nodes} node{'s' if result.dropped_nodes > 1 else ''} "
            f"(cum <= {pprof_label(result.dropped_cutoff, result.unit, unit)})"
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
            f"{pprof_label(r.flat, result.unit, unit):>10} {percentage(r.flat, result.total)} "
            f"{percentage(running, result.total)} {pprof_label(r.cum, result.unit, unit):>10} "
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
            pprof_label(r.flat, result.unit, unit), percentage(r.flat, result.total).strip(),
            percentage(running, result.total).strip(), pprof_label(r.cum, result.unit, unit),
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
