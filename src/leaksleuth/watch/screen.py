"""Layer 1: screen a whole fleet from the memory history Prometheus already holds.

No traffic reaches the services. One PromQL range query per metric covers every instance that
the selector matches (2,000 instances cost a handful of requests), and the per-instance
judgement is the same trend and plateau logic ``diagnose`` uses (``analyze.trend``).

Scrape-time ``go_memstats_heap_alloc_bytes`` is a GC saw-tooth, so it is never trended as is.
The live-heap estimate is ``next_gc / (1 + GOGC/100)``: the heap goal is set at each GC from
the marked heap, so it moves with the live heap and not with garbage (see
``live_heap_signal``). Its cross-checks, which turn "growing" into "leak-suspect", are the
lower envelopes of heap_alloc and heap_inuse: ``min_over_time(...[step])`` evaluated by
Prometheus on non-overlapping windows of one ``step`` each (adjacent points stay independent
for the rank test). The envelope needs a GC cycle in each window; the runtime forces one every
two minutes at the latest, so a ``step`` of 150 s or more always has one.
``changes(go_memstats_last_gc_time_seconds[window])`` counts the GC cycles the window saw (as
far as scrapes can tell them apart), so a window too short to tell live memory from garbage
says so instead of guessing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from math import erfc, sqrt
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from leaksleuth.analyze.trend import (
    ALPHA,
    MIN_POINTS,
    MIN_TAU,
    TAIL_POINTS,
    Growth,
    Trend,
    assess_growth,
)
from leaksleuth.errors import UsageError
from leaksleuth.units import human_bytes, human_duration, human_rate
from leaksleuth.watch.prom import FloatArray, PromAPI, RangeSeries
from leaksleuth.watch.targets import (
    Matcher,
    Target,
    matches,
    parse_selector,
    selector_promql,
    target_name,
)

Status = Literal["leak-suspect", "growing", "ok", "insufficient-data"]
STATUS_RANK: dict[str, int] = {"leak-suspect": 0, "growing": 1, "insufficient-data": 2, "ok": 3}

NO_LIMIT = 2.0**62  # GOMEMLIMIT's default is math.MaxInt64: no limit
DEFAULT_GOGC = 100.0

# signal name -> PromQL template; {sel} is the selector, {w} the window (= step)
QUERIES: dict[str, str] = {
    "heap": "min_over_time(go_memstats_heap_alloc_bytes{sel}[{w}])",
    "next_gc": "min_over_time(go_memstats_next_gc_bytes{sel}[{w}])",
    "inuse": "min_over_time(go_memstats_heap_inuse_bytes{sel}[{w}])",
    "goroutines": "min_over_time(go_goroutines{sel}[{w}])",
    "rss": "max_over_time(process_resident_memory_bytes{sel}[{w}])",
}
# GC cycles seen over the whole window (one instant query: per-step windows would miss the
# changes that fall between two steps)
GC_CYCLES_QUERY = "changes(go_memstats_last_gc_time_seconds{sel}[{w}])"
SETTINGS_METRICS = ("go_memstats_heap_alloc_bytes", "go_gc_gomemlimit_bytes",
                    "go_gc_gogc_percent")

LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ScreenConfig:
    """Thresholds of the screen; defaults are deliberately strict (a false alarm at 3 a.m.
    costs more than a leak reported one window later)."""

    min_rise_bytes: float = 1024 * 1024  # the live heap must gain this much over the tail
    min_rise_fraction: float = 0.01  # ... and this share of its median
    min_goroutine_rise: float = 20.0
    min_goroutine_rise_fraction: float = 0.05
    min_gc_cycles: int = 3  # fewer GCs in the window: live heap not observable
    alpha: float = ALPHA


@dataclass(frozen=True)
class ScreenResult:
    """The screen's judgement of one target over one window."""

    target: Target
    window_seconds: float
    samples: int  # points of the live-heap estimate
    live_heap_growth_bytes_per_second: float  # slope of the live-heap estimate
    growth_p_value: float | None  # Mann-Kendall p of that slope
    plateau: bool  # grew, then stopped
    goroutine_growth_per_second: float
    heap_bytes_last: float  # last live-heap estimate (see ``signal``)
    rss_bytes_last: float | None
    goroutines_last: float | None
    limit_bytes: float | None  # configured limit, else GOMEMLIMIT when set
    time_to_exhaustion_seconds: float | None
    confidence: float  # 0..1: how sure the screen is that this target leaks
    status: Status
    reasons: tuple[str, ...]
    next_gc_last: float | None = None
    gc_cycles: int | None = None  # GC cycles seen in the window (None: not exported)
    limit_source: str | None = None  # "config" or "GOMEMLIMIT"
    signal: str = "next_gc/(1+GOGC/100)"  # which live-heap estimate was trended


@dataclass
class FleetSeries:
    """The fetched signals of one instance (labels without ``__name__``)."""

    labels: Mapping[str, str]
    sig: dict[str, RangeSeries] = field(default_factory=dict)
    gomemlimit: float | None = None
    gogc: float | None = None
    gc_cycles: int | None = None


def duration(seconds: float) -> str:
    """A PromQL duration for ``seconds`` (milliseconds precision)."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _selector_text(matchers: Sequence[Matcher]) -> str:
    inner = selector_promql(matchers)
    return "{" + inner + "}" if inner else ""


def _targets_matchers(targets: Sequence[Target]) -> list[Matcher]:
    """One ``=~`` alternation per label name the targets use (the client keeps exact pairs)."""
    names = sorted({k for t in targets for k in t.labels})
    out = []
    for name in names:
        vals = sorted({t.labels[name] for t in targets if name in t.labels})
        if len(vals) == 1 and all(name in t.labels for t in targets):
            out.append(Matcher(name, "=", vals[0]))
        elif all(name in t.labels for t in targets):
            out.append(Matcher(name, "=~", "|".join(re.escape(v) for v in vals)))
    return out


def fetch_fleet(
    api: PromAPI, matchers: Sequence[Matcher], *, start: float, end: float, step: float,
    expected_series: int | None = None, concurrency: int = 1,
) -> dict[LabelKey, FleetSeries]:
    """Every signal of every instance the matchers select: one range query per signal."""
    sel = _selector_text(matchers)
    fleet: dict[LabelKey, FleetSeries] = {}
    # settings (and a count of instances, to size the range-query chunks) at the window's end
    name_re = "|".join(SETTINGS_METRICS)
    inner = selector_promql(matchers)
    inst_q = "{" + f'__name__=~"{name_re}"' + ("," + inner if inner else "") + "}"
    settings = api.query(inst_q, time=end)
    count = 0
    for labels, value in settings:
        name = labels.pop("__name__", "")
        key = tuple(sorted(labels.items()))
        s = fleet.setdefault(key, FleetSeries(labels))
        if name == "go_gc_gomemlimit_bytes":
            s.gomemlimit = value
        elif name == "go_gc_gogc_percent":
            s.gogc = value
        else:
            count += 1
    est = max(count, expected_series or 0) or None
    gcq = GC_CYCLES_QUERY.replace("{sel}", sel).replace("{w}", duration(end - start))
    for labels, value in api.query(gcq, time=end):
        labels.pop("__name__", None)
        key = tuple(sorted(labels.items()))
        fleet.setdefault(key, FleetSeries(labels)).gc_cycles = int(value)
    w = duration(step)

    def run(sig: str) -> tuple[str, list[RangeSeries]]:
        q = QUERIES[sig].replace("{sel}", sel).replace("{w}", w)
        return sig, api.query_range(q, start, end, step, expected_series=est)

    # Prometheus evaluates each query on one core, so ``concurrency`` > 1 uses idle server
    # cores while this side decodes; but every answer in flight is decoded at once and peak
    # memory grows with it, so one at a time is the default.
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for sig, series in pool.map(run, QUERIES):
            for rs in series:
                labels = {k: v for k, v in rs.labels.items() if k != "__name__"}
                key = tuple(sorted(labels.items()))
                fleet.setdefault(key, FleetSeries(labels)).sig[sig] = rs
    return fleet


def screen_fleet(
    api: PromAPI,
    targets: Sequence[Target] | None,
    *,
    start: float,
    end: float,
    step: float,
    selector: Mapping[str, str] | str | None = None,
    config: ScreenConfig | None = None,
) -> list[ScreenResult]:
    """Screen ``targets`` (or, when None, every instance ``selector`` matches) over
    [start, end]; results ranked worst first (see ``rank_key``).

    A target is matched to the series whose labels include all of ``Target.labels``; a
    target without labels or without series is reported as insufficient-data.
    """
    if step <= 0 or end - start < 2 * step:
        raise UsageError(f"screen window {end - start:.0f}s is shorter than two steps of {step}s")
    cfg = config or ScreenConfig()
    matchers = parse_selector(selector)
    if targets is not None and not matchers:
        matchers = _targets_matchers([t for t in targets if t.labels])
    fleet = fetch_fleet(api, matchers, start=start, end=end, step=step,
                        expected_series=len(targets) if targets is not None else None)
    results: list[ScreenResult] = []
    window = end - start
    if targets is None:
        for s in fleet.values():
            if "heap" not in s.sig and "goroutines" not in s.sig:
                continue  # only settings at the end of the window: not a Go instance here
            ident = {k: v for k, v in s.labels.items() if k in ("job", "instance")}
            t = Target(name=target_name(s.labels), pprof_url=None, labels=ident or s.labels)
            results.append(screen_one(t, s, window=window, step=step, cfg=cfg))
    else:
        # index the series by the values of each label-name set the targets use
        index: dict[tuple[str, ...], dict[tuple[str, ...], list[FleetSeries]]] = {}
        for t in targets:
            names = tuple(sorted(t.labels))
            if names and names not in index:
                idx: dict[tuple[str, ...], list[FleetSeries]] = {}
                for s in fleet.values():
                    if all(n in s.labels for n in names) and matches(matchers, s.labels):
                        idx.setdefault(tuple(s.labels[n] for n in names), []).append(s)
                index[names] = idx
        for t in targets:
            names = tuple(sorted(t.labels))
            if not names:
                results.append(_no_data(t, window, "no Prometheus labels configured"))
                continue
            found = index[names].get(tuple(t.labels[n] for n in names), [])
            found = [s for s in found if "heap" in s.sig or "goroutines" in s.sig]
            if not found:
                results.append(_no_data(t, window, "no go_memstats series in Prometheus"))
                continue
            found.sort(key=lambda s: -len(s.sig["heap"].times) if "heap" in s.sig else 0)
            r = screen_one(t, found[0], window=window, step=step, cfg=cfg)
            if len(found) > 1:
                r = _with_reason(r, f"{len(found)} series match; screened the longest")
            results.append(r)
    results.sort(key=rank_key)
    return results


def rank_key(r: ScreenResult) -> tuple[int, float, float]:
    """Worst first: by status, then soonest exhaustion, then fastest relative growth."""
    tte = r.time_to_exhaustion_seconds
    rel = r.live_heap_growth_bytes_per_second / max(r.heap_bytes_last, 1.0)
    return (STATUS_RANK[r.status], tte if tte is not None else math.inf, -rel)


def _with_reason(r: ScreenResult, reason: str) -> ScreenResult:
    return replace(r, reasons=(*r.reasons, reason))


def _no_data(t: Target, window: float, why: str) -> ScreenResult:
    return ScreenResult(
        target=t, window_seconds=window, samples=0, live_heap_growth_bytes_per_second=0.0,
        growth_p_value=None, plateau=False, goroutine_growth_per_second=0.0,
        heap_bytes_last=0.0, rss_bytes_last=None, goroutines_last=None,
        limit_bytes=float(t.memory_limit_bytes) if t.memory_limit_bytes else None,
        time_to_exhaustion_seconds=None, confidence=0.0, status="insufficient-data",
        reasons=(why,), limit_source="config" if t.memory_limit_bytes else None)


def _finite(rs: RangeSeries | None) -> tuple[FloatArray, FloatArray]:
    if rs is None:
        e = np.empty(0, dtype=np.float64)
        return e, e
    m = np.isfinite(rs.values)
    return rs.times[m], rs.values[m]


@lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Index pairs i < j of n points (the same few lengths recur across a whole fleet)."""
    i, j = np.triu_indices(n, 1)
    return i, j


def _kendall(t: FloatArray, y: FloatArray) -> tuple[float, float, float]:
    """Kendall's tau-b of y against strictly increasing t, its asymptotic p-value, and the
    Theil-Sen slope (median of pairwise slopes), in one O(n^2) numpy pass."""
    n = len(y)
    iu = _pairs(n)
    dy = (y[None, :] - y[:, None])[iu]
    dt = (t[None, :] - t[:, None])[iu]
    s = float(np.sign(dy).sum())
    n0 = len(dy)
    ties = int(np.count_nonzero(dy == 0))
    denom = sqrt(n0 * (n0 - ties)) if n0 > ties else 0.0
    tau = s / denom if denom else 0.0
    var = n * (n - 1) * (2 * n + 5) / 18.0
    p = erfc(abs(s) / sqrt(2 * var)) if var > 0 else 1.0
    return tau, p, float(np.median(dy / dt))


def growth(t: FloatArray, y: FloatArray, *, min_rise: float, alpha: float) -> Growth:
    """``analyze.trend.assess_growth``, with a fast exit for the common case of a fleet.

    assess_growth can only call a series growing or a plateau when Kendall's tau of the whole
    window or of its tail reaches MIN_TAU. Both taus are computed here first (one vectorised
    pass); a series below it on both gets the same verdict (neither) without the Theil-Sen
    fits, whose confidence intervals cost ~50 ms a series on a busy 2-core machine and would
    make 2,000 instances miss a 60 s budget. Its slope is still Theil-Sen's, its p-value the
    asymptotic Mann-Kendall one.
    """
    n = len(t)
    if n >= MIN_POINTS:
        tau, p, slope = _kendall(t, y)
        h = min(n, max(TAIL_POINTS, n - n // 2))
        tail_tau = _kendall(t[n - h:], y[n - h:])[0] if h < n else tau
        if tau < MIN_TAU and tail_tau < MIN_TAU:
            span = float(t[-1] - t[0])
            tr = Trend(slope, float(np.median(y - slope * (t - t[0]))), tau, p, n, span, 0.0)
            return Growth(tr, tr, tr, False, False, True)
    return assess_growth(t, y, min_rise=min_rise, alpha=alpha)


def autocorrelated_p(t: FloatArray, y: FloatArray, slope: float) -> float:
    """Mann-Kendall p-value with the variance widened for lag-1 autocorrelated residuals.

    Memory in flight wanders for minutes, so adjacent points of a slow series are not
    independent and the plain test finds "trends" in noise. The variance of S is multiplied
    by (1 + r1) / (1 - r1), r1 the lag-1 autocorrelation of the residuals around the
    Theil-Sen line (the AR(1) effective-sample-size correction); r1 <= 0 changes nothing.
    """
    n = len(y)
    if n < 4:
        return 1.0
    tau, _, _ = _kendall(t, y)
    r = y - slope * (t - t[0])
    r = r - r.mean()
    den = float(np.dot(r, r))
    r1 = float(np.dot(r[1:], r[:-1]) / den) if den > 0 else 0.0
    r1 = min(max(r1, 0.0), 0.95)
    n0 = n * (n - 1) / 2
    s_stat = tau * n0
    var = n * (n - 1) * (2 * n + 5) / 18.0 * (1 + r1) / (1 - r1)
    return erfc(abs(s_stat) / sqrt(2 * var))


def since_restart(t: FloatArray, y: FloatArray,
                  drop: float = 0.6) -> tuple[FloatArray, FloatArray, float | None]:
    """The part of a live-heap series after its last restart (or mass release): a fall
    below ``drop`` times the previous point. What came before says nothing about the
    process now, and a warm-up climbing back from it is not a leak."""
    if len(y) < 2:
        return t, y, None
    falls = np.flatnonzero(y[1:] < drop * y[:-1])
    if not len(falls):
        return t, y, None
    k = int(falls[-1]) + 1
    return t[k:], y[k:], float(t[k])


def _rising(t: FloatArray, y: FloatArray, alpha: float) -> bool:
    """A cross-check: does this signal's tail also trend up (significant, consistent)?"""
    if len(t) < MIN_POINTS:
        return False
    g = assess_growth(t, y, min_rise=0.0, alpha=alpha)
    return g.tail.significant(alpha) or (g.full.significant(alpha) and g.last.slope > 0)


SIGNAL_NEXT_GC = "next_gc/(1+GOGC/100)"
SIGNAL_ENVELOPE = "heap_alloc lower envelope"


def live_heap_signal(s: FleetSeries) -> tuple[str, FloatArray, FloatArray]:
    """The live-heap estimate of one instance: which signal, its times and values.

    ``next_gc / (1 + GOGC/100)`` is the marked heap of the last GC (plus a share of stacks
    and globals) and is the default: on real services it follows the runtime's own
    ``/gc/heap/live:bytes`` more closely and with less scatter than the heap_alloc envelope
    (README, "Screening figures"). It stops meaning that when GOGC is off or GOMEMLIMIT caps
    the goal; then the envelope is used.
    """
    tn, yn = _finite(s.sig.get("next_gc"))
    gogc = s.gogc if s.gogc is not None else DEFAULT_GOGC
    capped = (s.gomemlimit is not None and 0 < s.gomemlimit < NO_LIMIT and len(yn) > 0
              and float(yn.max()) >= 0.9 * s.gomemlimit)
    if len(yn) >= MIN_POINTS and gogc > 0 and not capped:
        return SIGNAL_NEXT_GC, tn, yn / (1.0 + gogc / 100.0)
    th, yh = _finite(s.sig.get("heap"))
    return SIGNAL_ENVELOPE, th, yh


def screen_one(t: Target, s: FleetSeries, *, window: float, step: float,
               cfg: ScreenConfig) -> ScreenResult:
    """The judgement of one instance from its fetched signals (pure: no I/O)."""
    reasons: list[str] = []
    signal, th, yh = live_heap_signal(s)
    tg, yg = _finite(s.sig.get("goroutines"))
    _, yr = _finite(s.sig.get("rss"))
    _, yn = _finite(s.sig.get("next_gc"))
    gc_cycles = s.gc_cycles
    limit: float | None = None
    limit_source: str | None = None
    if t.memory_limit_bytes:
        limit, limit_source = float(t.memory_limit_bytes), "config"
    elif s.gomemlimit is not None and 0 < s.gomemlimit < NO_LIMIT:
        limit, limit_source = s.gomemlimit, "GOMEMLIMIT"
    gogc = s.gogc if s.gogc is not None and s.gogc > 0 else DEFAULT_GOGC
    expected = max(1.0, window / step)
    t_end = float(th[-1]) if len(th) else 0.0
    coverage = min(1.0, len(th) / expected)

    rss_last = float(yr[-1]) if len(yr) else None
    next_gc_last = float(yn[-1]) if len(yn) else None
    base = ScreenResult(
        target=t, window_seconds=window, samples=len(th),
        live_heap_growth_bytes_per_second=0.0, growth_p_value=None, plateau=False,
        goroutine_growth_per_second=0.0, heap_bytes_last=float(yh[-1]) if len(yh) else 0.0,
        rss_bytes_last=rss_last, goroutines_last=float(yg[-1]) if len(yg) else None,
        limit_bytes=limit, time_to_exhaustion_seconds=None, confidence=0.0,
        status="insufficient-data", reasons=(), next_gc_last=next_gc_last,
        gc_cycles=gc_cycles, limit_source=limit_source, signal=signal)

    gor: Growth | None = None
    if len(tg) >= MIN_POINTS:
        med_g = float(np.median(yg))
        gor = growth(tg, yg, alpha=cfg.alpha, min_rise=max(
            cfg.min_goroutine_rise, cfg.min_goroutine_rise_fraction * med_g))
    gor_rate = gor.slope if gor is not None else 0.0

    if len(th) < MIN_POINTS:
        reasons.append(f"only {len(th)} live-heap points (need {MIN_POINTS})")
        return replace(base, goroutine_growth_per_second=gor_rate, reasons=tuple(reasons))
    if gc_cycles is not None and gc_cycles < cfg.min_gc_cycles:
        reasons.append(f"only {gc_cycles} GC cycles seen in {window:.0f}s: "
                       "live heap not observable")
        return replace(base, goroutine_growth_per_second=gor_rate, reasons=tuple(reasons))

    th, yh, restarted = since_restart(th, yh)
    if restarted is not None:
        reasons.append(f"restarted (or released most of its heap) "
                       f"{(t_end - restarted) / 60:.0f} min before the end")
        gm = tg >= restarted
        tg, yg = tg[gm], yg[gm]
        if len(th) < MIN_POINTS:
            return replace(base, goroutine_growth_per_second=gor_rate, reasons=tuple(reasons))
    med = float(np.median(yh))
    min_rise = max(cfg.min_rise_bytes, cfg.min_rise_fraction * med)
    heap = growth(th, yh, min_rise=min_rise, alpha=cfg.alpha)
    rate = heap.slope
    trend = heap.tail if heap.growing else heap.full
    status: Status = "ok"
    too_soon = (heap.growing and restarted is not None
                and t_end - restarted < window / 2)  # a warm-up may still be under way
    demoted = False
    if heap.growing:
        n = heap.tail.n
        p_ac = autocorrelated_p(th[-n:], yh[-n:], heap.tail.slope)
        if p_ac >= cfg.alpha:
            reasons.append(f"live heap rose {human_bytes(heap.tail.rise)} but within wandering "
                           f"noise (p {p_ac:.2f} allowing for autocorrelation)")
            heap = replace(heap, growing=False)
            demoted = True
            rate = heap.full.slope
            trend = heap.full
    if heap.growing:
        others = ("heap", "inuse") if signal == SIGNAL_NEXT_GC else ("next_gc", "inuse")
        label = {"heap": "heap_alloc floor", "inuse": "heap_inuse floor", "next_gc": "next_gc"}
        checks = [label[n] for n in others if _rising(*_finite(s.sig.get(n)), alpha=cfg.alpha)]
        reasons.append(
            f"live heap +{human_rate(rate)} over the last {trend.span / 60:.0f} min "
            f"(tau {trend.tau:.2f}, p {trend.p_value:.1e}, {signal})"
            + (f", confirmed by {' and '.join(checks)}" if checks
               else f", {' and '.join(label[n] for n in others)} do not confirm"))
        status = "leak-suspect" if checks else "growing"
    elif heap.plateau:
        reasons.append(f"live heap grew {human_bytes(heap.full.rise)} then stopped (plateau)")
    elif not demoted:
        reasons.append(f"live heap steady at ~{human_bytes(med)}")
    if restarted is not None and len(tg) >= MIN_POINTS:
        gor = growth(tg, yg, alpha=cfg.alpha, min_rise=max(
            cfg.min_goroutine_rise, cfg.min_goroutine_rise_fraction * float(np.median(yg))))
        gor_rate = gor.slope
    if gor is not None and gor.growing:
        reasons.append(f"goroutines +{gor_rate * 3600:.0f}/h (tau {gor.tail.tau:.2f})")
        status = "leak-suspect"
    elif gor is not None and gor.plateau:
        reasons.append("goroutines grew then stopped (plateau)")

    if too_soon and not (gor is not None and gor.growing):
        status = "insufficient-data"
        reasons.append("too soon after the restart to tell a warm-up from a leak")
    tte = None
    if status in ("leak-suspect", "growing") and rate > 0 and limit is not None:
        tte = _time_to_exhaustion(limit, limit_source, rate, gogc, float(yh[-1]),
                                  rss_last, next_gc_last)
        reasons.append(f"{limit_source} {human_bytes(limit)}: exhausted in ~{human_duration(tte)}")

    factor = {"leak-suspect": 1.0, "growing": 0.6, "ok": 0.25, "insufficient-data": 0.1}[status]
    tau = max(0.0, trend.tau)
    p = trend.p_value if trend.p_value is not None else 1.0
    if status == "leak-suspect" and not heap.growing and gor is not None:
        tau, p = max(0.0, gor.tail.tau), gor.tail.p_value or 1.0
    conf = 0.0 if status == "ok" and not heap.plateau else factor * tau * (1.0 - p) * coverage
    return replace(
        base, live_heap_growth_bytes_per_second=rate, growth_p_value=trend.p_value,
        plateau=heap.plateau, goroutine_growth_per_second=gor_rate,
        time_to_exhaustion_seconds=tte, confidence=round(min(1.0, max(0.0, conf)), 3),
        status=status, reasons=tuple(reasons))


def _time_to_exhaustion(limit: float, source: str | None, live_rate: float, gogc: float,
                        live_last: float, rss_last: float | None,
                        next_gc_last: float | None) -> float:
    """Seconds until the limit is reached at the present growth rate.

    GOMEMLIMIT bounds the Go runtime's own memory: once the live heap reaches it the GC runs
    back to back and the service stalls, so the live heap is what approaches it. A configured
    (container) limit is met by the peak footprint, RSS, which grows by the live-heap growth
    times (1 + GOGC/100) because the heap goal scales with it.
    """
    if source == "GOMEMLIMIT":
        return max(0.0, limit - live_last) / live_rate
    level = rss_last if rss_last is not None else (next_gc_last or live_last)
    return max(0.0, limit - level) / (live_rate * (1.0 + gogc / 100.0))
