"""Unit tests of the analysis on hand-made snapshot series (real programs: test_scenarios.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from leaksleuth.analyze.classify import classify_site, classify_sizes
from leaksleuth.analyze.diagnosis import SCHEMA, MapFinding
from leaksleuth.analyze.series import reduce_session
from leaksleuth.analyze.trend import assess_growth, robust_trend
from leaksleuth.app import diagnose
from leaksleuth.profile.frames import site_function as own_frame
from leaksleuth.profile.model import (
    Frame,
    Function,
    Goroutine,
    GoroutineDump,
    Labels,
    Line,
    Location,
    MemStats,
    Profile,
)
from leaksleuth.profile.snapshot import Snapshot
from leaksleuth.profile.text import HEAP_SAMPLE_TYPES

MB = 1_000_000
HeapSpec = dict[tuple[str, ...], list[tuple[int, int]]]  # stack -> [(size, objects)]


def heap_profile(spec: HeapSpec) -> Profile:
    """A protobuf-like heap profile: one sample per (stack, object size), with a bytes label."""
    fn_ids: dict[str, int] = {}
    functions: list[Function] = []
    locations: list[Location] = []
    values: list[list[int]] = []
    offsets = [0]
    stack_locs: list[int] = []
    lab_sample: list[int] = []
    lab_value: list[int] = []
    for stack, sizes in spec.items():
        loc_ids = []
        for name in stack:
            if name not in fn_ids:
                fn_ids[name] = len(functions) + 1
                functions.append(Function(fn_ids[name], name))
                locations.append(Location(fn_ids[name], lines=(Line(fn_ids[name]),)))
            loc_ids.append(fn_ids[name])
        for size, objs in sizes:
            lab_sample.append(len(values))
            lab_value.append(size)
            values.append([objs * 3, objs * size * 3, objs, objs * size])
            stack_locs.extend(loc_ids)
            offsets.append(len(stack_locs))
    k = len(lab_sample)
    return Profile(
        sample_types=HEAP_SAMPLE_TYPES, values=np.array(values, dtype=np.int64).reshape(-1, 4),
        stack_offsets=offsets, stack_locations=stack_locs, locations=tuple(locations),
        functions=tuple(functions), strings=("", "bytes"),
        num_labels=Labels(sample=lab_sample, key=[1] * k, value=lab_value, unit=[0] * k),
    )


def dump(groups: Sequence[tuple[tuple[str, ...], str, int]]) -> GoroutineDump:
    gs = []
    gid = 1
    for stack, state, count in groups:
        for _ in range(count):
            gs.append(Goroutine(gid, state, frames=tuple(Frame(f) for f in stack),
                                created_by=Frame("main.main")))
            gid += 1
    return GoroutineDump(tuple(gs))


def series(
    n: int,
    floor: Callable[[int], float],
    heap: Callable[[int], HeapSpec] | None = None,
    goroutines: Callable[[int], Sequence[tuple[tuple[str, ...], str, int]]] | None = None,
    interval: float = 1.0,
) -> list[Snapshot]:
    snaps = []
    for i in range(n):
        gdump = dump(goroutines(i)) if goroutines else dump([(("main.main",), "running", 1)])
        total = len(gdump.goroutines)
        ms = MemStats(heap_alloc=int(floor(i)), heap_objects=int(floor(i) // 100),
                      num_gc=10 + 2 * i, next_gc=int(floor(i) * 2), stack_inuse=total * 8192)
        h = heap(i) if heap else {("main.main",): [(64, 10)]}
        snaps.append(Snapshot(
            seq=i, time=1000.0 + i * interval, memstats=ms, goroutine_total=total,
            heap_loader=lambda h=h: heap_profile(h),
            goroutine_dump_loader=lambda d=gdump: d,
        ))
    return snaps


BASE = 20 * MB
rng = np.random.default_rng(7)
NOISE = rng.normal(0, 40_000, 200)


def test_theil_sen_resists_outliers() -> None:
    t = np.arange(30.0)
    y = 1000 * t
    y[5] = 1e9  # one wild snapshot
    y[17] = -1e9
    tr = robust_trend(t, y)
    assert tr.slope == pytest.approx(1000, rel=0.05)
    assert tr.significant()


def test_growth_constant_and_short_series() -> None:
    assert not assess_growth([0, 1, 2, 3, 4, 5], [7] * 6, min_rise=1).growing
    g = assess_growth([0, 1, 2], [1, 2, 3], min_rise=0)
    assert not g.enough_data and not g.growing


def test_unbounded_map_leak_is_found_and_named() -> None:
    def heap(i: int) -> HeapSpec:
        return {
            ("main.(*Store).Put", "main.ingest", "main.main"): [(1024, 800 * (i + 1)),
                                                               (2 ** (12 + i // 4) * 208, 1)],
            ("main.steady", "main.main"): [(4096, 500)],
        }
    snaps = series(20, lambda i: BASE + 850_000 * i + NOISE[i], heap)
    d = diagnose(snaps, target="http://x", settings={"interval": 1}, go_version="1.23.9").diagnosis
    assert d.verdict == "leak"
    top = d.suspects[0]
    assert top.function == "main.(*Store).Put"
    assert top.kind == "unbounded-map"  # the bucket array doubles
    assert top.growth_bytes_per_second > 500_000
    assert 0 < top.confidence <= 1
    assert any("%" in e for e in top.evidence)
    assert d.heap.growth_bytes_per_second == pytest.approx(850_000, rel=0.1)
    assert d.window.snapshots == 20 and d.window.gc_cycles == 38
    assert all(s.function != "main.steady" for s in d.suspects)


def test_slice_growth_classified_by_size_ratio() -> None:
    sizes = [{int(8192 * 1.25 ** k): 1, 48: 100 * k} for k in range(12)]
    a = classify_sizes(sizes)
    assert a is not None and a.kind == "unbounded-slice"
    b = classify_site(("main.record",), frozenset({"sync.(*Map).Store"}), sizes)
    assert b.kind == "unbounded-map" and b.allocation == "sync.Map"
    c = classify_site(("main.f",), frozenset(), [], runtime_frames=("runtime.growslice",))
    assert c.kind == "unbounded-slice" and c.certainty > 0.8


def test_plateau_after_warmup_is_no_leak() -> None:
    snaps = series(20, lambda i: BASE + 1_000_000 * min(i, 8) + NOISE[i])
    d = diagnose(snaps, target="t", settings={}, go_version=None).diagnosis
    assert d.verdict == "no-leak"
    assert d.heap.plateau
    assert d.suspects == ()


def test_leak_after_warmup_is_a_leak() -> None:
    snaps = series(20, lambda i: BASE + 500_000 * max(0, i - 9) + NOISE[i])
    d = diagnose(snaps, target="t", settings={}, go_version=None).diagnosis
    assert d.verdict == "leak"


def test_slice_steps_are_growth_not_a_plateau() -> None:
    # append replaces the backing array by one 1.25x larger: the floor rises in steps and can
    # sit flat for the last third of the window; warm-up then flat must stay a plateau
    size, floors = 4 * MB, []
    for i in range(20):
        if i in (2, 5, 9, 14):
            size = int(size * 1.6)
        floors.append(BASE + size + NOISE[i] / 10)
    g = assess_growth(np.arange(20.0), floors, min_rise=256 * 1024)
    assert g.growing and not g.plateau
    flat_end = [BASE + 4 * MB * min(i, 5) for i in range(20)]
    g2 = assess_growth(np.arange(20.0), flat_end, min_rise=256 * 1024)
    assert g2.plateau and not g2.growing


def test_gc_sawtooth_is_not_growth() -> None:
    # HeapAlloc swings by 30 MB between ticks (pacing), the floor-ish value wanders
    snaps = series(24, lambda i: BASE + (15 * MB if i % 3 == 0 else 0) + NOISE[i])
    d = diagnose(snaps, target="t", settings={}, go_version=None).diagnosis
    assert d.verdict == "no-leak"
    # the swings are outliers to the slope's bound, but they are the noise the leak test faces
    assert d.sensitivity is not None and d.sensitivity.noise_bytes > 1 * MB
    assert d.sensitivity.growth_upper_bytes_per_second is not None
    assert d.sensitivity.growth_upper_bytes_per_second < d.sensitivity.material_bytes_per_second


def test_outlier_snapshots_do_not_make_a_leak() -> None:
    spikes = {4: 40 * MB, 13: 60 * MB, 19: 80 * MB}
    snaps = series(20, lambda i: BASE + spikes.get(i, 0) + NOISE[i])
    assert diagnose(snaps, target="t", settings={}, go_version=None).diagnosis.verdict == "no-leak"


def test_too_few_points_is_inconclusive() -> None:
    snaps = series(3, lambda i: BASE + 5 * MB * i)
    d = diagnose(snaps, target="t", settings={}, go_version=None).diagnosis
    assert d.verdict == "inconclusive"
    assert "Inconclusive" in d.summary


def test_no_gc_between_snapshots_is_inconclusive() -> None:
    from dataclasses import replace

    snaps = [replace(s, memstats=replace(s.memstats, num_gc=7)) if s.memstats else s
             for s in series(12, lambda i: BASE + 900_000 * i)]
    d = diagnose(snaps, target="t").diagnosis
    assert d.verdict == "inconclusive" and "0 GC cycle" in d.summary


def test_without_forced_gc_the_floor_is_the_profiles_last_gc_state() -> None:
    # HeapAlloc saw-tooths upwards with garbage; the heap profile (as of the last GC) is flat
    snaps = series(16, lambda i: BASE + 3 * MB * (i % 4) + 2 * MB * i)
    flat = diagnose(snaps, target="t", settings={"gc": False}).diagnosis
    assert flat.verdict == "no-leak"
    assert diagnose(snaps, target="t", settings={"gc": True}).diagnosis.verdict == "leak"


def test_goroutine_leak_cross_checked_with_heap() -> None:
    stack = ("runtime.gopark", "runtime.chanrecv1", "main.handle.func1")

    def gs(i: int) -> list[tuple[tuple[str, ...], str, int]]:
        return [(stack, "chan receive", 10 * i), (("main.worker",), "select", 4 + i % 3)]

    def heap(i: int) -> HeapSpec:
        return {("main.handle.func1",): [(4096, 10 * i)], ("main.other",): [(512, 30)]}

    snaps = series(20, lambda i: BASE + 41_000 * i + NOISE[i] / 10, heap, gs)
    d = diagnose(snaps, target="t", settings={}, go_version=None).diagnosis
    assert d.verdict == "leak"
    top = d.suspects[0]
    assert top.kind == "goroutine-leak"
    assert top.function == "main.handle.func1"
    assert top.goroutines == 190
    assert any("Cross-check" in e for e in top.evidence)
    assert len([s for s in d.suspects if s.function == "main.handle.func1"]) == 1
    assert d.goroutines.growing_groups[0].function == "main.handle.func1"
    assert all(g.function != "main.worker" for g in d.goroutines.growing_groups)


def test_connection_leak_named_after_callers_function() -> None:
    rl = ("runtime.gopark", "internal/poll.runtime_pollWait", "net/http.(*persistConn).readLoop")
    wl = ("runtime.gopark", "runtime.selectgo", "net/http.(*persistConn).writeLoop")

    def gs(i: int) -> list[tuple[tuple[str, ...], str, int]]:
        return [(rl, "IO wait", 3 * i), (wl, "select", 3 * i)]

    def heap(i: int) -> HeapSpec:
        return {
            ("bufio.NewReaderSize", "net/http.(*Transport).dialConn"): [(4096, 3 * i)],
            ("net/http.NewRequestWithContext", "net/http.(*Client).Get", "main.poll"):
                [(512, 3 * i)],
        }
    snaps = series(20, lambda i: BASE + 30_000 * i, heap, gs)
    d = diagnose(snaps, target="t", settings={}, go_version=None).diagnosis
    assert d.verdict == "leak"
    top = d.suspects[0]
    assert top.kind == "connection-leak"
    assert top.function == "main.poll"
    assert top.goroutines == 114


def test_retention_needs_maps_and_names_the_variable() -> None:
    snaps = series(12, lambda i: BASE + NOISE[i])
    bloated = MapFinding("main.sessions", "map[string][]uint8", "swiss", 10, 1 << 20, 900_000,
                         80 * MB, 40_000)
    d = diagnose(snaps, target="t", settings={}, go_version="1.26.6", maps=[bloated]).diagnosis
    assert d.verdict == "retention"
    assert d.suspects[0].kind == "map-retention"
    assert d.suspects[0].variable == "main.sessions"
    d2 = diagnose(snaps, target="t", settings={}, go_version="1.26.6").diagnosis
    assert d2.verdict == "no-leak"


def test_json_contract_round_trips() -> None:
    snaps = series(10, lambda i: BASE + 900_000 * i)
    d = diagnose(snaps, target="http://127.0.0.1:1", settings={"interval": 1.0},
                         go_version="1.23.9").diagnosis
    doc = json.loads(json.dumps(d.to_json_dict()))
    assert doc["schema"] == SCHEMA
    for key in ("target", "go_version", "window", "verdict", "summary", "heap", "goroutines",
                "suspects"):
        assert key in doc
    assert set(doc["window"]) >= {"start", "end", "snapshots", "gc_cycles"}
    for s in doc["suspects"]:
        assert set(s) >= {"rank", "kind", "function", "stack", "growth_bytes_per_second",
                          "inuse_bytes", "goroutines", "variable", "confidence", "evidence",
                          "advice"}
        assert all(isinstance(x, float) and math.isfinite(x) for x in [s["confidence"]])


def test_own_frame_rules() -> None:
    assert own_frame(("runtime.mallocgc", "strings.Repeat", "main.(*S).Put")) == "main.(*S).Put"
    assert own_frame(("runtime.gopark", "net/http.(*persistConn).readLoop")) == \
        "net/http.(*persistConn).readLoop"
    assert own_frame(("github.com/acme/x.(*C).Add", "main.main")) == "github.com/acme/x.(*C).Add"


def test_text_and_json_render_every_verdict() -> None:
    from leaksleuth.report.json import to_json
    from leaksleuth.report.text import to_text

    leak = diagnose(series(12, lambda i: BASE + 900_000 * i, lambda i: {
        ("main.(*Store).Put", "main.main"): [(1024, 900 * (i + 1))]}), target="http://t").diagnosis
    flat = diagnose(series(12, lambda i: BASE + NOISE[i]), target="http://t").diagnosis
    few = diagnose(series(2, lambda i: BASE), target="").diagnosis
    empty = diagnose([], target="[bold]x[/bold]").diagnosis
    for d, word in ((leak, "LEAK"), (flat, "NO-LEAK"), (few, "INCONCLUSIVE"),
                    (empty, "INCONCLUSIVE")):
        text = to_text(d, width=80)
        assert word in text and d.summary.split(":")[0] in text
        assert "\x1b[" not in text  # plain unless asked
        doc = json.loads(to_json(d))
        assert doc["verdict"] == d.verdict and doc["schema"] == SCHEMA
    assert "main.(*Store).Put" in to_text(leak) and "fix:" in to_text(leak)
    assert "[bold]x[/bold]" in to_text(empty)  # user strings are not rich markup
    assert "\x1b[" in to_text(leak, color=True)


def test_corrupt_artifact_is_a_missing_point_not_a_failure() -> None:
    from dataclasses import replace

    from leaksleuth.errors import ProfileError

    def broken() -> Profile:
        raise ProfileError("truncated gzip data", "snapshots/000004/heap.pb.gz")

    snaps = series(16, lambda i: BASE + 900_000 * i, lambda i: {
        ("main.(*Store).Put", "main.main"): [(1024, 900 * (i + 1))]})
    snaps[4] = replace(snaps[4], heap_loader=broken)
    d = diagnose(snaps, target="t").diagnosis
    assert d.verdict == "leak" and d.suspects[0].function == "main.(*Store).Put"
    assert d.window.snapshots == 16


def test_gdb_map_names_the_variable_of_a_map_suspect_in_its_package() -> None:
    snaps = series(14, lambda i: BASE + 900_000 * i, lambda i: {
        ("main.(*Store).Put", "main.main"): [(1024, 900 * (i + 1)), (2 ** (12 + i // 3) * 208, 1)]})
    ours = MapFinding("main.store", "map[string][]uint8", "classic", 12_000, 16_384, 0,
                      3 * MB, 2 * MB)
    theirs = MapFinding("github.com/acme/lib.registry", "map[int]int", "classic", 5, 8, 0,
                        50 * MB, 40 * MB)
    d = diagnose(snaps, target="t", maps=[theirs, ours]).diagnosis
    top = d.suspects[0]
    assert top.kind == "unbounded-map" and top.variable == "main.store"
    assert any("gdb: main.store" in e for e in top.evidence)
    d2 = diagnose(snaps, target="t", maps=[theirs]).diagnosis
    assert d2.suspects[0].variable is None


@pytest.mark.go
def test_executable_facts_from_real_binaries() -> None:
    """The executable tells a map insert from an append, without any profile."""
    from pathlib import Path

    from leaksleuth.inspect.pclntab import PcTable
    from support.goservice import build_or_skip

    scen = Path(__file__).resolve().parent / "scenarios"
    for version in ("1.23.9", "1.26.6"):
        put = PcTable(build_or_skip(scen / "unbounded_map", version))
        assert put, "the Go build has its function table"
        calls = put.calls("main.(*Store).Put")
        assert any(c.startswith("runtime.mapassign") for c in calls), calls
        assert "runtime.growslice" not in calls
        app = PcTable(build_or_skip(scen / "unbounded_slice", version)).calls(
            "main.(*AuditLog).Append")
        assert "runtime.growslice" in app and not any("mapassign" in c for c in app), app
        assert put.lookup(0) is None and put.calls("main.noSuchFunction") == frozenset()


def test_profiler_buffers_are_not_a_site() -> None:
    """The profiler's own gzip writers, in flight while another client reads a profile, are
    left out of the sites and of the profile's total, however they move."""
    served = ("compress/flate.NewWriter", "compress/gzip.(*Writer).Write",
              "runtime/pprof.(*profileBuilder).build", "net/http/pprof.handler.ServeHTTP")

    def heap(i: int) -> HeapSpec:
        return {("main.steady", "main.main"): [(4096, 500)], served: [(1 << 20, i)]}
    snaps = series(12, lambda i: BASE + NOISE[i], heap)
    s = reduce_session(snaps)
    assert "compress/flate.NewWriter" not in s.sites and "main.steady" in s.sites
    assert np.all(s.profile_inuse == 4096 * 500)
    d = diagnose(snaps, target="http://x", settings={"interval": 1}, go_version="1.23.9").diagnosis
    assert all("compress" not in x.function for x in d.suspects)
