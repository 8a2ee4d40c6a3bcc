"""Every failure of map inspection is one clear line and a non-zero exit, and the target process
is still running afterwards. Real gdb, real Go programs, real tracers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspect_support import MAPS_PROG, assert_running, gdb_or_skip
from leaksleuth.cli import main
from leaksleuth.errors import InspectError
from leaksleuth.inspect import maps as maps_mod
from leaksleuth.inspect.buildinfo import read_buildinfo
from leaksleuth.inspect.gdb import process_states, tracer_of
from leaksleuth.inspect.maps import inspect_maps
from leaksleuth.toolchain import go_cache_dir, go_tool_env
from support.goservice import GoService, build_or_skip, go_or_skip, run_go

pytestmark = [pytest.mark.go, pytest.mark.gdb]
VERSION = "1.26.6"


@pytest.fixture(scope="module")
def exe() -> Path:
    gdb_or_skip()
    return build_or_skip(MAPS_PROG, VERSION)


@pytest.fixture
def svc(exe: Path) -> Iterator[GoService]:
    with run_go(exe, "-big", "1000") as s:
        s.wait_line("TRUTH ")
        yield s
    # every test ends with the target running (checked inside each test before this point)


def cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return rc, err


def test_no_gdb(svc: GoService, capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEAKSLEUTH_GDB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without gdb
    rc, err = cli_error(["maps", "--pid", str(svc.pid)], capsys)
    assert rc == InspectError.exit_code and "gdb not found" in err and "apt-get install gdb" in err
    monkeypatch.undo()
    with pytest.raises(InspectError, match="gdb not found at /nonexistent/gdb"):
        inspect_maps(pid=svc.pid, gdb_path="/nonexistent/gdb")
    assert_running(svc.pid)


def test_pid_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    gdb_or_skip()
    p = subprocess.Popen(["true"])
    p.wait()  # reaped: its PID is free now
    rc, err = cli_error(["maps", "--pid", str(p.pid)], capsys)
    assert rc == 6 and err.endswith(f"no process with PID {p.pid}")


def test_not_a_go_program(capsys: pytest.CaptureFixture[str]) -> None:
    gdb_or_skip()
    sleeper = subprocess.Popen(["/bin/sleep", "60"])
    try:
        time.sleep(0.1)
        rc, err = cli_error(["maps", "--pid", str(sleeper.pid)], capsys)
        assert rc == 6 and f"PID {sleeper.pid} is not a Go program" in err
        assert_running(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def _build_stripped(tmp: Path) -> Path:
    go = go_or_skip(VERSION)
    env = go_tool_env(go)
    env["GOCACHE"] = str(go_cache_dir() / "gocache")
    env["GO111MODULE"] = "off"
    out = tmp / "maps-stripped"
    res = subprocess.run([str(go), "build", "-ldflags=-s -w", "-o", str(out), "."], cwd=MAPS_PROG,
                         env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return out


def test_stripped_executable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gdb_or_skip()
    stripped = _build_stripped(tmp_path)
    assert not read_buildinfo(stripped).has_dwarf
    with run_go(stripped, "-big", "1000") as s:
        s.wait_line("TRUTH ")
        rc, err = cli_error(["maps", "--pid", str(s.pid)], capsys)
        assert rc == 6 and "no DWARF" in err and "-s -w" in err and "Still possible" in err
        assert_running(s.pid)


def test_ptrace_refused(svc: GoService, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    if not shutil.which("strace"):
        pytest.skip("strace not installed (used as the other tracer)")
    tracer = subprocess.Popen(["strace", "-f", "-o", os.devnull, "-p", str(svc.pid)],
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = Path(f"/proc/{svc.pid}/status").read_text()
            if "TracerPid:\t0" not in status:
                break
            time.sleep(0.05)
        rc, err = cli_error(["maps", "--pid", str(svc.pid)], capsys)
        assert rc == 6 and "ptrace refused" in err and "strace" in err and "gcore" in err
        # and when gdb itself is refused (our pre-check bypassed), the message is the same kind
        monkeypatch.setattr(maps_mod, "check_pid", lambda pid: None)
        with pytest.raises(InspectError, match="ptrace refused attaching to PID"):
            inspect_maps(pid=svc.pid, timeout=60)
    finally:
        tracer.terminate()
        tracer.wait(10)
    time.sleep(0.2)
    assert_running(svc.pid)


def test_core_without_executable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gdb_or_skip()
    # a minimal ELF64 core header (e_type ET_CORE): enough for our checks, no 1 GiB gcore needed
    core = tmp_path / "core.1"
    hdr = bytearray(64)
    hdr[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    hdr[16:18] = (4).to_bytes(2, "little")  # ET_CORE
    hdr[18:20] = (62).to_bytes(2, "little")  # x86-64
    hdr[20:24] = (1).to_bytes(4, "little")
    hdr[52:54] = (64).to_bytes(2, "little")
    core.write_bytes(bytes(hdr))
    rc, err = cli_error(["maps", "--core", str(core)], capsys)
    assert rc == 2 and "--core needs --exe" in err
    with pytest.raises(InspectError, match="a core file needs its executable"):
        inspect_maps(core=core)
    rc, err = cli_error(["maps", "--core", str(tmp_path / "nope"), "--exe", sys.executable],
                        capsys)
    assert rc == 6 and "no such core file" in err


def test_go_version_outside_supported_range(exe: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # same binary, its build info rewritten to say go1.19.6 (same length, so still valid)
    data = bytearray(exe.read_bytes())
    at = data.find(b"\xff Go buildinf:")
    vpos = data.find(b"go1.26.6", at, at + 64)
    assert at >= 0 and vpos > 0
    data[vpos : vpos + 8] = b"go1.19.6"
    old = tmp_path / "maps-old"
    old.write_bytes(bytes(data))
    old.chmod(0o755)
    assert read_buildinfo(old).go_version == "go1.19.6"
    with run_go(old, "-big", "1000") as s:
        s.wait_line("TRUTH ")
        rc, err = cli_error(["maps", "--pid", str(s.pid)], capsys)
        assert rc == 6 and "go1.19.6" in err and "supports go1.22 to go1.26" in err
        assert_running(s.pid)


def test_timeout_kills_gdb_and_leaves_target_running(svc: GoService,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = cli_error(["maps", "--pid", str(svc.pid), "--timeout", "0.3"], capsys)
    assert rc == 6 and "did not finish within 0.3s" in err and f"PID {svc.pid} was left" in err
    assert_running(svc.pid)
    # and a normal run right after still works
    assert inspect_maps(pid=svc.pid, var="small").maps[0].live_entries == 4
    assert_running(svc.pid)


def test_unknown_variable(svc: GoService, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = cli_error(["maps", "--pid", str(svc.pid), "--var", "nosuch"], capsys)
    assert rc == 6 and "no package-level variable 'main.nosuch'" in err
    rc, err = cli_error(["maps", "--pid", str(svc.pid), "--var", "chans"], capsys)
    assert rc == 6 and "holds no map" in err
    assert_running(svc.pid)


def test_core_mode_never_touches_a_live_process(exe: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from leaksleuth.inspect import gdb as gdbmod
    from leaksleuth.inspect.gdb import BEGIN, END, GdbRun

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("a core inspection looked at a live process")

    monkeypatch.setattr(gdbmod, "ensure_running", forbidden)
    monkeypatch.setattr(gdbmod, "is_stopped", forbidden)
    monkeypatch.setattr(maps_mod, "check_pid", forbidden)
    seen: dict[str, object] = {}

    class Recorder:
        def run(self, argv: list[str], env: dict[str, str], timeout: float) -> GdbRun:
            seen["params"] = json.loads(env["LEAKSLEUTH_GDB_PARAMS"])
            seen["argv"] = argv
            return GdbRun(f"{BEGIN}\n{{\"ok\": true, \"maps\": []}}\n{END}\n", "", 0, 0.1)

    core = tmp_path / "core.2"
    hdr = bytearray(64)
    hdr[:7] = b"\x7fELF\x02\x01\x01"
    hdr[16:18] = (4).to_bytes(2, "little")
    hdr[18:20] = (62).to_bytes(2, "little")
    core.write_bytes(bytes(hdr))
    insp = inspect_maps(core=core, exe=exe, backend=Recorder())
    params = seen["params"]
    assert isinstance(params, dict)
    assert params["pid"] is None and params["core"] == str(core)
    assert "-p" not in seen["argv"] and insp.stopped_seconds is None


HANGING_GDB = """#!{python}
# A gdb that really attaches to the target (stopping it) and then hangs while attached.
import json, os, sys
pid = json.loads(os.environ["LEAKSLEUTH_GDB_PARAMS"])["pid"]
os.execv("{gdb}", ["gdb", "-batch", "-nx", "-iex", "set auto-load python-scripts off",
                   "-p", str(pid), "-ex", "python import time; time.sleep(120)"])
"""


def _hanging_gdb(tmp_path: Path) -> Path:
    real = shutil.which("gdb")
    assert real
    wrapper = tmp_path / "hanging-gdb"
    wrapper.write_text(HANGING_GDB.format(python=sys.executable, gdb=real))
    wrapper.chmod(0o755)
    return wrapper


def _wait_traced(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while tracer_of(pid) == 0:
        assert time.monotonic() < deadline, "gdb never attached"
        time.sleep(0.05)


def test_timeout_while_attached_resumes_target(svc: GoService, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = cli_error(["maps", "--pid", str(svc.pid), "--gdb", str(_hanging_gdb(tmp_path)),
                         "--timeout", "3"], capsys)
    assert rc == 6 and "did not finish within 3s" in err
    assert tracer_of(svc.pid) == 0
    assert_running(svc.pid)


def test_ctrl_c_while_attached_resumes_target(svc: GoService, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "leaksleuth.cli", "maps", "--pid", str(svc.pid),
           "--gdb", str(_hanging_gdb(tmp_path))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_traced(svc.pid)
        time.sleep(0.3)  # gdb holds the target stopped now
        assert any(s in ("t", "T") for s in process_states(svc.pid).values())
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err
    assert tracer_of(svc.pid) == 0
    assert_running(svc.pid)
