"""One pass over a session's snapshots, reduced to the small series the analyses need.

Profiles are loaded one snapshot at a time and reduced at once to per-site and per-group
figures, so a 500-snapshot session never holds more than one profile in memory.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from leaksleuth.errors import LeaksleuthError
from leaksleuth.profile.frames import (
    goroutine_function,
    is_profiler_stack,
    is_runtime,
    location_functions,
    normalize_function,
    site_function,
)
from leaksleuth.profile.model import GoroutineDump, MemStats, Profile
from leaksleuth.profile.snapshot import Snapshot

Names = tuple[str, ...]
T = TypeVar("T")


@dataclass
class SiteSeries:
    """In-use heap of every allocation stack sharing one own frame, per snapshot."""

    function: str
    bytes: NDArray[np.float64]
    objects: NDArray[np.float64]
    stacks: dict[Names, int] = field(default_factory=dict)  # stack -> last in-use bytes
    sizes: list[dict[int, int]] = field(default_factory=list)  # per snapshot: size -> objects

    @property
    def stack(self) -> Names:
        """The stack holding the most bytes, as a representative."""
        return max(self.stacks.items(), key=lambda kv: kv[1])[0] if self.stacks else ()

    @property
    def all_frames(self) -> frozenset[str]:
        out: set[str] = set()
        for s in self.stacks:
            out.update(s)
        return frozenset(out)


@dataclass
class GroupSeries:
    """Goroutines with one identical stack, counted per snapshot."""

    stack: Names
    counts: NDArray[np.float64]
    states: Counter[str] = field(default_factory=Counter)
    last_states: Counter[str] = field(default_factory=Counter)
    max_wait_minutes: int = 0
    created_by: str = ""

    @property
    def function(self) -> str:
        return goroutine_function(self.stack)


@dataclass
class SessionSeries:
    """Everything the analysis reads, as arrays over the snapshots (NaN where missing)."""

    times: NDArray[np.float64]
    heap_alloc: NDArray[np.float64]
    heap_objects: NDArray[np.float64]
    next_gc: NDArray[np.float64]
    num_gc: NDArray[np.float64]
    stack_inuse: NDArray[np.float64]
    profile_inuse: NDArray[np.float64]  # in-use bytes of the heap profile, profiler left out
    profile_objects: NDArray[np.float64]
    goroutine_total: NDArray[np.float64]
    sites: dict[str, SiteSeries]
    groups: dict[Names, GroupSeries]
    has_heap: NDArray[np.bool_]
    has_goroutines: NDArray[np.bool_]
    errors: int = 0
    last: tuple[Snapshot, ...] = ()  # the latest few snapshots, for their debug=1 raw PCs

    @property
    def n(self) -> int:
        return len(self.times)


def profile_stacks(profile: Profile) -> list[Names]:
    """Function names of every sample's stack, leaf first (inlined frames expanded)."""
    by_loc: list[Names] = [()]
    for loc in profile.locations:  # dense ids: location k is profile.locations[k - 1]
        by_loc.append(location_functions(profile, loc))
    offs = profile.stack_offsets.tolist()
    locs = profile.stack_locations.tolist()
    if all(len(x) == 1 for x in by_loc[1:]):  # no inlined frames: one name per location
        one = [x[0] if x else "" for x in by_loc].__getitem__
        return [tuple(map(one, locs[offs[i] : offs[i + 1]])) for i in range(profile.n_samples)]
    at = by_loc.__getitem__
    return [tuple(chain.from_iterable(map(at, locs[offs[i] : offs[i + 1]])))
            for i in range(profile.n_samples)]


def _sample_sizes(profile: Profile) -> NDArray[np.int64]:
    """The ``bytes`` label (object size) of every sample, 0 where absent."""
    sizes = np.zeros(profile.n_samples, dtype=np.int64)
    try:
        key = profile.strings.index("bytes")
    except ValueError:
        return sizes
    lab = profile.num_labels
    mask = lab.key == key
    sizes[lab.sample[mask]] = lab.value[mask]
    return sizes


def _reduce_heap(profile: Profile) -> tuple[dict[Names, tuple[int, int, dict[int, int]]], int, int]:
    """Per stack: (in-use bytes, in-use objects, size -> objects); plus totals. Stacks of the
    profiler serving a request are left out of both: its buffers come and go with the
    requests it serves (another client's, when it overlaps a GC)."""
    ib = profile.find_sample_type("inuse_space")
    io = profile.find_sample_type("inuse_objects")
    if ib is None:
        ib = profile.sample_type_index(None)
    vals = profile.values
    b_col = vals[:, ib].tolist() if profile.n_samples else []
    o_col = vals[:, io].tolist() if io is not None and profile.n_samples else [0] * len(b_col)
    sizes = _sample_sizes(profile).tolist()
    out: dict[Names, tuple[int, int, dict[int, int]]] = {}
    total_b = total_o = 0
    for names, b, o, s in zip(profile_stacks(profile), b_col, o_col, sizes, strict=True):
        if (b == 0 and o == 0) or is_profiler_stack(names):
            continue
        total_b += b
        total_o += o
        pb, po, ps = out.get(names, (0, 0, {}))
        if s:
            ps[s] = ps.get(s, 0) + o
        out[names] = (pb + b, po + o, ps)
    return out, total_b, total_o


def _reduce_dump(dump: GoroutineDump) -> dict[Names, tuple[int, Counter[str], int, str]]:
    out: dict[Names, tuple[int, Counter[str], int, str]] = {}
    for g in dump.goroutines:
        names = group_key(tuple(normalize_function(f.function) for f in g.frames))
        count, states, wait, created = out.get(names, (0, Counter(), 0, ""))
        states[g.state] += 1
        cb = normalize_function(g.created_by.function) if g.created_by else created
        out[names] = (count + 1, states, max(wait, g.wait_minutes), cb)
    return out


def _reduce_goroutine_profile(profile: Profile) -> dict[Names, tuple[int, Counter[str], int, str]]:
    out: dict[Names, tuple[int, Counter[str], int, str]] = {}
    col = profile.values[:, 0].tolist() if profile.n_samples else []
    for stack, c in zip(profile_stacks(profile), col, strict=True):
        names = group_key(stack)
        prev = out.get(names, (0, Counter(), 0, ""))
        out[names] = (prev[0] + c, prev[1], 0, "")
    return out


def _add_states(
    counts: dict[Names, tuple[int, Counter[str], int, str]],
    dump: dict[Names, tuple[int, Counter[str], int, str]],
) -> None:
    """Give the protobuf's groups the dump's states, waits and creators (same moment)."""
    for names, entry in list(counts.items()):
        d = dump.get(names)
        if d is not None:
            counts[names] = (entry[0], d[1], d[2], d[3])


def _mem(ms: MemStats | None, attr: str) -> float:
    return float(getattr(ms, attr)) if ms is not None else float("nan")


def fill_forward(values: NDArray[np.float64]) -> tuple[int, ...]:
    """Per-snapshot ints for the charts: a missing (NaN) point repeats the previous one."""
    out: list[int] = []
    prev = 0
    for v in values.tolist():
        if math.isfinite(v):
            prev = int(v)
        out.append(prev)
    return tuple(out)


def load_safely(loader: Callable[[], T | None]) -> tuple[T | None, bool]:
    """Call a snapshot loader; a corrupt artifact is a missing point, not a failed analysis."""
    try:
        return loader(), False
    except LeaksleuthError:
        return None, True


MAX_PROFILES = 1000  # profiles parsed per session; see reduce_session
DUMPS_FOR_STATES = 3  # debug=2 dumps parsed (at the end) for goroutine states and waits


def profile_indices(n: int, max_profiles: int = MAX_PROFILES) -> frozenset[int]:
    """Evenly spaced snapshot indices (always the first and the last few)."""
    if n <= max_profiles:
        return frozenset(range(n))
    picked = set(np.linspace(0, n - 1, max_profiles).round().astype(int).tolist())
    picked.update(range(max(0, n - DUMPS_FOR_STATES), n))
    return frozenset(picked)


def group_key(names: Names) -> Names:
    """One key for a goroutine stack from a dump or a protobuf profile: the dump elides the
    leading runtime frames (gopark...) and the profile keeps them; both drop goexit."""
    k = 0
    while k < len(names) - 1 and is_runtime(names[k]):
        k += 1
    end = len(names)
    while end > k + 1 and names[end - 1] in ("runtime.goexit", "runtime.main"):
        end -= 1
    return names[k:end]


def reduce_session(
    snapshots: Iterable[Snapshot], *, max_profiles: int = MAX_PROFILES
) -> SessionSeries:
    """Read a session into a ``SessionSeries``, loading profiles lazily.

    MemStats and goroutine totals (from the store's index) are kept for every snapshot; heap
    and goroutine profiles are parsed for every snapshot up to ``max_profiles`` (then for that
    many evenly spaced ones, so that a session of many hours stays bounded: parsing is the
    whole cost). Goroutine counts come from the protobuf profile; states and waits from the
    last few debug=2 dumps (a leaked goroutine stays in its state).
    """
    snaps = list(snapshots)
    n_all = len(snaps)
    chosen = profile_indices(n_all, max_profiles)
    times: list[float] = []
    cols: dict[str, list[float]] = {
        k: [] for k in ("heap_alloc", "heap_objects", "next_gc", "num_gc", "stack_inuse")
    }
    p_inuse: list[float] = []
    p_objects: list[float] = []
    g_total: list[float] = []
    has_heap: list[bool] = []
    has_g: list[bool] = []
    heap_rows: list[dict[Names, tuple[int, int, dict[int, int]]]] = []
    g_rows: list[dict[Names, tuple[int, Counter[str], int, str]]] = []
    errors = 0
    last: deque[Snapshot] = deque(maxlen=3)
    for idx, snap in enumerate(snaps):
        last.append(snap)
        times.append(float(snap.time))
        errors += len(snap.errors)
        ms = snap.memstats
        for k, col in cols.items():
            col.append(_mem(ms, k))
        heap = None
        grow: dict[Names, tuple[int, Counter[str], int, str]] | None = None
        if idx in chosen:
            heap, bad = load_safely(snap.heap)
            errors += bad
            gp = None
            if snap.goroutines_loader is not None:
                gp, bad = load_safely(snap.goroutines)
                errors += bad
            dump = None
            if gp is None or idx >= n_all - DUMPS_FOR_STATES:
                dump, bad = load_safely(snap.goroutine_dump)
                errors += bad
            if gp is not None:
                grow = _reduce_goroutine_profile(gp)
                if dump is not None:
                    _add_states(grow, _reduce_dump(dump))
            elif dump is not None:
                grow = _reduce_dump(dump)
        if heap is not None:
            row, tb, to = _reduce_heap(heap)
            heap_rows.append(row)
            p_inuse.append(float(tb))
            p_objects.append(float(to))
        else:
            heap_rows.append({})
            p_inuse.append(float("nan"))
            p_objects.append(float("nan"))
        has_heap.append(heap is not None)
        g_rows.append(grow or {})
        has_g.append(grow is not None)
        if snap.goroutine_total is not None:
            g_total.append(float(snap.goroutine_total))
        elif grow is not None:
            g_total.append(float(sum(v[0] for v in grow.values())))
        else:
            g_total.append(float("nan"))

    n = len(times)
    sites: dict[str, SiteSeries] = {}
    for i, row in enumerate(heap_rows):
        for names, (b, o, sz) in row.items():
            fn = site_function(names)
            site = sites.get(fn)
            if site is None:
                site = SiteSeries(fn, np.zeros(n), np.zeros(n), {}, [{} for _ in range(n)])
                sites[fn] = site
            site.bytes[i] += b
            site.objects[i] += o
            site.stacks[names] = b
            d = site.sizes[i]
            for s, c in sz.items():
                d[s] = d.get(s, 0) + c
    groups: dict[Names, GroupSeries] = {}
    for i, grow_row in enumerate(g_rows):
        for names, (c, states, wait, cb) in grow_row.items():
            g = groups.get(names)
            if g is None:
                g = GroupSeries(names, np.zeros(n))
                groups[names] = g
            g.counts[i] = c
            g.states.update(states)
            if i == n - 1:
                g.last_states = states
            g.max_wait_minutes = max(g.max_wait_minutes, wait)
            g.created_by = cb or g.created_by
    return SessionSeries(
        times=np.asarray(times, dtype=np.float64),
        heap_alloc=np.asarray(cols["heap_alloc"]),
        heap_objects=np.asarray(cols["heap_objects"]),
        next_gc=np.asarray(cols["next_gc"]),
        num_gc=np.asarray(cols["num_gc"]),
        stack_inuse=np.asarray(cols["stack_inuse"]),
        profile_inuse=np.asarray(p_inuse, dtype=np.float64),
        profile_objects=np.asarray(p_objects, dtype=np.float64),
        goroutine_total=np.asarray(g_total, dtype=np.float64),
        sites=sites,
        groups=groups,
        has_heap=np.asarray(has_heap, dtype=bool),
        has_goroutines=np.asarray(has_g, dtype=bool),
        errors=errors,
        last=tuple(last),
    )
