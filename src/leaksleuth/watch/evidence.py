"""Evidence bundles: a full pprof session, its diagnosis (JSON) and HTML report, kept on disk.

A bundle is built in ``EVIDENCE/.incoming/ID`` and becomes visible by one ``rename`` to
``EVIDENCE/ID`` after every file in it (``bundle.json`` last) was fsynced; a directory under the
root with a ``bundle.json`` is therefore complete, whatever happened to the watcher. Leftovers of
an interrupted build (``.incoming``) or deletion (``.trash``) are removed at start. Retention
removes the oldest bundles first, never one that a firing alert points at.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaksleuth.analyze.diagnosis import Diagnosis
from leaksleuth.errors import StoreError
from leaksleuth.fsutil import atomic_write_bytes, fsync_dir
from leaksleuth.watch.config import EvidenceConfig, Schedule

MANIFEST = "bundle.json"
MANIFEST_SCHEMA = "leaksleuth.evidence/1"
_INCOMING = ".incoming"
_TRASH = ".trash"


@dataclass(frozen=True)
class Bundle:
    """A completed bundle on disk."""

    id: str
    target: str
    created: float
    path: Path
    bytes: int
    verdict: str | None
    trigger: str


def bundle_id(target: str, now: float) -> str:
    """Sortable by time, readable, unique: ``checkout-20261206T031500Z-1a2b``."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", target).strip("-.")[:60] or "target"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{slug}-{stamp}-{secrets.token_hex(2)}"


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def _fsync_tree(path: Path) -> None:
    """fsync every file and directory under ``path`` (the collector already syncs its own
    writes; this makes the bundle durable as a whole before it is published)."""
    for root, dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(root, f), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        for d in dirs:
            fsync_dir(Path(root) / d)
    fsync_dir(path)


class EvidenceStore:
    """The evidence directory: staging, publishing, listing and retention of bundles."""

    def __init__(self, cfg: EvidenceConfig) -> None:
        self.cfg = cfg
        self.root = Path(cfg.dir)
        self._lock = threading.Lock()
        try:
            (self.root / _INCOMING).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create the evidence directory "
                             f"({exc.strerror})") from None

    def recover(self) -> list[Bundle]:
        """Remove what an interrupted build or deletion left, and list the complete bundles."""
        for leftover in (_INCOMING, _TRASH):
            d = self.root / leftover
            if d.is_dir():
                for child in d.iterdir():
                    shutil.rmtree(child, ignore_errors=True)
        (self.root / _INCOMING).mkdir(exist_ok=True)
        return self.scan()

    def scan(self) -> list[Bundle]:
        """Every complete bundle on disk, oldest first."""
        out = []
        for d in self.root.iterdir() if self.root.is_dir() else ():
            if d.name.startswith(".") or not (d / MANIFEST).is_file():
                continue
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                doc = json.loads((d / MANIFEST).read_text())
                out.append(Bundle(d.name, str(doc["target"]), float(doc["created"]), d,
                                  dir_bytes(d), doc.get("verdict"), str(doc.get("trigger", ""))))
        out.sort(key=lambda b: (b.created, b.id))
        return out

    def stage(self, target: str, now: float) -> Path:
        """A fresh private directory to collect into."""
        path = self.root / _INCOMING / bundle_id(target, now)
        path.mkdir(parents=True)
        return path

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def publish(self, staging: Path, *, target: str, created: float, trigger: str,
                diagnosis: Diagnosis | None, session_dir: Path | None,
                extra: dict[str, Any] | None = None) -> Bundle:
        """Seal ``staging`` (manifest last, everything fsynced) and rename it into place."""
        manifest = {
            "schema": MANIFEST_SCHEMA, "target": target, "created": created,
            "trigger": trigger, "verdict": diagnosis.verdict if diagnosis else None,
            "summary": diagnosis.summary if diagnosis else None,
            "session": str(session_dir.relative_to(staging)) if session_dir else None,
            "diagnosis": "diagnosis.json" if (staging / "diagnosis.json").exists() else None,
            "report": "report.html" if (staging / "report.html").exists() else None,
            **(extra or {}),
        }
        try:
            atomic_write_bytes(staging / MANIFEST, json.dumps(manifest, indent=2).encode())
            _fsync_tree(staging)
            final = self.root / staging.name
            os.rename(staging, final)
            fsync_dir(self.root)
        except OSError as exc:
            raise StoreError(f"{staging}: cannot publish the evidence bundle "
                             f"({exc.strerror})") from None
        return Bundle(final.name, target, created, final, dir_bytes(final),
                      manifest["verdict"], trigger)

    def enforce(self, bundles: Iterable[Bundle], pinned: set[str], now: float) -> list[str]:
        """Delete expired bundles, then the oldest until under the budget; never a pinned one.
        Returns the ids removed."""
        with self._lock:
            keep = sorted(bundles, key=lambda b: (b.created, b.id))
            total = sum(b.bytes for b in keep)
            removed: list[str] = []
            for b in list(keep):
                expired = now - b.created > self.cfg.retention
                over = total > self.cfg.max_bytes
                if b.id in pinned or not (expired or over):
                    continue
                self._remove(b)
                total -= b.bytes
                removed.append(b.id)
            return removed

    def _remove(self, b: Bundle) -> None:
        """Rename out of sight first, so a half-deleted bundle never looks complete."""
        trash = self.root / _TRASH
        trash.mkdir(exist_ok=True)
        dest = trash / b.id
        try:
            os.rename(b.path, dest)
        except OSError:
            return
        shutil.rmtree(dest, ignore_errors=True)


# --- layer 2 and 3: a pprof session, the analysis, optionally gdb -----------------------------


@dataclass(frozen=True)
class DiagnosisOutcome:
    target: str
    started: float
    staging: Path
    session_dir: Path | None
    diagnosis: Diagnosis | None
    error: str | None = None
    error_kind: str | None = None


Collector = Callable[..., Any]


def diagnose_into(staging: Path, *, target: str, pprof_url: str, schedule: Schedule,
                  pid: int | None, stop: threading.Event | None = None,
                  collect_fn: Collector | None = None) -> DiagnosisOutcome:
    """Collect a session into ``staging``, analyse it, and write ``diagnosis.json`` and
    ``report.html`` beside it; failures come back in the outcome, never as an exception."""
    from leaksleuth.app import diagnose, inspect_pid_maps
    from leaksleuth.collect.collector import CollectConfig, collect
    from leaksleuth.errors import LeaksleuthError
    from leaksleuth.report.json import to_json

    started = time.time()
    session_dir: Path | None = None
    if stop is not None and stop.is_set():
        return DiagnosisOutcome(target, started, staging, None, None, "watcher stopping",
                                "stopped")
    try:
        config = CollectConfig(url=pprof_url, interval=schedule.diagnosis_interval,
                               duration=schedule.diagnosis_duration, out_dir=staging / "session",
                               retries=1, timeout=min(30.0, max(5.0, schedule.diagnosis_interval
                                                                    * 4)))
        info = (collect_fn or collect)(config, stop=stop)
        session_dir = Path(info.path)
        if info.store_error:
            raise StoreError(info.store_error)
        local = pid is not None and Path(f"/proc/{pid}").exists()
        result = diagnose(session_dir, live=True, pid=pid if local else None,
                          inspector=inspect_pid_maps if (local and schedule.gdb) else None,
                          html=True, material_rate=schedule.material_rate)
        d = result.diagnosis
        (staging / "diagnosis.json").write_text(to_json(d))
        (staging / "report.html").write_text(result.html or "", encoding="utf-8")
        return DiagnosisOutcome(target, started, staging, session_dir, d)
    except LeaksleuthError as exc:
        kind = type(exc).__name__.removesuffix("Error").lower() or "error"
        return DiagnosisOutcome(target, started, staging, session_dir, None, str(exc), kind)
    except Exception as exc:  # a bug in one diagnosis must not stop the watcher
        return DiagnosisOutcome(target, started, staging, session_dir, None,
                                f"internal error: {type(exc).__name__}: {exc}", "internal")
