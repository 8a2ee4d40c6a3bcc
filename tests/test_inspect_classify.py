"""Allocation classification from the raw PCs of a real heap profile: the runtime
frames pprof strips are recovered from the executable's .gopclntab, also when it is stripped."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inspect_support import MAPS_PROG
from leaksleuth.errors import InspectError
from leaksleuth.inspect.classify import (
    HeapClassification,
    classify_frames,
    classify_heap_stacks,
    is_runtime_frame,
)
from leaksleuth.inspect.pclntab import PcTable
from leaksleuth.profile.model import Profile
from leaksleuth.profile.text import parse_heap_text
from leaksleuth.toolchain import go_cache_dir, go_tool_env
from support.goservice import GO_VERSIONS, build_or_skip, go_or_skip, run_go


def test_classify_frames_hand_made() -> None:
    assert classify_frames(("runtime.mallocgc", "runtime.growslice", "main.f")) == (
        "slice growth", "runtime.growslice", 2)
    assert classify_frames(("runtime.mallocgc", "runtime.newarray",
                            "internal/runtime/maps.newarray", "internal/runtime/maps.newTable",
                            "runtime.mapassign_fast64", "main.f"))[0] == "map growth"
    assert classify_frames(("runtime.makeBucketArray", "runtime.hashGrow", "main.f"))[0] == \
        "map growth"
    assert classify_frames(("runtime.mallocgc", "runtime.makechan", "main.f"))[0] == "channel"
    assert classify_frames(("runtime.rawstring", "runtime.concatstrings", "main.f"))[0] == \
        "string"
    assert classify_frames(("runtime.malg", "runtime.newproc1", "main.f"))[0] == "goroutine"
    # a growslice below the user's frame is not this allocation's
    assert classify_frames(("runtime.newobject", "main.f", "runtime.growslice")) == (
        "object", None, 1)
    assert not is_runtime_frame("main.f") and is_runtime_frame("internal/runtime/maps.newarray")


def test_pctable_errors(tmp_path: Path) -> None:
    with pytest.raises(InspectError, match="not an ELF"):
        PcTable(tmp_path.joinpath("x").write_bytes(b"hello") and tmp_path / "x")
    with pytest.raises(InspectError, match=r"no \.gopclntab"):
        PcTable("/bin/sleep")
    with pytest.raises(InspectError, match="no such executable"):
        PcTable(tmp_path / "missing")


@pytest.fixture(scope="module", params=GO_VERSIONS)
def profiled(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path, Profile]]:
    version: str = request.param
    exe = build_or_skip(MAPS_PROG, version)
    with run_go(exe, "-profall", "-big", "50000") as svc:
        svc.wait_line("TRUTH ")
        data = httpx.get(f"{svc.url}/debug/pprof/heap?debug=1&gc=1", timeout=30).content
    heap, _ = parse_heap_text(data, "heap")
    yield version, exe, heap


def _kinds(c: HeapClassification, site: str) -> set[str]:
    return {s.kind for s in c.samples if s is not None and s.site == site and s.inuse_bytes}


@pytest.mark.go
def test_labels_real_profile(profiled: tuple[str, Path, Profile]) -> None:
    _version, exe, heap = profiled
    c = classify_heap_stacks(exe, heap)
    assert c.unresolved_pcs == 0
    assert _kinds(c, "main.fillBig") == {"map growth"}
    assert _kinds(c, "main.fillGrowing") == {"map growth"}
    assert _kinds(c, "main.growSlices") == {"slice growth"}
    # makeChans also appends each channel to a slice: both kinds, channels hold the bytes
    assert _kinds(c, "main.makeChans") == {"channel", "slice growth"}
    assert c.kind_of_site("main.makeChans") == "channel"
    assert c.kind_of_site("main.growSlices") == "slice growth"
    # the hidden frames name the runtime function that allocated
    frames = c.runtime_frames_by_site()
    assert "runtime.growslice" in frames["main.growSlices"]
    assert "runtime.makechan" in frames["main.makeChans"]
    assert any(f.startswith(("runtime.hashGrow", "runtime.makeBucketArray",
                             "internal/runtime/maps.")) for f in frames["main.fillBig"])
    # keyed the analysis' way: its own_frame picks the site from the non-runtime frames
    from leaksleuth.profile.frames import site_function as own_frame

    keyed = classify_heap_stacks(exe, heap, site_of=own_frame)
    assert keyed.kind_of_site(own_frame(("main.growSlices", "main.main"))) == "slice growth"


def _build_stripped(version: str, out: Path) -> Path:
    go = go_or_skip(version)
    env = go_tool_env(go)
    env["GOCACHE"] = str(go_cache_dir() / "gocache")
    env["GO111MODULE"] = "off"
    res = subprocess.run([str(go), "build", "-ldflags=-s -w", "-o", str(out), "."],
                         cwd=MAPS_PROG, env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.go
def test_stripped_executable_still_classifies(profiled: tuple[str, Path, Profile],
                                              tmp_path: Path) -> None:
    version, exe, heap = profiled
    stripped = _build_stripped(version, tmp_path / "maps-stripped")
    full, bare = PcTable(exe), PcTable(stripped)
    assert len(full) == len(bare) > 1000
    assert list(full.functions()) == list(bare.functions())  # (entry, end, name) each
    # same code layout: the stripped table resolves the profile's PCs the same way
    pcs = {heap.location(int(lid)).address for lid in heap.stack_locations.tolist()}
    assert {full.lookup(pc) for pc in pcs} == {bare.lookup(pc) for pc in pcs}
    # the direct calls read from the code (what analyze's exe_facts uses) survive stripping too
    fill = bare.calls("main.fillBig")
    assert fill == full.calls("main.fillBig")
    assert any(c.startswith("runtime.mapassign") for c in fill), fill
    assert "runtime.growslice" in bare.calls("main.growSlices")
    c = classify_heap_stacks(stripped, heap)
    assert _kinds(c, "main.growSlices") == {"slice growth"}
    assert _kinds(c, "main.fillBig") == {"map growth"}


@pytest.mark.go
def test_classify_command(profiled: tuple[str, Path, Profile], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from leaksleuth.cli import main

    _version, exe, _heap = profiled
    with run_go(exe, "-profall", "-big", "50000") as svc:
        svc.wait_line("TRUTH ")
        assert main(["classify", svc.url, "--pid", str(svc.pid), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kinds = {(r["site"], r["kind"]) for r in doc["sites"]}
    assert {("main.fillBig", "map growth"), ("main.growSlices", "slice growth"),
            ("main.makeChans", "channel")} <= kinds
    text = tmp_path / "heap.txt"
    text.write_text("heap profile: 0: 0 [0: 0] @ heap/1048576\n")
    assert main(["classify", str(text), "--exe", "/bin/sleep"]) == 6
    assert main(["classify", str(text)]) == 2
    err = capsys.readouterr().err
    assert "no .gopclntab" in err and "give either --exe BIN or --pid PID" in err


@pytest.mark.go
def test_exe_facts_from_stripped_executable(profiled: tuple[str, Path, Profile],
                                            tmp_path: Path) -> None:
    """The analysis reads the same facts from a stripped executable (no .symtab, no DWARF)."""
    from leaksleuth.analyze.allocsite import exe_facts
    from leaksleuth.analyze.series import reduce_session
    from leaksleuth.profile.snapshot import Snapshot

    version, exe, heap = profiled
    stripped = _build_stripped(version, tmp_path / "maps-stripped")
    series = reduce_session([Snapshot(seq=i, time=1000.0 + i, heap_loader=lambda: heap,
                                      heap_text_loader=lambda: heap) for i in range(3)])
    full, bare = exe_facts(series, exe), exe_facts(series, stripped)
    assert (full.runtime_frames, full.calls) == (bare.runtime_frames, bare.calls)
    assert any(c.startswith("runtime.mapassign") for c in bare.calls["main.fillBig"])
    assert "runtime.growslice" in bare.calls["main.growSlices"]
    assert "runtime.growslice" in bare.runtime_frames["main.growSlices"]
