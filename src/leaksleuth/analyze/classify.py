"""What kind of leak a growing site is, how sure we are, and what to do about it.

Without the executable, map growth and slice growth look alike in protobuf heap profiles
(pprof strips ``runtime.hashGrow`` and ``runtime.growslice``), so the allocation is told apart by
(1) runtime frames from the ``debug=1`` raw PCs when they could be symbolized, (2) frames that
survive (``sync.(*Map)``...), and (3) the object sizes in the ``bytes`` label: a classic map's
bucket array doubles, a large slice grows by ~1.25x, a Swiss map adds equal-sized tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from leaksleuth.analyze.diagnosis import SuspectKind

EXPLANATIONS: dict[SuspectKind, str] = {
    "unbounded-map": (
        "A map keeps gaining entries and nothing bounds it. Go maps never shrink: even delete() "
        "frees no buckets, so its memory only goes up."
    ),
    "map-retention": (
        "A map holds far more memory than its live entries need: entries were deleted, but Go "
        "maps never give their buckets back."
    ),
    "goroutine-leak": (
        "Goroutines are started and never finish: they wait for a channel, select, lock or timer "
        "that nobody will ever signal, and each keeps its stack and everything it references."
    ),
    "connection-leak": (
        "HTTP connections pile up: response bodies are not closed, so every request keeps a "
        "connection with its read and write loop goroutines and their buffers."
    ),
    "unbounded-slice": (
        "A slice only grows: append keeps every element and re-slicing keeps the whole "
        "backing array alive."
    ),
    "heap-growth": (
        "Live heap allocated here keeps growing across GC cycles: something long-lived keeps "
        "references to these objects."
    ),
    "connection-retention": (
        "HTTP client connections are held open far beyond what the client needs: response "
        "bodies are dropped without being closed, so each request keeps its connection, a read "
        "and a write loop goroutine and their buffers until a timeout ends it. Bounded by that "
        "timeout, the count stays flat; it grows with the request rate and the timeout."
    ),
    "blocked-goroutines": (
        "A large group of goroutines has been blocked on the same channel, lock or select for "
        "many minutes: they are not working, they wait for something that will most likely "
        "never happen, and each keeps its stack and everything it references."
    ),
}

ADVICE: dict[SuspectKind, str] = {
    "unbounded-map": (
        "Bound the map: evict old entries (an LRU or a size cap), expire them by time, or "
        "rebuild it periodically by copying the live entries into a new map and dropping the old "
        "one; delete() alone will not release its memory."
    ),
    "map-retention": (
        "Rebuild the map when it has shrunk (copy live entries into a fresh map and replace the "
        "old one), or shard it by time so whole shards can be dropped."
    ),
    "goroutine-leak": (
        "Give every goroutine a way out: pass a context.Context and return on ctx.Done(), close "
        "the channel when the producer is finished, `defer ticker.Stop()`, and make sends that "
        "may have no receiver buffered or guarded by a select with a timeout."
    ),
    "connection-leak": (
        "Close every response body: `defer resp.Body.Close()` right after the error check (and "
        "drain it with io.Copy(io.Discard, resp.Body) to reuse the connection); reuse one "
        "http.Client and set its Timeout."
    ),
    "unbounded-slice": (
        "Cap the slice: keep a ring buffer or drop old elements by copying the live tail into a "
        "new slice (s = append([]T(nil), s[k:]...)), or flush it to storage periodically."
    ),
    "heap-growth": (
        "Find the long-lived owner (a global, cache, registry or struct field) that stores these "
        "objects and make it forget them when they are no longer needed."
    ),
    "connection-retention": (
        "Close every response body on every path: `defer resp.Body.Close()` right after the "
        "error check, and drain it (io.Copy(io.Discard, resp.Body)) so the connection returns "
        "to the pool. The client's Timeout only bounds the damage; it is not a fix."
    ),
    "blocked-goroutines": (
        "Find what should wake them (a send, a close, an Unlock, a Done) and the path that "
        "skips it; give them a way out with a context.Context or a timeout, and close channels "
        "when their producer finishes."
    ),
}

MAP_RUNTIME = (
    "runtime.hashGrow", "runtime.makeBucketArray", "runtime.newoverflow", "runtime.makemap",
    "runtime.mapassign", "internal/runtime/maps.",  # Swiss maps (Go 1.24+)
)
SLICE_RUNTIME = ("runtime.growslice",)
MAP_ASSIGN = ("runtime.mapassign", "internal/runtime/maps.runtime_mapassign")
SYNC_MAP = ("sync.(*Map).", "sync.(*entry)", "sync.newEntry", "internal/sync.(*HashTrieMap")
SYNC_MAP_STORE = ("sync.(*Map).Store", "sync.(*Map).LoadOrStore", "sync.(*Map).Swap",
                  "internal/sync.(*HashTrieMap")
CONN_FRAMES = ("net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop")
CLIENT_FRAMES = ("net/http.(*Client)", "net/http.Get", "net/http.Post", "net/http.Head",
                 "net/http.PostForm", "net/http.NewRequest")
CONN_HEAP_FRAMES = ("net/http.(*Transport).dialConn", "net/http.(*persistConn)")


def is_connection_stack(stack: Sequence[str]) -> bool:
    return any(f.startswith(CONN_FRAMES) for f in stack)


def is_connection_heap_stack(stack: Sequence[str]) -> bool:
    return any(f.startswith(CONN_HEAP_FRAMES) for f in stack)


@dataclass(frozen=True)
class Allocation:
    """How a site's growing memory was allocated, with how sure we are and why."""

    kind: SuspectKind
    allocation: str | None  # "map growth", "sync.Map", "slice growth", ...
    certainty: float  # 0..1
    reason: str


def _ratios(values: Sequence[int]) -> list[float]:
    return [b / a for a, b in pairwise(values) if a > 0 and b > a]


def classify_sizes(sizes_over_time: Sequence[dict[int, int]]) -> Allocation | None:
    """Tell containers apart from the ``bytes`` label histories (size -> objects per snapshot).

    The largest object of a growing slice is its backing array, replaced by one ~1.25x larger
    (runtime.growslice, Go >= 1.18, above 256 elements); a classic map's bucket array doubles
    exactly; a Swiss map (Go >= 1.24) splits full 1024-slot tables, adding equal large blocks.
    """
    largest: list[int] = []
    for d in sizes_over_time:
        if d:
            largest.append(max(d))
    if len(largest) < 3:
        return None
    distinct: list[int] = []
    for s in largest:
        if not distinct or s != distinct[-1]:
            distinct.append(s)
    ratios = _ratios(sorted(set(distinct)))
    if len(ratios) >= 2 and largest[-1] >= 8192:
        ratios.sort()
        med = ratios[len(ratios) // 2]
        if 1.9 <= med <= 2.1:
            return Allocation("unbounded-map", "map growth", 0.6,
                              f"its largest object doubles in size ({len(distinct)} sizes up to "
                              f"{largest[-1]} B), like a map's bucket array")
        if 1.1 <= med < 1.9:
            return Allocation("unbounded-slice", "slice growth", 0.6,
                              f"its largest object is replaced by one {med:.2f}x larger "
                              f"({len(distinct)} sizes up to {largest[-1]} B), like append "
                              "growing a slice")
    # Many equal large blocks could be a Swiss map's full tables or just buffers: no call.
    return None


def classify_site(
    stack: Sequence[str],
    all_frames: frozenset[str],
    sizes_over_time: Sequence[dict[int, int]],
    runtime_frames: Sequence[str] = (),
    calls: frozenset[str] = frozenset(),
) -> Allocation:
    """Classify a growing heap site.

    ``runtime_frames`` come from symbolized debug=1 PCs (what the sampled allocations ran
    through); ``calls`` are the runtime functions the site's function calls in the executable
    (static: present even when sampling missed the container's own allocations).
    """
    for f in runtime_frames:  # ordered by the bytes they hold: the first container wins
        if f.startswith(MAP_RUNTIME):
            return Allocation("unbounded-map", "map growth", 0.9,
                              f"the raw allocation stacks run through {f}")
        if f.startswith(SLICE_RUNTIME):
            return Allocation("unbounded-slice", "slice growth", 0.9,
                              f"the raw allocation stacks run through {f}")
    rt = tuple(runtime_frames)
    frames = tuple(stack) + tuple(sorted(all_frames))
    hit_sync = next((f for f in frames if f.startswith(SYNC_MAP)), None)
    if hit_sync:
        return Allocation("unbounded-map", "sync.Map", 0.85,
                          f"the allocations are made by {hit_sync} (a sync.Map)")
    by_size = classify_sizes(sizes_over_time)
    fn = stack[0] if stack else "the function"
    sync_calls = sorted(c for c in calls if c.startswith(SYNC_MAP_STORE))
    if sync_calls:
        return Allocation("unbounded-map", "sync.Map", 0.75,
                          f"its code stores into a sync.Map ({sync_calls[0]}), and the growing "
                          "objects are the values it stores")
    inserts = sorted(c for c in calls if c.startswith(MAP_ASSIGN))
    appends = "runtime.growslice" in calls
    if inserts and (not appends or by_size is None or by_size.kind != "unbounded-slice"):
        also = "" if not appends else " (it also appends, but its growth is not a slice's)"
        return Allocation("unbounded-map", "map growth", 0.75 if not appends else 0.6,
                          f"its code inserts into a map ({inserts[0]}){also}, and the "
                          "growing objects are the entries it stores")
    if appends and not inserts:
        return Allocation("unbounded-slice", "slice growth", 0.75,
                          f"its code appends to a slice (runtime.growslice) and inserts into no "
                          f"map; the growing objects are what {fn} appends")
    if calls:  # the code is known and neither inserts nor appends: plain objects kept alive
        return Allocation("heap-growth", None, 0.6,
                          f"{fn} neither inserts into a map nor appends to a slice: the objects "
                          "it allocates are kept alive elsewhere (a container filled by a "
                          "caller, or a small reference pinning a large buffer)")
    if by_size is not None:
        return by_size
    if any(f.startswith("runtime.makechan") for f in rt):
        return Allocation("heap-growth", "channels", 0.7, "the raw stack runs through makechan")
    return Allocation("heap-growth", None, 0.4,
                      "the allocation pattern does not identify a map or a slice")
