"""Hand-made profiles for the flame and HTML tests (not a fake of anything: tiny real models)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leaksleuth.analyze.diagnosis import (
    Diagnosis,
    GoroutineGroupTrend,
    GoroutineSeries,
    HeapSeries,
    MapFinding,
    Suspect,
    Window,
)
from leaksleuth.profile.model import Function, Line, Location, Profile, ValueType
from leaksleuth.profile.text import HEAP_SAMPLE_TYPES

HEAP_TYPES = HEAP_SAMPLE_TYPES  # a Go heap profile's four sample types


def make_profile(stacks: Sequence[tuple[Sequence[str], int]],
                 types: tuple[ValueType, ...] = HEAP_TYPES) -> Profile:
    """A profile with one sample per (root-first function names, value) pair.

    The value goes into every column; one location per function, one line each.
    """
    names: dict[str, int] = {}
    for stack, _ in stacks:
        for nm in stack:
            names.setdefault(nm, len(names) + 1)
    functions = tuple(Function(id=i, name=nm, filename=f"/src/{nm[:20]}.go")
                      for nm, i in names.items())
    locations = tuple(Location(id=i, address=0x1000 + i, lines=(Line(function_id=i, line=i),))
                      for i in names.values())
    offsets = [0]
    locs: list[int] = []
    for stack, _ in stacks:
        locs.extend(names[nm] for nm in reversed(stack))  # leaf first
        offsets.append(len(locs))
    values = np.array([[v] * len(types) for _, v in stacks], dtype=np.int64).reshape(
        len(stacks), len(types))
    return Profile(sample_types=types, values=values, stack_offsets=np.array(offsets),
                   stack_locations=np.array(locs, dtype=np.int64), locations=locations,
                   functions=functions)


def make_diagnosis(target: str = "http://127.0.0.1:6060", n: int = 8,
                   leak_fn: str = "main.leakyCache.Put") -> Diagnosis:
    """A small but complete Diagnosis, every section filled."""
    t0 = 1_700_000_000.0
    times = tuple(t0 + 10 * i for i in range(n))
    floor = tuple(4_000_000 + 1_500_000 * i for i in range(n))
    grp = GoroutineGroupTrend(
        function="main.handler.func1", stack=("main.handler.func1", "net/http.(*conn).serve"),
        counts=tuple(10 + 5 * i for i in range(n)), states=("chan receive",),
        max_wait_minutes=3, created_by="main.handler", growth_per_second=0.5, blocked=True)
    idle = GoroutineGroupTrend(
        function="main.main", stack=("main.main",), counts=(1,) * n, states=("IO wait",),
        max_wait_minutes=0, created_by="", growth_per_second=0.0, blocked=False)
    return Diagnosis(
        target=target,
        window=Window(start=times[0], end=times[-1], snapshots=n, gc_cycles=3 * n),
        verdict="leak",
        summary=f"The post-GC heap floor rises 150 KB/s; {leak_fn} holds most of it.",
        heap=HeapSeries(times=times, floor_bytes=floor,
                        heap_alloc=tuple(f + 2_000_000 for f in floor),
                        next_gc=tuple(2 * f for f in floor),
                        heap_objects=tuple(1000 * i for i in range(n)),
                        num_gc=tuple(3 * i for i in range(n)),
                        stack_inuse=tuple(65536 for _ in range(n)),
                        growth_bytes_per_second=150_000.0, growth_p_value=0.001),
        goroutines=GoroutineSeries(times=times, counts=tuple(c + 1 for c in grp.counts),
                                   growing_groups=(grp,), groups=(grp, idle)),
        suspects=(Suspect(rank=1, kind="unbounded-map", function=leak_fn,
                          stack=(leak_fn, "main.handler", "main.main"),
                          growth_bytes_per_second=150_000.0, inuse_bytes=floor[-1],
                          confidence=0.9, evidence=("in-use bytes grew in every snapshot",),
                          advice="Bound the cache or evict entries.",
                          inuse_series=floor, allocation="map growth"),),
        go_version="go1.23.9",
        maps=(MapFinding(variable="main.cache", type="map[string][]uint8", layout="classic",
                         live_entries=1000, capacity_slots=2048, deleted_slots=10,
                         bytes_held=1 << 20, bytes_needed=1 << 19),),
        settings={"interval": 10.0, "gc": True},
    )


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def launch_chromium(pw: Any) -> Any:
    """Debian's chromium driven by Playwright, or a pytest skip saying what is missing."""
    import pytest

    from support import markers

    markers.require("browser")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class PageWatch:
    """Everything a page did that a self-contained, script-safe report must not do."""

    def __init__(self, page: Any) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning") and
                self.console_errors.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("dialog", self._dialog)

        def route(r: Any) -> None:
            url = r.request.url
            if not url.startswith("file://"):
                self.requests.append(url)
                r.abort()
            else:
                r.continue_()

        page.route("**/*", route)
        page.on("request", lambda r: None if r.url.startswith("file://")
                else self.requests.append(r.url))

    def _dialog(self, d: Any) -> None:
        self.dialogs.append(d.message)
        d.dismiss()

    def assert_clean(self) -> None:
        assert self.page_errors == [], self.page_errors
        assert self.console_errors == [], self.console_errors
        assert self.requests == [], self.requests
        assert self.dialogs == [], self.dialogs


# hierarchy nodes the flame graph drew: name, width in px, self width (width minus children)
FLAME_FRAMES_JS = """() => {
  const out = [];
  document.querySelectorAll('#flame g.frame').forEach(g => {
    const d = g.__data__;
    const kids = (d.children || []).reduce((s, c) => s + (c.value || 0), 0);
    const r = g.querySelector('rect');
    out.push({name: d.data.n, value: d.value, self: d.value - kids,
              width: r.getBoundingClientRect().width, fill: r.getAttribute('fill'),
              label: g.querySelector('div').textContent, depth: d.depth});
  });
  return out;
}"""


SETTLED_JS = """() => !Array.from(document.querySelectorAll('#flame *')).some(
  n => n.__transition && Object.keys(n.__transition).length)"""


def settle(page: Any) -> None:
    """Wait until d3's transitions in the flame graph are over (no fixed sleeps on busy CI)."""
    page.wait_for_timeout(50)  # let a click's transition get scheduled
    page.wait_for_function(SETTLED_JS, timeout=30_000)
