"""Goroutines grouped by identical stack: what a leak of goroutines looks like at a glance.

Pure functions. A ``GoroutineDump`` (``debug=2``) gives full detail: states, wait minutes,
locked threads and creators. A ``Profile`` (protobuf or ``debug=1``) gives counts per stack
only; the other columns are then empty rather than invented.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from leaksleuth.profile.frames import group_frame, sample_functions, unsymbolized_name
from leaksleuth.profile.model import Frame, GoroutineDump, Profile

__all__ = [
    "GoroutineGroup",
    "GroupedGoroutines",
    "group_bytes",
    "group_dump",
    "group_goroutines",
    "group_profile",
]


@dataclass(frozen=True, slots=True)
class GoroutineGroup:
    """Goroutines sharing one stack (and one creator function, when known)."""

    count: int
    functions: tuple[str, ...]  # leaf first, runtime frames at the leaf included
    states: tuple[tuple[str, int], ...] = ()  # (state, how many), most common first
    max_wait_minutes: int = 0
    locked_to_thread: int = 0  # how many of them are locked to an OS thread
    own_frame: str = ""  # innermost frame of the service's own code
    created_by: str = ""  # function that started them ("" when unknown)
    frames: tuple[Frame, ...] = ()  # full frames (dump only)
    ids: tuple[int, ...] = ()  # goroutine ids (dump only), ascending

    @property
    def state_summary(self) -> str:
        """``chan receive`` or ``chan receive ×3, select ×1``."""
        if len(self.states) == 1:
            return self.states[0][0]
        return ", ".join(f"{s} ×{n}" for s, n in self.states)


def _sort(groups: list[GoroutineGroup]) -> list[GoroutineGroup]:
    return sorted(groups, key=lambda g: (-g.count, g.own_frame, g.functions))


def group_dump(dump: GoroutineDump, module: str | None = None) -> list[GoroutineGroup]:
    """Group a ``debug=2`` dump by identical frames (function, file, line, offset) and creator.

    Sorted by count, largest first. ``module`` is passed to ``frames.own_frame``.
    """
    buckets: dict[tuple[tuple[Frame, ...], str], list[int]] = {}
    gs = dump.goroutines
    for i, g in enumerate(gs):
        creator = g.created_by.function if g.created_by else ""
        buckets.setdefault((g.frames, creator), []).append(i)
    groups: list[GoroutineGroup] = []
    for (frames, creator), members in buckets.items():
        states = Counter(gs[i].state for i in members)
        functions = tuple(f.function for f in frames)
        groups.append(
            GoroutineGroup(
                count=len(members),
                functions=functions,
                states=tuple(sorted(states.items(), key=lambda kv: (-kv[1], kv[0]))),
                max_wait_minutes=max(gs[i].wait_minutes for i in members),
                locked_to_thread=sum(1 for i in members if gs[i].locked_to_thread),
                own_frame=group_frame(functions, module),
                created_by=creator,
                frames=frames,
                ids=tuple(sorted(gs[i].id for i in members)),
            )
        )
    return _sort(groups)


def group_profile(profile: Profile, module: str | None = None,
                  sample_type: str | None = None) -> list[GoroutineGroup]:
    """Group a goroutine ``Profile`` (protobuf or ``debug=1``) by function stack: counts only.

    Samples whose symbolised stacks are equal (e.g. the same stack with different labels)
    are added up.
    """
    col = profile.sample_type_index(sample_type)
    counts: dict[tuple[str, ...], int] = {}
    for i in range(profile.n_samples):
        names = sample_functions(profile, i, drop_runtime_leaf=False)
        key = tuple(n for n in names if n != "runtime.goexit")
        if not key:  # debug=1 runtime PCs: shown only when nothing else is known
            locs = [profile.location(int(lid)) for lid in profile.stack(i)]
            key = tuple(unsymbolized_name(loc.address) for loc in locs if not loc.lines)
        counts[key] = counts.get(key, 0) + int(profile.values[i, col])
    groups = [
        GoroutineGroup(
            count=n,
            functions=fns,
            own_frame=group_frame(fns, module),
        )
        for fns, n in counts.items()
        if n
    ]
    return _sort(groups)


def group_goroutines(data: GoroutineDump | Profile, module: str | None = None
                     ) -> list[GoroutineGroup]:
    """Either a dump (full detail) or a goroutine profile (counts only)."""
    if isinstance(data, GoroutineDump):
        return group_dump(data, module)
    return group_profile(data, module)


@dataclass(frozen=True, slots=True)
class GroupedGoroutines:
    """Groups plus what they were made from: ``detail`` is "full" (dump) or "counts"."""

    groups: tuple[GoroutineGroup, ...]
    detail: str
    truncated: bool = False


def group_bytes(data: bytes, source: str, module: str | None = None) -> GroupedGoroutines:
    """Parse any goroutine format (debug=2 dump, debug=1 text, protobuf) and group it."""
    from leaksleuth.errors import ProfileError
    from leaksleuth.profile import formats, text

    fmt = formats.detect(data, source)
    if fmt is formats.Format.GOROUTINE_DUMP:
        dump = text.parse_goroutine_dump(data, source)
        return GroupedGoroutines(tuple(group_dump(dump, module)), "full", dump.truncated)
    profile = formats.load_profile(data, source)
    names = [st.type for st in profile.sample_types]
    if "goroutine" not in names:
        raise ProfileError(
            f"not a goroutine profile (sample types: {', '.join(names) or 'none'})", source
        )
    return GroupedGoroutines(tuple(group_profile(profile, module, "goroutine")), "counts")
