"""The collector against real Go services (built with Go 1.23.9 and 1.26.6) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from leaksleuth.collect.collector import CollectConfig, SessionInfo, TickResult, collect
from leaksleuth.collect.session import open_session
from leaksleuth.collect.store import INDEX_NAME, Store, check_integrity
from leaksleuth.errors import CollectError
from support.goservice import GO_VERSIONS, build_or_skip, run_go

SVC = Path(__file__).resolve().parent / "goprogs" / "svc"
ALL_KINDS = {"heap", "heap_text", "vars", "goroutine", "goroutine_dump", "allocs"}

pytestmark = pytest.mark.go


@pytest.fixture(scope="module", params=GO_VERSIONS)
def svc_exe(request: pytest.FixtureRequest) -> Path:
    return build_or_skip(SVC, request.param)


@pytest.fixture(scope="module")
def svc_latest() -> Path:
    return build_or_skip(SVC, GO_VERSIONS[-1])


def stats(url: str) -> dict[str, int | str]:
    return dict(httpx.get(f"{url}/stats", timeout=5).json())


def set_fault(url: str, path: str, mode: str) -> None:
    httpx.get(f"{url}/admin/fault", params={"path": path, "mode": mode}, timeout=5)


def cfg(url: str, tmp_path: Path, **kw: object) -> CollectConfig:
    base: dict[str, object] = {"interval": 0.25, "count": 3, "out_dir": tmp_path / "sessions",
                               "timeout": 8.0, "retries": 1, "backoff": 0.05}
    base.update(kw)
    return CollectConfig(url=url, **base)  # type: ignore[arg-type]


def test_every_artifact_every_tick_and_totals_match(svc_exe: Path, tmp_path: Path) -> None:
    with run_go(svc_exe, "-idle", "7", "-leak", "400000") as svc:
        ticks: list[TickResult] = []
        info = collect(cfg(svc.url, tmp_path, count=4, with_allocs=True), on_tick=ticks.append)
        after = stats(svc.url)
    assert [t.status for t in ticks] == ["ok"] * 4
    s = open_session(info.path)
    assert len(s) == 4 and info.snapshots == 4 and s.status == "finished"
    assert s.go_version == after["go_version"] and s.go_version_source == "expvar:goversion"
    assert s.build_info is not None and s.build_info["GoVersion"] == after["go_version"]
    assert s.target == svc.url and s.base_path == "/debug/pprof"
    assert check_integrity(info.path) == []
    snaps = list(s.snapshots())
    assert [sn.seq for sn in snaps] == [0, 1, 2, 3]
    for sn in snaps:
        files = s.files(sn.seq)
        assert set(files) == ALL_KINDS, sn.seq
        # stored byte for byte: what the index hashed is what is on disk, and it parses
        heap = sn.heap()
        assert heap is not None and any(st.type == "inuse_space" for st in heap.sample_types)
        gor = sn.goroutines()
        assert gor is not None and gor.n_samples > 0
        dump = files["goroutine_dump"].path.read_bytes()
        # ground truth: the service parks exactly 7 goroutines in main.idleWorker
        assert dump.count(b"main.idleWorker(") == 7
        # the protobuf goroutine profile and the debug=2 dump agree on the total (+-handlers)
        assert sn.goroutine_total is not None
        assert abs(int(gor.values[:, 0].sum()) - sn.goroutine_total) <= 2
        # both MemStats sources were kept and agree on the GC count of that moment
        ms = s.memstats(sn.seq)
        assert set(ms) == {"heap_text", "expvar"}
        assert 0 <= ms["expvar"].num_gc - ms["heap_text"].num_gc <= 1
        assert sn.memstats is ms["heap_text"] or sn.memstats == ms["heap_text"]
    # a forced GC per tick: NumGC advances by at least one every tick
    num_gc = [sn.memstats.num_gc for sn in snaps if sn.memstats]
    assert len(num_gc) == 4 and all(b - a >= 1 for a, b in itertools.pairwise(num_gc))
    forced = [sn.memstats.num_forced_gc for sn in snaps if sn.memstats]
    assert all(b - a >= 1 for a, b in itertools.pairwise(forced))
    # totals match what the service itself reports
    assert abs(int(after["numgoroutine"]) - (snaps[-1].goroutine_total or 0)) <= 3
    assert int(after["numgc"]) >= num_gc[-1]
    floors = [sn.memstats.heap_alloc for sn in snaps if sn.memstats]
    assert floors[-1] >= int(after["leaked_bytes"]) * 0.5
    assert floors[-1] > floors[0]  # the service leaks 400 kB/s; the floor follows


def test_no_gc_does_not_force_collections(svc_latest: Path, tmp_path: Path) -> None:
    with run_go(svc_latest, "-idle", "3") as svc:
        info = collect(cfg(svc.url, tmp_path, count=3, gc=False, interval=0.2))
    s = open_session(info.path)
    assert s.settings["gc"] is False
    assert {f.request for f in (s.files(0)["heap"],)} == {"/debug/pprof/heap"}
    forced = [sn.memstats.num_forced_gc for sn in s.snapshots() if sn.memstats]
    assert forced == [forced[0]] * 3


FAULTS = [
    # (path made faulty, mode, config overrides, artifact kinds that must fail, error kind)
    ("/debug/pprof/goroutine", "404", {}, {"goroutine", "goroutine_dump"}, "http"),
    ("/debug/pprof/heap", "html", {}, {"heap", "heap_text"}, "invalid"),
    ("/debug/pprof/goroutine", "garbage", {}, {"goroutine", "goroutine_dump"}, "invalid"),
    ("/debug/vars", "garbage", {}, {"vars"}, "invalid"),
    ("/debug/pprof/goroutine", "stall", {"timeout": 0.6, "retries": 0},
     {"goroutine", "goroutine_dump"}, "timeout"),
    ("/debug/pprof/allocs", "huge", {"with_allocs": True, "max_bytes": 1 << 20}, {"allocs"},
     "too-large"),
]


FAULT_IDS = [f"{p.rsplit('/', 1)[-1]}-{m}" for p, m, *_ in FAULTS]


@pytest.fixture(scope="module")
def fault_runs(svc_latest: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, SessionInfo]:
    """Every fault scenario on its own service, all collected at once (they mostly wait)."""
    root = tmp_path_factory.mktemp("faults")
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(FAULTS)) as pool:
        futures = {}
        for fid, (path, mode, over, *_) in zip(FAULT_IDS, FAULTS, strict=True):
            svc = stack.enter_context(run_go(svc_latest))
            set_fault(svc.url, path, mode)
            futures[fid] = pool.submit(
                collect, cfg(svc.url, root / fid, count=2, interval=0.2, **over))
        return {fid: f.result() for fid, f in futures.items()}


@pytest.mark.parametrize(("fid", "path", "mode", "over", "failing", "kind"),
                         [(i, *f) for i, f in zip(FAULT_IDS, FAULTS, strict=True)], ids=FAULT_IDS)
def test_one_bad_endpoint_is_recorded_and_the_rest_kept(
        fault_runs: dict[str, SessionInfo], fid: str, path: str, mode: str,
        over: dict[str, object], failing: set[str], kind: str) -> None:
    info = fault_runs[fid]
    s = open_session(info.path)
    assert len(s) == 2 and info.failed_ticks == 0
    expected_ok = {"heap", "heap_text", "vars", "goroutine", "goroutine_dump"}
    if over.get("with_allocs"):
        expected_ok.add("allocs")
    for sn in s.snapshots():
        assert set(s.files(sn.seq)) == expected_ok - failing
        errs = [e for e in s.errors if e.seq == sn.seq]
        assert {e.artifact for e in errs} == failing
        assert {e.kind for e in errs} == {kind}
        assert len(sn.errors) == len(failing)
    # nothing rejected was stored as a profile: every stored file parses as what it claims
    stored = list((info.path / "snapshots").rglob("*"))
    names = {p.name for p in stored if p.is_file()}
    for k in failing:
        assert {"heap": "heap.pb.gz", "heap_text": "heap.txt", "goroutine": "goroutine.pb.gz",
                "goroutine_dump": "goroutine.txt", "vars": "vars.json",
                "allocs": "allocs.pb.gz"}[k] not in names
    if mode == "html":
        assert any("HTML page" in e.message for e in s.errors)
    if mode == "404":
        assert all(e.http_status == 404 for e in s.errors)
    assert check_integrity(info.path) == []


def test_service_dies_and_comes_back(svc_latest: Path, tmp_path: Path) -> None:
    with run_go(svc_latest) as first, contextlib.ExitStack() as stack:
        addr = first.addr
        restarted: list[object] = []

        def on_tick(t: TickResult) -> None:
            if t.seq == 1:
                httpx.get(f"{first.url}/admin/exit", timeout=5)
                first.proc.wait(5)
            if t.seq == 3 and not restarted:  # two ticks later it is back on the same port
                restarted.append(stack.enter_context(run_go(svc_latest, "-addr", addr)))

        info = collect(cfg(first.url, tmp_path, count=7, interval=0.3, retries=0),
                       on_tick=on_tick)
    assert restarted
    s = open_session(info.path)
    statuses = [t.status for t in s.ticks]
    assert statuses[:2] == ["ok", "ok"]
    assert "failed" in statuses[2:4]
    assert statuses[-1] == "ok"
    assert info.failed_ticks >= 1 and s.gaps()
    assert any(e.kind == "unreachable" for e in s.errors)
    assert any(ev.kind == "service-restarted" for ev in s.events)
    assert len(s) == statuses.count("ok") + statuses.count("partial")


def test_unreachable_from_the_start_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CollectError, match=r"cannot collect from http://127\.0\.0\.1"):
        collect(cfg(f"http://127.0.0.1:{port}", tmp_path, retries=0))
    assert Store(tmp_path / "sessions").sessions() == []


def test_resume_appends_after_the_last_snapshot(svc_latest: Path, tmp_path: Path) -> None:
    from leaksleuth.collect.collector import resume_config

    with run_go(svc_latest) as svc:
        first = collect(cfg(svc.url, tmp_path, count=2, interval=0.2))
        again = collect(resume_config(first.path, count=2))
    assert again.path == first.path
    s = open_session(first.path)
    assert [sn.seq for sn in s.snapshots()] == [0, 1, 2, 3]
    assert [e.kind for e in s.events if e.kind in ("started", "resumed")] == ["started",
                                                                               "resumed"]
    times = [sn.time for sn in s.snapshots()]
    assert times == sorted(times)


def test_index_schema_has_the_promised_tables(svc_latest: Path, tmp_path: Path) -> None:
    with run_go(svc_latest) as svc:
        info = collect(cfg(svc.url, tmp_path, count=1))
    conn = sqlite3.connect(info.path / INDEX_NAME)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "targets", "snapshots", "files", "memstats", "errors"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    row = conn.execute("SELECT settings FROM sessions").fetchone()
    assert json.loads(row[0])["interval"] == 0.25
    conn.close()


def test_stop_event_ends_after_the_current_snapshot(svc_latest: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    with run_go(svc_latest) as svc:
        def on_tick(t: TickResult) -> None:
            if t.seq == 1:
                stop.set()

        start = time.monotonic()
        info = collect(cfg(svc.url, tmp_path, count=None, interval=0.2), stop=stop,
                       on_tick=on_tick)
    assert time.monotonic() - start < 10
    assert info.interrupted and info.snapshots == 2
    s = open_session(info.path)
    assert s.status == "interrupted" and len(s) == 2


def test_tls_verified_by_default_with_ca_and_insecure_options(svc_latest: Path,
                                                               tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    with run_go(svc_latest, "-tls-cert-out", str(cert)) as svc:
        url = f"https://{svc.addr}"
        with pytest.raises(CollectError, match="certificate"):
            collect(cfg(url, tmp_path, count=1, retries=0))
        trusted = collect(cfg(url, tmp_path, count=1, ca=cert))
        insecure = collect(cfg(url, tmp_path, count=1, verify=False))
    for info in (trusted, insecure):
        s = open_session(info.path)
        assert len(s) == 1 and set(s.files(0)) >= {"heap", "heap_text", "goroutine"}
        assert s.target == url
    assert open_session(trusted.path).settings["ca"] == str(cert)
    assert open_session(insecure.path).settings["verify"] is False


def test_hung_service_costs_two_timeouts_per_tick_then_recovers(svc_latest: Path,
                                                                 tmp_path: Path) -> None:
    """SIGSTOP freezes the whole service: ticks fail fast (two timeouts), then resume."""
    import os
    import signal

    with run_go(svc_latest) as svc:
        def on_tick(t: TickResult) -> None:
            if t.seq == 0:
                os.kill(svc.pid, signal.SIGSTOP)
            if t.seq == 2:
                os.kill(svc.pid, signal.SIGCONT)

        start = time.monotonic()
        info = collect(cfg(svc.url, tmp_path, count=5, interval=0.2, timeout=0.4, retries=0),
                       on_tick=on_tick)
        elapsed = time.monotonic() - start
    s = open_session(info.path)
    assert [t.status for t in s.ticks][:3] == ["ok", "failed", "failed"]
    assert s.ticks[-1].status == "ok"
    hung = [e for e in s.errors if e.seq == 1]
    assert [e.kind for e in hung] == ["timeout", "timeout", "timeout"]
    assert "service not answering" in hung[-1].message
    assert elapsed < 12  # not 5 artifacts x timeout per hung tick (about 3 s unloaded)
    assert s.gaps()


def test_custom_base_path(svc_latest: Path, tmp_path: Path) -> None:
    with run_go(svc_latest, "-base", "/internal/prof") as svc:
        with pytest.raises(CollectError, match="see --base-path"):
            collect(cfg(svc.url, tmp_path, count=1, retries=0))
        info = collect(cfg(svc.url + "/internal/prof/", tmp_path, count=1))
        other = collect(cfg(svc.url, tmp_path, count=1, base_path="/internal/prof"))
    for i in (info, other):
        s = open_session(i.path)
        assert s.base_path == "/internal/prof" and len(s) == 1
        assert s.files(0)["heap_text"].request == "/internal/prof/heap?debug=1&gc=1"
        assert s.files(0)["heap"].request == "/internal/prof/heap"
