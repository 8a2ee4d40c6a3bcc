"""Moving a session between machines as one ``.tar.gz`` (Python's tarfile; nothing to beat).

Export checkpoints the WAL into the index first, so the archive holds one self-contained
``index.sqlite``; temp files of an interrupted write are left out. Import extracts with the
``data`` filter (no absolute paths, no ``..``, no links out, no devices), checks the index and
every file's hash, and only then moves the session into the store.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from pathlib import Path

from leaksleuth.collect.store import INDEX_NAME, LOCK_NAME, Store, check_integrity, connect
from leaksleuth.errors import OutputError, StoreError
from leaksleuth.fsutil import atomic_open


def export_session(session_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``<session>.tar.gz`` (or ``out``) holding the session directory."""
    src = Path(session_dir)
    if not (src / INDEX_NAME).is_file():
        raise StoreError(f"{src}: not a leaksleuth session (no {INDEX_NAME})")
    dest = Path(out) if out else Path(f"{src.name}.tar.gz")
    if dest.is_dir():
        dest = dest / f"{src.name}.tar.gz"
    with contextlib.suppress(sqlite3.Error, StoreError):
        conn = connect(src / INDEX_NAME)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    try:
        with atomic_open(dest) as fh, tarfile.open(dest.name, "w:gz", fileobj=fh) as tar:
            for p in sorted(src.rglob("*")):
                rel = p.relative_to(src)
                if (p.name.endswith((".tmp", "-wal", "-shm")) or p.name == LOCK_NAME
                        or p.is_symlink()):
                    continue
                tar.add(p, arcname=f"{src.name}/{rel.as_posix()}", recursive=False)
    except OSError as exc:
        raise OutputError(f"cannot write {dest} ({exc.strerror or exc})") from None
    return dest


def import_session(archive: str | Path, store: Store) -> Path:
    """Unpack an exported session into ``store``; the new session directory is returned."""
    arc = Path(archive)
    try:
        tar = tarfile.open(arc, "r:gz")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise StoreError(f"{arc}: not a session archive (.tar.gz): {_first_line(exc)}") from None
    with tar:
        try:
            members = tar.getmembers()
        except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
            raise StoreError(f"{arc}: damaged archive: {_first_line(exc)}") from None
        # what it unpacks to must fit on the disk (a tar bomb would fill it)
        declared = sum(m.size for m in members)
        free = shutil.disk_usage(store.root if store.root.exists() else Path(".")).free
        if declared > free:
            raise StoreError(f"{arc}: unpacks to {declared} bytes, more than the {free} bytes "
                             f"free under {store.root}")
        names = {m.name.split("/", 1)[0] for m in members}
        if len(names) != 1:
            raise StoreError(f"{arc}: expected one session directory, found {len(names)}")
        name = names.pop()
        if not name or name in (".", ".."):
            raise StoreError(f"{arc}: bad session directory name {name!r}")
        store.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=store.root, prefix=".import-") as tmpd:
            try:
                tar.extractall(tmpd, filter="data")
            except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
                raise StoreError(f"{arc}: cannot extract ({_first_line(exc)})") from None
            staged = Path(tmpd) / name
            if not (staged / INDEX_NAME).is_file():
                raise StoreError(f"{arc}: not a leaksleuth session (no {INDEX_NAME})")
            problems = check_integrity(staged)
            if problems:
                raise StoreError(f"{arc}: damaged session: {problems[0]}")
            dest = store.root / name
            if dest.exists():
                raise StoreError(f"{dest} already exists; not overwriting it")
            shutil.move(str(staged), dest)
    return dest


def _first_line(exc: BaseException) -> str:
    """tarfile's messages can span lines (one per method tried): keep the first."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].rstrip(":")
