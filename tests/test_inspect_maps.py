"""gdb map inspection on real Go programs: live attach and gcore cores agree with the
ground truth the program prints (counts it made, the runtime's own B/capacity read via unsafe,
HeapAlloc before/after) and with its heap profile recorded at MemProfileRate=1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspect_support import MAPS_PROG, assert_running, gcore, gdb_or_skip, truth_of
from leaksleuth.cli import main
from leaksleuth.inspect.maps import MapInspection, MapReport, inspect_maps
from leaksleuth.profile.formats import load_profile
from leaksleuth.profile.model import Profile
from support.goservice import GoService, build_or_skip, run_go

pytestmark = [pytest.mark.go, pytest.mark.gdb]

# 1.24.11: Swiss maps without tombstone pruning, and classic maps with GOEXPERIMENT=noswissmap;
# cores only on the two main versions
VERSIONS = ("1.23.9", "1.24.11", "1.24.11-noswissmap", "1.26.6")
CORE_VERSIONS = ("1.23.9", "1.26.6")


@dataclass
class Run:
    version: str
    exe: Path
    svc: GoService
    truth: dict[str, Any]
    live: MapInspection
    heap: Profile


@pytest.fixture(scope="module", params=VERSIONS)
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    gdb_or_skip()
    version: str = request.param
    if version.endswith("-noswissmap"):
        exe = build_or_skip(MAPS_PROG, version.split("-")[0], goexperiment="noswissmap")
    else:
        exe = build_or_skip(MAPS_PROG, version)
    with run_go(exe, "-profall") as svc:
        truth = truth_of(svc)
        live = inspect_maps(pid=svc.pid, timeout=60)
        assert_running(svc.pid)
        heap = load_profile(httpx.get(f"{svc.url}/debug/pprof/heap?gc=1", timeout=30).content,
                            "heap")
        yield Run(version, exe, svc, truth, live, heap)


def _get(insp: MapInspection, name: str) -> MapReport:
    m = insp.find(name)
    assert m is not None, f"{name} not reported; have {[x.variable for x in insp.maps]}"
    return m


def inuse_space_of(p: Profile, function: str) -> int:
    """In-use bytes of samples whose stack passes through ``function``."""
    col = p.sample_type_index("inuse_space")
    total = 0
    for i in range(p.n_samples):
        names = {p.function(ln.function_id).name for loc in p.stack(i)
                 for ln in p.location(int(loc)).lines}
        if function in names:
            total += int(p.values[i, col])
    return total


def test_emptied_map_keeps_its_memory(run: Run) -> None:
    big = _get(run.live, "main.big")
    truth = run.truth["big"]
    assert big.live_entries == truth["live"] == 10
    assert big.count_field == 10
    assert big.capacity_slots == truth["shape"]["capacity"]  # the runtime's own, via unsafe
    heap_delta = truth["heap_delta"]  # MemStats.HeapAlloc after GC, after - before
    assert abs(big.bytes_held - heap_delta) <= 0.05 * heap_delta, (big.bytes_held, heap_delta)
    profiled = inuse_space_of(run.heap, "main.fillBig")
    assert abs(big.bytes_held - profiled) <= 0.05 * profiled, (big.bytes_held, profiled)
    assert big.bytes_needed < 1000
    assert run.live.maps[0].variable == "main.big"  # ranked by bytes held beyond need
    if run.live.layout == "classic":
        assert big.buckets == truth["shape"]["buckets"]
        assert big.overflow_buckets == truth["shape"]["noverflow"]  # exact below B=16
        assert big.deleted_slots + big.empty_slots + 10 == big.capacity_slots
    else:
        assert big.tables == truth["shape"]["tables"]
        assert big.directory_length == truth["shape"]["dir_len"]
        assert big.deleted_slots > 0  # tombstones stay in full groups
        assert big.deleted_slots + big.empty_slots + 10 == big.capacity_slots


def test_small_growing_indirect_nested_and_fields(run: Run) -> None:
    t = run.truth
    assert _get(run.live, "main.small").live_entries == t["small"] == 4
    assert _get(run.live, "main.reg.byID").live_entries == t["reg.byID"]
    assert _get(run.live, "main.reg.inner.counts").live_entries == t["reg.inner.counts"]
    ind = _get(run.live, "main.indirect")
    assert ind.live_entries == t["indirect"] == 70
    assert ind.to_json_dict()["bytes_needed"] >= 70 * (144 + 144)  # indirect objects counted
    outer = _get(run.live, "main.nested")
    inner = _get(run.live, "main.nested[*]")
    assert outer.live_entries == t["nested"]["outer"]
    assert inner.maps == t["nested"]["outer"] == 20  # one inner map per outer entry
    assert inner.live_entries == t["nested"]["inner_entries"]
    grow = _get(run.live, "main.growing")
    assert grow.live_entries == grow.count_field == t["growing"]["live"]
    assert grow.capacity_slots == t["growing_shape"]["capacity"]
    if run.live.layout == "classic":
        assert grow.growing and t["growing"]["growing"]
        assert grow.old_buckets == 2 ** (t["growing"]["B"] - 1)
        assert grow.nevacuate == t["growing"]["nevacuate"]
    else:
        assert grow.tables == t["growing_shape"]["tables"] > 1
    for m in run.live.maps:
        assert m.counts_agree, m


def test_sync_map(run: Run) -> None:
    sm = _get(run.live, "main.syncmap")
    assert sm.layout == "sync.Map"
    assert sm.live_entries == run.truth["syncmap"] == 750
    if run.version >= "1.24":  # the hash trie does not depend on the map experiment
        assert sm.details["form"] == "hash-trie"
        assert sm.details["trie_nodes"] > 1
    else:
        assert sm.details["form"] == "read+dirty"
        assert sm.details["amended"] is True
        # the read map still holds the 300 deleted keys (expunged entries); dirty holds 750
        assert sm.details["deleted_entries"] == {"main.syncmap.read": 300,
                                                 "main.syncmap.dirty": 0}
        assert sm.details["maps"]["main.syncmap.read"]["live_entries"] == 1000
        assert sm.details["maps"]["main.syncmap.dirty"]["live_entries"] == 750
        assert sm.details["entries"] == 1050  # distinct *entry objects


def _comparable(insp: MapInspection) -> list[dict[str, Any]]:
    return [replace(m, details={}).to_json_dict() for m in insp.maps]


@pytest.mark.parametrize("run", CORE_VERSIONS, indirect=True)
def test_core_matches_live(run: Run, tmp_path: Path) -> None:
    core = gcore(run.svc.pid, tmp_path)
    try:
        assert_running(run.svc.pid)
        from_core = inspect_maps(core=core, exe=run.exe, timeout=60)
    finally:
        core.unlink()
    assert from_core.stopped_seconds is None
    assert _comparable(from_core) == _comparable(run.live)


def test_cli_json_and_var(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["maps", "--pid", str(run.svc.pid), "--var", "big", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["variable"] for m in doc["maps"]] == ["main.big"]
    assert doc["maps"][0]["live_entries"] == 10
    assert 0 < doc["stopped_seconds"] < 1.0
    assert_running(run.svc.pid)
    assert main(["maps", "--pid", str(run.svc.pid)]) == 0
    out = capsys.readouterr().out
    assert "main.big" in out and "left running" in out and "gcore" in out


def test_findings_convert(run: Run) -> None:
    f = _get(run.live, "main.big").to_finding()
    assert f.variable == "main.big" and f.live_entries == 10
    assert f.layout == run.live.layout
    assert f.extra["bytes_excess"] == f.bytes_held - f.bytes_needed


def test_layout_from_build_info_and_dwarf(run: Run) -> None:
    expected = "classic" if run.version in ("1.23.9", "1.24.11-noswissmap") else "swiss"
    assert run.live.layout == expected
    assert {m.layout for m in run.live.maps} == {expected, "sync.Map"}
    assert not run.live.warnings, run.live.warnings


def test_chunked_reads_give_the_same_numbers(run: Run) -> None:
    small_reads = inspect_maps(pid=run.svc.pid, var="big", read_chunk_bytes=100_000)
    assert_running(run.svc.pid)
    assert _comparable(small_reads) == _comparable(run.live)[:1]
    assert small_reads.reads > 40  # 5 MB of buckets in 100 kB reads
