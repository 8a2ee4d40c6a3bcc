"""Unit tests of layer-1 screening on small hand-made inputs (the real-Prometheus tests are in
test_watch_screen.py): selectors, pprof URL templates, config targets, the HTTP client's
chunking and errors, the per-instance judgement and the fleet table."""

from __future__ import annotations

import io
import json
import math
from typing import Any
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaksleuth.analyze.trend import assess_growth
from leaksleuth.errors import CollectError, UsageError
from leaksleuth.report import fleet as fleet_report
from leaksleuth.watch.prom import PromAPI, PromError, RangeSeries, ScrapeTarget
from leaksleuth.watch.screen import (
    SIGNAL_ENVELOPE,
    SIGNAL_NEXT_GC,
    FleetSeries,
    ScreenConfig,
    duration,
    growth,
    rank_key,
    screen_fleet,
    screen_one,
)
from leaksleuth.watch.targets import (
    Target,
    discover,
    parse_selector,
    pprof_url_for,
    selector_promql,
    targets_from_config,
)

MiB = 1024 * 1024


# -- selectors, templates, config -------------------------------------------------------------

def test_selector_forms() -> None:
    ms = parse_selector('{job=~"api|web", env!="dev", zone!~"eu-.*",team="a\\"b"}')
    assert [(m.name, m.op, m.value) for m in ms] == [
        ("job", "=~", "api|web"), ("env", "!=", "dev"), ("zone", "!~", "eu-.*"),
        ("team", "=", 'a"b')]
    labels = {"job": "api", "env": "prod", "zone": "us-1", "team": 'a"b'}
    assert all(m.matches(labels) for m in ms)
    assert not parse_selector('{job=~"ap"}')[0].matches(labels)  # anchored, as Prometheus
    assert selector_promql(parse_selector({"job": "x"})) == 'job="x"'
    assert parse_selector(None) == [] and parse_selector("") == []


@pytest.mark.parametrize("bad", ['{job="x"', "job=x", '{job=~"("}', '{1a="b"}', '{job=="x"}'])
def test_bad_selector_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_selector(bad)


def test_pprof_templates() -> None:
    st_ = ScrapeTarget(labels={"job": "api", "instance": "10.0.0.5:9100", "pod": "api-1"},
                       scrape_url="https://10.0.0.5:9100/metrics", health="up")
    assert pprof_url_for(st_, "{scheme}://{address}/debug/pprof") == \
        "https://10.0.0.5:9100/debug/pprof"
    assert pprof_url_for(st_, "http://{host}:6060/debug/pprof/") == \
        "http://10.0.0.5:6060/debug/pprof"
    assert pprof_url_for(st_, "http://{pod}.{job}:{port}") == "http://api-1.api:9100"
    assert pprof_url_for(st_, "") is None
    with pytest.raises(UsageError, match="nope"):
        pprof_url_for(st_, "http://{nope}/")


def test_targets_from_config() -> None:
    ts = targets_from_config([
        {"name": "a", "pprof_url": "http://127.0.0.1:1/debug/pprof/", "pid": 42,
         "labels": {"job": "a"}, "memory_limit_bytes": 512 * MiB},
        {"name": "b"}])
    assert ts[0] == Target("a", "http://127.0.0.1:1/debug/pprof", 42, {"job": "a"}, 512 * MiB)
    assert ts[1].pprof_url is None and ts[1].labels == {}
    for bad in ([{"pprof_url": "x"}], [{"name": "a"}, {"name": "a"}], [{"name": "a", "pid": 0}],
                [{"name": "a", "labels": {"k": 1}}], [{"name": "a", "memory_limit_bytes": True}],
                ["a"]):
        with pytest.raises(UsageError):
            targets_from_config(bad)  # type: ignore[arg-type]


# -- the HTTP client --------------------------------------------------------------------------

class FakeProm:
    """Answers query_range with one point per step for ``series`` instances (value = time)."""

    def __init__(self, series: int = 2) -> None:
        self.series = series
        self.calls: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.calls.append(form)
        start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
        n = math.floor((end - start) / step + 1e-9) + 1
        assert n <= 11_000, "Prometheus refuses more than 11,000 points per series"
        result = [{"metric": {"instance": f"i{k}"},
                   "values": [[start + j * step, str(start + j * step + k)] for j in range(n)]}
                  for k in range(self.series)]
        return httpx.Response(200, json={"status": "success",
                                         "data": {"resultType": "matrix", "result": result}})


def test_query_range_chunks_at_11000_points_and_joins() -> None:
    fake = FakeProm()
    with PromAPI("http://prom", transport=httpx.MockTransport(fake)) as api:
        out = api.query_range("up", 0, 25_000, 1)
    assert len(fake.calls) == 3 and api.requests == 3
    by = {r.labels["instance"]: r for r in out}
    assert len(by["i1"].times) == 25_001
    assert np.array_equal(by["i1"].times, np.arange(25_001.0))
    assert np.array_equal(by["i1"].values, np.arange(25_001.0) + 1)


def test_query_range_respects_the_points_budget() -> None:
    fake = FakeProm(series=10)
    with PromAPI("http://prom", transport=httpx.MockTransport(fake), points_budget=1000) as api:
        out = api.query_range("up", 0, 999, 1, expected_series=10)
    assert len(fake.calls) == 10  # 100 points x 10 series per answer
    assert all(len(r.times) == 1000 for r in out)


@pytest.mark.parametrize("resp", [
    httpx.Response(400, json={"status": "error", "error": "parse error at char 3"}),
    httpx.Response(200, content=b"<html>proxy</html>"),
    httpx.Response(200, json={"status": "success", "data": {"resultType": "vector",
                                                            "result": []}}),
    httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix",
                                                            "result": [{"values": 3}]}}),
])
def test_bad_answers_raise_prom_error(resp: httpx.Response) -> None:
    with PromAPI("http://prom", transport=httpx.MockTransport(lambda r: resp)) as api, \
            pytest.raises(PromError):
        api.query_range("up", 0, 10, 1)


def test_unreachable_is_a_collect_error() -> None:
    from support.promserver import free_port

    port = free_port()
    with PromAPI(f"http://127.0.0.1:{port}", timeout=2) as api, \
            pytest.raises(CollectError, match="unreachable"):
        api.targets()


def test_discover_filters_and_names() -> None:
    doc = {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": "api", "instance": "h1:80"}, "scrapeUrl": "http://h1:80/metrics",
         "health": "up"},
        {"labels": {"job": "db", "instance": "h2:80"}, "scrapeUrl": "http://h2:80/metrics",
         "health": "up"},
        {"labels": {"job": "api", "instance": "h3:81"}, "scrapeUrl": "http://h3:81/metrics",
         "health": "down"}]}}
    t = httpx.MockTransport(lambda r: httpx.Response(200, json=doc))
    with PromAPI("http://prom", transport=t) as api:
        got = discover(api, {"job": "api"}, "http://{host}:6060/debug/pprof")
    assert [(x.name, x.pprof_url, dict(x.labels)) for x in got] == [
        ("api/h1:80", "http://h1:6060/debug/pprof", {"job": "api", "instance": "h1:80"}),
        ("api/h3:81", "http://h3:6060/debug/pprof", {"job": "api", "instance": "h3:81"})]


# -- the judgement of one instance -----------------------------------------------------------

STEP = 150.0
N = 96


def _series(live: np.ndarray, *, gor: np.ndarray | None = None, gogc: float | None = 100.0,
            gomemlimit: float | None = None, envelope_follows: bool = True,
            gcs: float = 5.0) -> FleetSeries:
    t = 1_000_000.0 + STEP * np.arange(len(live))
    rs = lambda y: RangeSeries({"job": "j", "instance": "i"}, t, np.asarray(y, float))  # noqa: E731
    flat = np.full(len(live), live[0])
    env = live if envelope_follows else flat
    sig = {"next_gc": rs(live * 2), "heap": rs(env), "inuse": rs(env * 1.1),
           "goroutines": rs(gor if gor is not None else np.full(len(live), 50.0)),
           "rss": rs(live * 2.2 + 20e6)}
    return FleetSeries({"job": "j", "instance": "i"}, sig, gomemlimit=gomemlimit, gogc=gogc,
                       gc_cycles=int(gcs * len(live)))


def _judge(s: FleetSeries, limit: int | None = None) -> Any:
    tgt = Target("j/i", None, labels={"job": "j", "instance": "i"}, memory_limit_bytes=limit)
    return screen_one(tgt, s, window=STEP * N, step=STEP, cfg=ScreenConfig())


rng = np.random.default_rng(3)
NOISE = rng.normal(0, 1, N)


def test_steady_noisy_heap_is_ok() -> None:
    r = _judge(_series(100 * MiB + 2 * MiB * NOISE))
    assert r.status == "ok" and not r.plateau and r.confidence == 0.0
    assert r.signal == SIGNAL_NEXT_GC
    assert r.heap_bytes_last == pytest.approx(100 * MiB + 2 * MiB * NOISE[-1])


def test_leak_confirmed_by_the_envelope_is_a_suspect() -> None:
    rate = 5 * 1024.0
    live = 100 * MiB + rate * STEP * np.arange(N) + 0.5 * MiB * NOISE
    r = _judge(_series(live))
    assert r.status == "leak-suspect", r.reasons
    assert r.live_heap_growth_bytes_per_second == pytest.approx(rate, rel=0.1)
    assert r.confidence > 0.8 and r.growth_p_value is not None and r.growth_p_value < 1e-6


def test_growth_the_envelope_does_not_show_is_only_growing() -> None:
    live = 100 * MiB + 5 * 1024.0 * STEP * np.arange(N) + 0.5 * MiB * NOISE
    r = _judge(_series(live, envelope_follows=False))
    assert r.status == "growing", r.reasons
    assert "do not confirm" in r.reasons[0]


def test_growth_that_stops_is_a_plateau() -> None:
    k = np.arange(N)
    live = 100 * MiB + 40 * MiB * np.minimum(k, 30) / 30 + 0.3 * MiB * NOISE
    r = _judge(_series(live))
    assert r.status == "ok" and r.plateau, r.reasons


def test_restart_then_warm_up_is_not_a_leak() -> None:
    k = np.arange(N)
    live = 100 * MiB + 0.5 * MiB * NOISE
    live[80:] = 100 * MiB * (1 - 0.7 * np.exp(-(k[80:] - 80) / 6.0))
    r = _judge(_series(live))
    assert r.status == "insufficient-data", r.reasons
    assert any("restart" in x for x in r.reasons)


def test_goroutine_leak_is_a_suspect() -> None:
    gor = 50 + 0.02 * STEP * np.arange(N) + rng.normal(0, 2, N)
    r = _judge(_series(100 * MiB + 0.5 * MiB * NOISE, gor=gor))
    assert r.status == "leak-suspect", r.reasons
    assert r.goroutine_growth_per_second == pytest.approx(0.02, rel=0.2)


def test_time_to_exhaustion_under_gomemlimit_and_a_configured_limit() -> None:
    rate = 10 * 1024.0
    live = 100 * MiB + rate * STEP * np.arange(N)
    r = _judge(_series(live, gomemlimit=400 * MiB))
    assert r.limit_source == "GOMEMLIMIT"
    assert r.time_to_exhaustion_seconds == pytest.approx((400 * MiB - live[-1]) / rate, rel=0.05)
    r2 = _judge(_series(live), limit=2000 * MiB)
    rss_last = live[-1] * 2.2 + 20e6
    assert r2.limit_source == "config"
    assert r2.time_to_exhaustion_seconds == pytest.approx(
        (2000 * MiB - rss_last) / (rate * 2), rel=0.05)
    assert _judge(_series(live, gomemlimit=2.0**63 - 1)).limit_bytes is None  # MaxInt64: unset


def test_gomemlimit_capping_next_gc_falls_back_to_the_envelope() -> None:
    live = 100 * MiB + 5 * 1024.0 * STEP * np.arange(N)
    r = _judge(_series(live, gomemlimit=float(live.max() * 2)))
    assert r.signal == SIGNAL_ENVELOPE
    assert r.status == "leak-suspect"


def test_too_few_gc_cycles_or_points_is_insufficient() -> None:
    assert _judge(_series(np.full(N, 100 * MiB), gcs=0.0)).status == "insufficient-data"
    assert _judge(_series(np.full(4, 100 * MiB))).status == "insufficient-data"


@settings(max_examples=60, deadline=None)
@given(st.integers(6, 80), st.floats(0, 3), st.floats(0, 0.3), st.integers(0, 2**31 - 1),
       st.booleans())
def test_fast_growth_gives_assess_growths_verdict(n: int, walk: float, trend: float, seed: int,
                                                 rounded: bool) -> None:
    r = np.random.default_rng(seed)
    t = 150.0 * np.arange(n)
    y = np.cumsum(r.normal(0, 1, n)) * walk + trend * np.arange(n)
    if rounded:
        y = np.round(y)
    g, h = growth(t, y, min_rise=1.0, alpha=0.01), assess_growth(t, y, min_rise=1.0, alpha=0.01)
    assert (g.growing, g.plateau, g.enough_data) == (h.growing, h.plateau, h.enough_data)
    assert g.full.slope == pytest.approx(h.full.slope, rel=1e-9, abs=1e-12)
    assert g.full.tau == pytest.approx(h.full.tau, abs=1e-9)


# -- fleet-level plumbing and rendering -------------------------------------------------------

def test_screen_fleet_uses_one_query_per_signal() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        seen.append(form["query"])
        if request.url.path.endswith("/query"):
            return httpx.Response(200, json={"status": "success", "data": {
                "resultType": "vector", "result": []}})
        start, step = float(form["start"]), float(form["step"])
        n = math.floor((float(form["end"]) - start) / step + 1e-9) + 1
        res = [{"metric": {"job": "j", "instance": f"h{k}"},
                "values": [[start + j * step, "1000000"] for j in range(n)]} for k in range(50)]
        return httpx.Response(200, json={"status": "success", "data": {
            "resultType": "matrix", "result": res}})

    with PromAPI("http://prom", transport=httpx.MockTransport(handler)) as api:
        out = screen_fleet(api, None, start=0, end=3600, step=60, selector={"job": "j"})
    assert len(out) == 50 and api.requests == 7  # settings, GC cycles, five range queries
    assert all('job="j"' in q for q in seen)
    assert "min_over_time(go_memstats_next_gc_bytes{job=\"j\"}[1m])" not in seen  # duration
    assert any(q == 'min_over_time(go_memstats_next_gc_bytes{job="j"}[60s])' for q in seen)
    with pytest.raises(UsageError):
        screen_fleet(api, None, start=0, end=60, step=60)


def test_duration() -> None:
    assert (duration(150), duration(0.5), duration(2.25)) == ("150s", "500ms", "2250ms")


def _results() -> list[Any]:
    rate = 10 * 1024.0
    rs = [_judge(_series(100 * MiB + rate * STEP * np.arange(N)), limit=2000 * MiB),
          _judge(_series(100 * MiB + 2 * MiB * NOISE)),
          _judge(_series(np.full(4, 100 * MiB)))]
    return sorted(rs, key=rank_key)


def test_fleet_table_text_rich_and_json() -> None:
    rs = _results()
    assert [r.status for r in rs] == ["leak-suspect", "insufficient-data", "ok"]
    text = fleet_report.render_text(rs)
    lines = text.splitlines()
    assert lines[0].startswith("3 targets over 4.0 h: 1 leak-suspect, 0 growing")
    assert "leak-suspect" in lines[2] and "exhausted in" in lines[1]
    assert "+10.2 kB" in lines[2]  # 10 KiB/s in the growth/s column, decimal like every report
    assert "live heap +10.2 kB/s" in lines[2]
    doc = json.loads(fleet_report.to_json(rs, generated_at=0))
    assert doc["schema"] == "leaksleuth.fleet/1" and doc["counts"]["ok"] == 1
    assert doc["targets"][0]["rank"] == 1 and doc["targets"][0]["status"] == "leak-suspect"
    assert doc["targets"][1]["growth_p_value"] is None
    out = io.StringIO()
    fleet_report.render(rs, out, terminal=True)
    assert "leak-suspect" in out.getvalue() and "j/i" in out.getvalue()
    nan = [r.__class__(**{**r.__dict__, "live_heap_growth_bytes_per_second": float("nan")})
           for r in rs]
    assert json.loads(fleet_report.to_json(nan))["targets"][0][
        "live_heap_growth_bytes_per_second"] is None
