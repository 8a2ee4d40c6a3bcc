"""Reading a stored session back: snapshots in time order, profiles parsed only when asked.

``open_session(path)`` reads the index (small) once; each ``Snapshot`` carries loader callables
that read and parse its raw file on demand, after checking the file still matches the hash
recorded at collection. Nothing is cached, so walking a 500-snapshot session holds at most the
profiles the caller keeps.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaksleuth.collect.store import (
    INDEX_NAME,
    MEMSTATS_COLUMNS,
    connect,
    effective_status,
    probe,
    read_stored,
)
from leaksleuth.errors import StoreError
from leaksleuth.profile.model import GoroutineDump, MemStats, Profile
from leaksleuth.profile.snapshot import Snapshot


@dataclass(frozen=True)
class FileRecord:
    seq: int | None
    kind: str  # heap, heap_text, vars, goroutine, goroutine_dump, allocs, metrics
    path: Path  # absolute
    size: int
    sha256: str
    format: str
    request: str  # what was asked, e.g. /debug/pprof/heap?gc=1


@dataclass(frozen=True)
class ErrorRecord:
    seq: int | None
    time: float
    artifact: str
    kind: str  # unreachable, timeout, http, too-large, tls, protocol, invalid
    http_status: int | None
    message: str


@dataclass(frozen=True)
class TickRow:
    """Every tick, failed ones included (``Session.snapshots`` yields only those with data)."""

    seq: int
    started: float
    finished: float
    status: str  # ok | partial | failed
    goroutine_total: int | None
    heap_floor: int | None
    num_gc: int | None


@dataclass(frozen=True)
class Event:
    time: float
    kind: str  # started, resumed, skipped, service-restarted, interrupted
    detail: str


def _read_checked(rec: FileRecord) -> bytes:
    return read_stored(rec.path, rec.size, rec.sha256)


def _load_profile(rec: FileRecord) -> Profile:
    from leaksleuth.profile.formats import load_profile

    return load_profile(_read_checked(rec), str(rec.path))


def _load_heap_text(rec: FileRecord) -> Profile:
    from leaksleuth.profile.text import parse_heap_text

    return parse_heap_text(_read_checked(rec), str(rec.path))[0]


def _load_dump(rec: FileRecord) -> GoroutineDump:
    from leaksleuth.profile.text import parse_goroutine_dump

    return parse_goroutine_dump(_read_checked(rec), str(rec.path))


class _Loader:
    """A picklable-free, tiny callable: parse one file when called."""

    __slots__ = ("_fn", "_rec")

    def __init__(self, fn: Any, rec: FileRecord) -> None:
        self._fn = fn
        self._rec = rec

    def __call__(self) -> Any:
        return self._fn(self._rec)


class Session:
    """A stored collection session (read-only)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        conn = connect(self.path / INDEX_NAME, readonly=True)
        try:
            self._read(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: unreadable session index ({exc})") from None
        finally:
            conn.close()

    def _read(self, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT s.*, t.url, t.base_path FROM sessions s "
            "JOIN targets t ON t.id = s.target_id").fetchone()
        if row is None:
            raise StoreError(f"{self.path}: session index has no session row")
        self.id: str = row["id"]
        self.target: str = row["url"]
        self.base_path: str = row["base_path"]
        self.started: float = row["started"]
        self.ended: float | None = row["ended"]
        self.status: str = effective_status(self.path, row["status"])
        self.settings: dict[str, Any] = json.loads(row["settings"])
        self.go_version: str | None = row["go_version"]
        self.go_version_source: str | None = row["go_version_source"]
        self.build_info: dict[str, Any] | None = (
            json.loads(row["build_info"]) if row["build_info"] else None)
        self.ticks: tuple[TickRow, ...] = tuple(
            TickRow(r["seq"], r["started"], r["finished"], r["status"], r["goroutine_total"],
                    r["heap_floor"], r["num_gc"])
            for r in conn.execute("SELECT * FROM snapshots ORDER BY started, seq"))
        files: dict[int | None, dict[str, FileRecord]] = {}
        for r in conn.execute("SELECT * FROM files"):
            rec = FileRecord(r["seq"], r["kind"], self.path / r["path"], r["size"], r["sha256"],
                             r["format"], r["request"])
            files.setdefault(rec.seq, {})[rec.kind] = rec
        self._files = files
        ms: dict[int, dict[str, MemStats]] = {}
        for r in conn.execute("SELECT * FROM memstats"):
            kw = {k: r[k] for k in MEMSTATS_COLUMNS if r[k] is not None}
            ms.setdefault(r["seq"], {})[r["source"]] = MemStats(
                **kw, fields=json.loads(r["fields"]))
        self._memstats = ms
        self.errors: tuple[ErrorRecord, ...] = tuple(
            ErrorRecord(r["seq"], r["time"], r["artifact"], r["kind"], r["http_status"],
                        r["message"])
            for r in conn.execute("SELECT * FROM errors ORDER BY id"))
        self._errors_by_seq: dict[int | None, tuple[str, ...]] = {}
        for e in self.errors:
            self._errors_by_seq[e.seq] = (*self._errors_by_seq.get(e.seq, ()), e.message)
        self.events: tuple[Event, ...] = tuple(
            Event(r["time"], r["kind"], r["detail"])
            for r in conn.execute("SELECT * FROM events ORDER BY id"))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __len__(self) -> int:
        """Snapshots with data (failed ticks are gaps, not snapshots)."""
        return sum(1 for t in self.ticks if t.status != "failed")

    def __repr__(self) -> str:
        return f"Session({str(self.path)!r}, target={self.target!r}, snapshots={len(self)})"

    def gaps(self) -> list[tuple[float, float]]:
        """(last good tick, next good tick) around each run of failed ticks; an open end is
        the last failed tick's time."""
        out: list[tuple[float, float]] = []
        last_ok: float | None = None
        gap_from: float | None = None
        last_fail = 0.0
        for t in self.ticks:
            if t.status == "failed":
                if gap_from is None:
                    gap_from = last_ok if last_ok is not None else t.started
                last_fail = t.started
            else:
                if gap_from is not None:
                    out.append((gap_from, t.started))
                    gap_from = None
                last_ok = t.started
        if gap_from is not None:
            out.append((gap_from, last_fail))
        return out

    def files(self, seq: int | None) -> dict[str, FileRecord]:
        """The raw artifacts of tick ``seq`` by kind (``None``: session-level ones)."""
        return dict(self._files.get(seq, {}))

    def artifact_path(self, seq: int, kind: str) -> Path | None:
        rec = self._files.get(seq, {}).get(kind)
        return rec.path if rec else None

    def memstats(self, seq: int) -> dict[str, MemStats]:
        """MemStats of tick ``seq`` by source (``heap_text``, ``expvar``)."""
        return dict(self._memstats.get(seq, {}))

    def _snapshot(self, t: TickRow) -> Snapshot:
        files = self._files.get(t.seq, {})
        ms = self._memstats.get(t.seq, {})
        memstats = ms.get("heap_text") or ms.get("expvar")

        def loader(kind: str, fn: Any) -> Any:
            rec = files.get(kind)
            return _Loader(fn, rec) if rec else None

        return Snapshot(
            seq=t.seq, time=t.started, memstats=memstats, goroutine_total=t.goroutine_total,
            errors=self._errors_by_seq.get(t.seq, ()),
            heap_loader=loader("heap", _load_profile),
            goroutines_loader=loader("goroutine", _load_profile),
            goroutine_dump_loader=loader("goroutine_dump", _load_dump),
            heap_text_loader=loader("heap_text", _load_heap_text),
        )

    def snapshots(self, *, include_failed: bool = False) -> Iterator[Snapshot]:
        """Snapshots in time order; parse nothing until a loader is called."""
        for t in self.ticks:
            if include_failed or t.status != "failed":
                yield self._snapshot(t)

    def snapshot(self, seq: int) -> Snapshot:
        for t in self.ticks:
            if t.seq == seq:
                return self._snapshot(t)
        raise StoreError(f"{self.path}: no snapshot {seq}")

    def allocs(self, seq: int) -> Profile | None:
        """The allocs profile of tick ``seq`` when it was collected (``--allocs``)."""
        rec = self._files.get(seq, {}).get("allocs")
        return _load_profile(rec) if rec else None


def open_session(path: str | Path) -> Session:
    """Open a session directory (the one holding ``index.sqlite``)."""
    p = Path(path)
    if not probe(p, Path.is_dir, p):
        raise StoreError(f"{p}: no such session directory")
    return Session(p)
