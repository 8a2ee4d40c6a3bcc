"""Findings that need no growth: memory and goroutines held in a steady state.

A leak is not always a slope. A client that never closes response bodies but has a timeout
keeps a flat crowd of connections open (each until its deadline); goroutines that have been
blocked on the same channel or lock for an hour are as good as leaked although their count no
longer moves. These findings read one session's goroutine groups and heap sites (already
reduced by ``series``) and the last heap profile; the engine ranks them with the others under
the ``retention`` verdict when nothing grows. (Maps far larger than their content, read by gdb,
are the third such finding; the engine builds those from ``MapFinding``.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from leaksleuth.analyze.classify import CONN_HEAP_FRAMES
from leaksleuth.analyze.diagnosis import Suspect, SuspectKind
from leaksleuth.analyze.series import (
    GroupSeries,
    Names,
    SessionSeries,
    fill_forward,
    load_safely,
    profile_stacks,
)
from leaksleuth.profile.frames import is_stdlib, site_function
from leaksleuth.units import human_bytes, human_duration

FloatArray = NDArray[np.float64]

# Kinds that are reported although nothing grows (the ``retention`` verdict).
RETENTION_KINDS: frozenset[str] = frozenset(
    {"map-retention", "connection-retention", "blocked-goroutines"})

READ_LOOP = "net/http.(*persistConn).readLoop"
WRITE_LOOP = "net/http.(*persistConn).writeLoop"
SERVER_CONN = "net/http.(*conn).serve"
# A goroutine with one of these on its stack is using a connection right now: a request in
# flight, or a response body being read.
ACTIVE_FRAMES = (
    "net/http.(*persistConn).roundTrip", "net/http.(*Transport).roundTrip",
    "net/http.(*body).Read", "net/http.(*bodyEOFSignal).Read", "net/http.(*cancelTimerBody).Read",
    "net/http.(*gzipReader).Read",
)
# Frames through which the service's own code calls the HTTP client (its requests' memory is
# allocated under them): methods by prefix, package functions by exact name ("net/http.Head"
# must not match "net/http.Header.Set" in a server handler).
CALL_PREFIXES = ("net/http.(*Client).", "net/http.(*Transport).RoundTrip",
                 "net/http.(*Transport).roundTrip")
CALL_FUNCTIONS = frozenset({"net/http.Get", "net/http.Post", "net/http.Head", "net/http.PostForm",
                            "net/http.NewRequest", "net/http.NewRequestWithContext",
                            "net/http.send"})


def _calls_client(stack: Names) -> bool:
    return any(f.startswith(CALL_PREFIXES) or f in CALL_FUNCTIONS for f in stack)
# Frames of a goroutine serving a request or stream: a long poll or a watch may wait for
# minutes by design, so such a group is reported with less confidence.
SERVING_FRAMES = ("net/http.(*conn).serve", "golang.org/x/net/http2.(*serverConn)",
                  "net/http.(*http2serverConn)", "google.golang.org/grpc.(*Server).")
# Wait states of goroutines parked on the program's own synchronisation (network and timer
# waits are a server's normal idle state and are left out).
BLOCKING_STATES = ("chan receive", "chan send", "select", "semacquire", "sync.Mutex.Lock",
                   "sync.RWMutex.Lock", "sync.RWMutex.RLock", "sync.Cond.Wait",
                   "sync.WaitGroup.Wait")


@dataclass(frozen=True)
class SteadyConfig:
    """Thresholds of the steady-state findings."""

    min_unread_bodies: int = 20  # connections parked on an unread body (median over the window)
    unread_per_active: float = 4.0  # ... and this many per connection actually in use
    min_blocked_goroutines: int = 50  # a blocked group this large ...
    min_blocked_minutes: int = 10  # ... blocked this long (the debug=2 dump's wait)


@dataclass
class Finding:
    """One steady-state suspect, in the engine's terms (bytes are estimates, see evidence)."""

    kind: SuspectKind
    function: str
    stack: Names
    inuse: float
    confidence: float
    evidence: list[str] = field(default_factory=list)
    sure: list[str] = field(default_factory=list)
    goroutines: int | None = None
    series: tuple[int, ...] = ()


def _counts(series: SessionSeries, groups: list[GroupSeries]) -> FloatArray:
    """Goroutines per snapshot in these groups; NaN where no goroutine profile was read."""
    total = np.zeros(series.n) if not groups else np.sum([g.counts for g in groups], axis=0)
    return np.where(series.has_goroutines, total, np.nan)


def _states(groups: list[GroupSeries]) -> Counter[str]:
    out: Counter[str] = Counter()
    for g in groups:
        out.update(g.last_states or g.states)
    return out


def _state_words(states: Counter[str]) -> str:
    return ", ".join(f"{c} {s}" for s, c in states.most_common(3))


@dataclass
class _Caller:
    function: str
    stack: Names
    held: float = 0.0  # in-use bytes under the client call, summed over the snapshots
    allocated: float = 0.0  # alloc_space under the client call, last heap profile


def _client_callers(series: SessionSeries) -> list[_Caller]:
    """The service's own functions that call the HTTP client, most memory held first.

    In-use bytes come from every heap snapshot's sites (a request whose body is never closed
    stays reachable from its connection's read loop, so its caller's allocations stay in use);
    allocated bytes from the last heap profile (every caller shows there, leaky or not).
    """
    callers: dict[str, _Caller] = {}
    for site in series.sites.values():
        if is_stdlib(site.function):
            continue
        via = [s for s in site.stacks if _calls_client(s)]
        if not via:
            continue
        b = site.bytes[series.has_heap]
        callers[site.function] = _Caller(site.function, max(via, key=lambda s: site.stacks[s]),
                                         held=float(np.nansum(b)))
    for snap in reversed(series.last):
        prof, _bad = load_safely(snap.heap)
        if prof is None:
            continue
        ab = prof.find_sample_type("alloc_space")
        if ab is None:
            break
        col = prof.values[:, ab].tolist() if prof.n_samples else []
        for stack, v in zip(profile_stacks(prof), col, strict=True):
            if v <= 0 or not _calls_client(stack):
                continue
            fn = site_function(stack)
            if is_stdlib(fn):
                continue
            c = callers.setdefault(fn, _Caller(fn, stack))
            c.allocated += v
        break
    return sorted(callers.values(), key=lambda c: (-c.held, -c.allocated, c.function))


def _connection_finding(series: SessionSeries, cfg: SteadyConfig,
                        stack_per_g: float) -> Finding | None:
    """Client connections parked on response bodies nobody reads, far more than in use."""
    unread = [g for g in series.groups.values() if g.stack[:1] == (READ_LOOP,)]
    if not unread or not series.has_goroutines.any():
        return None
    u = _counts(series, unread)
    active = _counts(series, [g for g in series.groups.values()
                              if any(f.startswith(ACTIVE_FRAMES) for f in g.stack)])
    conns = _counts(series, [g for g in series.groups.values() if WRITE_LOOP in g.stack])
    ok = np.isfinite(u)
    u_med, u_last = float(np.median(u[ok])), float(u[ok][-1])
    a_med = float(np.median(active[ok]))
    if min(u_med, u_last) < cfg.min_unread_bodies or u_med < cfg.unread_per_active * (a_med + 1):
        return None
    states = _states(unread)
    selecting = states.get("select", 0)
    known = sum(states.values())
    if known and selecting < 0.8 * known:
        return None  # the read loops are doing something else than waiting for the body
    conn_heap = 0.0
    for site in series.sites.values():
        conn_heap += sum(b for s, b in site.stacks.items()
                         if any(f.startswith(CONN_HEAP_FRAMES) for f in s))
    per_conn = 2 * stack_per_g + conn_heap / max(u_last, 1.0)
    span = float(series.times[ok][-1] - series.times[ok][0]) if ok.sum() > 1 else 0.0
    ev = [
        f"{u_last:.0f} HTTP client connections wait for their response body to be read or "
        f"closed: their read loops ({READ_LOOP}) are parked on it (median {u_med:.0f}, "
        f"{np.nanmin(u):.0f}-{np.nanmax(u):.0f} over {int(ok.sum())} goroutine snapshots in "
        f"{human_duration(span)}); {np.nanmax(conns):.0f} client connections were open at most.",
        f"Meanwhile a median of {a_med:.0f} goroutines had a request in flight or were reading "
        f"a body: that is what the client needs, not {u_med:.0f} connections. Each dropped body "
        "keeps its connection until the request's deadline (http.Client.Timeout or its "
        "context) closes it, so the count stays flat instead of growing.",
    ]
    if known:
        ev.append(f"In the last goroutine dump the read loops are: {_state_words(states)}.")
    ev.append(f"The transport's buffers for these connections hold {human_bytes(conn_heap)} of "
              f"heap; with two goroutine stacks per connection that is ~{human_bytes(per_conn)} "
              "per connection.")
    sure = [f"{u_med:.0f} read loops wait on unread bodies against {a_med:.0f} in use"]
    conf = 0.6 + (0.15 if known else 0.0)
    callers = _client_callers(series)
    function, stack = READ_LOOP, unread[0].stack
    if callers:
        top = callers[0]
        function, stack = top.function, top.stack
        if top.held > 0:
            ev.append(f"The service's own code that makes these requests is {top.function}: "
                      f"what it allocates for them stays in use (sampled in-use "
                      f"{human_bytes(top.held)} summed over the heap snapshots), as it does "
                      "when the response it gets is never closed.")
        else:
            ev.append(f"The service's own code that calls the HTTP client is {top.function} "
                      f"({human_bytes(top.allocated)} allocated for its requests); the heap "
                      "snapshots did not sample what its unclosed responses keep.")
        others = [c.function for c in callers[1:4]]
        if others:
            ev.append("Other callers of the HTTP client: " + ", ".join(others) + ".")
        single = len(callers) == 1 or (top.held > 0 and callers[1].held == 0)
        conf += 0.15 if single else 0.0
        sure.append(f"{top.function} is {'the only' if len(callers) == 1 else 'the likeliest'} "
                    "caller of the HTTP client" + (" whose requests stay in use"
                                                   if top.held > 0 else ""))
    else:
        ev.append("No own function calling the HTTP client was found in the heap profiles: "
                  "look for a caller of http.Client.Do/Get/Post that does not close resp.Body.")
        sure.append("the caller is unknown")
    return Finding(
        kind="connection-retention", function=function, stack=stack,
        inuse=u_last * per_conn, confidence=min(conf, 0.95), evidence=ev, sure=sure,
        goroutines=int(u_last + (conns[ok][-1] if np.isfinite(conns[ok][-1]) else 0)),
        series=fill_forward(u * per_conn),
    )


def _blocked_findings(series: SessionSeries, cfg: SteadyConfig, stack_per_g: float,
                      taken: Collection[str]) -> list[Finding]:
    """Large groups of goroutines blocked on the program's own synchronisation for minutes."""
    merged: dict[str, list[GroupSeries]] = {}
    for g in series.groups.values():
        if READ_LOOP in g.stack or WRITE_LOOP in g.stack or g.function == SERVER_CONN:
            continue
        merged.setdefault(g.function, []).append(g)
    out: list[Finding] = []
    for fn, groups in merged.items():
        if fn in taken:
            continue
        wait = max(g.max_wait_minutes for g in groups)
        if wait < cfg.min_blocked_minutes:
            continue
        counts = _counts(series, groups)
        ok = np.isfinite(counts)
        if not ok.any():
            continue
        last = float(counts[ok][-1])
        if last < cfg.min_blocked_goroutines:
            continue
        states = _states(groups)
        blocked = sum(c for s, c in states.items() if s.split(",")[0].startswith(BLOCKING_STATES))
        if not states or blocked < 0.8 * sum(states.values()):
            continue
        rep = max(groups, key=lambda g: float(g.counts[-1]))
        ev = [
            f"{last:.0f} goroutines in {fn} are blocked ({_state_words(states)}), the longest for "
            f"{wait} minutes; over the window their count was {np.nanmin(counts):.0f}-"
            f"{np.nanmax(counts):.0f}: they are not doing work, they wait for something that "
            "does not come.",
        ]
        if rep.created_by:
            ev.append(f"Created by {rep.created_by}.")
        ev.append(f"Their stacks hold ~{human_bytes(last * stack_per_g)}, plus everything they "
                  "reference.")
        sure = [f"{last:.0f} goroutines blocked for up to {wait} minutes"]
        conf = min(0.9, 0.6 + 0.3 * min(1.0, wait / 60))
        serving = next((f for g in groups for f in (*g.stack, g.created_by)
                        if f.startswith(SERVING_FRAMES)), None)
        if serving:
            ev.append(f"They serve requests or streams ({serving}): a long poll or a watch may "
                      "wait this long by design; check that they return when their client goes "
                      "away (a context that is never checked keeps them forever).")
            sure.append("but they serve requests, which may wait by design")
            conf = 0.45
        out.append(Finding(
            kind="blocked-goroutines", function=fn, stack=rep.stack,
            inuse=last * stack_per_g, confidence=conf,
            evidence=ev, goroutines=int(last), series=fill_forward(counts * stack_per_g),
            sure=sure,
        ))
    return out


def steady_findings(series: SessionSeries, stack_per_g: float, cfg: SteadyConfig,
                    taken_functions: Collection[str], taken_kinds: Collection[str]
                    ) -> list[Finding]:
    """Every steady-state finding not already covered by a growth suspect.

    ``taken_functions``/``taken_kinds``: the suspects the growth analysis already made (a
    growing goroutine group or connection leak is reported once, as growth).
    """
    out: list[Finding] = []
    if "connection-leak" not in taken_kinds:
        conn = _connection_finding(series, cfg, stack_per_g)
        if conn is not None:
            out.append(conn)
    out.extend(_blocked_findings(series, cfg, stack_per_g, taken_functions))
    return out


def retention_summary(suspects: tuple[Suspect, ...], span: str) -> str:
    """The ``retention`` verdict's one-line summary, after its first suspect."""
    top = suspects[0] if suspects else None
    if top is None or top.kind == "map-retention":
        what = f" {top.variable or top.function}" if top else ""
        return (f"Nothing was seen to grow over {span}, but the map{what} holds far more "
                "memory than its live entries need (Go maps never shrink).")
    if top.kind == "connection-retention":
        return (f"Nothing was seen to grow over {span}, but {top.goroutines or 0} goroutines hold "
                f"HTTP client connections open on response bodies that are never closed; the "
                f"requests are made in {top.function}.")
    return (f"Nothing was seen to grow over {span}, but {top.goroutines or 0} goroutines in "
            f"{top.function} have been blocked for many minutes.")
