"""The snapshot store: one directory per session, raw responses byte for byte, a SQLite index.

Layout of a session directory (self-contained: export, import and re-analysis need nothing else)::

    <root>/<session-id>/
        index.sqlite                 sessions, targets, snapshots, files, memstats, errors, events
        session/metrics.txt          session-level artifacts (seq NULL), e.g. /metrics for go_info
        snapshots/000007/heap.pb.gz  one directory per tick, files exactly as received

Liveness: a writer holds an exclusive ``flock`` on ``.writer.lock`` in the session directory for
as long as it appends (the kernel drops it when the process dies, ``kill -9`` included), so a
session whose index still says ``running`` but whose lock nobody holds was interrupted; a
resumed collection takes the lock over.

Crash safety: every file is written to a temp name, fsynced and renamed, then the tick's rows
are committed in one SQLite transaction (WAL, synchronous=FULL). The index is the truth: a
kill -9 before the commit leaves only unindexed files, which readers never see and a resumed
collection overwrites. File writes go through a small ``FileSystem`` interface so tests can make
the disk fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from leaksleuth import __version__
from leaksleuth.errors import StoreError
from leaksleuth.fsutil import atomic_write_bytes
from leaksleuth.profile.model import MemStats

INDEX_NAME = "index.sqlite"
LOCK_NAME = ".writer.lock"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS targets (
    id INTEGER PRIMARY KEY, url TEXT NOT NULL, base_path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, target_id INTEGER NOT NULL REFERENCES targets(id),
    started REAL NOT NULL, ended REAL, status TEXT NOT NULL, settings TEXT NOT NULL,
    go_version TEXT, go_version_source TEXT, build_info TEXT, tool_version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL NOT NULL,
    status TEXT NOT NULL,                -- ok | partial | failed
    goroutine_total INTEGER, heap_floor INTEGER, num_gc INTEGER);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, seq INTEGER, kind TEXT NOT NULL, path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, format TEXT NOT NULL, request TEXT NOT NULL,
    http_status INTEGER NOT NULL, content_type TEXT NOT NULL, elapsed REAL NOT NULL);
CREATE INDEX IF NOT EXISTS files_seq ON files(seq);
CREATE TABLE IF NOT EXISTS memstats (
    seq INTEGER NOT NULL, source TEXT NOT NULL,
    heap_alloc INTEGER, heap_sys INTEGER, heap_idle INTEGER, heap_inuse INTEGER,
    heap_released INTEGER, heap_objects INTEGER, total_alloc INTEGER, sys INTEGER,
    mallocs INTEGER, frees INTEGER, stack_inuse INTEGER, stack_sys INTEGER, next_gc INTEGER,
    last_gc INTEGER, num_gc INTEGER, num_forced_gc INTEGER, pause_total_ns INTEGER,
    gc_cpu_fraction REAL, fields TEXT NOT NULL, PRIMARY KEY (seq, source));
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY, seq INTEGER, time REAL NOT NULL, artifact TEXT NOT NULL,
    kind TEXT NOT NULL, http_status INTEGER, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS errors_seq ON errors(seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
"""

MEMSTATS_COLUMNS = (
    "heap_alloc", "heap_sys", "heap_idle", "heap_inuse", "heap_released", "heap_objects",
    "total_alloc", "sys", "mallocs", "frees", "stack_inuse", "stack_sys", "next_gc", "last_gc",
    "num_gc", "num_forced_gc", "pause_total_ns", "gc_cpu_fraction",
)


class FileSystem(Protocol):
    """Where session files are written; swapped for a failing one in tests."""

    def makedirs(self, path: Path) -> None: ...

    def write_atomic(self, path: Path, data: bytes) -> None: ...


class LocalFileSystem:
    """Atomic writes on local disk: temp file, fsync, rename, fsync of the directory."""

    def makedirs(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    def write_atomic(self, path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data)


@dataclass(frozen=True)
class Artifact:
    """One response to store: ``kind`` names it (heap, heap_text, goroutine, ...)."""

    kind: str
    filename: str
    data: bytes
    format: str
    request: str
    http_status: int = 200
    content_type: str = ""
    elapsed: float = 0.0


@dataclass(frozen=True)
class TickError:
    artifact: str
    kind: str
    message: str
    http_status: int | None = None


@dataclass(frozen=True)
class TickRecord:
    """Everything one tick produced, committed to the index at once."""

    seq: int
    started: float
    finished: float
    artifacts: tuple[Artifact, ...] = ()
    memstats: tuple[tuple[str, MemStats], ...] = ()  # (source, figures)
    goroutine_total: int | None = None
    errors: tuple[TickError, ...] = ()

    @property
    def status(self) -> str:
        if not self.artifacts:
            return "failed"
        return "partial" if self.errors else "ok"

    @property
    def heap_floor(self) -> int | None:
        """Post-GC HeapAlloc: the first MemStats source's, taken right after the forced GC."""
        return self.memstats[0][1].heap_alloc if self.memstats else None

    @property
    def num_gc(self) -> int | None:
        return self.memstats[0][1].num_gc if self.memstats else None


@dataclass(frozen=True)
class Target:
    url: str  # credentials already redacted
    base_path: str


@dataclass(frozen=True)
class SessionSummary:
    """One row of ``leaksleuth sessions``."""

    id: str
    path: Path
    target: str
    started: float
    ended: float | None
    status: str
    snapshots: int
    failed_ticks: int
    go_version: str | None
    go_version_source: str | None = None
    errors: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def probe(path: Path, test: Callable[[Path], bool], shown: Path) -> bool:
    """``test(path)`` (``Path.exists``, ``is_dir``...) on a path the user gave; a path the OS
    refuses to look at (e.g. a name too long) is a ``StoreError`` naming ``shown``."""
    try:
        return test(path)
    except OSError as exc:
        raise StoreError(f"{shown}: cannot open ({exc.strerror})") from None


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a session index; WAL + synchronous=FULL when writing."""
    if not probe(path, Path.exists, path.parent):
        raise StoreError(f"{path.parent}: not a leaksleuth session (no {INDEX_NAME})")
    try:
        if readonly:
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:  # read-only directory: no -shm can be created
                conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True,
                                       isolation_level=None)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.row_factory = sqlite3.Row
        version = conn.execute("SELECT version FROM schema_info").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: unreadable session index ({exc})") from None
    if version is None or int(version[0]) > SCHEMA_VERSION:
        raise StoreError(f"{path}: session index of an unknown version")
    return conn


def _new_index(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO schema_info(version) VALUES (?)", (SCHEMA_VERSION,))
    conn.row_factory = sqlite3.Row
    return conn


def _lock_writer(path: Path) -> int:
    """Take the session's writer lock (held until the returned fd is closed); a
    ``StoreError`` when another live process holds it."""
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot take the writer lock ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        raise StoreError(f"{path}: another leaksleuth (pid {holder or '?'}) is collecting "
                         "into this session") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def writer_alive(path: Path) -> bool:
    """Whether a live process holds the writer lock of the session at ``path``."""
    try:
        fd = os.open(Path(path) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # never locked (an older or imported session): nobody writes it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock if we got it
    return False


def effective_status(path: Path, status: str) -> str:
    """The stored status, except that ``running`` with no live writer is ``interrupted``
    (the collecting process was killed, or the machine went down)."""
    if status == "running" and not writer_alive(path):
        return "interrupted"
    return status


def session_dir_name(target: str, started: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", target.split("://", 1)[-1].split("/", 1)[0])
    return f"{stamp}-{host.strip('-') or 'target'}"


class SessionWriter:
    """Appends ticks to one session. Not thread-safe; one writer per session."""

    def __init__(self, path: Path, conn: sqlite3.Connection, session_id: str,
                 fs: FileSystem, lock_fd: int | None = None) -> None:
        self.path = path
        self._lock_fd = lock_fd
        self.id = session_id
        self._conn = conn
        self._fs = fs
        row = conn.execute("SELECT max(seq) AS m, count(*) AS n FROM snapshots").fetchone()
        self.next_seq = 0 if row["m"] is None else int(row["m"]) + 1
        ok = conn.execute("SELECT count(*) FROM snapshots WHERE status != 'failed'").fetchone()
        self.snapshots_written = int(ok[0])

    @property
    def settings(self) -> dict[str, Any]:
        row = self._conn.execute("SELECT settings FROM sessions").fetchone()
        return dict(json.loads(row[0]))

    def _fail(self, what: str, exc: BaseException) -> StoreError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return StoreError(
            f"cannot write {what} ({reason}); the {self.snapshots_written} snapshot(s) already "
            f"stored in {self.path} are intact")

    def write_session_artifact(self, art: Artifact) -> None:
        """A session-level response (e.g. /metrics read once for the Go version)."""
        rel = Path("session") / art.filename
        try:
            self._fs.makedirs(self.path / "session")
            self._fs.write_atomic(self.path / rel, art.data)
            with self._tx():
                self._insert_file(None, rel, art)
        except (OSError, sqlite3.Error) as exc:
            raise self._fail(str(self.path / rel), exc) from None

    def write_tick(self, tick: TickRecord) -> None:
        """Store the tick's files atomically, then index them in one transaction."""
        snap_dir = Path("snapshots") / f"{tick.seq:06d}"
        written: list[tuple[Path, Artifact]] = []
        try:
            if tick.artifacts:
                self._fs.makedirs(self.path / snap_dir)
            for art in tick.artifacts:
                rel = snap_dir / art.filename
                self._fs.write_atomic(self.path / rel, art.data)
                written.append((rel, art))
        except OSError as exc:
            raise self._fail(str(self.path / snap_dir), exc) from None
        try:
            with self._tx():
                c = self._conn
                c.execute("DELETE FROM files WHERE seq = ?", (tick.seq,))  # a resumed rewrite
                c.execute("DELETE FROM memstats WHERE seq = ?", (tick.seq,))
                c.execute(
                    "INSERT OR REPLACE INTO snapshots(seq, started, finished, status, "
                    "goroutine_total, heap_floor, num_gc) VALUES (?,?,?,?,?,?,?)",
                    (tick.seq, tick.started, tick.finished, tick.status, tick.goroutine_total,
                     tick.heap_floor, tick.num_gc))
                for rel, art in written:
                    self._insert_file(tick.seq, rel, art)
                for source, ms in tick.memstats:
                    cols = ", ".join(MEMSTATS_COLUMNS)
                    marks = ", ".join("?" * (len(MEMSTATS_COLUMNS) + 3))
                    c.execute(
                        f"INSERT INTO memstats(seq, source, {cols}, fields) VALUES ({marks})",
                        (tick.seq, source, *(getattr(ms, k) for k in MEMSTATS_COLUMNS),
                         json.dumps(dict(ms.fields), default=str)))
                for err in tick.errors:
                    c.execute(
                        "INSERT INTO errors(seq, time, artifact, kind, http_status, message) "
                        "VALUES (?,?,?,?,?,?)",
                        (tick.seq, tick.finished, err.artifact, err.kind, err.http_status,
                         err.message))
                c.execute("UPDATE sessions SET ended = ?", (tick.finished,))
        except sqlite3.Error as exc:
            raise self._fail(f"the index {self.path / INDEX_NAME}", exc) from None
        self.next_seq = max(self.next_seq, tick.seq + 1)
        if tick.artifacts:
            self.snapshots_written += 1

    def _insert_file(self, seq: int | None, rel: Path, art: Artifact) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO files(seq, kind, path, size, sha256, format, request, "
            "http_status, content_type, elapsed) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (seq, art.kind, rel.as_posix(), len(art.data), hashlib.sha256(art.data).hexdigest(),
             art.format, art.request, art.http_status, art.content_type, art.elapsed))

    def set_go_version(self, version: str, source: str, build_info: dict[str, Any] | None) -> None:
        with self._tx():
            self._conn.execute(
                "UPDATE sessions SET go_version = ?, go_version_source = ?, build_info = ?",
                (version, source, json.dumps(build_info) if build_info else None))

    def add_event(self, kind: str, detail: str = "", when: float | None = None) -> None:
        try:
            with self._tx():
                self._conn.execute("INSERT INTO events(time, kind, detail) VALUES (?,?,?)",
                                   (time.time() if when is None else when, kind, detail))
        except sqlite3.Error as exc:
            raise self._fail(f"the index {self.path / INDEX_NAME}", exc) from None

    def finish(self, status: str, ended: float) -> None:
        """Mark the session finished/interrupted; safe to call after a store failure."""
        with contextlib.suppress(sqlite3.Error), self._tx():
            self._conn.execute("UPDATE sessions SET status = ?, ended = ?", (status, ended))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


@dataclass
class Store:
    """A directory of sessions (default ``./leaksleuth-sessions``)."""

    root: Path
    fs: FileSystem = field(default_factory=LocalFileSystem)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def create_session(self, target: Target, settings: dict[str, Any], started: float,
                       session_id: str | None = None) -> SessionWriter:
        """A new session directory with its index (settings must hold no secret)."""
        base = session_id or session_dir_name(target.url, started)
        try:
            self.fs.makedirs(self.root)
            path = self.root / base
            n = 1
            while True:
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    n += 1
                    path = self.root / f"{base}-{n}"
            lock_fd = _lock_writer(path)
            conn = _new_index(path / INDEX_NAME)
            with contextlib.closing(conn.cursor()) as c:
                c.execute("BEGIN IMMEDIATE")
                c.execute("INSERT INTO targets(url, base_path) VALUES (?, ?)",
                          (target.url, target.base_path))
                c.execute(
                    "INSERT INTO sessions(id, target_id, started, ended, status, settings, "
                    "tool_version) VALUES (?, ?, ?, NULL, 'running', ?, ?)",
                    (path.name, c.lastrowid, started, json.dumps(settings), __version__))
                c.execute("INSERT INTO events(time, kind, detail) VALUES (?, 'started', '')",
                          (started,))
                c.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StoreError(f"cannot create a session under {self.root} ({reason})") from None
        return SessionWriter(path, conn, path.name, self.fs, lock_fd)

    def resume_session(self, path: Path) -> SessionWriter:
        """Reopen a session (finished, or interrupted: Ctrl-C, ``kill -9``) to append ticks
        after its last indexed one; refused while another process is writing it."""
        conn = connect(Path(path) / INDEX_NAME)
        try:
            lock_fd = _lock_writer(Path(path))
        except StoreError:
            conn.close()
            raise
        row = conn.execute("SELECT id FROM sessions").fetchone()
        if row is None:
            os.close(lock_fd)
            raise StoreError(f"{path}: session index has no session row")
        writer = SessionWriter(Path(path), conn, str(row["id"]), self.fs, lock_fd)
        with writer._tx():
            conn.execute("UPDATE sessions SET status = 'running'")
        writer.add_event("resumed", f"at seq {writer.next_seq}")
        return writer

    def session_paths(self) -> list[Path]:
        try:
            if not self.root.is_dir():
                return []
            return sorted(p for p in self.root.iterdir() if (p / INDEX_NAME).is_file())
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot list sessions ({exc.strerror})") from None

    def sessions(self) -> list[SessionSummary]:
        """Every session under the root, oldest first; unreadable ones are skipped."""
        out = []
        for p in self.session_paths():
            with contextlib.suppress(StoreError):
                out.append(summarize(p))
        out.sort(key=lambda s: (s.started, s.id))
        return out


def summarize(path: Path) -> SessionSummary:
    conn = connect(Path(path) / INDEX_NAME, readonly=True)
    try:
        row = conn.execute(
            "SELECT s.id, s.started, s.ended, s.status, s.go_version, s.go_version_source, "
            "t.url FROM sessions s JOIN targets t ON t.id = s.target_id").fetchone()
        if row is None:
            raise StoreError(f"{path}: session index has no session row")
        counts = conn.execute(
            "SELECT sum(status != 'failed'), sum(status = 'failed') FROM snapshots").fetchone()
        nerr = conn.execute("SELECT count(*) FROM errors").fetchone()[0]
        return SessionSummary(
            id=row["id"], path=Path(path), target=row["url"], started=row["started"],
            ended=row["ended"], status=effective_status(Path(path), row["status"]),
            snapshots=int(counts[0] or 0),
            failed_ticks=int(counts[1] or 0), go_version=row["go_version"],
            go_version_source=row["go_version_source"], errors=int(nerr))
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: unreadable session index ({exc})") from None
    finally:
        conn.close()


def read_stored(path: Path, size: int, sha256: str, name: str | None = None) -> bytes:
    """A stored file's bytes, checked against its index row (size, SHA-256): the one way a
    stored response is read back. The ``StoreError`` names ``name`` (default: the path)."""
    shown = name or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{shown}: cannot read ({exc.strerror})") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        raise StoreError(f"{shown}: changed since it was collected (hash mismatch)")
    return data


def check_integrity(path: Path, kinds: Sequence[str] = ()) -> list[str]:
    """Problems found in a session: index integrity and every indexed file's size and hash."""
    problems: list[str] = []
    conn = connect(Path(path) / INDEX_NAME, readonly=True)
    try:
        res = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if res != "ok":
            problems.append(f"index: {res}")
        for row in conn.execute("SELECT path, size, sha256, kind FROM files"):
            if kinds and row["kind"] not in kinds:
                continue
            try:
                read_stored(Path(path) / row["path"], row["size"], row["sha256"], row["path"])
            except StoreError as exc:
                problems.append(str(exc))
    finally:
        conn.close()
    return problems
