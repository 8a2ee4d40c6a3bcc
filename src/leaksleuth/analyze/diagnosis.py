"""The result of an analysis: what renderers render and what ``--json`` emits.

The JSON form (``to_json_dict``) is a stable contract, schema ``leaksleuth.diagnosis/1``,
documented in the README. Add fields; never rename or remove one without bumping the schema.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from leaksleuth.inspect.findings import MapFinding as MapFinding  # what gdb read

SCHEMA = "leaksleuth.diagnosis/1"

Verdict = Literal["leak", "retention", "no-leak", "inconclusive"]
SuspectKind = Literal[
    "unbounded-map",
    "map-retention",
    "goroutine-leak",
    "connection-leak",
    "unbounded-slice",
    "heap-growth",
    # steady-state kinds (nothing grows; see analyze/steady.py), under the retention verdict
    "connection-retention",
    "blocked-goroutines",
]


@dataclass(frozen=True)
class Window:
    start: float  # Unix seconds
    end: float
    snapshots: int
    gc_cycles: int  # NumGC advance over the window


@dataclass(frozen=True)
class HeapSeries:
    """Per-snapshot heap figures; ``floor`` is the live heap right after a forced GC."""

    times: tuple[float, ...]
    floor_bytes: tuple[int, ...]  # post-GC HeapAlloc (or in-use bytes of the heap profile)
    heap_alloc: tuple[int, ...]
    next_gc: tuple[int, ...]
    heap_objects: tuple[int, ...]
    num_gc: tuple[int, ...]
    stack_inuse: tuple[int, ...]
    growth_bytes_per_second: float  # robust slope of the floor
    growth_p_value: float | None = None  # trend test; None when too few points
    plateau: bool = False  # growth that stopped (warm-up, bounded cache)
    live_estimate: tuple[int, ...] = ()  # NextGC after the forced GC on HeapAlloc's scale
    floor_signal: str = ""  # what floor_bytes is


@dataclass(frozen=True)
class GoroutineGroupTrend:
    """A group of goroutines with one identical stack, followed over the window."""

    function: str  # innermost frame of the service's own code
    stack: tuple[str, ...]  # leaf first
    counts: tuple[int, ...]  # per snapshot
    states: tuple[str, ...]  # states seen, most common first
    max_wait_minutes: int
    created_by: str
    growth_per_second: float
    blocked: bool


@dataclass(frozen=True)
class GoroutineSeries:
    times: tuple[float, ...]
    counts: tuple[int, ...]
    growing_groups: tuple[GoroutineGroupTrend, ...] = ()
    groups: tuple[GoroutineGroupTrend, ...] = ()  # every group at the last snapshot


@dataclass(frozen=True)
class Sensitivity:
    """What the window could have seen: the noise on the live-heap signal, the smallest growth
    the leak test catches, and how long to watch for growth that matters. ``no-leak`` means
    the slope's upper bound (at ``confidence``) is at most ``material_bytes_per_second``;
    ``inconclusive`` (with enough data) means it is not."""

    signal: str  # which live-heap signal the figures are for
    noise_bytes: float  # robust standard deviation of the signal around its trend
    detectable_bytes_per_second: float | None  # None: too few points to detect anything
    detection_probability: float
    growth_upper_bytes_per_second: float | None  # one-sided upper confidence bound of the slope
    confidence: float  # of that bound
    material_bytes_per_second: float  # the growth rate that matters for this heap
    watch_seconds: float | None  # window needed to detect the material rate (None: beyond a week)
    interval_seconds: float  # the snapshot spacing the watch time assumes


@dataclass(frozen=True)
class Suspect:
    rank: int
    kind: SuspectKind
    function: str
    stack: tuple[str, ...]  # leaf first
    growth_bytes_per_second: float
    inuse_bytes: int
    confidence: float  # 0..1
    evidence: tuple[str, ...]
    advice: str
    goroutines: int | None = None  # for goroutine kinds
    variable: str | None = None  # when gdb inspection names one
    inuse_series: tuple[int, ...] = ()  # per snapshot, for charts
    allocation: str | None = None  # map growth / slice growth / channel ... when classified
    steady: bool | None = None  # heap suspects: long-lived growth (monotone, survives GC)


@dataclass(frozen=True)
class FailedTick:
    """A collection tick that stored nothing, with what went wrong on each request."""

    seq: int
    time: float  # Unix seconds
    errors: tuple[str, ...]


@dataclass(frozen=True)
class ServiceLost:
    """The service stopped answering during the window: it never came back, or it came back
    restarted (a crash or OOM kill and a supervisor's restart). News in itself."""

    last_answer: float | None  # Unix seconds of the last tick it answered before going away
    since: float  # the first failed tick
    back_at: float | None  # the first tick it answered again; None: never came back
    restarted: bool  # came back with its GC count started over: a new process
    failed_ticks: int
    reason: str  # the first failed tick's first error


@dataclass(frozen=True)
class Diagnosis:
    target: str
    window: Window
    verdict: Verdict
    summary: str
    heap: HeapSeries
    goroutines: GoroutineSeries
    suspects: tuple[Suspect, ...]
    go_version: str | None = None
    maps: tuple[MapFinding, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # interval, gc, duration...
    schema: str = SCHEMA
    failed_ticks: tuple[FailedTick, ...] = ()  # ticks that stored nothing, in time order
    service_lost: ServiceLost | None = None
    sensitivity: Sensitivity | None = None  # None when too little data to say

    def to_json_dict(self) -> dict[str, Any]:
        """The documented JSON contract (tuples become lists)."""
        d = asdict(self)
        out: dict[str, Any] = {"schema": d.pop("schema")}
        out.update(d)
        return out
