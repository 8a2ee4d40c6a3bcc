"""What gdb reads about one map, in the plain form analyses and reports take.

It lives in the inspect layer because inspect produces it; ``analyze`` and ``report`` only
consume it. Kept apart from ``maps`` so that importing it costs nothing (no ELF or gdb code).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class MapFinding:
    """One map read from the process by gdb (``inspect.maps.MapReport.to_finding``)."""

    variable: str
    type: str
    layout: Literal["classic", "swiss", "sync.Map"]
    live_entries: int
    capacity_slots: int
    deleted_slots: int
    bytes_held: int
    bytes_needed: int
    extra: dict[str, Any] = field(default_factory=dict)
