"""Go's legacy text profiles: heap debug=1 (+ MemStats), goroutine debug=1 and debug=2.

Hand-made inputs pin down the grammar and the error paths; a real Go program (built with
Go 1.23.9 and 1.26.6) checks that text and protobuf taken at the same moment agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaksleuth.errors import ProfileError
from leaksleuth.profile.formats import Format, detect, load_profile
from leaksleuth.profile.frames import normalize_function, own_frame, sample_functions
from leaksleuth.profile.model import GoroutineDump, MemStats, Profile
from leaksleuth.profile.text import (
    dump_to_profile,
    parse_goroutine_dump,
    parse_goroutine_text,
    parse_heap_text,
    scale_heap_sample,
)
from support.goroutinegen import run_goroutinegen
from support.goservice import GO_VERSIONS

# ------------------------------------------------------------------------- hand-made inputs

HEAP = b"""heap profile: 3: 3072 [5: 6144] @ heap/1048576
1: 1024 [2: 2048] @ 0x40e1ad 0x40e70f 0x6a9397 0x6a9734 0x477aa1
#\t0x6a9396\tmain.allocMap+0x76\t/src/main.go:90
#\t0x6a9733\tmain.main+0x213\t\t/src/main.go:120

2: 2048 [3: 4096] @ 0x500010 0x500020
#\t0x50000f\tmain.inner+0xf\t/src/a.go:5
#\t0x50000f\tmain.outer+0x3\t/src/a.go:9
#\t0x50001f\tmain.caller+0x1f\t/src/a.go:20

0: 0 [0: 0] @ 0x4309b9 0x43088c
#\t0x4309b8\truntime.saveg+0x118\t/go/src/runtime/mprof.go:1682
#\t0x43088b\truntime.doRecordGoroutineProfile.func1+0x4b\t/go/src/runtime/mprof.go:1300


# runtime.MemStats
# Alloc = 15464808
# TotalAlloc = 19697760
# Sys = 25842952
# Lookups = 0
# Mallocs = 47690
# Frees = 21769
# HeapAlloc = 15464808
# HeapSys = 20226048
# HeapIdle = 4128768
# HeapInuse = 16097280
# HeapReleased = 3891200
# HeapObjects = 25921
# Stack = 720896 / 753664
# MSpan = 228160 / 228480
# MCache = 2400 / 15600
# BuckHashSys = 1463257
# GCSys = 2425584
# OtherSys = 763087
# NextGC = 4194304
# LastGC = 1795500112010281492
# PauseNs = [39029 17205 0 0]
# PauseEnd = [1795500112009250569 1795500112010281492 0 0]
# NumGC = 2
# NumForcedGC = 2
# GCCPUFraction = 0
# DebugGC = false
# MaxRSS = 16384000
"""

GOROUTINES_TEXT = b"""goroutine profile: total 13
10 @ 0x487b6e 0x41896e 0x418492 0x688bdc 0x48f0e1
#\t0x688bdb\tmain.blockOnChan+0x1b\t/src/main.go:41

2 @ 0x487b6e 0x41896e 0x418492 0x688bdc 0x48f0e1
# labels: {"handler":"upload", "tenant":"a \\"quoted\\" one"}
#\t0x688bdb\tmain.blockOnChan+0x1b\t/src/main.go:41

1 @ 0x487b6e 0x48ba65 0x688d3d 0x48f0e1
#\t0x48ba64\ttime.Sleep+0x164\t/go/src/runtime/time.go:363
#\t0x688d3c\tmain.sleeper+0x1c\t/src/main.go:59
"""

DUMP = b"""goroutine 1 [select (no cases)]:
main.main()
\t/src/main.go:170 +0x757

goroutine 20 [chan receive, 3 minutes]:
main.blockOnChan(0x0?)
\t/src/main.go:41 +0x1c
created by main.main in goroutine 1
\t/src/main.go:128 +0x2f1

goroutine 21 [chan receive, 12 minutes, locked to thread]:
main.blockOnChan(0xc000012345)
\t/src/main.go:41 +0x1c
created by main.main in goroutine 1
\t/src/main.go:128 +0x2f1

goroutine 22 [syscall, locked to thread]:
syscall.Syscall(0x0, 0x3, 0xc0001, 0x1000)
\t/go/src/syscall/syscall_linux.go:73 +0x25
created by main.main
\t/src/main.go:130 +0x30

goroutine 23 [IO wait]:
internal/poll.runtime_pollWait(0x7f50b3495000, 0x72)
\t/go/src/runtime/netpoll.go:351 +0x85
internal/poll.(*pollDesc).waitRead(...)
\t/go/src/internal/poll/fd_poll_runtime.go:89
internal/poll.(*FD).Accept(0x3ab063e54080)
\t/go/src/internal/poll/fd_unix.go:613 +0x28c
net/http.Serve(...)
\t/go/src/net/http/server.go:2940
main.main.func2()
\t/src/main.go:116 +0x3b
created by main.main in goroutine 1
\t/src/main.go:116 +0x1f0

goroutine 24 [sync.WaitGroup.Wait, 2 minutes]:
sync.runtime_SemacquireWaitGroup(0xc0000140a8?, 0x0?)
\t/go/src/runtime/sema.go:114 +0x2e
sync.(*WaitGroup).Wait(0xc0000140a0)
\t/go/src/sync/waitgroup.go:206 +0x85
main.waitOn[...](0xc0000140a0)
\t/src/main.go:77 +0x1a
...additional frames elided...
created by main.main in goroutine 1
\t/src/main.go:150 +0x3b0
[originating from goroutine 1]:
main.ancestor()
\t/src/main.go:10 +0x10

goroutine 25 [chan receive (nil chan), synctest bubble 3]:
main.blockOnChan(0x0?)
\t/src/main.go:41 +0x1c
created by main.main in goroutine 1
\t/src/main.go:128 +0x2f1
"""


def test_scale_heap_sample_formula() -> None:
    # one 1 KiB object sampled at rate 512 KiB: probability 1 - exp(-1/512), scale 512.50
    assert scale_heap_sample(1, 1024, 512 * 1024) == (512, 524800)
    assert scale_heap_sample(0, 0, 512 * 1024) == (0, 0)
    assert scale_heap_sample(3, 300, 1) == (3, 300)  # rate 1: everything was recorded
    # a huge object is always sampled: scale ~1
    assert scale_heap_sample(2, 2 << 30, 512 * 1024) == (2, 2 << 30)
    # nonsense: 1e18 objects in 1 byte. Go would divide by zero; we saturate, never crash
    c, b = scale_heap_sample(10**18, 1, 512 * 1024)
    assert c == (1 << 63) - 1 and b > 0


def test_heap_text_header_totals_are_not_checked_like_pprof() -> None:
    """Older writers put whole-process allocation totals in the header: pprof reads such files
    and so do we; the disagreement is kept as a comment, the values come from the records."""
    old = HEAP.replace(b"heap profile: 3: 3072 [5: 6144]", b"heap profile: 3: 3072 [999: 88888]")
    prof, ms = parse_heap_text(old, "old.txt")
    ref, _ = parse_heap_text(HEAP, "new.txt")
    assert prof.values.tolist() == ref.values.tolist() and ms is not None
    assert prof.comments == ("header totals 3: 3072 [999: 88888] differ from the records' sums "
                             "3: 3072 [5: 6144]",)
    assert ref.comments == ()


def test_legacy_heap_text_variants_pprof_reads() -> None:
    """Indented records, a heapz_v2 header, a trailing memory map; growthz is unsampled."""
    text = (b"heap profile:      2:     3072 [     2:     3072] @ heapz_v2/524288\n"
            b"     1:     1024 [     1:     1024] @ 0x10 0x20\n"
            b"     1:     2048 [     1:     2048] @ 0x30\n"
            b"\nMAPPED_LIBRARIES:\n00400000-00500000 r-xp 00000000 00:00 0 /bin/x\n")
    prof, ms = parse_heap_text(text, "tc.heap")
    assert ms is None and prof.n_samples == 2 and prof.period == 524288
    s = 1 / (1 - math.exp(-1024 / 524288))
    assert prof.values[0].tolist() == [int(s), int(1024 * s)] * 2
    growth = text.replace(b"heapz_v2/524288", b"growthz")
    gp, _ = parse_heap_text(growth, "tc.growth")
    assert gp.values[:, 3].tolist() == [1024, 2048] and gp.period == 1


def test_count_profile_without_final_newline_and_other_names() -> None:
    """A threadcreate profile (same text as goroutine debug=1) whose last record lacks its
    newline, as pprof's own test file has it."""
    data = b"threadcreate profile: total 3\n1 @ 0x44cb3 0x45045\n2 @ 0x440e2 0x5191a"
    assert detect(data) is Format.GOROUTINE_TEXT
    prof = load_profile(data, "go.thread")
    assert [st.type for st in prof.sample_types] == ["threadcreate"]
    assert prof.values[:, 0].tolist() == [1, 2]
    with pytest.raises(ProfileError, match="truncated"):
        parse_goroutine_text(GOROUTINES_TEXT[:-5], "cut.txt")  # a cut '#' frame line


def test_heap_text_values_are_scaled_like_protobuf() -> None:
    prof, _ = parse_heap_text(HEAP, "heap.txt")
    assert [st.type for st in prof.sample_types] == [
        "alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
    assert prof.period == 512 * 1024  # heap/1048576 is 2 * MemProfileRate
    assert prof.period_type is not None and prof.period_type.type == "space"
    rate = 512 * 1024
    for i, (inuse_o, inuse_b, alloc_o, alloc_b) in enumerate(
            [(1, 1024, 2, 2048), (2, 2048, 3, 4096), (0, 0, 0, 0)]):
        sa = 1 / (1 - math.exp(-(alloc_b / alloc_o) / rate)) if alloc_o else 0.0
        si = 1 / (1 - math.exp(-(inuse_b / inuse_o) / rate)) if inuse_o else 0.0
        assert prof.values[i].tolist() == [
            int(alloc_o * sa), int(alloc_b * sa), int(inuse_o * si), int(inuse_b * si)]
    # the bytes label: average object size of the record, as the protobuf writer sets it
    assert prof.num_labels.sample.tolist() == [0, 1]
    assert prof.num_labels.value.tolist() == [1024, 1365]
    assert {prof.strings[k] for k in prof.num_labels.key} == {"bytes"}


def test_heap_text_keeps_raw_pcs_including_runtime() -> None:
    prof, _ = parse_heap_text(HEAP, "heap.txt")
    locs = [prof.location(int(i)) for i in prof.stack(0)]
    assert [loc.address for loc in locs] == [0x40E1AD, 0x40E70F, 0x6A9397, 0x6A9734, 0x477AA1]
    # runtime frames hidden by the '#' lines are unsymbolised locations, like in pprof
    assert [len(loc.lines) for loc in locs] == [0, 0, 1, 1, 0]
    assert prof.function(locs[2].lines[0].function_id).name == "main.allocMap"
    assert locs[2].lines[0].line == 90
    assert prof.function(locs[3].lines[0].function_id).filename == "/src/main.go"
    assert sample_functions(prof, 0) == ("main.allocMap", "main.main")


def test_heap_text_pprof_view_drops_unsymbolised_pcs() -> None:
    prof, _ = parse_heap_text(HEAP, "heap.txt", runtime_pcs=False)
    locs = [prof.location(int(i)) for i in prof.stack(0)]
    assert [loc.address for loc in locs] == [0x6A9397, 0x6A9734]
    assert load_profile(HEAP, "heap.txt").stack(0).tolist() == prof.stack(0).tolist()
    g = load_profile(GOROUTINES_TEXT, "g.txt")
    assert all(g.location(int(i)).lines for i in g.stack_locations)


def test_heap_text_inlined_frames_share_a_location() -> None:
    prof, _ = parse_heap_text(HEAP, "heap.txt")
    locs = [prof.location(int(i)) for i in prof.stack(1)]
    assert [loc.address for loc in locs] == [0x500010, 0x500020]
    names = [[prof.function(ln.function_id).name for ln in loc.lines] for loc in locs]
    assert names == [["main.inner", "main.outer"], ["main.caller"]]  # lines[0] innermost


def test_heap_text_runtime_only_stack_is_symbolised() -> None:
    prof, _ = parse_heap_text(HEAP, "heap.txt")
    assert sample_functions(prof, 2, drop_runtime_leaf=False) == (
        "runtime.saveg", "runtime.doRecordGoroutineProfile.func1")


def test_memstats_block_field_by_field() -> None:
    _, ms = parse_heap_text(HEAP, "heap.txt")
    assert isinstance(ms, MemStats)
    f = ms.fields
    assert f["Alloc"] == 15464808 and f["Lookups"] == 0
    assert (f["StackInuse"], f["StackSys"]) == (720896, 753664)
    assert (f["MSpanInuse"], f["MSpanSys"]) == (228160, 228480)
    assert (f["MCacheInuse"], f["MCacheSys"]) == (2400, 15600)
    assert f["PauseNs"] == [39029, 17205, 0, 0]
    assert f["PauseEnd"][:2] == [1795500112009250569, 1795500112010281492]
    assert f["PauseTotalNs"] == 39029 + 17205  # derived: NumGC <= len(PauseNs)
    assert f["GCCPUFraction"] == 0.0 and isinstance(f["GCCPUFraction"], float)
    assert f["DebugGC"] is False and f["EnableGC"] is True
    assert f["MaxRSS"] == 16384000
    assert "BySize" not in f
    assert ms.heap_alloc == 15464808 and ms.heap_objects == 25921
    assert ms.stack_inuse == 720896 and ms.stack_sys == 753664
    assert ms.next_gc == 4194304 and ms.num_gc == 2 and ms.num_forced_gc == 2
    assert ms.pause_total_ns == 56234


def test_heap_text_without_memstats() -> None:
    data = HEAP.split(b"# runtime.MemStats")[0]
    prof, ms = parse_heap_text(data, "h")
    assert ms is None and prof.n_samples == 3


def test_goroutine_text_counts_and_labels() -> None:
    prof = parse_goroutine_text(GOROUTINES_TEXT, "g.txt")
    assert [st.type for st in prof.sample_types] == ["goroutine"]
    assert prof.values[:, 0].tolist() == [10, 2, 1]
    rows = {(int(s), prof.strings[k], prof.strings[v]) for s, k, v in zip(
        prof.str_labels.sample, prof.str_labels.key, prof.str_labels.value, strict=True)}
    assert rows == {(1, "handler", "upload"), (1, "tenant", 'a "quoted" one')}
    assert sample_functions(prof, 2) == ("time.Sleep", "main.sleeper")
    # PCs on the '@' line are shared between records: one location per PC
    assert prof.stack(0).tolist() == prof.stack(1).tolist()


def test_goroutine_dump_grammar() -> None:
    dump = parse_goroutine_dump(DUMP, "g2.txt")
    assert not dump.truncated
    g = {x.id: x for x in dump.goroutines}
    assert sorted(g) == [1, 20, 21, 22, 23, 24, 25]
    assert (g[1].state, g[1].wait_minutes, g[1].created_by) == ("select (no cases)", 0, None)
    assert g[1].frames[0].function == "main.main"
    assert (g[20].state, g[20].wait_minutes, g[20].locked_to_thread) == ("chan receive", 3, False)
    assert (g[21].state, g[21].wait_minutes, g[21].locked_to_thread) == ("chan receive", 12, True)
    assert (g[22].state, g[22].locked_to_thread) == ("syscall", True)
    assert g[22].created_by is not None and g[22].created_by.function == "main.main"
    assert g[22].creator_id is None  # old Go: "created by F" without "in goroutine K"
    assert g[20].creator_id == 1
    assert g[20].created_by is not None and g[20].created_by.line == 128
    f = g[20].frames[0]
    assert (f.function, f.file, f.line, f.pc_offset) == ("main.blockOnChan", "/src/main.go", 41,
                                                         0x1C)
    assert g[20].frames == g[21].frames  # args differ, the stack does not
    assert [x.function for x in g[23].frames] == [
        "internal/poll.runtime_pollWait", "internal/poll.(*pollDesc).waitRead",
        "internal/poll.(*FD).Accept", "net/http.Serve", "main.main.func2"]
    assert g[23].frames[1].pc_offset == 0  # inlined: no +0x
    assert (g[24].state, g[24].wait_minutes) == ("sync.WaitGroup.Wait", 2)
    # frames after [originating from goroutine N] are the ancestor's, not this stack
    assert [x.function for x in g[24].frames][-1] == "main.waitOn[...]"
    assert g[25].state == "chan receive (nil chan), synctest bubble 3"


def test_dump_to_profile_counts_and_inlining() -> None:
    prof = dump_to_profile(parse_goroutine_dump(DUMP, "g2.txt"))
    counts = {sample_functions(prof, i, drop_runtime_leaf=False): int(prof.values[i, 0])
              for i in range(prof.n_samples)}
    assert counts[("main.blockOnChan",)] == 3  # goroutines 20, 21 and 25
    assert prof.values.sum() == 7
    # "net/http.Serve(...)" is inlined into main.main.func2: one location, two lines
    i = next(i for i, k in enumerate(counts) if "net/http.Serve" in k)
    stack = [prof.location(int(x)) for x in prof.stack(i)]
    assert [len(loc.lines) for loc in stack] == [1, 2, 2]


def test_truncated_dump_keeps_complete_lines() -> None:
    cut = DUMP[: DUMP.index(b"main.go:128", DUMP.index(b"goroutine 21")) + 5]
    dump = parse_goroutine_dump(cut, "cut.txt")
    assert dump.truncated
    assert [g.id for g in dump.goroutines] == [1, 20, 21]
    assert dump.goroutines[-1].created_by is not None
    assert dump.goroutines[-1].created_by.line == 0  # the cut line was dropped


def test_non_utf8_is_a_result_not_a_crash() -> None:
    data = DUMP.replace(b"/src/main.go:170", b"/src/m\xe4in.go:170")
    dump = parse_goroutine_dump(data, "latin1.txt")
    assert dump.goroutines[0].frames[0].file == "/src/m\ufffdin.go"
    heap = HEAP.replace(b"main.allocMap", b"main.alloc\xff\xfeMap")
    prof, _ = parse_heap_text(heap, "h")
    assert "main.alloc\ufffd\ufffdMap" in {f.name for f in prof.functions}


def test_crlf_line_endings() -> None:
    dump = parse_goroutine_dump(DUMP.replace(b"\n", b"\r\n"), "crlf.txt")
    assert dump.goroutines == parse_goroutine_dump(DUMP, "lf.txt").goroutines
    prof, ms = parse_heap_text(HEAP.replace(b"\n", b"\r\n"), "crlf.txt")
    assert ms is not None and ms.heap_alloc == 15464808 and prof.n_samples == 3


def test_huge_dump_100k_goroutines() -> None:
    block = (b"goroutine %d [chan receive, %d minutes]:\nmain.worker(0x%x)\n"
             b"\t/src/main.go:41 +0x1c\ncreated by main.main in goroutine 1\n"
             b"\t/src/main.go:128 +0x2f1\n")
    data = b"\n".join(block % (i + 2, i % 90, 0xC000000000 + i) for i in range(100_000))
    dump = parse_goroutine_dump(data, "big.txt")
    assert len(dump.goroutines) == 100_000
    assert max(g.wait_minutes for g in dump.goroutines) == 89
    prof = dump_to_profile(dump)
    assert prof.n_samples == 1 and int(prof.values[0, 0]) == 100_000


BAD: list[tuple[str, Any, bytes, str]] = [
    ("heap-empty", parse_heap_text, b"", "no 'heap profile"),
    ("heap-html", parse_heap_text, b"<html><body>404</body></html>", "heap profile"),
    ("heap-truncated", parse_heap_text, HEAP[: HEAP.index(b"2: 2048 [3:") - 8], "truncated"),
    ("heap-zero-count", parse_heap_text, b"heap profile: 1: 1 [1: 1] @ heap/2\n0: 8 [1: 8] @\n",
     "in-use count is 0 but its bytes are 8"),
    ("heap-bad-count", parse_heap_text,
     b"heap profile: 1: 1 [1: 1] @ heap/2\n1: x [1: 1] @ 0x1\n", "not a heap record"),
    ("heap-huge-count", parse_heap_text,
     b"heap profile: 1: 1 [1: 1] @ heap/2\n99999999999999999999999: 1 [1: 1] @ 0x1\n",
     "out of range"),
    ("heap-bad-pc", parse_heap_text,
     b"heap profile: 1: 1 [1: 1] @ heap/2\n1: 1 [1: 1] @ 0xZZ\n", "not a hex address"),
    ("heap-kind", parse_heap_text, b"heap profile: 0: 0 [0: 0] @ weird/2\n", "unsupported"),
    ("heap-memstats-cut", parse_heap_text, HEAP[: HEAP.index(b" 0 0]\n# PauseEnd")],
     "truncated"),
    ("heap-memstats-array", parse_heap_text, HEAP.replace(b" 0 0]\n# PauseEnd", b"\n# PauseEnd"),
     "cut off"),
    ("heap-memstats-junk", parse_heap_text, HEAP + b"# NumGC = lots\n", "not a value"),
    ("heap-orphan-frame", parse_heap_text,
     b"heap profile: 0: 0 [0: 0] @ heap/2\n#\t0x1\tmain.f+0x1\t/a.go:1\n", "outside a record"),
    ("g1-empty", parse_goroutine_text, b"", "profile: total"),
    ("g1-total", parse_goroutine_text, GOROUTINES_TEXT.replace(b"total 13", b"total 14"),
     "header says total 14"),
    ("g1-truncated", parse_goroutine_text, GOROUTINES_TEXT[:-60], "truncated"),
    ("g1-lost-records", parse_goroutine_text,
     GOROUTINES_TEXT[: GOROUTINES_TEXT.index(b"1 @ 0x487b6e 0x48ba65")], "header says total 13"),
    ("g1-junk", parse_goroutine_text, b"goroutine profile: total 1\nhello\n", "not a count"),
    ("g2-empty", parse_goroutine_dump, b"", "no goroutines"),
    ("g2-garbage", parse_goroutine_dump, b"hello world\n", "expected 'goroutine N"),
    ("g2-huge-id", parse_goroutine_dump, b"goroutine 9999999999999999999999 [running]:\n",
     "out of range"),
    ("g2-cut-header", parse_goroutine_dump, b"goroutine 1 [runn", "no goroutines"),
]


@pytest.mark.parametrize(("name", "parser", "data", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_clear_error(name: str, parser: Any, data: bytes, needle: str) -> None:
    with pytest.raises(ProfileError) as info:
        parser(data, f"{name}.txt")
    msg = str(info.value)
    assert msg.startswith(f"{name}.txt: ") and needle in msg and "\n" not in msg


# ------------------------------------------------------------------------- fuzzing

SEEDS = [(parse_heap_text, HEAP), (parse_goroutine_text, GOROUTINES_TEXT),
         (parse_goroutine_dump, DUMP)]


def _check_result(result: Any) -> None:
    """Whatever a parser returns must be internally consistent and usable."""
    if isinstance(result, tuple):
        result = result[0]
    if isinstance(result, GoroutineDump):
        result = dump_to_profile(result)
    assert isinstance(result, Profile)
    assert len(result.stack_offsets) == result.n_samples + 1
    if len(result.stack_locations):
        assert result.stack_locations.min() >= 1 and result.stack_locations.max() <= len(
            result.locations)
    for i in range(result.n_samples):
        sample_functions(result, i)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, len(SEEDS) - 1),
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 3),
                             st.binary(min_size=0, max_size=6)), max_size=6),
)
def test_fuzz_mutated_text(seed: int, edits: list[tuple[int, int, bytes]]) -> None:
    parser, data = SEEDS[seed]
    buf = bytearray(data)
    for pos, op, blob in edits:
        p = pos % (len(buf) + 1)
        if op == 0:
            buf[p:p] = blob
        elif op == 1:
            del buf[p: p + len(blob) + 1]
        elif op == 2:
            buf[p: p + len(blob)] = blob
        else:
            del buf[p:]
    try:
        result = parser(bytes(buf), "fuzz")
    except ProfileError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    _check_result(result)


RANDOM_BODY_PARSERS: dict[bytes, Callable[[bytes, str], object]] = {
    b"heap profile: 0: 0 [0: 0] @ heap/2\n": parse_heap_text,
    b"goroutine profile: total 0\n": parse_goroutine_text,
    b"goroutine 1 [running]:\n": parse_goroutine_dump,
}


@settings(max_examples=600, deadline=None)
@given(
    header=st.sampled_from(list(RANDOM_BODY_PARSERS)),
    body=st.text(alphabet=st.sampled_from(list("0123456789abcx@#:[] \t\n.()+,/")), max_size=300),
)
def test_fuzz_random_bodies(header: bytes, body: str) -> None:
    parser = RANDOM_BODY_PARSERS[header]
    try:
        result = parser(header + body.encode(), "fuzz")
    except ProfileError:
        return
    _check_result(result)


# ------------------------------------------------------------------------- real Go programs


@dataclass
class Captured:
    version: str
    exe: Path
    groups: dict[str, int]
    goroutine_text: bytes
    goroutine_dump: bytes
    goroutine_pb: bytes
    heap_text: bytes
    heap_pb: bytes
    memstats: dict[str, Any]


@pytest.fixture(scope="module", params=GO_VERSIONS)
def captured(request: pytest.FixtureRequest) -> Iterator[Captured]:
    """Every profile of one quiet moment of goroutinegen, taken back to back."""
    with run_goroutinegen(request.param) as (svc, groups), httpx.Client(
            base_url=svc.url, timeout=10) as client:

        def get(path: str) -> bytes:
            r = client.get(path)
            r.raise_for_status()
            return r.content

        cap = Captured(
            version=request.param,
            exe=Path(svc.proc.args[0]),  # type: ignore[index]
            groups=groups,
            goroutine_text=get("/debug/pprof/goroutine?debug=1"),
            goroutine_dump=get("/debug/pprof/goroutine?debug=2"),
            goroutine_pb=get("/debug/pprof/goroutine"),
            heap_text=get("/debug/pprof/heap?debug=1"),
            heap_pb=get("/debug/pprof/heap"),
            memstats=client.get("/memstats").json(),
        )
        yield cap


PLUMBING = ("net/http.", "runtime/pprof.")  # the server answering our requests


def _per_stack(prof: Profile) -> dict[tuple[str, ...], np.ndarray]:
    """Values per normalised function stack (leading runtime frames dropped, as pprof does)."""
    out: dict[tuple[str, ...], np.ndarray] = {}
    for i in range(prof.n_samples):
        if not prof.values[i].any():
            continue
        key = tuple(normalize_function(n) for n in sample_functions(prof, i))
        out[key] = out.get(key, 0) + prof.values[i]
    return out


def _shown_by_traceback(name: str) -> bool:
    """debug=2 hides unexported runtime frames everywhere (runtime.main, runtime.gopark)."""
    return not (name.startswith("runtime.") and name[8:9].islower())


def _app_goroutines(prof: Profile) -> dict[tuple[str, ...], int]:
    """Goroutines per stack as debug=2 shows them, without the HTTP server's own."""
    out: dict[tuple[str, ...], int] = {}
    for k, v in _per_stack(prof).items():
        if any(n.startswith(PLUMBING) for n in k):
            continue
        key = tuple(n for n in k if _shown_by_traceback(n))
        if key:  # () is a goroutine not started yet (only runtime.goexit): server plumbing
            out[key] = out.get(key, 0) + int(v[0])
    return out


@pytest.mark.go
def test_goroutine_counts_agree_across_formats(captured: Captured) -> None:
    text = _app_goroutines(parse_goroutine_text(captured.goroutine_text, "debug=1"))
    dump = _app_goroutines(dump_to_profile(parse_goroutine_dump(captured.goroutine_dump, "d2")))
    pb = _app_goroutines(load_profile(captured.goroutine_pb, "pb"))
    assert text == dump == pb
    by_own: dict[str, int] = {}
    for stack, n in pb.items():
        by_own[own_frame(stack)] = by_own.get(own_frame(stack), 0) + n
    for name, n in captured.groups.items():
        assert by_own.get(name) == n, (name, by_own)
    assert by_own.get("main.main") == 1  # the main goroutine in `select {}`
    # all three saw the same total, the profile-serving goroutines aside
    totals = [sum(x.values()) for x in (text, dump, pb)]
    assert totals[0] == sum(captured.groups.values()) + 1


def _labels_by_own_frame(prof: Profile) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    lab = prof.str_labels
    for i in range(prof.n_samples):
        rows = {(prof.strings[k], prof.strings[v])
                for s, k, v in zip(lab.sample, lab.key, lab.value, strict=True) if s == i}
        if rows:
            own = own_frame([normalize_function(n) for n in sample_functions(prof, i)])
            out.setdefault(own, set()).update(rows)
    return out


@pytest.mark.go
def test_goroutine_labels_agree(captured: Captured) -> None:
    """Goroutines started under pprof.Do carry labels; debug=1 prints them as `# labels:`."""
    text = parse_goroutine_text(captured.goroutine_text, "debug=1")
    pb = load_profile(captured.goroutine_pb, "pb")
    want = {"main.labelledWaiter": {("worker", "labelled"), ("tenant", 'a "b"')}}
    assert _labels_by_own_frame(text) == _labels_by_own_frame(pb) == want
    i = next(i for i in range(text.n_samples)
             if "main.labelledWaiter" in sample_functions(text, i))
    assert int(text.values[i, 0]) == captured.groups["main.labelledWaiter"] == 3


@pytest.mark.go
def test_heap_text_agrees_with_protobuf(captured: Captured) -> None:
    text, _ = parse_heap_text(captured.heap_text, "heap?debug=1")
    pb = load_profile(captured.heap_pb, "heap")
    assert [s.type for s in text.sample_types] == [s.type for s in pb.sample_types]
    assert text.period == pb.period == 4096  # the program sets MemProfileRate = 4096
    # totals over every record, then the same stacks with the same values: the text counts
    # were unsampled with Go's formula. Tolerance: 1 per record (one-ulp exp() differences).
    n = text.n_samples
    assert np.abs(text.values.sum(axis=0) - pb.values.sum(axis=0)).max() <= n
    ts, ps = _per_stack(text), _per_stack(pb)
    assert set(ts) == set(ps)
    for key in ts:
        assert np.abs(ts[key] - ps[key]).max() <= n, key
    # what `top` reads (load_profile: the pprof view) has the protobuf's stacks exactly
    view = load_profile(captured.heap_text, "heap?debug=1")
    assert all(view.location(int(i)).lines for i in view.stack_locations)
    assert set(_per_stack(view)) == set(ps)
    inuse = {k[0]: int(v[3]) for k, v in ts.items()}
    # ground truth: allocSlices keeps 2000 x 4 KiB; the unsampled estimate is close to it
    assert inuse["main.allocSlices"] == pytest.approx(2000 * 4096, rel=0.15)
    assert inuse["main.allocMap"] > 1 << 20


@pytest.mark.go
def test_heap_text_raw_pcs_are_runtime_frames(captured: Captured) -> None:
    """The unsymbolised leading PCs of a map-growth stack are runtime functions."""
    from elftools.elf.elffile import ELFFile

    text, _ = parse_heap_text(captured.heap_text, "heap?debug=1")
    with captured.exe.open("rb") as fh:
        symtab = ELFFile(fh).get_section_by_name(".symtab")
        funcs = sorted((s["st_value"], s["st_value"] + s["st_size"], s.name)
                       for s in symtab.iter_symbols()
                       if s["st_info"]["type"] == "STT_FUNC" and s["st_size"])
    starts = [f[0] for f in funcs]

    def symbolize(pc: int) -> str:
        import bisect

        k = bisect.bisect_right(starts, pc) - 1
        return funcs[k][2] if k >= 0 and pc < funcs[k][1] else "?"

    seen_runtime: set[str] = set()
    for i in range(text.n_samples):
        locs = [text.location(int(x)) for x in text.stack(i)]
        named = [text.function(loc.lines[0].function_id).name for loc in locs if loc.lines]
        if not named or named[0] != "main.allocMap":
            continue
        for loc in locs:
            name = symbolize(loc.address - 1)  # a return PC: the call is just before it
            if loc.lines:  # the '#' line's function is what the ELF says for that PC
                assert name == text.function(loc.lines[-1].function_id).name
            else:
                assert name.startswith(("runtime.", "internal/runtime/")), name
                seen_runtime.add(name)
    # the map-growth frames pprof strips are recoverable: classic maps (<= 1.23) grow through
    # runtime.hashGrow/makeBucketArray, Swiss maps (>= 1.24) through internal/runtime/maps
    if captured.version.startswith("1.23"):
        assert {"runtime.makeBucketArray", "runtime.hashGrow"} <= seen_runtime, seen_runtime
    else:
        assert any(n.startswith("internal/runtime/maps.") for n in seen_runtime), seen_runtime


@pytest.mark.go
def test_memstats_block_matches_the_program(captured: Captured) -> None:
    _, ms = parse_heap_text(captured.heap_text, "heap?debug=1")
    assert ms is not None
    go = captured.memstats
    # every field of Go's runtime.MemStats is there with its JSON type; BySize is not printed
    for name, value in go.items():
        if name == "BySize":
            assert name not in ms.fields
            continue
        assert name in ms.fields, name
        assert type(ms.fields[name]) is type(value), name
        if isinstance(value, list):
            assert len(ms.fields[name]) == len(value) and all(
                isinstance(x, int) for x in ms.fields[name])
    # fields that do not move while the program is quiet (GOGC=off: no GC between the two)
    for name in ("NumGC", "NumForcedGC", "LastGC", "PauseNs", "PauseEnd", "PauseTotalNs",
                 "EnableGC", "DebugGC", "Lookups"):
        assert ms.fields[name] == go[name], name
    # these move a little with each HTTP request (with GOGC=off NextGC is the memory limit
    # minus what is in use: it moves with the heap too)
    assert ms.next_gc == ms.fields["NextGC"] == pytest.approx(go["NextGC"], rel=1e-6)
    assert ms.fields["HeapAlloc"] == pytest.approx(go["HeapAlloc"], abs=4 << 20)
    assert ms.fields["HeapSys"] == pytest.approx(go["HeapSys"], rel=0.5)
    assert ms.heap_alloc == ms.fields["HeapAlloc"] > 8 << 20  # 8 MiB of slices retained
    assert ms.num_gc == go["NumGC"] >= 2
    assert ms.stack_inuse == ms.fields["StackInuse"] > 0
    assert ms.gc_cpu_fraction == ms.fields["GCCPUFraction"]


def test_dump_header_variants() -> None:
    data = (b"goroutine 1 gp=0xc000002380 m=0 mp=0x9a1b40 [running]:\nmain.main()\n"
            b"\t/src/main.go:10 +0x1d\n\n"
            b"goroutine 7 [GC worker (idle), 1 minutes]:\nruntime.gopark(0x0?, 0x0?)\n"
            b"\t/go/src/runtime/proc.go:435 +0xce\ncreated by runtime.gcBgMarkStartWorkers "
            b"in goroutine 1\n\t/go/src/runtime/mgc.go:1373 +0x105\n\n"
            b"goroutine 8 [semacquire (scan), 250 minutes, locked to thread]:\n"
            b"sync.runtime_Semacquire(0xc0000b2008?)\n\t/go/src/runtime/sema.go:71 +0x25\n")
    g = parse_goroutine_dump(data, "v.txt").goroutines
    assert [(x.id, x.state, x.wait_minutes, x.locked_to_thread) for x in g] == [
        (1, "running", 0, False),
        (7, "GC worker (idle)", 1, False),
        (8, "semacquire (scan)", 250, True),
    ]
    assert g[1].created_by is not None and g[1].created_by.function == (
        "runtime.gcBgMarkStartWorkers")


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(st.tuples(*[st.integers(0, (1 << 64)) for _ in range(4)],
                               st.lists(st.integers(0, (1 << 64) + 5), max_size=4)),
                     max_size=5),
    period=st.integers(0, 1 << 64),
)
def test_fuzz_heap_numbers(records: list[tuple[int, int, int, int, list[int]]],
                           period: int) -> None:
    """Any numbers at all in well-formed lines: a profile or a ProfileError, never a crash."""
    tot = [sum(r[i] for r in records) for i in range(4)]
    lines = [f"heap profile: {tot[0]}: {tot[1]} [{tot[2]}: {tot[3]}] @ heap/{period}"]
    for a, b, c, d, pcs in records:
        lines.append(f"{a}: {b} [{c}: {d}] @ " + " ".join(hex(p) for p in pcs))
        lines += [f"#\t{hex(p - 1)}\tmain.f{k}+0x1\t/a.go:{k}" for k, p in enumerate(pcs)]
        lines.append("")
    try:
        prof, _ = parse_heap_text(("\n".join(lines) + "\n").encode(), "fuzz")
    except ProfileError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    _check_result(prof)
    assert (prof.values >= 0).all()
