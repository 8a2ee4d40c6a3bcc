"""Collector pieces on small hand-made inputs: units, body checks, scheduling with a fake clock,
the HTTP client's limits through httpx.MockTransport, and lazy loading of a 500-tick session.
(The real-service tests are in test_collect.py; these pin down edge cases fast.)"""

from __future__ import annotations

import gzip
import re
import threading
from pathlib import Path

import httpx
import pytest

from leaksleuth.collect import session as session_mod
from leaksleuth.collect.client import FetchError, PprofClient, Response, pprof_path, redact_url
from leaksleuth.collect.collector import (
    CollectConfig,
    TickResult,
    check_body,
    collect,
    count_goroutines,
    go_version_from_metrics,
    go_version_from_vars,
    memstats_from_heap_text,
    scrub,
)
from leaksleuth.collect.session import open_session
from leaksleuth.collect.store import Artifact, Store, Target, TickRecord
from leaksleuth.errors import CollectError, ProfileError, UsageError
from leaksleuth.profile.formats import Format
from leaksleuth.profile.model import MemStats
from leaksleuth.units import parse_duration, parse_size

# a minimal valid pprof Profile: sample_type {inuse_space, bytes}, string table
PPROF = bytes([0x0A, 4, 8, 1, 0x10, 2, 0x32, 0, 0x32, 11]) + b"inuse_space" + bytes(
    [0x32, 5]) + b"bytes"
HEAP_TEXT = b"""heap profile: 1: 1024 [2: 2048] @ heap/1048576
1: 1024 [2: 2048] @ 0x1 0x2
#\t0x1\tmain.f+0x1\t/x.go:1

# runtime.MemStats
# Alloc = 5000
# TotalAlloc = 9000
# Sys = 70000
# HeapAlloc = 5000
# HeapInuse = 8192
# HeapObjects = 12
# Stack = 327680 / 327680
# NextGC = 4194304
# NumGC = 7
# NumForcedGC = 3
"""
DUMP = b"""goroutine 1 [running]:
main.main()
\t/x.go:3 +0x1

goroutine 7 [chan receive, 3 minutes]:
main.idleWorker(0x0)
\t/x.go:9 +0x2
created by main.main in goroutine 1
\t/x.go:4 +0x3
"""


def resp(body: bytes, request: str = "/debug/pprof/heap") -> Response:
    return Response(request, 200, body, "", 0.0, 1)


@pytest.mark.parametrize(("text", "seconds"), [
    ("5s", 5.0), ("500ms", 0.5), ("10m", 600.0), ("1h", 3600.0), ("1h30m", 5400.0),
    ("2", 2.0), ("0.25s", 0.25)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 parsecs", "s", "-1s", "0s", "5x", "1m5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_parse_size() -> None:
    assert parse_size("1048576") == 1 << 20
    assert parse_size("64MiB") == 64 << 20
    assert parse_size("100MB") == 100_000_000
    with pytest.raises(UsageError):
        parse_size("lots")


def test_check_body_accepts_what_was_asked_for() -> None:
    pb = (Format.PPROF, Format.PPROF_GZIP)
    assert check_body("heap", pb, resp(gzip.compress(PPROF))) == "pprof+gzip"
    assert check_body("heap", pb, resp(PPROF)) == "pprof"
    assert check_body("heap_text", (Format.HEAP_TEXT,), resp(HEAP_TEXT)) == "heap-text"
    assert check_body("goroutine_dump", (Format.GOROUTINE_DUMP,), resp(DUMP)) == "goroutine-dump"
    assert check_body("vars", None, resp(b'{"memstats": {}}')) == "json"


@pytest.mark.parametrize(("accept", "body", "message"), [
    ((Format.PPROF, Format.PPROF_GZIP), b"<!DOCTYPE html><html>login</html>", "HTML page"),
    ((Format.PPROF, Format.PPROF_GZIP), bytes([0xF8]) * 100, "unknown format"),
    ((Format.PPROF, Format.PPROF_GZIP), gzip.compress(b"<html>x</html>"), "HTML"),
    ((Format.PPROF, Format.PPROF_GZIP), gzip.compress(PPROF)[:20], "truncated"),
    ((Format.PPROF, Format.PPROF_GZIP), HEAP_TEXT, "expected a pprof protobuf"),
    ((Format.HEAP_TEXT,), gzip.compress(PPROF), "expected a heap?debug=1"),
    ((Format.GOROUTINE_DUMP,), b"", "empty"),
    (None, b"<html>oops</html>", "HTML page"),
    (None, b"[1, 2]", "JSON object"),
])
def test_check_body_rejects(accept: tuple[Format, ...] | None, body: bytes,
                            message: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(message)):
        check_body("x", accept, resp(body))


def test_memstats_trailer_and_goroutine_count() -> None:
    ms = memstats_from_heap_text(HEAP_TEXT)
    assert ms is not None
    assert (ms.heap_alloc, ms.num_gc, ms.num_forced_gc, ms.stack_inuse) == (5000, 7, 3, 327680)
    assert memstats_from_heap_text(b"heap profile: 0: 0 [0: 0] @ heap/1\n") is None
    assert count_goroutines(DUMP) == 2
    assert count_goroutines(b"") == 0


def test_go_version_sources() -> None:
    assert go_version_from_vars({"goversion": "go1.23.9"}) == ("go1.23.9", "expvar:goversion",
                                                               None)
    assert go_version_from_vars({"version": "v2.3.1"}) is None
    bi = {"GoVersion": "go1.26.6", "Path": "example.com/svc"}
    assert go_version_from_vars({"build_info": bi}) == ("go1.26.6", "expvar:build_info", bi)
    text = '# HELP go_info x\n# TYPE go_info gauge\ngo_info{version="go1.24.11"} 1\n'
    assert go_version_from_metrics(text) == "go1.24.11"
    assert go_version_from_metrics("up 1\n") is None


def test_scrub_masks_plain_and_gzipped_bodies_keeping_length() -> None:
    secret = b"hunter2-secret"
    body = b'{"cmdline": ["svc", "-token", "hunter2-secret"]}'
    out, n = scrub(body, (secret,))
    assert n == 1 and len(out) == len(body) and secret not in out
    zipped, n = scrub(gzip.compress(body), (secret,))
    assert n == 1 and secret not in gzip.decompress(zipped)
    assert scrub(body, ()) == (body, 0)


def test_redact_url() -> None:
    assert redact_url("http://user:pw@host:8080/x") == "http://host:8080/x"
    assert redact_url("http://host/x") == "http://host/x"
    cfg = CollectConfig(url="https://bob:pw@h:1/custom/pprof/")
    assert cfg.origin == "https://h:1" and cfg.pprof_path == "/custom/pprof"
    assert "pw" not in str(cfg.settings())


# ---------------------------------------------------------------- a fake service and clock


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


class FakeService:
    """httpx.MockTransport handler: a pprof endpoint whose NumGC advances per forced GC."""

    def __init__(self, clock: FakeClock, tick_cost: float = 0.0) -> None:
        self.clock = clock
        self.tick_cost = tick_cost
        self.num_gc = 0
        self.down = False
        self.seen_headers: list[httpx.Headers] = []
        self.paths: list[str] = []
        self.heap_queries: list[str] = []
        self.text_fails = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen_headers.append(request.headers)
        self.paths.append(request.url.path)
        if self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        path, q = request.url.path, request.url.params
        if path == "/debug/pprof/heap":
            self.heap_queries.append(str(request.url.query, "ascii"))
            if self.text_fails and q.get("debug") == "1":
                return httpx.Response(500, text="internal error")
            if q.get("gc") == "1":  # as net/http/pprof: the GC first, whatever the format
                self.num_gc += 1
                self.clock.t += self.tick_cost
            if q.get("debug") == "1":
                return httpx.Response(200, content=HEAP_TEXT.replace(
                    b"# NumGC = 7", f"# NumGC = {self.num_gc}".encode()))
            return httpx.Response(200, content=gzip.compress(PPROF))
        if path == "/debug/pprof/goroutine":
            return httpx.Response(200, content=DUMP if q.get("debug") == "2" else PPROF)
        if path == "/metrics":
            return httpx.Response(200, text='go_info{version="go1.24.11"} 1\n')
        return httpx.Response(404, text="404 page not found")


def fake_collect(tmp_path: Path, svc: FakeService, clock: FakeClock, **kw: object
                 ) -> tuple[list[TickResult], object]:
    config = CollectConfig(url="http://svc.test:6060", out_dir=tmp_path,
                           **{"interval": 1.0, "count": 3, **kw})  # type: ignore[arg-type]
    client = PprofClient(config.url, transport=httpx.MockTransport(svc), retries=0,
                         sleep=clock.sleep)
    ticks: list[TickResult] = []
    info = collect(config, client=client, clock=clock, on_tick=ticks.append)
    return ticks, info


@pytest.mark.parametrize("text_fails", [False, True])
def test_one_forced_gc_per_tick_read_at_once(tmp_path: Path, text_fails: bool) -> None:
    """The GC is forced by the text request, whose handler reads MemStats straight after it;
    the protobuf reads that GC's profile. When the text fails, the protobuf forces the GC."""
    clock = FakeClock()
    svc = FakeService(clock)
    svc.text_fails = text_fails
    ticks, _ = fake_collect(tmp_path, svc, clock, count=3, interval=1.0)
    assert svc.num_gc == 3
    per_tick = [svc.heap_queries[i:i + 2] for i in range(0, len(svc.heap_queries), 2)]
    want = ["debug=1&gc=1", "gc=1"] if text_fails else ["debug=1&gc=1", ""]
    assert per_tick == [want] * 3
    assert [t.num_gc for t in ticks] == ([None] * 3 if text_fails else [1, 2, 3])


def test_fake_run_schedules_on_the_interval_and_finds_version(tmp_path: Path) -> None:
    clock = FakeClock()
    svc = FakeService(clock)
    t0 = clock.t
    ticks, info = fake_collect(tmp_path, svc, clock, count=4, interval=5.0)
    assert [t.time - t0 for t in ticks] == [0.0, 5.0, 10.0, 15.0]
    assert [t.num_gc for t in ticks] == [1, 2, 3, 4]
    s = open_session(info.path)  # type: ignore[attr-defined]
    # /debug/vars answered 404 once, then was no longer asked for: a note, not an error
    assert list(s.errors) == []
    assert [e for e in s.events if e.kind == "vars-missing"]
    assert svc.paths.count("/debug/vars") == 1
    assert all(t.status == "ok" for t in ticks)
    assert s.go_version == "go1.24.11" and s.go_version_source.startswith("metrics:")
    assert "metrics" in s.files(None)


def test_fake_overrun_skips_slots_and_records_them(tmp_path: Path) -> None:
    clock = FakeClock()
    svc = FakeService(clock, tick_cost=2.5)  # each tick takes 2.5 s at a 1 s interval
    ticks, info = fake_collect(tmp_path, svc, clock, count=3, interval=1.0)
    assert len(ticks) == 3  # --count counts snapshots taken, not slots
    assert info.skipped_ticks >= 4  # type: ignore[attr-defined]
    s = open_session(info.path)  # type: ignore[attr-defined]
    assert sum(1 for e in s.events if e.kind == "skipped") == 2


def test_fake_duration_bounds_the_run(tmp_path: Path) -> None:
    clock = FakeClock()
    ticks, _ = fake_collect(tmp_path, FakeService(clock), clock, count=None, duration=10.0,
                            interval=2.0)
    assert len(ticks) == 5


def test_fake_outage_is_a_gap_not_the_end(tmp_path: Path) -> None:
    clock = FakeClock()
    svc = FakeService(clock)

    def on(t: TickResult) -> None:
        svc.down = t.seq in (0, 1)  # down for ticks 1 and 2

    config = CollectConfig(url="http://svc.test:6060", out_dir=tmp_path, interval=1.0, count=5)
    client = PprofClient(config.url, transport=httpx.MockTransport(svc), retries=0)
    info = collect(config, client=client, clock=clock, on_tick=on)
    s = open_session(info.path)
    assert [t.status for t in s.ticks] == ["ok", "failed", "failed", "ok", "ok"]
    assert len(s) == 3 and info.failed_ticks == 2
    [(a, b)] = s.gaps()
    assert (a, b) == (s.ticks[0].started, s.ticks[3].started)
    # a failed tick asks once and gives up (no hammering a dead service)
    assert sum(1 for e in s.errors if e.seq == 1) == 1


def test_fake_unreachable_from_the_start(tmp_path: Path) -> None:
    clock = FakeClock()
    svc = FakeService(clock)
    svc.down = True
    with pytest.raises(CollectError, match="cannot connect"):
        fake_collect(tmp_path, svc, clock)
    assert not any(tmp_path.iterdir())


def test_fake_stop_before_first_tick_waits_for_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    stop = threading.Event()
    calls: list[int] = []

    def on(t: TickResult) -> None:
        calls.append(t.seq)
        stop.set()

    config = CollectConfig(url="http://svc.test:6060", out_dir=tmp_path, interval=60.0)
    client = PprofClient(config.url, transport=httpx.MockTransport(FakeService(clock)))
    info = collect(config, client=client, clock=clock, on_tick=on, stop=stop)
    assert calls == [0] and info.interrupted and info.snapshots == 1


def test_client_limits_and_retries() -> None:
    attempts = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/flaky":
            attempts["n"] += 1
            return httpx.Response(503 if attempts["n"] < 3 else 200, content=b"ok")
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 5000)
        if request.url.path == "/stream":
            return httpx.Response(200, content=iter([b"x" * 1000] * 10))  # no Content-Length
        return httpx.Response(404)

    slept: list[float] = []
    c = PprofClient("http://h:1", transport=httpx.MockTransport(handler), retries=2,
                    backoff=0.1, max_bytes=2048, sleep=slept.append)
    r = c.get("/flaky")
    assert r.body == b"ok" and r.attempts == 3 and slept == [0.1, 0.2]
    with pytest.raises(FetchError) as big:
        c.get("/big")
    assert big.value.kind == "too-large" and "2048-byte limit" in str(big.value)
    with pytest.raises(FetchError) as streamed:
        c.get("/stream")
    assert streamed.value.kind == "too-large" and "aborted" in str(streamed.value)
    slept.clear()
    with pytest.raises(FetchError) as nf:
        c.get("/missing")
    assert nf.value.kind == "http" and nf.value.status == 404 and slept == []  # no retry
    c.close()


def test_token_and_headers_are_sent_but_not_stored(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_TOKEN", "s3cr3t-token-value")
    clock = FakeClock()
    svc = FakeService(clock)
    config = CollectConfig(url="http://svc.test:6060", out_dir=tmp_path, count=1,
                           token_env="SVC_TOKEN", headers=(("X-Key", "k3y-value-123"),))
    client = PprofClient(config.url, transport=httpx.MockTransport(svc), token=config.token(),
                         headers=config.headers)
    info = collect(config, client=client, clock=clock)
    assert svc.seen_headers[0]["authorization"] == "Bearer s3cr3t-token-value"
    assert svc.seen_headers[0]["x-key"] == "k3y-value-123"
    blob = b"".join(p.read_bytes() for p in info.path.rglob("*") if p.is_file())
    assert b"s3cr3t-token-value" not in blob and b"k3y-value-123" not in blob
    assert b"SVC_TOKEN" in blob and b"X-Key" in blob


@pytest.mark.slow
def test_500_snapshot_session_loads_lazily(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path)
    w = store.create_session(Target("http://h:1", "/debug/pprof"), {"interval": 1}, 1000.0)
    heap = gzip.compress(PPROF)
    for i in range(500):
        w.write_tick(TickRecord(
            seq=i, started=1000.0 + i, finished=1000.5 + i,
            artifacts=(Artifact("heap", "heap.pb.gz", heap, "pprof+gzip", "/h"),),
            memstats=(("heap_text", MemStats(heap_alloc=1000 + i, num_gc=i)),),
            goroutine_total=10))
    w.finish("finished", 1500.0)
    reads: list[Path] = []
    real = session_mod._read_checked

    def counting(rec: session_mod.FileRecord) -> bytes:
        reads.append(rec.path)
        return real(rec)

    monkeypatch.setattr(session_mod, "_read_checked", counting)
    s = open_session(w.path)
    snaps = list(s.snapshots())
    assert len(snaps) == len(s) == 500 and reads == []  # nothing parsed yet
    assert [sn.memstats.heap_alloc for sn in snaps[:3] if sn.memstats] == [1000, 1001, 1002]
    p = snaps[250].heap()
    assert p is not None and p.sample_types[0].type == "inuse_space"
    assert len(reads) == 1 and reads[0].parent.name == "000250"
    assert snaps[0].goroutine_dump() is None  # not collected: no loader


def test_config_repr_hides_header_values() -> None:
    cfg = CollectConfig(url="http://h:1", headers=(("X-Key", "k3y-value-123"),))
    assert "k3y-value-123" not in repr(cfg) and "k3y-value-123" not in str(cfg.settings())


def test_base_path_from_the_url() -> None:
    assert CollectConfig(url="http://h:1").pprof_path == "/debug/pprof"
    assert CollectConfig(url="http://h:1/debug/pprof/heap?debug=1").pprof_path == "/debug/pprof"
    assert CollectConfig(url="http://h:1/admin/pprof/").pprof_path == "/admin/pprof"
    assert CollectConfig(url="http://h:1/x", base_path="/y/").pprof_path == "/y"
    # the commands that fetch one profile (goroutines, classify) use the same code
    assert pprof_path("http://h:1/debug/pprof/heap") + "/goroutine" == "/debug/pprof/goroutine"
    assert pprof_path("http://h:1/", "") == ""


def test_wrong_base_path_hints(tmp_path: Path) -> None:
    clock = FakeClock()
    with pytest.raises(CollectError, match=r"is pprof mounted at /nope\?"):
        fake_collect(tmp_path, FakeService(clock), clock, base_path="/nope")


def test_progress_shows_floor_goroutines_and_failures(tmp_path: Path) -> None:
    from rich.console import Console

    from leaksleuth.report.progress import CollectProgress

    console = Console(record=True, width=160, force_terminal=False)

    def tick(seq: int, status: str, floor: int | None, errors: tuple[str, ...] = ()
             ) -> TickResult:
        return TickResult(seq=seq, time=0.0, status=status, saved=(), errors=errors,
                          heap_floor=floor, goroutine_total=14 if floor else None,
                          num_gc=seq, session_path=tmp_path, planned=3, done=seq + 1)

    with CollectProgress("http://h:1", 3, console) as p:
        p.update(tick(0, "ok", 1_500_000))
        p.update(tick(1, "failed", None, ("GET /debug/pprof/heap: cannot connect",)))
        p.update(tick(2, "ok", 2_500_000))
    text = console.export_text()
    assert "heap floor 2.5 MB" in text and "goroutines 14" in text and "1 failed" in text
    assert "3/3" in text
    quiet = Console(record=True, width=160, force_terminal=False)
    with CollectProgress("http://h:1", None, quiet, gc=False) as p:
        p.update(tick(0, "ok", 1_000_000))
    assert "heap alloc 1.0 MB" in quiet.export_text()


def test_fake_duration_counts_only_slots_inside_it_as_skipped(tmp_path: Path) -> None:
    clock = FakeClock()
    svc = FakeService(clock, tick_cost=3.5)  # a 10 s window of 2 s slots: 0 2 4 6 8
    ticks, info = fake_collect(tmp_path, svc, clock, count=None, duration=10.0, interval=2.0)
    # ticks at 0 and 4 and 8 (each overruns one slot); 2 and 6 skipped; 10 is outside
    assert len(ticks) == 3
    assert info.skipped_ticks == 2  # type: ignore[attr-defined]
