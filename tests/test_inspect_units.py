"""Unit tests of the inspect layer on small hand-made inputs; the real-process tests are
in test_inspect_maps.py, test_inspect_errors.py and test_inspect_classify.py."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inspect_support import assert_running
from leaksleuth.errors import InspectError
from leaksleuth.inspect import gdb as gdbmod
from leaksleuth.inspect.buildinfo import (
    BuildInfo,
    _parse_modinfo,
    gnu_build_id,
    parse_go_version,
    read_buildinfo,
)
from leaksleuth.inspect.elf import open_elf
from leaksleuth.inspect.gdb import (
    BEGIN,
    END,
    GdbRun,
    ensure_running,
    extract_document,
    is_stopped,
    run_script,
)
from leaksleuth.inspect.maps import _check_core, alloc_size, reports_from_document
from leaksleuth.inspect.pclntab import PcTable


def test_alloc_size_follows_go_size_classes() -> None:
    assert alloc_size(1, False) == 8
    assert alloc_size(48, True) == 48
    assert alloc_size(144, False) == 144
    assert alloc_size(145, False) == 160
    assert alloc_size(17408, False) == 18432  # a 128-group Swiss table of int64->int64
    assert alloc_size(2048, True) == 2304  # 2048 + 8-byte malloc header -> next class
    assert alloc_size(2048, False) == 2048
    assert alloc_size(512, True) == 512  # header only above 512 bytes
    assert alloc_size(32760, False) == 32768
    assert alloc_size(32760, True) == 32768  # 32760 + 8-byte header still fits the class
    assert alloc_size(32761, False) == 32768  # a large object (> 32760): 4 whole pages
    assert alloc_size(40000, True) == 40960
    assert alloc_size(5_013_504, False) == 5_013_504  # 612 pages exactly
    assert alloc_size(5_013_505, False) == 5_021_696


def test_go_versions_and_layouts() -> None:
    assert parse_go_version("go1.23.9") == (1, 23, 9)
    assert parse_go_version("go1.24rc1") == (1, 24, 0)
    assert parse_go_version("devel") == (0, 0, 0)

    def bi(v: str, exp: str = "") -> BuildInfo:
        return BuildInfo(Path("x"), v, settings={"GOEXPERIMENT": exp} if exp else {})

    assert bi("go1.23.9").map_layout == "classic"
    assert bi("go1.24.11").map_layout == "swiss"
    assert bi("go1.24.11", "noswissmap").map_layout == "classic"
    assert bi("go1.25.1", "aliastypeparams,noswissmap").map_layout == "classic"
    assert bi("go1.26.6").map_layout == "swiss"
    assert bi("go1.21.13").supported is False
    with pytest.raises(InspectError, match=r"go1\.21\.13; map inspection supports go1\.22"):
        bi("go1.21.13").check_supported()
    main, mods, settings = _parse_modinfo(
        "path\texample.com/svc\nmod\texample.com/svc\t(devel)\t\n"
        "dep\tgolang.org/x/sync\tv0.1.0\th1:x=\nbuild\tGOEXPERIMENT=noswissmap\n")
    assert main == "example.com/svc"
    assert mods == (("example.com/svc", "(devel)"), ("golang.org/x/sync", "v0.1.0"))
    assert settings == {"GOEXPERIMENT": "noswissmap"}


def test_extract_document() -> None:
    assert extract_document(f"noise\n{BEGIN}\n{{\"ok\": true}}\n{END}\n") == {"ok": True}
    assert extract_document("no markers") is None
    assert extract_document(f"{BEGIN}\nnot json\n{END}") is None
    assert extract_document(f"{BEGIN}\n[1, 2]\n{END}") is None
    assert extract_document(f"{BEGIN}\n{{\"ok\": 1}}") is None  # truncated: gdb died


def _classic(**kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "variable": "main.m", "layout": "classic", "type": "map[int64]int64",
        "header_size": 48, "container_size": 144, "key_size": 8, "elem_size": 8,
        "key_indirect": False, "elem_indirect": False, "key_target_size": 8,
        "elem_target_size": 8, "pointers": False, "count_field": 3, "B": 0, "flags": 0,
        "nevacuate": 0, "noverflow": 0, "growing": False, "live_entries": 3,
        "new": {"buckets": 1, "allocated_buckets": 1, "overflow_preallocated": 0,
                "overflow_separate": 0, "full": 3, "empty_one": 2, "empty_rest": 3,
                "evacuated": 0},
        "old": None,
    }
    m.update(kw)
    return m


def test_reports_from_hand_made_document() -> None:
    big = _classic(variable="main.big", B=4, count_field=1, live_entries=1,
                   new={"buckets": 16, "allocated_buckets": 17, "overflow_preallocated": 1,
                        "overflow_separate": 2, "full": 1, "empty_one": 100,
                        "empty_rest": 35, "evacuated": 0})
    doc = {"ok": True, "maps": [_classic(), big, {"variable": "main.nilmap", "nil": True}]}
    reps = reports_from_document(doc)
    assert [r.variable for r in reps] == ["main.big", "main.m"]  # ranked by excess
    r = reps[0]
    assert r.capacity_slots == 8 * (16 + 3)
    assert r.deleted_slots == 100 and r.overflow_buckets == 3
    assert r.bytes_held == 48 + alloc_size(17 * 144, False) + 2 * 144
    assert r.bytes_needed == 1 * (8 + 8 + 1)
    assert r.to_finding().bytes_held == r.bytes_held
    small = reps[1]
    assert small.bytes_held == 48 + 144 and small.counts_agree


@pytest.mark.parametrize("bad", [
    {"maps": "x"},
    {"maps": [{"layout": "classic"}]},
    {"maps": [_classic(live_entries=-1)]},
    {"maps": [_classic(layout="hashtable")]},
    {"maps": [_classic(new=[1, 2])]},
])
def test_malformed_documents_are_clear_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(InspectError, match="malformed output"):
        reports_from_document(bad)


@pytest.fixture
def sleeper() -> Iterator[int]:
    p = subprocess.Popen(["sleep", "60"])
    time.sleep(0.05)
    try:
        yield p.pid
    finally:
        os.kill(p.pid, signal.SIGCONT)
        p.kill()
        p.wait()


class FakeGdb:
    """Stands in for gdb: stops the target like an interrupted attach, then ends as told."""

    def __init__(self, pid: int, outcome: str) -> None:
        self.pid, self.outcome = pid, outcome
        self.argv: list[str] = []

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> GdbRun:
        self.argv = argv
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 2
        while not is_stopped(self.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.outcome == "interrupt":
            raise KeyboardInterrupt
        if self.outcome == "timeout":
            return GdbRun("", "", None, timeout, timed_out=True)
        if self.outcome == "crash":
            return GdbRun("", "Segmentation fault\n", 139, 0.1)
        return GdbRun(f"{BEGIN}\n{{\"ok\": true, \"maps\": []}}\n{END}\n", "", 0, 0.1)


@pytest.mark.parametrize("outcome", ["timeout", "crash", "interrupt", "ok"])
def test_target_left_running_whatever_gdb_does(sleeper: int, outcome: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gdbmod, "find_gdb", lambda path=None: "/usr/bin/gdb")
    fake = FakeGdb(sleeper, outcome)
    if outcome == "interrupt":
        with pytest.raises(KeyboardInterrupt):
            run_script("go_maps.py", {}, pid=sleeper, timeout=5, backend=fake)
    elif outcome == "ok":
        res = run_script("go_maps.py", {}, pid=sleeper, timeout=5, backend=fake)
        assert res.resumed and res.doc == {"ok": True, "maps": []}
    else:
        msg = "did not finish within 5s" if outcome == "timeout" else r"gdb failed \(exit 139\)"
        with pytest.raises(InspectError, match=msg):
            run_script("go_maps.py", {}, pid=sleeper, timeout=5, backend=fake)
    assert_running(sleeper)
    assert "-nx" in fake.argv and "-batch" in fake.argv
    assert "set auto-load python-scripts off" in fake.argv


def test_ensure_running_leaves_a_running_process_alone(sleeper: int) -> None:
    assert ensure_running(sleeper, settle=0.05) is False
    assert ensure_running(2**22 + 12345) is False  # no such process: nothing to do
    os.kill(sleeper, signal.SIGSTOP)
    time.sleep(0.05)
    assert ensure_running(sleeper, settle=0.05) is True
    assert_running(sleeper)


def _core_header(path: Path) -> Path:
    """A minimal ELF64 core header (e_type ET_CORE): enough for the checks, no gcore."""
    hdr = bytearray(64)
    hdr[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    hdr[16:18] = (4).to_bytes(2, "little")
    hdr[18:20] = (62).to_bytes(2, "little")
    hdr[20:24] = (1).to_bytes(4, "little")
    hdr[52:54] = (64).to_bytes(2, "little")
    path.write_bytes(bytes(hdr))
    return path


def test_every_elf_reader_gives_the_same_errors(tmp_path: Path) -> None:
    """Build info, .gopclntab and the core check open ELF files one way (inspect.elf)."""
    missing, junk = tmp_path / "nope", tmp_path / "junk"
    junk.write_bytes(b"not an ELF file at all" * 10)
    for read in (read_buildinfo, PcTable):
        with pytest.raises(InspectError, match="nope: no such executable"):
            read(missing)
        with pytest.raises(InspectError, match="junk is not an ELF executable"):
            read(junk)
        with pytest.raises(InspectError, match="cannot read"):
            read(tmp_path)  # a directory
    with pytest.raises(InspectError, match="no such core file"):
        _check_core(missing)
    with pytest.raises(InspectError, match=r"is not a core file \(not ELF\)"):
        _check_core(junk)
    exe = Path(os.path.realpath("/proc/self/exe"))
    with pytest.raises(InspectError, match=r"is not a core file$"):
        _check_core(exe)
    _check_core(_core_header(tmp_path / "core.1"))
    with open_elf(exe) as elf:
        assert elf.header["e_type"] in ("ET_EXEC", "ET_DYN")
    assert gnu_build_id(junk) is None and gnu_build_id(missing) is None
