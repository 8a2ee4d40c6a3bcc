"""From a session's snapshots to a ``Diagnosis``: verdict, ranked suspects, evidence, advice.

Pure: no printing, no I/O besides the snapshot loaders it is handed. The steps follow the
manual method of DESIGN.md: the post-GC heap floor across GC cycles, per-site heap growth,
goroutine groups over time, the cross-check between the two, then classification.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from leaksleuth.analyze.allocsite import ExeFacts
from leaksleuth.analyze.classify import (
    ADVICE,
    CLIENT_FRAMES,
    CONN_FRAMES,
    EXPLANATIONS,
    classify_site,
    is_connection_heap_stack,
    is_connection_stack,
)
from leaksleuth.analyze.diagnosis import (
    Diagnosis,
    GoroutineGroupTrend,
    GoroutineSeries,
    HeapSeries,
    MapFinding,
    Sensitivity,
    Suspect,
    SuspectKind,
    Verdict,
    Window,
)
from leaksleuth.analyze.series import (
    GroupSeries,
    Names,
    SessionSeries,
    SiteSeries,
    fill_forward,
)
from leaksleuth.analyze.steady import (
    RETENTION_KINDS,
    SteadyConfig,
    retention_summary,
    steady_findings,
)
from leaksleuth.analyze.trend import (
    ALPHA,
    DETECTION_POWER,
    MIN_POINTS,
    TAIL_POINTS,
    Growth,
    assess_growth,
    detectable_rate,
    slope_upper_bound,
    watch_time,
    window_noise,
)
from leaksleuth.profile.frames import import_path, is_stdlib, own_frames, site_function
from leaksleuth.profile.snapshot import Snapshot
from leaksleuth.units import human_bytes, human_duration, human_p, human_rate

FloatArray = NDArray[np.float64]

RUNNING_STATES = frozenset({"running", "runnable", "syscall", ""})
DEFAULT_STACK_BYTES = 8192


@dataclass(frozen=True)
class AnalysisConfig:
    """Thresholds; the defaults are tuned on the scenario corpus (tests/scenarios)."""

    min_floor_rise: float = 256 * 1024  # bytes the floor must gain over the tail
    min_floor_rise_fraction: float = 0.002  # ... and this share of the median floor
    min_site_rise: float = 128 * 1024
    min_goroutine_rise: float = 6  # goroutines a group must gain over the tail
    retention_ratio: float = 4.0  # map holds >= 4x what its entries need
    retention_min_bytes: int = 1 << 20
    max_suspects: int = 10
    min_gc_cycles: int = 3  # fewer GC cycles in the window: the heap side is inconclusive
    steady: SteadyConfig = field(default_factory=SteadyConfig)  # findings without growth
    # growth that matters: a no-leak verdict needs the window to detect this rate (or the heap
    # doubling within material_doubling_seconds, when that is faster)
    material_rate: float = 50e3
    material_doubling_seconds: float = 1800.0
    steady_min_tau: float = 0.6  # a site's growth counts on its own only when this consistent
    steady_envelope_share: float = 0.5  # ... and its lower envelope keeps this share of the rise
    upper_confidence: float = 0.95


class SessionLike(Protocol):
    """What ``collect.session.Session`` offers (structural, to avoid an import cycle)."""

    def snapshots(self) -> Iterable[Snapshot]: ...


@dataclass
class _Candidate:
    kind: SuspectKind
    function: str
    stack: Names
    growth: float  # bytes per second
    inuse: float
    confidence: float
    evidence: list[str] = field(default_factory=list)
    goroutines: int | None = None
    allocation: str | None = None
    series: tuple[int, ...] = ()
    variable: str | None = None
    counts: FloatArray | None = None  # goroutines per snapshot (NaN where missing)
    server_side: bool = False  # a connection leak whose server end is in this process too
    sure: list[str] = field(default_factory=list)  # why the confidence is what it is
    steady: bool | None = None  # heap sites: long-lived growth (see _steady_site)


def _finite(a: FloatArray) -> NDArray[np.bool_]:
    return np.isfinite(a)


def _floor(series: SessionSeries, gc_forced: bool = True) -> tuple[FloatArray, str]:
    """The post-GC live heap: MemStats HeapAlloc right after the forced GC when recorded,
    else the heap profile's in-use total (the state as of the last completed GC, so still a
    post-GC figure when the session was collected without forcing GC)."""
    ha = series.heap_alloc
    enough_profiles = int(_finite(series.profile_inuse).sum()) >= MIN_POINTS
    if not gc_forced and enough_profiles:
        return series.profile_inuse, "in-use bytes of the heap profile (as of the last GC)"
    if int(_finite(ha).sum()) >= max(MIN_POINTS, int(_finite(series.profile_inuse).sum()) // 2):
        return ha, "HeapAlloc after a forced GC"
    return series.profile_inuse, "in-use bytes of the heap profile after a forced GC"


LIVE_ESTIMATE = "NextGC after the forced GC, on HeapAlloc's scale"
MIN_HEAP_GOAL = 4 << 20  # the runtime's smallest heap goal at GOGC=100


def _live_estimate(series: SessionSeries, floor: FloatArray) -> FloatArray | None:
    """The heap goal right after the forced GC, rescaled to the floor.

    From Go 1.18 the goal is live + (live + stacks + globals) x GOGC/100, computed from the
    heap the GC has just marked, so it does not see what requests allocate between the GC and
    the MemStats read; on busy services it is the less noisy live-heap reading. It is used only
    while it moves in proportion to the floor (a GOMEMLIMIT near the heap, or the 4 MB minimum
    goal, break the proportion): the ratio of the two must stay within 30% across the window.
    """
    ng = series.next_gc
    ok = _finite(ng) & _finite(floor) & (ng > 0) & (floor > 0)
    if int(ok.sum()) < MIN_POINTS:
        return None
    # A goal that never moves while the floor does says nothing of the live heap; one at the
    # runtime's minimum (4 MiB at the default GOGC) is clamped, not computed from the heap.
    if float(np.ptp(ng[ok])) == 0.0 and float(np.ptp(floor[ok])) > 0.0:
        return None
    if bool((ng[ok] == MIN_HEAP_GOAL).any()):
        return None
    ratio = floor[ok] / ng[ok]
    med = float(np.median(ratio))
    q1, q3 = (float(x) for x in np.percentile(ratio, [25, 75]))
    if not 0.05 < med < 1.0 or (q3 - q1) > 0.3 * med:
        return None
    return np.where(ok, ng * med, np.nan)


STEADY_MIN_STEPS = 3  # rises of a site's lower envelope; heap profiles are sampled (~512 KiB)


@dataclass(frozen=True)
class _Steady:
    """A site whose in-use bytes grow like a store (monotone, kept across GC cycles)."""

    growth: Growth
    envelope_share: float  # rise of the lower envelope / rise of the trend


def _lower_envelope(y: FloatArray) -> FloatArray:
    """Suffix minimum: what of each point is still there at every later snapshot."""
    return np.minimum.accumulate(y[::-1])[::-1]


def _steady_site(t: FloatArray, b: FloatArray, cfg: AnalysisConfig,
                 alpha: float) -> _Steady | None:
    """Long-lived growth, told from request-scoped churn.

    A store or registry keeps what it gains: its in-use bytes rise consistently (high tau,
    significant even after correcting for the number of sites tested) and its lower envelope
    (the suffix minimum) rises with it. Churn from in-flight requests is mean-reverting: its
    bytes jump up and back down, so its envelope stays at the bottom and its tau is low.
    """
    if len(b) < MIN_POINTS or b[-1] <= b[0]:
        return None
    g = assess_growth(t, b, min_rise=cfg.min_site_rise, alpha=alpha)
    if not g.growing or g.tail.tau < cfg.steady_min_tau:
        return None
    env = _lower_envelope(b)
    if int(np.count_nonzero(np.diff(env) > 0)) < STEADY_MIN_STEPS:
        return None  # one or two profile samples appearing is not a trend
    third = max(1, len(b) // 3)
    env_rise = float(np.median(env[-third:]) - np.median(env[:third]))
    trend_rise = g.full.slope * (float(t[-1] - t[0]) * (1 - 1 / 3))
    share = env_rise / trend_rise if trend_rise > 0 else 0.0
    if share < cfg.steady_envelope_share:
        return None
    return _Steady(g, share)


def _steady_sites(series: SessionSeries, cfg: AnalysisConfig) -> dict[str, _Steady]:
    """Own sites growing steadily, each judged at ALPHA / (sites tested) (Bonferroni)."""
    m = series.has_heap
    t = series.times[m]
    if len(t) < MIN_POINTS:
        return {}
    tested = [s for s in series.sites.values()
              if not is_stdlib(s.function) and s.bytes[m][-1] > s.bytes[m][0]
              and float(np.max(s.bytes[m])) >= cfg.min_site_rise]
    alpha = ALPHA / max(1, len(tested))
    out: dict[str, _Steady] = {}
    for site in tested:
        st = _steady_site(t, site.bytes[m], cfg, alpha)
        if st is not None:
            out[site.function] = st
    return out


def _interval(series: SessionSeries, settings: Mapping[str, Any]) -> float:
    iv = settings.get("interval")
    if isinstance(iv, int | float) and iv > 0:
        return float(iv)
    d = np.diff(series.times)
    return float(np.median(d)) if len(d) else 1.0


def _sensitivity(
    t: FloatArray, signals: Sequence[tuple[str, FloatArray]], *, min_rise: float,
    material: float, interval: float, cfg: AnalysisConfig, plateau: bool = False,
) -> Sensitivity | None:
    """What this window could have seen, on the least noisy live-heap signal."""
    best: tuple[float, str, FloatArray, FloatArray] | None = None
    for name, y in signals:
        ok = _finite(y)
        if int(ok.sum()) < MIN_POINTS:
            continue
        noise = window_noise(t[ok], y[ok])
        if best is None or noise < best[0]:
            best = (noise, name, t[ok], y[ok])
    if best is None:
        return None
    noise, name, tt, yy = best
    det = detectable_rate(tt, noise, min_rise=min_rise)
    watch = watch_time(interval, noise, material, min_rise=min_rise)
    if plateau:  # the early rise was a warm-up: bound the slope of what came after it
        h = min(len(tt), max(TAIL_POINTS, len(tt) - len(tt) // 2))
        tt, yy = tt[-h:], yy[-h:]
    upper = slope_upper_bound(tt, yy, cfg.upper_confidence)
    return Sensitivity(
        signal=name, noise_bytes=round(noise, 1),
        detectable_bytes_per_second=round(det, 1) if math.isfinite(det) else None,
        detection_probability=DETECTION_POWER,
        growth_upper_bytes_per_second=round(upper, 1) if upper is not None else None,
        confidence=cfg.upper_confidence, material_bytes_per_second=round(material, 1),
        watch_seconds=round(watch, 1) if math.isfinite(watch) else None,
        interval_seconds=interval,
    )


def _trend_words(g: Growth) -> str:
    tr = g.tail if g.growing else g.full
    return f"Kendall tau {tr.tau:.2f}, p={human_p(tr.p_value)}"


def _site_growth(series: SessionSeries, site: SiteSeries, min_rise: float) -> Growth:
    m = series.has_heap
    return assess_growth(series.times[m], site.bytes[m], min_rise=min_rise)


def _merge_groups(series: SessionSeries) -> dict[str, list[GroupSeries]]:
    """Goroutine groups merged by function (own frame); connection loops form one group."""
    out: dict[str, list[GroupSeries]] = {}
    for g in series.groups.values():
        key = "net/http connections" if is_connection_stack(g.stack) else g.function
        out.setdefault(key, []).append(g)
    return out


def _blocked_share(states: Counter[str]) -> float | None:
    total = sum(states.values())
    if total == 0:
        return None
    blocked = sum(c for s, c in states.items() if s.split(",")[0] not in RUNNING_STATES)
    return blocked / total


def _first_last(a: FloatArray) -> tuple[float, float]:
    f = a[_finite(a)]
    return (float(f[0]), float(f[-1])) if len(f) else (0.0, 0.0)


def _goroutine_candidates(
    series: SessionSeries, cfg: AnalysisConfig, stack_per_g: float
) -> tuple[list[_Candidate], list[GoroutineGroupTrend], list[GoroutineGroupTrend],
           dict[str, frozenset[str]]]:
    m = series.has_goroutines
    t = series.times[m]
    cands: list[_Candidate] = []
    growing: list[GoroutineGroupTrend] = []
    all_groups: list[GoroutineGroupTrend] = []
    frames_of: dict[str, frozenset[str]] = {}
    for key, groups in _merge_groups(series).items():
        full = np.where(m, np.sum([g.counts for g in groups], axis=0), np.nan)
        counts = full[m]
        states: Counter[str] = Counter()
        for g in groups:
            states.update(g.states)
        rep = max(groups, key=lambda g: float(g.counts[-1]) if len(g.counts) else 0.0)
        gr = assess_growth(t, counts, min_rise=cfg.min_goroutine_rise)
        share = _blocked_share(states)
        blocked = share is None or share >= 0.8
        trend = GoroutineGroupTrend(
            function=key,
            stack=rep.stack,
            counts=fill_forward(full),  # one per snapshot, like GoroutineSeries.times
            states=tuple(s for s, _ in states.most_common()),
            max_wait_minutes=max(g.max_wait_minutes for g in groups),
            created_by=rep.created_by,
            growth_per_second=gr.slope if gr.growing else 0.0,
            blocked=blocked,
        )
        if counts.size and counts[-1] > 0:
            all_groups.append(trend)
        if not (gr.growing and blocked):
            continue
        growing.append(trend)
        own: set[str] = set()
        for g in groups:
            own |= own_frames(g.stack)
            if g.created_by and not is_stdlib(g.created_by):
                own.add(g.created_by)
        frames_of[key] = frozenset(own)
        conn = key == "net/http connections"
        first, last = _first_last(counts)
        last_states: Counter[str] = Counter()
        for g in groups:
            last_states.update(g.last_states)
        state_words = ", ".join(
            f"{c} {s}" for s, c in (last_states or states).most_common(3)) or "unknown"
        ev = [
            f"Goroutines in this group rose from {first:.0f} to {last:.0f} over "
            f"{human_duration(gr.full.span)} ({gr.slope:.1f}/s, {_trend_words(gr)}).",
            f"They stay blocked: in the last goroutine dump {state_words}"
            + (f"; longest wait {trend.max_wait_minutes} min." if trend.max_wait_minutes else "."),
        ]
        if share is None:
            ev[1] = "States are unknown (no debug=2 dump); counts come from the goroutine profile."
        if rep.created_by:
            ev.append(f"Created by {rep.created_by}.")
        conf = 0.55 + 0.25 * max(0.0, (gr.tail.tau - 0.5) * 2) + (0.15 if share else 0.0)
        sure = [f"the count rises steadily (tau {gr.tail.tau:.2f})",
                "the goroutines stay blocked" if share else "their states are unknown"]
        cands.append(_Candidate(
            kind="connection-leak" if conn else "goroutine-leak",
            function=key if not conn else _conn_function(rep.stack),
            stack=rep.stack,
            growth=gr.slope * stack_per_g,
            inuse=last * stack_per_g,
            confidence=min(conf, 0.95), sure=sure,
            evidence=ev,
            goroutines=int(last),
            series=fill_forward(full * stack_per_g),
            counts=full,
        ))
    growing.sort(key=lambda g: -g.growth_per_second)
    all_groups.sort(key=lambda g: -(g.counts[-1] if g.counts else 0))
    return cands, growing, all_groups, frames_of


SERVER_CONN = "net/http.(*conn).serve"


def _fold_server_side(cands: list[_Candidate]) -> list[_Candidate]:
    """When the service leaks client connections to itself, the server goroutines serving
    them (net/http.(*conn).serve) pile up too: the same root cause, reported once."""
    conn = next((c for c in cands if c.kind == "connection-leak"), None)
    server = next((c for c in cands if c.function == SERVER_CONN), None)
    if conn is None or server is None:
        return cands
    conn.server_side = True
    conn.growth += server.growth
    conn.inuse += server.inuse
    conn.goroutines = (conn.goroutines or 0) + (server.goroutines or 0)
    conn.evidence.append(
        f"The server end of the same connections is in this process too: "
        f"{server.goroutines} {SERVER_CONN} goroutines pile up with them.")
    if conn.counts is not None and server.counts is not None:
        conn.counts = conn.counts + server.counts
    return [c for c in cands if c is not server]


def _conn_function(stack: Names) -> str:
    for f in stack:
        if f.startswith(CONN_FRAMES):
            return f
    return site_function(stack)


def _site_candidates(
    series: SessionSeries, cfg: AnalysisConfig, floor_slope: float,
    facts: ExeFacts, steady: Mapping[str, _Steady] | None = None,
) -> list[tuple[_Candidate, SiteSeries]]:
    """Heap sites whose in-use bytes grow; strict trend first, then the best of the rest."""
    m = series.has_heap
    t = series.times[m]
    span = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    steady = steady or {}
    out: list[tuple[_Candidate, SiteSeries, bool]] = []
    for site in series.sites.values():
        b = site.bytes[m]
        if len(b) < MIN_POINTS or b[-1] <= b[0] or span <= 0:
            continue
        st = steady.get(site.function)
        gr = st.growth if st is not None else _site_growth(series, site, cfg.min_site_rise)
        rate = gr.slope if gr.growing else max(gr.full.slope, 0.0)
        if rate <= 0:
            continue
        first, last = float(b[0]), float(b[-1])
        share = rate / floor_slope if floor_slope > 0 else 0.0
        sizes = [site.sizes[i] for i in np.flatnonzero(m)]
        alloc = classify_site(site.stack, site.all_frames, sizes,
                              facts.runtime_frames.get(site.function, ()),
                              frozenset(facts.calls.get(site.function, ())))
        ev = [
            f"In-use heap allocated here grew from {human_bytes(first)} to {human_bytes(last)} "
            f"over {human_duration(span)} ({human_rate(rate)}, {_trend_words(gr)}).",
        ]
        if floor_slope > 0:
            ev.append(f"That is {min(share, 9.99):.0%} of the heap floor's growth "
                      f"({human_rate(floor_slope)}).")
        objs = site.objects[m]
        if objs[-1] > objs[0]:
            ev.append(f"Live objects: {objs[0]:.0f} -> {objs[-1]:.0f}.")
        if st is not None:
            ev.append(
                f"Long-lived growth: what this site holds after each forced GC keeps rising "
                f"(its lower envelope keeps {min(st.envelope_share, 9.99):.0%} of the rise), "
                "as a store or registry does; memory of in-flight requests would come and go.")
        ev.append(f"Classified as {alloc.kind}: {alloc.reason}.")
        trend_c = 0.5 + 0.5 * max(0.0, (gr.tail.tau - 0.5) * 2) if gr.growing else 0.3
        conf = 0.4 * trend_c + 0.3 * min(share, 1.0) + 0.3 * alloc.certainty
        if st is not None and floor_slope <= 0:  # the site is the evidence, not a share of it
            conf = 0.4 * trend_c + 0.2 * min(st.envelope_share, 1.0) + 0.3 * alloc.certainty
        sure = [
            f"the growth is {'sustained' if gr.growing else 'not significant on its own'} "
            f"(tau {(gr.tail if gr.growing else gr.full).tau:.2f})",
            f"it is {min(share, 9.99):.0%} of the floor's growth",
            f"the {alloc.kind} call is {_certainty_word(alloc.certainty)}",
        ]
        if st is not None:
            sure.append("the growth is long-lived, not request churn")
        cand = _Candidate(
            kind=alloc.kind, function=site.function, stack=site.stack, growth=rate,
            inuse=last, confidence=conf, evidence=ev, allocation=alloc.allocation, sure=sure,
            series=fill_forward(np.where(m, site.bytes, np.nan)), steady=st is not None,
        )
        out.append((cand, site, gr.growing))
    out.sort(key=lambda x: (not x[0].steady, not x[2], -x[0].growth))
    return [(c, s) for c, s, _ in out]


def _cross_check(
    g_cands: list[_Candidate], g_frames: Mapping[str, frozenset[str]],
    sites: list[tuple[_Candidate, SiteSeries]],
) -> list[_Candidate]:
    """Fold heap sites into the goroutine suspect that shares their own frames."""
    merged: list[_Candidate] = list(g_cands)
    used: set[int] = set()
    for gc in g_cands:
        key = gc.function if gc.kind != "connection-leak" else "net/http connections"
        frames = g_frames.get(key, frozenset()) | {gc.function}
        for idx, (sc, site) in enumerate(sites):
            if idx in used:
                continue
            hit = False
            if gc.kind == "connection-leak":
                hit = is_connection_heap_stack(site.stack) or any(
                    f.startswith(CLIENT_FRAMES) for f in site.all_frames) or (
                    gc.server_side and SERVER_CONN in site.all_frames)
                if hit and not is_stdlib(sc.function) and is_stdlib(gc.function):
                    gc.function = sc.function  # the service's own caller that leaks the bodies
                    gc.stack = sc.stack
            else:  # own frames shared; a stdlib goroutine also owns what its stack allocates
                hit = sc.function in frames or (
                    is_stdlib(gc.function) and gc.function in site.all_frames)
            if not hit:
                continue
            used.add(idx)
            gc.growth += sc.growth
            gc.inuse += sc.inuse
            gc.evidence.append(
                f"Cross-check: heap allocated in {sc.function} grows with these goroutines "
                f"({human_rate(sc.growth)}, {human_bytes(sc.inuse)} in use): one root cause.")
            gc.confidence = min(0.97, gc.confidence + 0.1)
            if "heap and goroutines agree" not in gc.sure:
                gc.sure.append("heap and goroutines agree")
            if sc.series and gc.series and len(sc.series) == len(gc.series):
                gc.series = tuple(a + b for a, b in zip(gc.series, sc.series, strict=True))
        if gc.kind == "connection-leak" and is_stdlib(gc.function):
            _link_by_correlation(gc, sites, used)
    merged.extend(sc for idx, (sc, _) in enumerate(sites) if idx not in used)
    return merged


def _link_by_correlation(gc: _Candidate, sites: list[tuple[_Candidate, SiteSeries]],
                         used: set[int]) -> None:
    """Name a connection leak after the service's own site whose heap grows in step with the
    leaked connections (each keeps its request, body reader and buffers alive)."""
    if gc.counts is None:
        return
    best: tuple[float, int] | None = None
    for idx, (sc, site) in enumerate(sites):
        if idx in used or is_stdlib(sc.function):
            continue
        ok = np.isfinite(gc.counts)
        if int(ok.sum()) < MIN_POINTS:
            continue
        rho = stats.spearmanr(gc.counts[ok], site.bytes[ok]).statistic
        if rho is not None and math.isfinite(float(rho)) and float(rho) >= 0.8 and (
                best is None or float(rho) > best[0]):
            best = (float(rho), idx)
    if best is None:
        return
    sc, _ = sites[best[1]]
    used.add(best[1])
    gc.function, gc.stack = sc.function, sc.stack
    gc.growth += sc.growth
    gc.inuse += sc.inuse
    gc.evidence.append(
        f"Cross-check: heap allocated in {sc.function} grows in step with the open connections "
        f"(Spearman {best[0]:.2f}; {human_rate(sc.growth)}): the caller that leaks them.")


def _holding_site(series: SessionSeries, variable: str,
                  held: float) -> tuple[SiteSeries, float] | None:
    """The own allocation site whose last in-use bytes match a map's bytes held (within 2x).

    That is where the map's buckets were allocated: the code to change. Sites of the map's own
    package are preferred; the nearest size wins.
    """
    best: tuple[tuple[bool, float], SiteSeries, float] | None = None
    for site in series.sites.values():
        if is_stdlib(site.function) or not site.bytes.size:
            continue
        last = float(site.bytes[np.isfinite(site.bytes)][-1:].sum())
        if not held / 2 <= last <= held * 2:
            continue
        key = (import_path(site.function) != import_path(variable), abs(math.log(last / held)))
        if best is None or key < best[0]:
            best = (key, site, last)
    return (best[1], best[2]) if best else None


def _apply_maps(
    cands: list[_Candidate], maps: Sequence[MapFinding], cfg: AnalysisConfig,
    series: SessionSeries,
) -> list[_Candidate]:
    """gdb's map findings: name the variable behind a map suspect; bloated maps are retention."""
    out = list(cands)
    map_sus = [c for c in out if c.kind == "unbounded-map"]
    by_size = sorted(maps, key=lambda f: -f.bytes_held)
    same_pkg = [f for f in by_size if map_sus and import_path(f.variable) ==
                import_path(map_sus[0].function)]
    if map_sus and same_pkg:  # the biggest map of the suspect's own package
        top = same_pkg[0]
        map_sus[0].variable = top.variable
        map_sus[0].evidence.append(
            f"gdb: {top.variable} ({top.type}) has {top.live_entries} live entries in "
            f"{top.capacity_slots} slots, holding {human_bytes(top.bytes_held)}.")
        map_sus[0].confidence = min(0.98, map_sus[0].confidence + 0.1)
        map_sus[0].sure.append("gdb found the map")
    for f in by_size:
        if f.bytes_held < cfg.retention_min_bytes:
            continue
        if f.bytes_held < cfg.retention_ratio * max(f.bytes_needed, 1):
            continue
        if any(c.variable == f.variable for c in out):
            continue
        ratio = f.bytes_held / max(f.bytes_needed, 1)
        holding = _holding_site(series, f.variable, float(f.bytes_held))
        site = holding[0] if holding else None
        where = [] if holding is None else [
            f"Its buckets were allocated in {holding[0].function} "
            f"({human_bytes(holding[1])} in use there)."]
        out.append(_Candidate(
            kind="map-retention", function=site.function if site else f.variable,
            stack=site.stack if site else (), growth=0.0,
            inuse=float(f.bytes_held), confidence=0.85 if ratio >= 10 else 0.7,
            evidence=[
                f"gdb: {f.variable} ({f.type}, {f.layout}) holds {human_bytes(f.bytes_held)} "
                f"for {f.live_entries} live entries that need {human_bytes(f.bytes_needed)} "
                f"({ratio:.0f}x); {f.deleted_slots} slots are deleted, "
                f"{f.capacity_slots} in all.",
                *where,
            ],
            variable=f.variable, allocation="map buckets",
            sure=[f"gdb read the map itself ({ratio:.0f}x more memory than its entries need)"],
        ))
    return out


def diagnose_series(
    series: SessionSeries, *, target: str, settings: dict[str, Any], go_version: str | None,
    maps: tuple[MapFinding, ...], facts: ExeFacts | None, cfg: AnalysisConfig,
) -> Diagnosis:
    """The analysis proper, on an already reduced session."""
    facts = facts or ExeFacts()
    n = series.n
    times = series.times
    floor, floor_source = _floor(series, gc_forced=settings.get("gc", True) is not False)
    fm = _finite(floor)
    t_f, y_f = times[fm], floor[fm]
    med = float(np.median(y_f)) if len(y_f) else 0.0
    floor_min_rise = max(cfg.min_floor_rise, cfg.min_floor_rise_fraction * med)
    heap_g = assess_growth(t_f, y_f, min_rise=floor_min_rise)
    live = _live_estimate(series, floor) if floor is series.heap_alloc else None
    signals: list[tuple[str, FloatArray]] = [(floor_source, floor)]
    if live is not None:
        # two readings of one quantity, each tested at ALPHA / 2 (Bonferroni): growth in
        # either is growth, and the pair is no more trigger-happy than one reading alone
        signals.append((LIVE_ESTIMATE, live))
        lm = _finite(live)
        live_g = assess_growth(times[lm], live[lm], min_rise=floor_min_rise, alpha=ALPHA / 2)
        heap_g = assess_growth(t_f, y_f, min_rise=floor_min_rise, alpha=ALPHA / 2)
        if live_g.growing and not heap_g.growing:
            heap_g = live_g  # the less noisy reading sees what the floor's noise hides
            floor_source = LIVE_ESTIMATE

    gm = _finite(series.goroutine_total)
    gr_total = assess_growth(times[gm], series.goroutine_total[gm],
                             min_rise=cfg.min_goroutine_rise)
    sm = _finite(series.stack_inuse)
    stack_g = assess_growth(times[sm], series.stack_inuse[sm], min_rise=cfg.min_floor_rise)

    last_g = series.goroutine_total[gm][-1] if gm.any() else 0.0
    last_s = series.stack_inuse[sm][-1] if sm.any() else 0.0
    stack_per_g = float(last_s / last_g) if last_g > 0 and last_s > 0 else DEFAULT_STACK_BYTES

    g_cands, growing_groups, all_groups, g_frames = _goroutine_candidates(series, cfg, stack_per_g)
    g_cands = _fold_server_side(g_cands)

    num_gc = series.num_gc[_finite(series.num_gc)]
    gc_cycles = int(num_gc[-1] - num_gc[0]) if len(num_gc) >= 2 else 0
    # A floor means something only across GC cycles; NumGC unknown (no MemStats) is trusted
    # to the heap profile, which is itself as of the last GC.
    gc_ok = len(num_gc) < 2 or gc_cycles >= cfg.min_gc_cycles
    enough = heap_g.enough_data and gc_ok  # "no-leak" needs the heap side; a leak does not
    floor_growing = heap_g.growing and gc_ok
    g_growing = bool(g_cands) or (gr_total.growing and stack_g.growing)
    material = max(cfg.material_rate, med / cfg.material_doubling_seconds)
    sens = _sensitivity(times, signals, min_rise=floor_min_rise, material=material,
                        interval=_interval(series, settings), cfg=cfg,
                        plateau=heap_g.plateau) if enough else None
    steady = _steady_sites(series, cfg) if gc_ok else {}
    if sens is not None and sens.growth_upper_bytes_per_second is not None:
        # a site cannot leak faster than the whole live heap can be growing: faster "growth"
        # is memory moving between sites (a log filling before it is truncated) or sampling
        steady = {f: st for f, st in steady.items()
                  if st.growth.slope <= max(sens.growth_upper_bytes_per_second, 0.0)}
    cands: list[_Candidate] = []
    unexplained = False
    if floor_growing or g_growing or steady:
        verdict: Verdict = "leak"
        floor_slope = heap_g.slope if floor_growing else 0.0
        sites = _site_candidates(series, cfg, floor_slope, facts, steady)
        if not floor_growing:  # heap sites count when steady on their own or cross-checked
            sites = [s for s in sites
                     if s[1].function in steady or _shares(s[1], g_frames, g_cands)]
        cands = _cross_check(g_cands, g_frames, sites)
        if not cands and not g_growing and heap_g.slope < material:
            # a slow rise of the total that no allocation site shares: on a busy service that
            # is in-flight memory drifting, not a leak anyone could fix; say what would settle it
            verdict = "inconclusive"
            unexplained = True
    elif enough and sens is not None and sens.growth_upper_bytes_per_second is not None \
            and sens.growth_upper_bytes_per_second <= sens.material_bytes_per_second:
        verdict = "no-leak"  # growth, if any, is below a rate that matters, with confidence
    else:
        verdict = "inconclusive"
    if maps:
        cands = _apply_maps(cands, maps, cfg, series)
    cands += _steady_candidates(series, cfg, stack_per_g, cands)
    # held memory is a finding of its own: it needs no trend, so no window is too short for it
    if verdict in ("no-leak", "inconclusive") and any(c.kind in RETENTION_KINDS for c in cands):
        verdict = "retention"
    if verdict == "no-leak":
        cands = [c for c in cands if c.kind in RETENTION_KINDS]

    cands.sort(key=lambda c: (-c.growth * (0.5 + c.confidence), -c.inuse))
    suspects = tuple(
        Suspect(
            rank=i + 1, kind=c.kind, function=c.function, stack=c.stack,
            growth_bytes_per_second=round(c.growth, 3), inuse_bytes=int(c.inuse),
            confidence=round(min(max(c.confidence, 0.0), 1.0), 2),
            evidence=(EXPLANATIONS[c.kind], *c.evidence, _how_sure(c)), advice=ADVICE[c.kind],
            goroutines=c.goroutines, variable=c.variable, inuse_series=c.series,
            allocation=c.allocation, steady=c.steady,
        )
        for i, c in enumerate(cands[: cfg.max_suspects])
    )

    window = Window(
        start=float(times[0]) if n else 0.0, end=float(times[-1]) if n else 0.0,
        snapshots=n, gc_cycles=gc_cycles,
    )
    heap = HeapSeries(
        times=tuple(float(x) for x in times.tolist()),
        floor_bytes=fill_forward(floor),
        heap_alloc=fill_forward(series.heap_alloc),
        next_gc=fill_forward(series.next_gc),
        heap_objects=fill_forward(
            series.heap_objects if _finite(series.heap_objects).any() else series.profile_objects),
        num_gc=fill_forward(series.num_gc),
        stack_inuse=fill_forward(series.stack_inuse),
        growth_bytes_per_second=round(heap_g.slope if heap_g.enough_data else 0.0, 3),
        growth_p_value=(heap_g.tail.p_value if heap_g.growing else heap_g.full.p_value),
        plateau=heap_g.plateau,
        live_estimate=fill_forward(live) if live is not None else (),
        floor_signal=floor_source if floor_source != LIVE_ESTIMATE else signals[0][0],
    )
    goroutines = GoroutineSeries(
        times=heap.times,
        counts=fill_forward(series.goroutine_total),
        growing_groups=tuple(growing_groups),
        groups=tuple(all_groups[:50]),
    )
    summary = _summary(verdict, heap_g, gr_total, suspects, series, floor_source, window,
                       sens, enough, floor_growing)
    if unexplained:
        summary = (f"Inconclusive: the live heap rose {human_rate(heap_g.slope)} over "
                   f"{human_duration(window.end - window.start)}, but no allocation site or "
                   "goroutine group gained memory; "
                   + (sensitivity_words(sens) if sens is not None else "collect for longer")
                   + ".")
    return Diagnosis(
        target=target, window=window, verdict=verdict, summary=summary, heap=heap,
        goroutines=goroutines, suspects=suspects, go_version=go_version, maps=maps,
        settings=settings, sensitivity=sens,
    )


def _steady_candidates(series: SessionSeries, cfg: AnalysisConfig, stack_per_g: float,
                       cands: list[_Candidate]) -> list[_Candidate]:
    """Steady-state findings (analyze/steady.py) that no growth suspect already covers."""
    found = steady_findings(series, stack_per_g, cfg.steady,
                            taken_functions={c.function for c in cands},
                            taken_kinds={c.kind for c in cands})
    return [_Candidate(kind=f.kind, function=f.function, stack=f.stack, growth=0.0,
                       inuse=f.inuse, confidence=f.confidence, evidence=f.evidence,
                       goroutines=f.goroutines, series=f.series, sure=f.sure) for f in found]


def _certainty_word(c: float) -> str:
    return "firm" if c >= 0.85 else "likely" if c >= 0.6 else "tentative"


def _how_sure(c: _Candidate) -> str:
    conf = min(max(c.confidence, 0.0), 1.0)
    return f"How sure: {conf:.2f}, because " + "; ".join(c.sure) + "." if c.sure else \
        f"How sure: {conf:.2f}."


def _shares(site: SiteSeries, g_frames: Mapping[str, frozenset[str]],
            g_cands: list[_Candidate]) -> bool:
    if any(c.kind == "connection-leak" for c in g_cands) and (
            is_connection_heap_stack(site.stack)
            or any(f.startswith(CLIENT_FRAMES) for f in site.all_frames)):
        return True
    if any(is_stdlib(c.function) and c.function in site.all_frames for c in g_cands):
        return True
    return any(site.function in fr for fr in g_frames.values())


def sensitivity_words(sens: Sensitivity) -> str:
    """'to see 100 kB/s through ±5 MB of noise, watch ~4 min' and what this window could see."""
    det = sens.detectable_bytes_per_second
    could = (f"this window would have caught growth of {human_rate(det)} or more "
             f"({sens.detection_probability:.0%} of the time)" if det is not None
             else "this window has too few points to catch any growth")
    watch = (f"watch ~{human_duration(sens.watch_seconds)}" if sens.watch_seconds is not None
             else "no window under a week would")
    return (f"{could}; to see {human_rate(sens.material_bytes_per_second)} through "
            f"±{human_bytes(sens.noise_bytes)} of noise, {watch} "
            f"(one snapshot every {human_duration(sens.interval_seconds)})")


def _summary(verdict: Verdict, heap_g: Growth, gr: Growth, suspects: tuple[Suspect, ...],
             series: SessionSeries, floor_source: str, window: Window,
             sens: Sensitivity | None = None, enough: bool = True,
             floor_growing: bool = True) -> str:
    span = human_duration(window.end - window.start)
    if verdict == "inconclusive" and enough and sens is not None:
        upper = sens.growth_upper_bytes_per_second
        hide = (f"growth of up to {human_rate(upper)} ({sens.confidence:.0%} confidence)"
                if upper is not None else "growth that matters")
        return (f"Inconclusive: no sustained growth over {span}, but the live heap moves by "
                f"±{human_bytes(sens.noise_bytes)} between snapshots, which could hide {hide}; "
                f"{sensitivity_words(sens)}.")
    if verdict == "inconclusive":
        return (f"Inconclusive: {window.snapshots} snapshot(s) over {span} and "
                f"{window.gc_cycles} GC cycle(s) are too few to tell a leak from noise; collect "
                f"at least {MIN_POINTS} snapshots across several GC cycles (keep forced GC on).")
    if verdict == "retention":
        return retention_summary(suspects, span)
    if verdict == "no-leak":
        if heap_g.plateau:
            return (f"No leak: the heap floor grew early and then levelled off (a warm-up or a "
                    f"bounded cache) and stayed flat over the last part of {span}.")
        bound = ""
        if sens is not None and sens.growth_upper_bytes_per_second is not None:
            bound = (f" Growth, if any, is below "
                     f"{human_rate(max(sens.growth_upper_bytes_per_second, 0.0))} with "
                     f"{sens.confidence:.0%} confidence")
            if sens.detectable_bytes_per_second is not None:
                bound += (f"; growth of {human_rate(sens.detectable_bytes_per_second)} or more "
                          f"would have been called a leak {sens.detection_probability:.0%} "
                          "of the time")
            bound += "."
        return (f"No leak: the heap floor ({floor_source}) and the goroutine count show no "
                f"sustained growth over {span} and {window.gc_cycles} GC cycles.{bound}")
    parts = []
    if heap_g.growing and floor_growing:
        parts.append(f"the post-GC heap floor grows {human_rate(heap_g.slope)}")
    steady = [s for s in suspects if s.steady]
    if steady and not (heap_g.growing and floor_growing):
        parts.append(f"{steady[0].function} keeps gaining in-use heap "
                     f"({human_rate(steady[0].growth_bytes_per_second)}, long-lived)")
    if gr.growing:
        parts.append(f"goroutines grow {gr.slope:.1f}/s")
    what = " and ".join(parts) or "goroutines keep piling up"
    if suspects:
        s = suspects[0]
        return (f"Leak: {what} across {window.gc_cycles} GC cycles; most likely "
                f"{s.kind} in {s.function}.")
    return f"Leak: {what} across {window.gc_cycles} GC cycles; no single site stands out."
