"""Layer-1 fleet screening against Debian's real Prometheus scraping real Go services.

One Prometheus (1 s scrapes) watches two fleets for ~100 s: ``app`` (our promsvc built with
Go 1.23.9 and 1.26.6: two healthy with a GC saw-tooth, one leaking 160 KiB/s into a map) and
``gateway`` (Debian's prometheus-pushgateway, a Go service nobody on the team wrote: one whose
clients PUT to the same group, one whose clients push ever new groups, which it keeps forever).
A third job holds only healthy services. Screening must flag exactly the two leakers, and the
healthy fleet must flag nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from leaksleuth.watch.prom import PromAPI
from leaksleuth.watch.screen import ScreenResult, screen_fleet
from leaksleuth.watch.targets import Target, discover
from support.goservice import build_or_skip, run_go
from support.promserver import PromServer, free_port, run_prometheus

pytestmark = [pytest.mark.go, pytest.mark.slow]

PROMSVC = Path(__file__).resolve().parent / "goprogs" / "promsvc"
PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
WINDOW = 100.0  # seconds of history screened
STEP = 5.0


@dataclass
class Fleet:
    prom: PromServer
    start: float
    end: float
    leakers: set[str]  # target names (job/instance)
    healthy: set[str]


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not up within {timeout}s")


def _pushgateway(stack: ExitStack) -> str:
    port = free_port()
    # Debian defaults --persistence.file to a shared /var/lib file: every gateway started
    # on the machine would load (and write) the same groups. Keep ours in memory only.
    proc = subprocess.Popen([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
                             "--persistence.file="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    stack.callback(stop)
    _wait_http(f"http://127.0.0.1:{port}/-/ready")
    return f"127.0.0.1:{port}"


def _push_load(addr: str, *, new_groups: bool, seconds: float, stop: threading.Event) -> None:
    """A batch job's pushes for ``seconds`` (then it stops by itself). With ``new_groups``
    every push (8/s) names a new group, which the gateway keeps forever: its stored state
    grows without bound. Otherwise the same group is replaced in place (2/s): flat."""
    deadline = time.monotonic() + seconds
    n = 0
    pause = 0.125 if new_groups else 0.5
    with httpx.Client(base_url=f"http://{addr}", timeout=5) as c:
        while time.monotonic() < deadline and not stop.is_set():
            run = f"run{n}" if new_groups else "nightly"
            body = "".join(f'batch_job_items{{shard="{i}",run="{run}",note="{"n" * 200}"}} {i}\n'
                           for i in range(25)).encode()
            with suppress(httpx.HTTPError):
                c.put(f"/metrics/job/batch/instance/{run}", content=body)
            n += 1
            time.sleep(pause)


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    if shutil.which(PUSHGATEWAY) is None:
        pytest.skip("Debian's prometheus-pushgateway is not installed")
    if shutil.which("/usr/bin/prometheus") is None:
        pytest.skip("Debian's prometheus is not installed")
    exe23 = build_or_skip(PROMSVC, "1.23.9")
    exe26 = build_or_skip(PROMSVC, "1.26.6")
    stop = threading.Event()
    with ExitStack() as st:
        busy = ["-garbage", str(16 << 20), "-working", str(8 << 20)]
        leak = st.enter_context(run_go(exe23, *busy, "-leak", str(160 << 10)))
        ok23 = st.enter_context(run_go(exe23, *busy))
        ok26 = st.enter_context(run_go(exe26, *busy))
        quiet = st.enter_context(run_go(exe26, "-garbage", str(1 << 20)))
        gw_leak = _pushgateway(st)
        gw_ok = _pushgateway(st)
        jobs = {
            "app": [(leak.addr, {}), (ok23.addr, {}), (ok26.addr, {})],
            "gateway": [(gw_leak, {}), (gw_ok, {})],
            "steady": [(quiet.addr, {})],
        }
        prom = st.enter_context(run_prometheus(jobs, scrape_interval="1s"))
        loads = [threading.Thread(target=_push_load, args=(a,), daemon=True, kwargs=dict(
            new_groups=new, seconds=WINDOW + 30, stop=stop)) for a, new in
            ((gw_leak, True), (gw_ok, False))]
        for th in loads:
            th.start()
        st.callback(stop.set)
        prom.wait_targets_up(6)
        time.sleep(10)  # past start-up: the screen judges a service in its steady life
        start = time.time()
        time.sleep(WINDOW)
        yield Fleet(prom, start, time.time(),
                    leakers={f"app/{leak.addr}", f"gateway/{gw_leak}"},
                    healthy={f"app/{ok23.addr}", f"app/{ok26.addr}", f"gateway/{gw_ok}",
                             f"steady/{quiet.addr}"})


def _flagged(results: list[ScreenResult]) -> set[str]:
    return {r.target.name for r in results if r.status in ("leak-suspect", "growing")}


def _table(results: list[ScreenResult]) -> str:
    return "\n".join(f"{r.target.name:32s} {r.status:17s} {r.confidence:.2f} "
                     f"{r.live_heap_growth_bytes_per_second / 1024:8.1f} KiB/s "
                     f"{r.signal} {'; '.join(r.reasons)}" for r in results)


def test_screen_flags_the_leakers_only(fleet: Fleet) -> None:
    with PromAPI(fleet.prom.url) as api:
        results = screen_fleet(api, None, start=fleet.start, end=fleet.end, step=STEP)
        requests = api.requests
    print(_table(results))
    names = {r.target.name for r in results}
    assert fleet.leakers | fleet.healthy <= names, names
    assert _flagged(results) == fleet.leakers, _table(results)
    by = {r.target.name: r for r in results}
    for name in fleet.leakers:
        assert by[name].status == "leak-suspect", _table(results)
        assert by[name].confidence > 0.5
    # promsvc leaks 160 KiB/s; its live-heap estimate must see about that rate
    app_leak = next(n for n in fleet.leakers if n.startswith("app/"))
    assert 100 << 10 < by[app_leak].live_heap_growth_bytes_per_second < 240 << 10
    # ranked worst first; a handful of requests for the whole fleet
    assert {r.target.name for r in results[:2]} == fleet.leakers
    assert requests == 7  # settings, GC cycles, five range queries


def test_healthy_fleet_flags_nothing(fleet: Fleet) -> None:
    with PromAPI(fleet.prom.url) as api:
        for sel in ('{job="steady"}', {"job": "app", "instance": sorted(
                n.split("/", 1)[1] for n in fleet.healthy if n.startswith("app/"))[0]}):
            results = screen_fleet(api, None, start=fleet.start, end=fleet.end, step=STEP,
                                   selector=sel)
            print(_table(results))
            assert results, sel
            assert _flagged(results) == set(), _table(results)
            assert all(r.status == "ok" for r in results), _table(results)


def test_discovered_targets_screen_and_reach_pprof(fleet: Fleet) -> None:
    with PromAPI(fleet.prom.url) as api:
        targets = discover(api, '{job=~"app|steady"}', "{scheme}://{address}/debug/pprof")
        assert {t.name for t in targets} == {n for n in fleet.leakers | fleet.healthy
                                              if not n.startswith("gateway/")}
        for t in targets:  # the template gives each promsvc its real pprof endpoint
            assert t.pprof_url is not None
            assert httpx.get(t.pprof_url + "/", timeout=5).status_code == 200
        missing = Target("gone", None, labels={"job": "app", "instance": "127.0.0.1:1"})
        unlabelled = Target("config-only", "http://127.0.0.1:1/debug/pprof")
        results = screen_fleet(api, [*targets, missing, unlabelled], start=fleet.start,
                               end=fleet.end, step=STEP)
    by = {r.target.name: r for r in results}
    assert by["gone"].status == "insufficient-data"
    assert by["config-only"].status == "insufficient-data"
    assert _flagged(results) == {n for n in fleet.leakers if n.startswith("app/")}
    assert results[0].target.name in fleet.leakers
