"""Render a fleet screen (``watch.screen.ScreenResult`` list): rich table, plain text, JSON.

Rows come ranked worst first (as ``screen_fleet`` returns them) and are rendered in that
order. JSON shape (``to_json``), schema ``leaksleuth.fleet/1``::

    {"schema": "leaksleuth.fleet/1", "generated_at": iso8601 | null,
     "window_seconds": float, "counts": {"leak-suspect": n, "growing": n, "ok": n,
                                         "insufficient-data": n},
     "targets": [{"rank": 1, "name": str, "labels": {...}, "pprof_url": str | null,
                  "status": str, "confidence": float, "samples": int, "signal": str,
                  "live_heap_bytes": float, "live_heap_growth_bytes_per_second": float,
                  "growth_p_value": float | null, "plateau": bool,
                  "goroutines": float | null, "goroutine_growth_per_second": float,
                  "rss_bytes": float | null, "next_gc_bytes": float | null,
                  "gc_cycles": int | null, "limit_bytes": float | null,
                  "limit_source": str | null, "time_to_exhaustion_seconds": float | null,
                  "reasons": [str, ...]}, ...]}

Non-finite floats become null.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from leaksleuth.report.json import finite
from leaksleuth.units import human_bytes, human_duration
from leaksleuth.watch.screen import STATUS_RANK, ScreenResult

if TYPE_CHECKING:
    from rich.console import Console

SCHEMA = "leaksleuth.fleet/1"
_STYLE = {"leak-suspect": "bold red", "growing": "yellow", "ok": "green",
          "insufficient-data": "dim"}
_COLUMNS = ("#", "target", "status", "conf", "live heap", "growth/s", "goroutines",
            "RSS", "exhausted in", "why")


def _growth(r: ScreenResult) -> str:
    g = r.live_heap_growth_bytes_per_second
    if r.status == "insufficient-data":
        return "-"
    return ("+" if g >= 0 else "") + human_bytes(g)


def _row(i: int, r: ScreenResult) -> list[str]:
    tte = r.time_to_exhaustion_seconds
    gor = "-" if r.goroutines_last is None else f"{r.goroutines_last:.0f}"
    if r.goroutines_last is not None and abs(r.goroutine_growth_per_second) * 3600 >= 1:
        gor += f" ({r.goroutine_growth_per_second * 3600:+.0f}/h)"
    return [
        str(i), r.target.name, r.status, f"{r.confidence:.2f}",
        human_bytes(r.heap_bytes_last) if r.samples else "-", _growth(r), gor,
        "-" if r.rss_bytes_last is None else human_bytes(r.rss_bytes_last),
        "-" if tte is None else human_duration(tte),
        "; ".join(r.reasons),
    ]


def summary_line(results: Sequence[ScreenResult]) -> str:
    counts = {s: 0 for s in STATUS_RANK}
    for r in results:
        counts[r.status] += 1
    window = max((r.window_seconds for r in results), default=0.0)
    return (f"{len(results)} targets over {human_duration(window)}: "
            + ", ".join(f"{n} {s}" for s, n in counts.items()))


def render_text(results: Sequence[ScreenResult], *, limit: int | None = None) -> str:
    """Aligned plain text (piped output, logs); ``limit`` keeps the worst rows."""
    rows = [_row(i, r) for i, r in enumerate(results[:limit] if limit else results, 1)]
    head = list(_COLUMNS)
    widths = [max(len(head[c]), *(len(row[c]) for row in rows)) if rows else len(head[c])
              for c in range(len(head) - 1)]
    out = [summary_line(results)]
    fmt = "  ".join(f"{{:{'>' if c in (0, 3, 4, 5, 7, 8) else '<'}{w}}}"
                    for c, w in enumerate(widths))
    out.append(fmt.format(*head[:-1]) + "  " + head[-1])
    out += [fmt.format(*row[:-1]) + "  " + row[-1] for row in rows]
    if limit and len(results) > limit:
        out.append(f"... {len(results) - limit} more")
    return "\n".join(out) + "\n"


def render_rich(results: Sequence[ScreenResult], console: Console, *,
                limit: int | None = None) -> None:
    """The same table for a terminal, each status in its colour."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text(summary_line(results), style="bold"))
    table = Table(show_edge=False, box=None, header_style="bold")
    for c, name in enumerate(_COLUMNS):
        table.add_column(name, justify="right" if c in (0, 3, 4, 5, 7, 8) else "left",
                         overflow="fold", no_wrap=c != len(_COLUMNS) - 1)
    for i, r in enumerate(results[:limit] if limit else results, 1):
        row = _row(i, r)
        table.add_row(*[Text(x) for x in row[:2]], Text(row[2], style=_STYLE[r.status]),
                      *[Text(x) for x in row[3:]])
    console.print(table)
    if limit and len(results) > limit:
        console.print(Text(f"... {len(results) - limit} more", style="dim"))


def to_json_dict(results: Sequence[ScreenResult], *,
                 generated_at: float | None = None) -> dict[str, Any]:
    counts = {s: 0 for s in STATUS_RANK}
    for r in results:
        counts[r.status] += 1
    targets = [{
        "rank": i, "name": r.target.name, "labels": dict(r.target.labels),
        "pprof_url": r.target.pprof_url, "status": r.status, "confidence": r.confidence,
        "samples": r.samples, "signal": r.signal, "live_heap_bytes": r.heap_bytes_last,
        "live_heap_growth_bytes_per_second": r.live_heap_growth_bytes_per_second,
        "growth_p_value": r.growth_p_value, "plateau": r.plateau,
        "goroutines": r.goroutines_last,
        "goroutine_growth_per_second": r.goroutine_growth_per_second,
        "rss_bytes": r.rss_bytes_last, "next_gc_bytes": r.next_gc_last,
        "gc_cycles": r.gc_cycles, "limit_bytes": r.limit_bytes, "limit_source": r.limit_source,
        "time_to_exhaustion_seconds": r.time_to_exhaustion_seconds,
        "reasons": list(r.reasons),
    } for i, r in enumerate(results, 1)]
    when = (_dt.datetime.fromtimestamp(generated_at, _dt.UTC).isoformat()
            if generated_at is not None else None)
    doc: dict[str, Any] = finite({
        "schema": SCHEMA, "generated_at": when,
        "window_seconds": max((r.window_seconds for r in results), default=0.0),
        "counts": counts, "targets": targets})
    return doc


def to_json(results: Sequence[ScreenResult], *, generated_at: float | None = None) -> str:
    return json.dumps(to_json_dict(results, generated_at=generated_at), indent=2,
                      allow_nan=False) + "\n"


def render(results: Sequence[ScreenResult], out: TextIO, *, as_json: bool = False,
           terminal: bool | None = None, limit: int | None = None,
           generated_at: float | None = None) -> None:
    """JSON if asked, rich on a terminal, plain text when piped."""
    if as_json:
        out.write(to_json(results, generated_at=generated_at))
        return
    if terminal is None:
        terminal = out.isatty()
    if terminal:
        from rich.console import Console

        render_rich(results, Console(file=out), limit=limit)
    else:
        out.write(render_text(results, limit=limit))
