"""Steady-state findings (analyze/steady.py): what is wrong although nothing grows.

Hand-made snapshot series check the rules one at a time; a real Go program checks the
blocked-goroutine finding on the dump's own "N minutes" (the connection finding is checked on
real services by the client_timeout_* scenarios of test_scenarios.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from leaksleuth.analyze.engine import AnalysisConfig
from leaksleuth.analyze.steady import SteadyConfig
from leaksleuth.app import diagnose
from leaksleuth.collect.collector import CollectConfig, collect
from leaksleuth.collect.session import open_session
from leaksleuth.profile.model import Frame, Goroutine, GoroutineDump, MemStats
from leaksleuth.profile.snapshot import Snapshot
from leaksleuth.report.html import render_html
from leaksleuth.report.json import to_json
from leaksleuth.report.text import to_text
from support.goservice import GO_VERSIONS, TESTS_DIR, build_or_skip, run_go
from test_analyze import HeapSpec, heap_profile

Group = tuple[tuple[str, ...], str, int, int]  # stack (leaf first), state, wait minutes, count

READ_LOOP = ("net/http.(*persistConn).readLoop",)
WRITE_LOOP = ("net/http.(*persistConn).writeLoop",)
IDLE_READ = ("internal/poll.runtime_pollWait", "net.(*conn).Read", "bufio.(*Reader).Peek",
             "net/http.(*persistConn).readLoop")
IN_FLIGHT = ("net/http.(*persistConn).roundTrip", "net/http.(*Transport).roundTrip",
             "net/http.(*Client).do", "main.fetch", "main.handle")
CLIENT_STACK = ("net/http.NewRequestWithContext", "net/http.Get", "main.fetch", "main.poll")
SERVER_HANDLER = ("net/http.Header.Set", "main.serveStatus", "net/http.HandlerFunc.ServeHTTP",
                  "net/http.(*conn).serve")


def _dump(groups: Sequence[Group]) -> GoroutineDump:
    gs: list[Goroutine] = []
    for stack, state, wait, count in groups:
        for _ in range(count):
            gs.append(Goroutine(len(gs) + 1, state, wait, frames=tuple(Frame(f) for f in stack),
                                created_by=Frame("main.main")))
    return GoroutineDump(tuple(gs))


def _session(groups: Sequence[Group], heap: HeapSpec | None = None, n: int = 8
             ) -> list[Snapshot]:
    d = _dump([*groups, (("main.main",), "running", 0, 1)])
    h = heap or {("main.main",): [(64, 10)]}
    return [Snapshot(seq=i, time=1000.0 + i, goroutine_total=len(d.goroutines),
                     memstats=MemStats(heap_alloc=20_000_000, heap_objects=1000, num_gc=10 + 2 * i,
                                       next_gc=40_000_000, stack_inuse=len(d.goroutines) * 8192),
                     heap_loader=lambda: heap_profile(h), goroutine_dump_loader=lambda: d)
            for i in range(n)]


def _held(held: int = 300) -> list[Group]:
    return [(READ_LOOP, "select", 0, held), (WRITE_LOOP, "select", 0, held)]


def test_connections_parked_on_unread_bodies_are_retention_named_after_the_caller() -> None:
    heap: HeapSpec = {CLIENT_STACK: [(1024, 400)], SERVER_HANDLER: [(512, 900)],
                      ("bufio.NewReaderSize", "net/http.(*Transport).dialConn"): [(4096, 300)]}
    d = diagnose(_session(_held(), heap)).diagnosis
    assert d.verdict == "retention", d.summary
    top = d.suspects[0]
    assert (top.kind, top.function, top.goroutines) == ("connection-retention", "main.fetch", 600)
    assert top.growth_bytes_per_second == 0 and top.inuse_bytes > 300 * 4096
    text = " ".join(top.evidence)
    assert "300 HTTP client connections" in text and "main.fetch" in text
    assert "main.serveStatus" not in text  # a server handler setting headers is no client
    assert "main.fetch" in d.summary and "never closed" in d.summary
    text_out = to_text(d, width=100)
    assert "connection-retention" in text_out and "held, not growing" in text_out
    assert '"connection-retention"' in to_json(d)
    page = render_html(d)
    assert "connection-retention" in page and "held, not growing" in page


def test_idle_or_busy_connections_are_not_a_finding() -> None:
    idle = [(IDLE_READ, "IO wait", 0, 300), (WRITE_LOOP, "select", 0, 300)]
    assert diagnose(_session(idle)).diagnosis.verdict == "no-leak"
    # as many requests in flight as bodies waiting: the client uses its connections
    busy = [*_held(40), (IN_FLIGHT, "select", 0, 40)]
    assert diagnose(_session(busy)).diagnosis.verdict == "no-leak"
    assert diagnose(_session(_held(10))).diagnosis.verdict == "no-leak"  # a few: normal


def test_caller_unknown_without_heap_evidence() -> None:
    d = diagnose(_session(_held())).diagnosis
    assert d.verdict == "retention"
    assert d.suspects[0].function == "net/http.(*persistConn).readLoop"
    assert any("No own function calling the HTTP client" in e for e in d.suspects[0].evidence)


def test_groups_blocked_for_many_minutes() -> None:
    stuck = (("main.awaitReply", "main.dispatch"), "chan receive", 42, 120)
    d = diagnose(_session([stuck])).diagnosis
    assert d.verdict == "retention", d.summary
    top = d.suspects[0]
    assert (top.kind, top.function, top.goroutines) == ("blocked-goroutines", "main.awaitReply",
                                                        120)
    assert "42 minutes" in top.evidence[1] and "main.awaitReply" in d.summary
    # not long enough, too few, or waiting on the network (an idle keep-alive connection)
    for g in [(stuck[0], "chan receive", 5, 120), (stuck[0], "chan receive", 42, 20),
              (("main.readFrames",), "IO wait", 90, 500)]:
        assert diagnose(_session([g])).diagnosis.verdict == "no-leak", g
    # a handler waiting under a server connection may be a long poll: found, but less sure
    handler = (("main.waitForEvent", "net/http.HandlerFunc.ServeHTTP", "net/http.(*conn).serve"),
               "select", 42, 120)
    h = diagnose(_session([handler])).diagnosis
    assert h.verdict == "retention" and h.suspects[0].confidence < top.confidence
    assert "long poll" in " ".join(h.suspects[0].evidence)
    # thresholds are settings
    cfg = AnalysisConfig(steady=SteadyConfig(min_blocked_minutes=3, min_blocked_goroutines=10))
    low = diagnose(_session([(stuck[0], "chan receive", 5, 20)]), config=cfg).diagnosis
    assert low.verdict == "retention"


def test_growth_suspects_are_not_reported_twice() -> None:
    """A goroutine group that grows is a goroutine leak; its minutes add no second suspect."""
    def snaps() -> list[Snapshot]:
        out = []
        for i in range(10):
            d = _dump([(("main.awaitReply",), "chan receive", 30, 100 + 20 * i),
                       (("main.main",), "running", 0, 1)])
            out.append(Snapshot(seq=i, time=1000.0 + i, goroutine_total=len(d.goroutines),
                                memstats=MemStats(heap_alloc=20_000_000, num_gc=10 + 2 * i,
                                                  stack_inuse=len(d.goroutines) * 8192),
                                goroutine_dump_loader=lambda d=d: d))
        return out
    d = diagnose(snaps()).diagnosis
    assert d.verdict == "leak"
    assert [s.kind for s in d.suspects if s.function == "main.awaitReply"] == ["goroutine-leak"]


def _blocked_run(version: str, out: Path) -> tuple[Path, Path]:
    exe = build_or_skip(TESTS_DIR / "goprogs" / "blockedgroup", version)
    with run_go(exe) as svc:
        time.sleep(62)  # the dump shows waits in whole minutes, from the first
        info = collect(CollectConfig(svc.url, interval=1.0, duration=8.0, out_dir=out / version,
                                     metrics_path="", vars_path="", timeout=10.0))
    return exe, info.path


@pytest.mark.go
@pytest.mark.slow
def test_real_blocked_group_after_a_minute(tmp_path: Path) -> None:
    """60 goroutines blocked since start-up: once the dump says "1 minutes", found (with a
    1-minute threshold); 8 idle workers are not; with the default 10 minutes nothing is.
    Both Go versions run at once (one minute of waiting, not two)."""
    with ThreadPoolExecutor(len(GO_VERSIONS)) as pool:
        runs = list(pool.map(lambda v: _blocked_run(v, tmp_path), GO_VERSIONS))
    cfg = AnalysisConfig(steady=SteadyConfig(min_blocked_minutes=1))
    for version, (exe, path) in zip(GO_VERSIONS, runs, strict=True):
        d = diagnose(open_session(path), exe=exe, config=cfg).diagnosis
        assert d.verdict == "retention", (version, d.summary)
        top = d.suspects[0]
        assert (top.kind, top.function, top.goroutines) == (
            "blocked-goroutines", "main.awaitReply", 60), (version, d.suspects)
        assert "chan receive" in top.evidence[1] and "1 minutes" in top.evidence[1]
        assert not any(s.function == "main.worker" for s in d.suspects)
        assert diagnose(open_session(path), exe=exe).diagnosis.verdict == "no-leak", version


def test_map_retention_and_held_connections_share_one_ranking() -> None:
    """gdb's bloated map and the held connections are both retention suspects, ranked by the
    memory they hold; neither hides the other."""
    from leaksleuth.analyze.diagnosis import MapFinding

    big = MapFinding("main.sessions", "map[int64]main.session", "swiss", live_entries=10,
                     capacity_slots=262144, deleted_slots=90000, bytes_held=30_000_000,
                     bytes_needed=1200)
    heap: HeapSpec = {CLIENT_STACK: [(1024, 400)]}
    d = diagnose(_session(_held(), heap), maps=(big,)).diagnosis
    assert d.verdict == "retention"
    assert [s.kind for s in d.suspects] == ["map-retention", "connection-retention"]
    assert [s.rank for s in d.suspects] == [1, 2]
    assert all(s.growth_bytes_per_second == 0 and s.evidence and s.advice for s in d.suspects)
    assert "main.sessions" in d.summary
