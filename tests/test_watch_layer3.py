"""Layer 3 in ``watch``: a local target with a PID, gdb allowed, has its maps read during the
evidence capture, so a map that was filled and emptied (flat in every profile) is reported as
retention in the bundle; with gdb not allowed the same capture stays a profile-only no-leak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspect_support import gdb_or_skip
from leaksleuth.watch.config import parse_config
from leaksleuth.watch.runner import Watcher
from support.goservice import TESTS_DIR, build_or_skip, run_go

pytestmark = [pytest.mark.slow, pytest.mark.go, pytest.mark.gdb]


@pytest.mark.parametrize("gdb", [True, False])
def test_capture_reads_maps_when_allowed(tmp_path: Path, gdb: bool) -> None:
    if gdb:
        gdb_or_skip()
    exe = build_or_skip(TESTS_DIR / "scenarios" / "map_retention", "1.23.9")
    exp = json.loads((TESTS_DIR / "scenarios" / "map_retention" / "expected.json").read_text())
    with run_go(exe) as svc:
        cfg = parse_config({
            "targets": [{"name": "sessions", "pprof_url": f"{svc.url}/debug/pprof",
                         "pid": svc.pid}],
            "schedule": {"diagnose_every": "off", "diagnosis_duration": "8s",
                         "diagnosis_interval": "1s", "gdb": gdb},
        }, base=tmp_path)
        w = Watcher(cfg, serve=False)
        try:
            assert w.request_capture({"target": "sessions"}) == "sessions"
            report = w.run_once()
        finally:
            w.close()
        assert svc.proc.poll() is None, "the inspected service must be left running"
    [bundle] = report.bundles
    diag = json.loads((bundle.path / "diagnosis.json").read_text())
    if gdb:
        assert diag["verdict"] == exp["verdict_with_pid"]
        assert diag["suspects"][0]["variable"] == exp["variable"]
        m = diag["maps"][0]
        assert m["live_entries"] == exp["live_entries"]
        assert m["capacity_slots"] > 1000 * m["live_entries"]
    else:
        assert diag["verdict"] == exp["verdict"] and diag["maps"] == []
