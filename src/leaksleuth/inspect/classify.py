"""Label heap-profile stacks as map growth, slice growth, channel, string, goroutine or object.

pprof strips the leading ``runtime.*`` (and ``internal/runtime/*``) frames, so an insert into a
map and an append look the same: both are charged to the user's function. The raw PCs on the
``@`` lines of a ``debug=1`` heap profile keep those frames; resolving them with the
executable's ``.gopclntab`` (``PcTable``; no attach, works on stripped executables) gives the
runtime function that allocated, and that function names the kind of allocation.

Entry point for the analysis: ``classify_heap_stacks(exe, heap)`` where ``heap`` is the profile
from ``profile.text.parse_heap_text`` (its ``Location.address`` values are the raw PCs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from leaksleuth.inspect.pclntab import PcTable
from leaksleuth.profile.model import Profile

AllocationKind = Literal["map growth", "slice growth", "channel", "string", "goroutine",
                         "object"]

# Marker functions, checked in this order over all the stripped runtime frames. Map markers cover
# classic maps (runtime/map*.go) and Swiss maps (internal/runtime/maps, Go 1.24+).
MAP_PREFIXES = ("internal/runtime/maps.", "runtime.mapassign", "runtime.makemap",
                "runtime.hashGrow", "runtime.makeBucketArray", "runtime.(*hmap).",
                "runtime.growWork", "runtime.evacuate", "runtime.mapinitnoop")
SLICE_PREFIXES = ("runtime.growslice",)
CHANNEL_PREFIXES = ("runtime.makechan", "reflect.makechan")
STRING_PREFIXES = ("runtime.concatstring", "runtime.rawstring", "runtime.slicebytetostring",
                   "runtime.stringtoslicebyte", "runtime.rawbyteslice", "runtime.intstring",
                   "runtime.slicerunetostring", "runtime.stringtoslicerune",
                   "runtime.rawruneslice", "internal/bytealg.MakeNoZero")
GOROUTINE_PREFIXES = ("runtime.malg", "runtime.newproc", "runtime.allocm", "runtime.newm",
                      "runtime.stackalloc")

_RULES: tuple[tuple[AllocationKind, tuple[str, ...]], ...] = (
    ("map growth", MAP_PREFIXES),
    ("slice growth", SLICE_PREFIXES),
    ("channel", CHANNEL_PREFIXES),
    ("string", STRING_PREFIXES),
    ("goroutine", GOROUTINE_PREFIXES),
)


def is_runtime_frame(name: str) -> bool:
    """Frames pprof strips from the top of allocation stacks."""
    return name.startswith(("runtime.", "internal/runtime/", "internal/bytealg.",
                            "internal/abi.", "reflect.makechan"))


@dataclass(frozen=True)
class StackClass:
    """The allocation kind of one heap-profile sample."""

    kind: AllocationKind
    marker: str | None  # the runtime function that decided it (None for "object")
    runtime_frames: tuple[str, ...]  # the frames pprof strips, leaf first
    site: str  # the first frame of the program's own code (or the last runtime frame)
    stack: tuple[str, ...]  # every frame, leaf first
    inuse_bytes: int
    alloc_bytes: int


def classify_frames(frames: tuple[str, ...]) -> tuple[AllocationKind, str | None, int]:
    """(kind, marker, number of leading runtime frames) for a symbolized stack, leaf first."""
    n = 0
    while n < len(frames) and is_runtime_frame(frames[n]):
        n += 1
    for kind, prefixes in _RULES:  # map first: its overflow slices grow with growslice
        for name in frames[:n]:
            if name.startswith(prefixes):
                return kind, name, n
    return "object", None, n


@dataclass(frozen=True)
class HeapClassification:
    """Per-sample classes of one heap profile, and totals per site (the user's function)."""

    samples: tuple[StackClass | None, ...]  # index = sample index of the heap profile
    unresolved_pcs: int = 0
    by_site: dict[str, dict[AllocationKind, int]] = field(default_factory=dict)  # in-use bytes

    def kind_of_site(self, site: str) -> AllocationKind | None:
        """The kind holding most in-use bytes at ``site`` (None if the site is unknown)."""
        kinds = self.by_site.get(site)
        if not kinds:
            return None
        return max(kinds.items(), key=lambda kv: kv[1])[0]

    def runtime_frames_by_site(self) -> dict[str, tuple[str, ...]]:
        """Per site: distinct hidden runtime frames, those of the most in-use bytes first.

        The same shape as ``analyze.allocsite.pclntab_runtime_frames`` returns.
        """
        weight: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for s in self.samples:
            if s is None:
                continue
            for f in s.runtime_frames:
                weight[s.site][f] += s.inuse_bytes + s.alloc_bytes // 4
        return {site: tuple(n for n, _ in sorted(w.items(), key=lambda kv: -kv[1]))
                for site, w in weight.items()}


def classify_heap_stacks(exe: str | Path, heap: Profile, table: PcTable | None = None,
                         site_of: Callable[[tuple[str, ...]], str] | None = None
                         ) -> HeapClassification:
    """Classify every sample of ``heap`` (from ``parse_heap_text``) using ``exe``'s pclntab.

    ``exe`` is a path, e.g. ``/proc/PID/exe``; no attach is needed. ``site_of`` picks the
    site from the frames after the runtime ones (default: the first of them), so callers can
    key results the way their own analysis names sites. Raises ``InspectError`` if the
    executable cannot be read or is not Go.
    """
    table = table or PcTable(exe)
    inuse = heap.find_sample_type("inuse_space")
    alloc = heap.find_sample_type("alloc_space")
    names: dict[int, str | None] = {}
    callees: dict[int, str | None] = {}
    unresolved = 0
    out: list[StackClass | None] = []
    by_site: dict[str, dict[AllocationKind, int]] = defaultdict(lambda: defaultdict(int))
    for i in range(heap.n_samples):
        frames: list[str] = []
        stack_ids = heap.stack(i).tolist()
        if stack_ids:  # the runtime function the profiler's skip count may have dropped
            leaf = heap.location(stack_ids[0]).address
            if leaf not in callees:
                callees[leaf] = table.callee(leaf) if leaf else None
            hidden = callees[leaf]
            if hidden is not None and is_runtime_frame(hidden):
                frames.append(hidden)
        for lid in stack_ids:
            loc = heap.location(lid)
            if loc.lines:  # resolved by the profile itself, inlined frames included
                frames.extend(heap.function(ln.function_id).name for ln in loc.lines)
                continue
            if loc.address not in names:
                names[loc.address] = table.lookup(loc.address) if loc.address else None
            name = names[loc.address]
            if name is None:
                unresolved += 1
                continue
            frames.append(name)
        if not frames:
            out.append(None)
            continue
        kind, marker, n = classify_frames(tuple(frames))
        rest = tuple(frames[n:]) or (frames[-1],)
        site = site_of(rest) if site_of is not None else rest[0]
        ib = int(heap.values[i, inuse]) if inuse is not None else 0
        ab = int(heap.values[i, alloc]) if alloc is not None else 0
        out.append(StackClass(kind, marker, tuple(frames[:n]), site, tuple(frames), ib, ab))
        by_site[site][kind] += ib
    return HeapClassification(tuple(out), unresolved,
                              {k: dict(v) for k, v in by_site.items()})


@dataclass(frozen=True)
class SiteKind:
    """In-use and allocated bytes of one (site, kind) pair, for tables and JSON."""

    site: str
    kind: AllocationKind
    inuse_bytes: int
    alloc_bytes: int
    samples: int
    markers: tuple[str, ...]


def summarize(c: HeapClassification) -> list[SiteKind]:
    """(site, kind) rows, most in-use bytes first."""
    acc: dict[tuple[str, AllocationKind], list[Any]] = {}
    for s in c.samples:
        if s is None:
            continue
        row = acc.setdefault((s.site, s.kind), [0, 0, 0, set()])
        row[0] += s.inuse_bytes
        row[1] += s.alloc_bytes
        row[2] += 1
        if s.marker:
            row[3].add(s.marker)
    rows = [SiteKind(site, kind, r[0], r[1], r[2], tuple(sorted(r[3])))
            for (site, kind), r in acc.items()]
    rows.sort(key=lambda r: (-r.inuse_bytes, -r.alloc_bytes, r.site))
    return rows
