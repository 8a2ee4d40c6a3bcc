"""The watcher's memory across restarts, in one SQLite file.

Alert states (so a restart neither re-fires nor forgets a firing alert), each target's last
results and failure backoff, and the evidence bundles on disk. WAL mode and one transaction
per write keep the file consistent through ``kill -9``; the evidence directory stays the
truth for bundles and is reconciled against this table at start.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from leaksleuth.errors import StoreError
from leaksleuth.watch.alerts import LevelState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets(
    name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts(
    target TEXT NOT NULL, level TEXT NOT NULL, state TEXT NOT NULL, since REAL NOT NULL,
    active_at REAL, clear_since REAL, last_sent REAL, labels TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY(target, level));
CREATE TABLE IF NOT EXISTS bundles(
    id TEXT PRIMARY KEY, target TEXT NOT NULL, created REAL NOT NULL, bytes INTEGER NOT NULL,
    verdict TEXT, trigger TEXT NOT NULL DEFAULT '');
"""


@dataclass
class TargetRecord:
    """What the watcher knows about one target between rounds."""

    name: str
    failures: int = 0  # consecutive failed diagnoses
    next_attempt: float = 0.0  # backoff: no diagnosis before this time
    last_error: str | None = None
    last_seen: float | None = None  # last round the target was screened or reachable
    screen: dict[str, Any] = field(default_factory=dict)  # last layer-1 figures
    diagnosed_at: float | None = None
    verdict: str | None = None
    confidence: float | None = None
    suspect: str | None = None  # "kind function" of the top suspect
    heap_floor_bytes: float | None = None
    growth_bytes_per_second: float | None = None
    last_bundle: str | None = None
    bundle_kept_at: float | None = None  # when ``last_bundle`` was kept
    capture_failed_at: float | None = None  # a bundle to keep could not be written (disk)
    episode_since: float | None = None  # start of the current alert episode (pending/firing)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TargetRecord:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class BundleRow:
    id: str
    target: str
    created: float
    bytes: int
    verdict: str | None
    trigger: str


class StateStore:
    """Thread-safe access to the state file (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False,
                                         isolation_level=None, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the watch state ({exc})") from None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: watch state write failed ({exc})") from None

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, args))
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: watch state read failed ({exc})") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- targets ---------------------------------------------------------------------------

    def targets(self) -> dict[str, TargetRecord]:
        out = {}
        for name, doc in self._query("SELECT name, doc FROM targets"):
            with contextlib.suppress(ValueError, TypeError):
                out[name] = TargetRecord.from_doc(json.loads(doc))
        return out

    def save_targets(self, records: list[TargetRecord]) -> None:
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO targets(name, doc) VALUES (?, ?)",
                          [(r.name, json.dumps(asdict(r), allow_nan=False,
                                               default=str)) for r in records])

    # --- alerts ----------------------------------------------------------------------------

    def alerts(self) -> dict[str, dict[str, tuple[LevelState, dict[str, str]]]]:
        out: dict[str, dict[str, tuple[LevelState, dict[str, str]]]] = {}
        rows = self._query("SELECT target, level, state, since, active_at, clear_since, "
                           "last_sent, labels FROM alerts")
        for target, level, state, since, active_at, clear_since, last_sent, labels in rows:
            st = LevelState(state, since, active_at, clear_since, last_sent)
            out.setdefault(target, {})[level] = (st, json.loads(labels or "{}"))
        return out

    def save_alerts(self, rows: list[tuple[str, str, LevelState, dict[str, str]]]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT OR REPLACE INTO alerts(target, level, state, since, active_at, "
                "clear_since, last_sent, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(t, lv, s.state, s.since, s.active_at, s.clear_since, s.last_sent,
                  json.dumps(labels)) for t, lv, s, labels in rows])

    def forget_target(self, name: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM alerts WHERE target = ?", (name,))
            c.execute("DELETE FROM targets WHERE name = ?", (name,))

    # --- bundles ---------------------------------------------------------------------------

    def bundles(self) -> list[BundleRow]:
        rows = self._query("SELECT id, target, created, bytes, verdict, trigger FROM bundles "
                           "ORDER BY created, id")
        return [BundleRow(*r) for r in rows]

    def add_bundle(self, b: BundleRow) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO bundles(id, target, created, bytes, verdict, "
                      "trigger) VALUES (?, ?, ?, ?, ?, ?)",
                      (b.id, b.target, b.created, b.bytes, b.verdict, b.trigger))

    def remove_bundles(self, ids: list[str]) -> None:
        with self._tx() as c:
            c.executemany("DELETE FROM bundles WHERE id = ?", [(i,) for i in ids])

    # --- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
