"""Collect snapshots from a live Go service at a fixed interval into a ``Store``.

At each tick, in this order: ``heap?debug=1&gc=1`` (a forced GC; the ``# runtime.MemStats``
trailer, read right after it, gives the post-GC floor), ``heap`` (protobuf, as of that GC),
``/debug/vars`` (expvar memstats, when served), ``goroutine`` (protobuf),
``goroutine?debug=2``, and optionally ``allocs``. Every
response is checked to be what was asked for (an HTML login page with status 200 is not a
heap profile) before it is stored. A failed artifact is recorded and the tick goes on; a tick
whose first request cannot reach the service is recorded as failed (a gap) and the next tick
tries again. Only a service unreachable from the start is an error.

Side effects come in through ``client`` (HTTP), ``store`` (disk) and ``clock`` (time).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from leaksleuth.collect.client import (
    FetchError,
    PprofClient,
    Response,
    pprof_path,
    redact_url,
    tls_verify,
)
from leaksleuth.collect.store import (
    Artifact,
    SessionWriter,
    Store,
    Target,
    TickError,
    TickRecord,
)
from leaksleuth.errors import CollectError, InspectError, ProfileError, StoreError, UsageError
from leaksleuth.profile.formats import Format, detect, load_profile
from leaksleuth.profile.gunzip import inflate
from leaksleuth.profile.model import MemStats

DEFAULT_OUT_DIR = Path("leaksleuth-sessions")
DEFAULT_INTERVAL = 5.0


class Clock(Protocol):
    """Wall time and sleeping, swapped for a fake in tests."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


@dataclass(frozen=True)
class CollectConfig:
    """What to collect, from where, how often. Holds header *values* but never stores them:
    ``settings()`` (what goes to disk) keeps header names and the token's variable name only."""

    url: str
    base_path: str | None = None  # default: the URL's path if it has one, else /debug/pprof
    interval: float = DEFAULT_INTERVAL
    count: int | None = None  # ticks to attempt; None with duration None: until stopped
    duration: float | None = None
    gc: bool = True
    with_allocs: bool = False
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # values are secret
    token_env: str | None = None  # name of the environment variable holding a bearer token
    verify: bool = True
    ca: Path | None = None
    timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.25
    max_bytes: int = 256 << 20
    out_dir: Path = DEFAULT_OUT_DIR
    vars_path: str = "/debug/vars"  # "" to skip expvar
    metrics_path: str = "/metrics"  # read once for go_info{version=...}; "" to skip
    resume: Path | None = None  # append to this session instead of starting one

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise UsageError("interval must be positive")
        if self.count is not None and self.count < 1:
            raise UsageError("count must be at least 1")
        if self.duration is not None and self.duration <= 0:
            raise UsageError("duration must be positive")
        if self.count is not None and self.duration is not None:
            raise UsageError("give a count or a duration, not both")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"not an http(s) URL: {redact_url(self.url)!r}")
        if self.max_bytes < 1024:
            raise UsageError("max response size must be at least 1 KiB")

    @property
    def pprof_path(self) -> str:
        return pprof_path(self.url, self.base_path)

    @property
    def origin(self) -> str:
        p = urlsplit(redact_url(self.url))
        return f"{p.scheme}://{p.netloc}"

    def token(self) -> str | None:
        if not self.token_env:
            return None
        value = os.environ.get(self.token_env)
        if not value:
            raise UsageError(f"environment variable {self.token_env} (bearer token) is not set")
        return value

    def settings(self) -> dict[str, Any]:
        """The configuration as stored with the session: no header value, no token."""
        return {
            "url": self.origin, "base_path": self.pprof_path, "interval": self.interval,
            "count": self.count, "duration": self.duration, "gc": self.gc,
            "with_allocs": self.with_allocs, "header_names": [k for k, _ in self.headers],
            "token_env": self.token_env, "verify": self.verify,
            "ca": str(self.ca) if self.ca else None, "timeout": self.timeout,
            "retries": self.retries, "max_bytes": self.max_bytes, "vars_path": self.vars_path,
            "metrics_path": self.metrics_path,
        }


def resume_config(path: Path, **overrides: Any) -> CollectConfig:
    """The configuration a stored session was collected with, for ``collect --resume``;
    header values and the token are not stored and must be supplied again (``overrides``)."""
    from leaksleuth.collect.session import open_session

    with open_session(path) as s:
        st = s.settings
    kw: dict[str, Any] = {
        "url": st["url"], "base_path": st["base_path"], "interval": st["interval"],
        "gc": st["gc"], "with_allocs": st["with_allocs"], "token_env": st.get("token_env"),
        "verify": st["verify"], "ca": Path(st["ca"]) if st.get("ca") else None,
        "timeout": st["timeout"], "retries": st["retries"], "max_bytes": st["max_bytes"],
        "vars_path": st["vars_path"], "metrics_path": st["metrics_path"],
        "out_dir": Path(path).parent, "resume": Path(path),
    }
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return CollectConfig(**kw)


@dataclass(frozen=True)
class TickResult:
    """What ``on_tick`` receives after each tick (for progress display)."""

    seq: int
    time: float
    status: str  # ok | partial | failed
    saved: tuple[str, ...]
    errors: tuple[str, ...]
    heap_floor: int | None
    goroutine_total: int | None
    num_gc: int | None
    session_path: Path
    planned: int | None  # total ticks expected, when known
    done: int  # ticks attempted so far in this run


@dataclass(frozen=True)
class SessionInfo:
    """The outcome of ``collect``."""

    path: Path
    id: str
    snapshots: int  # ticks with at least one artifact stored, over the whole session
    ticks: int  # ticks attempted in this run
    failed_ticks: int  # in this run
    skipped_ticks: int  # slots missed because a tick overran the interval
    errors: int  # artifact errors in this run
    interrupted: bool
    go_version: str | None = None
    go_version_source: str | None = None
    store_error: str | None = None  # set when the disk failed and collection stopped
    error_messages: tuple[str, ...] = ()  # distinct errors of this run, first ten

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass(frozen=True)
class _Spec:
    kind: str
    path: str
    params: Mapping[str, str]
    filename: str
    accept: tuple[Format, ...] | None  # None: JSON


def _specs(config: CollectConfig, vars_ok: bool) -> list[_Spec]:
    b = config.pprof_path
    pb = (Format.PPROF, Format.PPROF_GZIP)
    gc = {"gc": "1"} if config.gc else {}
    out = [
        # the forced GC rides on the text request: its handler reads MemStats straight after
        # runtime.GC(), before writing anything, so HeapAlloc holds the marked heap plus only
        # what requests allocate in that instant; the protobuf that follows reads the profile
        # published by that same GC
        _Spec("heap_text", f"{b}/heap", {"debug": "1", **gc}, "heap.txt", (Format.HEAP_TEXT,)),
        _Spec("heap", f"{b}/heap", {}, "heap.pb.gz", pb),
    ]
    if config.vars_path and vars_ok:
        out.append(_Spec("vars", config.vars_path, {}, "vars.json", None))
    out += [
        _Spec("goroutine", f"{b}/goroutine", {}, "goroutine.pb.gz", pb),
        _Spec("goroutine_dump", f"{b}/goroutine", {"debug": "2"}, "goroutine.txt",
              (Format.GOROUTINE_DUMP,)),
    ]
    if config.with_allocs:
        out.append(_Spec("allocs", f"{b}/allocs", {}, "allocs.pb.gz", pb))
    return out


_EXPECTED = {
    Format.PPROF: "a pprof protobuf profile",
    Format.PPROF_GZIP: "a pprof protobuf profile",
    Format.HEAP_TEXT: "a heap?debug=1 text profile",
    Format.GOROUTINE_DUMP: "a goroutine?debug=2 dump",
}


def check_body(spec_kind: str, accept: tuple[Format, ...] | None, resp: Response) -> str:
    """The format name of a valid body, or ``ProfileError`` saying why it is not one."""
    source = resp.request
    if accept is None:
        try:
            doc = json.loads(resp.body)
        except (ValueError, UnicodeDecodeError):
            head = resp.body[:64].lstrip().lower()
            what = "an HTML page" if head.startswith((b"<!doctype", b"<html")) else "not JSON"
            raise ProfileError(f"{what}, expected expvar JSON", source) from None
        if not isinstance(doc, dict):
            raise ProfileError("expected a JSON object (expvar)", source)
        return "json"
    fmt = detect(resp.body, source)
    if fmt is Format.PPROF_GZIP:  # check what is inside, cheaply
        inner = detect(inflate(resp.body, source), source)
        if inner is not Format.PPROF:
            raise ProfileError(f"gzip holding {inner.value}, expected pprof protobuf", source)
    if fmt not in accept:
        raise ProfileError(f"got {fmt.value}, expected {_EXPECTED[accept[0]]}", source)
    return fmt.value


def scrub(body: bytes, secrets: tuple[bytes, ...]) -> tuple[bytes, int]:
    """Mask our own credentials where a service echoes them (e.g. its command line in
    ``/debug/vars``): same-length ``*`` runs keep protobuf and JSON structure intact. The one
    exception to byte-for-byte storage, recorded as a ``redacted`` event."""
    if not secrets:
        return body, 0
    n = 0
    plain = body
    zipped = body[:2] == b"\x1f\x8b"
    if zipped:
        try:
            plain = inflate(body, "response")
        except ProfileError:
            return body, 0
    for sec in secrets:
        c = plain.count(sec)
        if c:
            n += c
            plain = plain.replace(sec, b"*" * len(sec))
    if not n:
        return body, 0
    return (gzip.compress(plain, mtime=0) if zipped else plain), n


def memstats_from_heap_text(data: bytes, source: str = "heap?debug=1") -> MemStats | None:
    """The ``# runtime.MemStats`` trailer of ``heap?debug=1``: only the trailer is parsed here,
    so the collector gets the floor at every tick without parsing the whole profile."""
    from leaksleuth.profile.text import parse_memstats_block

    at = data.rfind(b"\n# runtime.MemStats")
    if at < 0:
        return None
    text = data[at + 1:].decode("utf-8", "replace")
    lines = list(enumerate(text.split("\n")[1:], 2))
    return parse_memstats_block([(n, ln.rstrip("\r")) for n, ln in lines], source)


_GOROUTINE_HEADER = re.compile(rb"^goroutine \d+ \[", re.M)


def count_goroutines(dump: bytes) -> int:
    """Goroutines in a ``debug=2`` dump: one ``goroutine N [state]:`` header each."""
    return len(_GOROUTINE_HEADER.findall(dump))


_GO_VERSION = re.compile(r"^go\d+\.\d+")
_GO_INFO = re.compile(r'^go_info\{[^}]*version="(go[^"]+)"', re.M)
_VERSION_KEYS = ("goversion", "go_version", "goVersion", "GoVersion", "version", "runtime")


def go_version_from_vars(doc: Mapping[str, Any]) -> tuple[str, str, dict[str, Any] | None] | None:
    """(version, source, build info) from custom expvar vars, when the service publishes them:
    a version string (``goversion``...) and/or a build-info object (``GoVersion``, ``Path``...)."""
    info: dict[str, Any] | None = None
    info_key = ""
    for key in ("buildinfo", "build_info", "BuildInfo", "build"):
        v = doc.get(key)
        if isinstance(v, dict):
            info, info_key = dict(v), key
            break
    for key in _VERSION_KEYS:
        v = doc.get(key)
        if isinstance(v, str) and _GO_VERSION.match(v):
            return v, f"expvar:{key}", info
    if info is not None:
        gv = info.get("GoVersion") or info.get("go_version") or info.get("goversion")
        if isinstance(gv, str) and _GO_VERSION.match(gv):
            return gv, f"expvar:{info_key}", info
    return None


def go_version_from_metrics(text: str) -> str | None:
    m = _GO_INFO.search(text)
    return m.group(1) if m else None


class _Run:
    """One ``collect`` call's state."""

    def __init__(self, config: CollectConfig, client: PprofClient, clock: Clock,
                 secrets: tuple[bytes, ...] = ()) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self.secrets = secrets
        self.vars_ok = bool(config.vars_path)
        self.vars_missing = False
        self.last_num_gc: int | None = None
        self.redacted: list[str] = []  # artifacts of the last tick that had a secret masked
        # clock time after which no request may run (--duration's end plus one --timeout)
        self.hard_end: float | None = None

    def budget(self) -> float | None:
        """Seconds a request may still take before ``hard_end`` (None: no end)."""
        return None if self.hard_end is None else self.hard_end - self.clock.now()

    def tick(self, seq: int) -> tuple[TickRecord, dict[str, Any] | None]:
        started = self.clock.now()
        arts: list[Artifact] = []
        errors: list[TickError] = []
        memstats: list[tuple[str, MemStats]] = []
        goroutines: int | None = None
        vars_doc: dict[str, Any] | None = None
        self.redacted = []
        timeouts = 0
        for i, spec in enumerate(_specs(self.config, self.vars_ok)):
            budget = self.budget()
            if budget is not None and budget <= 0:
                errors.append(TickError("tick", "timeout", "collection window over: rest of "
                                        "this tick skipped"))
                break
            params = spec.params
            if spec.kind == "heap" and self.config.gc and not any(
                    a.kind == "heap_text" for a in arts):
                params = {**params, "gc": "1"}  # the text request failed: force the GC here
            try:
                resp = self.client.get(spec.path, params, budget=budget)
            except FetchError as exc:
                if spec.kind == "vars" and exc.kind == "http" and exc.status == 404:
                    # expvar is optional: not an error, MemStats come from the heap text
                    self.vars_ok = False  # not served: stop asking
                    self.vars_missing = True
                    continue
                errors.append(TickError(spec.kind, exc.kind, str(exc), exc.status))
                if i == 0 and exc.kind in ("unreachable", "tls"):
                    break  # the service is down: record a gap, do not hammer it
                timeouts = timeouts + 1 if exc.kind == "timeout" else 0
                if timeouts == 2 and not arts:
                    # hung (e.g. stopped): one endpoint stalling is a fault, two in a row with
                    # nothing answered is the service; waiting out every request would stretch
                    # one tick to minutes
                    errors.append(TickError("tick", "timeout", "service not answering: rest "
                                            "of this tick skipped"))
                    break
                continue
            try:
                fmt = check_body(spec.kind, spec.accept, resp)
            except ProfileError as exc:
                errors.append(TickError(spec.kind, "invalid", f"rejected: {exc}", resp.status))
                continue
            body, masked = scrub(resp.body, self.secrets)
            if masked:
                self.redacted.append(spec.kind)
                resp = replace(resp, body=body)
            arts.append(Artifact(spec.kind, spec.filename, resp.body, fmt, resp.request,
                                 resp.status, resp.content_type, resp.elapsed))
            if spec.kind == "heap_text":
                try:
                    ms = memstats_from_heap_text(resp.body, resp.request)
                except ProfileError as exc:
                    errors.append(TickError("memstats", "invalid", str(exc), resp.status))
                    ms = None
                if ms is not None:
                    memstats.append(("heap_text", ms))
            elif spec.kind == "vars":
                vars_doc = json.loads(resp.body)
                raw = vars_doc.get("memstats") if vars_doc else None
                if isinstance(raw, dict):
                    memstats.append(("expvar", MemStats.from_mapping(raw)))
            elif spec.kind == "goroutine_dump":
                goroutines = count_goroutines(resp.body)
        rec = TickRecord(seq=seq, started=started, finished=self.clock.now(),
                         artifacts=tuple(arts), memstats=tuple(memstats),
                         goroutine_total=goroutines, errors=tuple(errors))
        return rec, vars_doc

    def go_version(self, vars_doc: Mapping[str, Any] | None,
                   writer: SessionWriter) -> tuple[str, str] | None:
        """Find the Go version: custom expvar vars first, then Prometheus go_info."""
        if vars_doc:
            found = go_version_from_vars(vars_doc)
            if found:
                writer.set_go_version(*found)
                return found[0], found[1]
        if self.config.metrics_path:
            try:
                resp = self.client.get(self.config.metrics_path, budget=self.budget())
            except FetchError:
                return None
            text = resp.body.decode("utf-8", "replace")
            version = go_version_from_metrics(text)
            if version:
                writer.write_session_artifact(Artifact(
                    "metrics", "metrics.txt", resp.body, "text", resp.request, resp.status,
                    resp.content_type, resp.elapsed))
                writer.set_go_version(version, f"metrics:{self.config.metrics_path} go_info",
                                      None)
                return version, f"metrics:{self.config.metrics_path} go_info"
        return None


_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")


def local_go_version(origin: str, artifacts: Sequence[Artifact],
                     writer: SessionWriter) -> tuple[str, str] | None:
    """Go version from the executable named by the heap profile's main mapping.

    Only for a service on this machine (loopback origin) and only when the file on disk is the
    one running: the mapping's build ID, when it has one, must match the file's.
    """
    host = origin.split("://", 1)[-1]
    heap = next((a for a in artifacts if a.kind == "heap"), None)
    if heap is None or not host.startswith(_LOOPBACK_HOSTS):
        return None
    try:
        profile = load_profile(heap.data, "heap")
    except ProfileError:
        return None
    if not profile.mappings or not profile.mappings[0].filename:
        return None
    exe = Path(profile.mappings[0].filename)
    from leaksleuth.inspect.buildinfo import gnu_build_id, read_buildinfo

    try:
        info = read_buildinfo(exe)
        if profile.mappings[0].build_id and gnu_build_id(exe) not in (
                None, profile.mappings[0].build_id):
            return None
    except InspectError:
        return None
    source = f"executable {exe} (heap profile mapping, same machine)"
    writer.set_go_version(info.go_version, source, {"main": info.main_path})
    return info.go_version, source


def _wait(clock: Clock, until: float, stop: threading.Event | None) -> bool:
    """Sleep until ``until``; False as soon as ``stop`` is set."""
    while True:
        if stop is not None and stop.is_set():
            return False
        left = until - clock.now()
        if left <= 0:
            return True
        if stop is not None and isinstance(clock, SystemClock):
            if stop.wait(left):
                return False
        else:
            clock.sleep(min(left, 0.25) if stop is not None else left)


def collect(
    config: CollectConfig,
    *,
    store: Store | None = None,
    client: PprofClient | None = None,
    clock: Clock | None = None,
    on_tick: Callable[[TickResult], None] | None = None,
    stop: threading.Event | None = None,
) -> SessionInfo:
    """Run the ticks and return where the session is. Raises ``CollectError`` only when the
    first tick gets no profile at all (service unreachable, wrong URL or credentials), and
    ``StoreError`` only when the session cannot be created or reopened. A disk failure later
    stops collection and is reported in ``SessionInfo.store_error``, earlier ticks intact."""
    clock = clock or SystemClock()
    store = store or Store(config.out_dir)
    own_client = client is None
    token = config.token()
    secrets = tuple(v.encode() for v in (token, *(v for _, v in config.headers))
                    if v and len(v) >= 6)
    if client is None:
        client = PprofClient(
            config.url, headers=config.headers, token=token,
            verify=tls_verify(config.verify, config.ca), timeout=config.timeout,
            retries=config.retries, backoff=config.backoff, max_bytes=config.max_bytes)
    run = _Run(config, client, clock, secrets)
    try:
        return _collect(run, config, store, clock, on_tick, stop)
    finally:
        if own_client:
            client.close()


def _collect(run: _Run, config: CollectConfig, store: Store, clock: Clock,
             on_tick: Callable[[TickResult], None] | None,
             stop: threading.Event | None) -> SessionInfo:
    writer: SessionWriter | None = None
    if config.resume is not None:
        writer = store.resume_session(config.resume)
    seq0 = writer.next_seq if writer else 0
    t0 = clock.now()
    planned = config.count
    if config.duration is not None:
        planned = max(1, int(-(-config.duration // config.interval)))  # ceil
    failed = skipped = nerr = done = 0
    interrupted = False
    version: tuple[str, str] | None = None
    store_error: str | None = None
    messages: dict[str, None] = {}  # ordered set
    k = 0  # slot index: tick k is due at t0 + k * interval
    end_at = t0 + config.duration if config.duration is not None else None
    # a request in flight when the window closes gets at most one --timeout more
    run.hard_end = end_at + config.timeout if end_at is not None else None

    def more() -> bool:
        """--count counts ticks taken; --duration bounds the time (skipped slots included)."""
        if config.count is not None:
            return done < config.count
        return end_at is None or t0 + k * config.interval < end_at

    try:
        while more():
            if stop is not None and stop.is_set():
                interrupted = True
                break
            rec, vars_doc = run.tick(seq0 + done)
            if writer is None:  # first tick of a new session: needs at least one profile
                if not any(a.kind != "vars" for a in rec.artifacts):
                    reasons = "; ".join(e.message for e in rec.errors[:3])
                    hint = ""
                    if rec.errors and all(e.http_status == 404 for e in rec.errors):
                        hint = (f" (is pprof mounted at {config.pprof_path or '/'}? "
                                "see --base-path)")
                    raise CollectError(f"cannot collect from {config.origin}: {reasons}{hint}")
                writer = store.create_session(
                    Target(config.origin, config.pprof_path), config.settings(), rec.started)
            if done == 0:
                version = run.go_version(vars_doc, writer) or local_go_version(
                    config.origin, rec.artifacts, writer)
            writer.write_tick(rec)
            if run.vars_missing:
                run.vars_missing = False
                writer.add_event("vars-missing", f"{config.vars_path} is not served (404); "
                                 "MemStats come from the heap debug=1 text")
            if run.redacted:
                writer.add_event("redacted", f"seq {rec.seq}: a credential echoed by the service "
                                 f"was masked in {', '.join(run.redacted)}")
            _note_restart(run, rec, writer)
            done += 1
            failed += rec.status == "failed"
            nerr += len(rec.errors)
            for e in rec.errors:
                if len(messages) < 10:
                    messages.setdefault(f"{e.artifact}: {e.message}", None)
            if on_tick is not None:
                on_tick(TickResult(
                    seq=rec.seq, time=rec.started, status=rec.status,
                    saved=tuple(a.kind for a in rec.artifacts),
                    errors=tuple(e.message for e in rec.errors), heap_floor=rec.heap_floor,
                    goroutine_total=rec.goroutine_total, num_gc=rec.num_gc,
                    session_path=writer.path, planned=planned, done=done))
            if config.count is not None and done >= config.count:
                break
            # next slot: the first one not already past (an overrun skips slots, recorded)
            now = clock.now()
            nxt = k + 1
            while t0 + nxt * config.interval < now:
                nxt += 1
            missed = sum(1 for j in range(k + 1, nxt)
                         if end_at is None or t0 + j * config.interval < end_at)
            if missed:
                skipped += missed
                writer.add_event("skipped", f"{missed} slot(s) after seq {rec.seq}: "
                                 "the tick took longer than the interval")
            k = nxt
            if not more():
                break
            if not _wait(clock, t0 + k * config.interval, stop):
                interrupted = True
                break
    except StoreError as exc:
        if writer is None:
            raise
        store_error = str(exc)
    except BaseException:  # a second Ctrl-C or a bug: leave the session marked, then go
        if writer is not None:
            writer.finish("interrupted", clock.now())
        raise
    if writer is None:  # stopped before the first tick: there is no session
        raise CollectError(f"stopped before the first snapshot of {config.origin}")
    end = clock.now()
    if interrupted:
        writer.add_event("interrupted", f"after {done} tick(s)")
    writer.finish("failed" if store_error else "interrupted" if interrupted else "finished", end)
    return SessionInfo(
        path=writer.path, id=writer.id, snapshots=writer.snapshots_written, ticks=done,
        failed_ticks=failed, skipped_ticks=skipped, errors=nerr, interrupted=interrupted,
        go_version=version[0] if version else None,
        go_version_source=version[1] if version else None, store_error=store_error,
        error_messages=tuple(messages))


def _note_restart(run: _Run, rec: TickRecord, writer: SessionWriter) -> None:
    """NumGC going backwards means the service restarted: record it as an event."""
    if rec.num_gc is None:
        return
    if run.last_num_gc is not None and rec.num_gc < run.last_num_gc:
        writer.add_event("service-restarted",
                         f"NumGC fell from {run.last_num_gc} to {rec.num_gc} at seq {rec.seq}")
    run.last_num_gc = rec.num_gc


__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_OUT_DIR",
    "Clock",
    "CollectConfig",
    "SessionInfo",
    "SystemClock",
    "TickResult",
    "collect",
    "resume_config",
]
