"""A target that returns garbage is noted and backed off, the others are not held up, and it
is diagnosed again once it is healthy (a real Go service with fault switches)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leaksleuth.watch.config import parse_config
from leaksleuth.watch.runner import Watcher
from support.fakes import StepClock
from support.goservice import GO_VERSIONS, TESTS_DIR, build_or_skip, run_go

pytestmark = [pytest.mark.slow, pytest.mark.go]


def test_garbage_target_backs_off_and_recovers(tmp_path: Path) -> None:
    exe = build_or_skip(TESTS_DIR / "goprogs" / "svc", GO_VERSIONS[-1])
    with run_go(exe) as bad, run_go(exe) as good:
        for p in ("/debug/pprof/heap", "/debug/pprof/goroutine", "/debug/pprof/allocs"):
            httpx.get(f"{bad.url}/admin/fault", params={"path": p, "mode": "garbage"},
                      timeout=5)
        cfg = parse_config({
            "targets": [{"name": n, "pprof_url": f"{s.url}/debug/pprof"}
                        for n, s in (("bad", bad), ("good", good))],
            "schedule": {"diagnose_every": "1m", "diagnosis_duration": "3s",
                         "diagnosis_interval": "1s", "backoff_min": "2m",
                         "backoff_max": "10m"},
        }, base=tmp_path)
        clock = StepClock()
        w = Watcher(cfg, clock=clock, serve=False)
        try:
            r1 = w.run_once()
            assert sorted(r1.diagnoses_started) == ["bad", "good"]
            bad_rec, good_rec = w.records["bad"], w.records["good"]
            assert bad_rec.failures == 1 and bad_rec.last_error
            assert good_rec.failures == 0 and good_rec.verdict is not None
            assert bad_rec.next_attempt == clock.t + 120
            fams = {f.name: f for f in text_string_to_metric_families(
                w.metrics.exposition().decode())}
            up = {s.labels["target"]: s.value for s in fams["leaksleuth_target_up"].samples}
            assert up == {"bad": 0.0, "good": 1.0}
            # a minute on: the slow schedule takes "good" again, "bad" is still backed off
            clock.t += 61
            assert w.run_once().diagnoses_started == ["good"]
            # it heals; once the backoff has passed it is diagnosed and counted healthy again
            for p in ("/debug/pprof/heap", "/debug/pprof/goroutine", "/debug/pprof/allocs"):
                httpx.get(f"{bad.url}/admin/fault", params={"path": p, "mode": "ok"},
                          timeout=5)
            clock.t += 60
            assert "bad" in w.run_once().diagnoses_started
            assert bad_rec.failures == 0 and bad_rec.verdict is not None
            assert bad.proc.poll() is None and good.proc.poll() is None
        finally:
            w.close()
