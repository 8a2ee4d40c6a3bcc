"""Maps in packages of a module whose path has no dot, and in a process whose executable was
deleted after it started (a redeploy): both still inspected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inspect_support import assert_running, gdb_or_skip, truth_of
from leaksleuth.inspect.maps import inspect_maps
from support.goservice import GO_VERSIONS, TESTS_DIR, build_or_skip, run_go

pytestmark = [pytest.mark.go, pytest.mark.gdb]
PROG = TESTS_DIR / "goprogs" / "maps_module"


@pytest.mark.parametrize("version", GO_VERSIONS)
def test_module_without_dot_and_deleted_executable(version: str, tmp_path: Path) -> None:
    gdb_or_skip()
    built = build_or_skip(PROG, version)
    exe = tmp_path / "leakysvc"
    shutil.copy2(built, exe)
    with run_go(exe) as svc:
        truth = truth_of(svc)
        exe.unlink()  # redeployed: /proc/PID/exe now says "(deleted)"
        insp = inspect_maps(pid=svc.pid)
        assert_running(svc.pid)
    assert insp.exe == f"/proc/{svc.pid}/exe"
    got = {m.variable: m.live_entries for m in insp.maps}
    assert got == {"leakysvc/store.Cache": truth["cache"],
                   "leakysvc/store.Sessions.ByID": truth["sessions"]}
    cache = insp.find("leakysvc/store.Cache")
    assert cache is not None and cache.deleted_slots + cache.empty_slots > 4000
