"""Layer 3 in ``watch``: a local target with a PID, gdb allowed, has its maps read during the
evidence capture, so a map that was filled and emptied (flat in every profile) is reported as
retention in the bundle; with gdb not allowed the same capture stays a profile-only no-leak,
and with ``material_rate`` set in the config the capture's diagnosis judges against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspect_support import gdb_or_skip
from leaksleuth.watch.config import parse_config
from leaksleuth.watch.runner import Watcher
from support.goservice import TESTS_DIR, build_or_skip, run_go

pytestmark = [pytest.mark.slow, pytest.mark.go, pytest.mark.gdb]


@pytest.mark.parametrize(("gdb", "material"), [(True, None), (False, None), (False, "10B/s")])
def test_capture_reads_maps_when_allowed(tmp_path: Path, gdb: bool, material: str | None) -> None:
    if gdb:
        gdb_or_skip()
    exe = build_or_skip(TESTS_DIR / "scenarios" / "map_retention", "1.23.9")
    exp = json.loads((TESTS_DIR / "scenarios" / "map_retention" / "expected.json").read_text())
    with run_go(exe) as svc:
        schedule: dict[str, object] = {"diagnose_every": "off", "diagnosis_duration": "8s",
                                       "diagnosis_interval": "1s", "gdb": gdb}
        if material is not None:
            schedule["material_rate"] = material
        cfg = parse_config({
            "targets": [{"name": "sessions", "pprof_url": f"{svc.url}/debug/pprof",
                         "pid": svc.pid}],
            "schedule": schedule,
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
    elif material is None:
        assert diag["verdict"] == exp["verdict"] and diag["maps"] == []
        assert "material_rate" not in diag["settings"]
    else:  # no-leak by the default rule; 10 B/s is more than an 8 s window can rule out
        assert diag["settings"]["material_rate"] == 10.0
        assert diag["sensitivity"]["material_bytes_per_second"] == 10.0
        assert diag["verdict"] == "inconclusive", diag["summary"]
