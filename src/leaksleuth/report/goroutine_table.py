"""Render goroutine groups: a rich table on a terminal, plain text when piped, or JSON.

JSON (``leaksleuth goroutines --json``), one object::

    {
      "source": "http://127.0.0.1:6060/debug/pprof/goroutine?debug=2",  # or the file name
      "detail": "full" | "counts",   # full: from a debug=2 dump; counts: from a profile
      "truncated": false,            # the dump was cut off (counts may be short)
      "total": 111,                  # goroutines in all groups
      "groups": [                    # largest group first
        {
          "count": 50,
          "states": [{"state": "chan receive", "count": 50}],   # [] when detail == counts
          "max_wait_minutes": 0,     # longest wait; Go prints minutes only after one minute
          "locked_to_thread": 0,     # how many are locked to an OS thread
          "own_frame": "main.blockOnChan",  # innermost frame of the service's own code
          "created_by": "main.main", # "" when unknown
          "functions": ["main.blockOnChan"],  # the stack, leaf first
          "ids": [20, 21, 22]        # up to 20 goroutine ids (dump only)
        }
      ]
    }
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from leaksleuth.profile.goroutines import GoroutineGroup
from leaksleuth.textsafe import printable

__all__ = ["goroutines_json", "goroutines_plain", "goroutines_table", "to_dict"]

MAX_IDS = 20


def _wait(g: GoroutineGroup) -> str:
    return f"{g.max_wait_minutes} min" if g.max_wait_minutes else ""


def _state(g: GoroutineGroup) -> str:
    s = g.state_summary
    if g.locked_to_thread:
        s += f" (locked ×{g.locked_to_thread})" if g.locked_to_thread != g.count else " (locked)"
    return s


def to_dict(groups: Sequence[GoroutineGroup], source: str, *, detail: str,
            truncated: bool = False) -> dict[str, Any]:
    """The JSON document described in this module's docstring, as a dict."""
    return {
        "source": source,
        "detail": detail,
        "truncated": truncated,
        "total": sum(g.count for g in groups),
        "groups": [
            {
                "count": g.count,
                "states": [{"state": s, "count": n} for s, n in g.states],
                "max_wait_minutes": g.max_wait_minutes,
                "locked_to_thread": g.locked_to_thread,
                "own_frame": g.own_frame,
                "created_by": g.created_by,
                "functions": list(g.functions),
                "ids": list(g.ids[:MAX_IDS]),
            }
            for g in groups
        ],
    }


def goroutines_json(groups: Sequence[GoroutineGroup], source: str, *, detail: str,
                    truncated: bool = False) -> str:
    return json.dumps(to_dict(groups, source, detail=detail, truncated=truncated), indent=2)


def _title(groups: Sequence[GoroutineGroup], source: str, truncated: bool) -> str:
    total = sum(g.count for g in groups)
    t = f"{total} goroutines in {len(groups)} groups ({printable(source)})"
    return t + " [dump truncated]" if truncated else t


def _cells(g: GoroutineGroup, detail: str, *, unknown_creator: str = "") -> list[str]:
    """One group's row: count, (state, longest wait,) own frame(, created by), printable."""
    row = [str(g.count)]
    if detail == "full":
        row += [printable(_state(g)), _wait(g)]
    row.append(printable(g.own_frame))
    if detail == "full":
        row.append(printable(g.created_by) or unknown_creator)
    return row


def goroutines_table(groups: Sequence[GoroutineGroup], source: str, *, detail: str,
                     truncated: bool = False) -> Table:
    """A rich table for a terminal."""
    table = Table(title=_title(groups, source, truncated), title_justify="left")
    table.add_column("count", justify="right", style="bold")
    if detail == "full":
        table.add_column("state")
        table.add_column("longest wait", justify="right")
    table.add_column("own frame", style="cyan", overflow="fold")
    if detail == "full":
        table.add_column("created by", overflow="fold")
    for g in groups:
        table.add_row(*_cells(g, detail))
    return table


def goroutines_plain(groups: Sequence[GoroutineGroup], source: str, *, detail: str,
                     truncated: bool = False) -> str:
    """Aligned plain text for pipes: one line per group, tab-free, no colours."""
    headers = ["count"]
    if detail == "full":
        headers += ["state", "longest wait"]
    headers.append("own frame")
    if detail == "full":
        headers.append("created by")
    rows = [_cells(g, detail, unknown_creator="-") for g in groups]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        out = [cells[0].rjust(widths[0])]
        out += [c.ljust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out).rstrip()

    lines = [_title(groups, source, truncated), fmt(headers)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines) + "\n"
