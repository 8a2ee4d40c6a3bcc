"""Helpers shared by the gdb inspection tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from leaksleuth.inspect.gdb import process_states
from support import markers
from support.goservice import TESTS_DIR, GoService

MAPS_PROG = TESTS_DIR / "goprogs" / "maps"


def gdb_or_skip() -> str:
    markers.require("gdb")
    gdb = shutil.which("gdb")
    if not gdb:
        pytest.skip("gdb not installed (apt-get install gdb)")
    try:
        scope = int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        scope = 0
    if os.geteuid() != 0 and scope > 0:
        pytest.skip(f"ptrace restricted (kernel.yama.ptrace_scope={scope}, not root)")
    return gdb


def truth_of(svc: GoService, timeout: float = 60.0) -> dict[str, object]:
    line = svc.wait_line("TRUTH ", timeout=timeout)
    truth: dict[str, object] = json.loads(line.split(" ", 1)[1])
    return truth


def assert_running(pid: int) -> None:
    states = process_states(pid)
    assert states, f"PID {pid} is gone"
    assert not any(s in ("T", "t") for s in states.values()), f"PID {pid} left stopped: {states}"


def gcore(pid: int, out_dir: Path) -> Path:
    """A core of ``pid`` taken with gdb's gcore (what we recommend for production)."""
    prefix = out_dir / "core"
    res = subprocess.run(["gcore", "-o", str(prefix), str(pid)], capture_output=True, text=True,
                         timeout=120, check=False)
    core = Path(f"{prefix}.{pid}")
    if res.returncode != 0 or not core.exists():
        pytest.skip(f"gcore failed: {res.stderr.strip()[-200:]}")
    return core
