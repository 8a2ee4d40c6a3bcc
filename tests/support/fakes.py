"""Small stand-ins shared by tests: a clock the watcher advances itself, and a look at how
many snapshots a session directory has indexed so far."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from leaksleuth.collect.store import INDEX_NAME


class StepClock:
    """The watcher's clock: ``sleep`` moves time on at once (no waiting), and reports a stop."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.t += seconds
        return stop.is_set()


def snapshots_indexed(root: Path) -> int:
    """Snapshots in the index of the (first) session under ``root``; 0 before it exists or
    while it cannot be read (read-only, so a running collector is never disturbed)."""
    idx = list(root.glob(f"*/{INDEX_NAME}"))
    if not idx:
        return 0
    try:
        with sqlite3.connect(f"file:{idx[0]}?mode=ro", uri=True) as c:
            return int(c.execute("SELECT count(*) FROM snapshots").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
