"""A short soak of the real ``leaksleuth watch`` command (the 10-minute, 20-target one is
``benchmarks/watch_soak.py``): targets killed and restarted, the watcher killed with SIGKILL
and restarted on its state. No crash, no completed evidence lost, the firing alert resumed."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.goservice import TESTS_DIR, build_or_skip
from support.promserver import prometheus_or_skip
from support.soak import run_soak

pytestmark = [pytest.mark.slow, pytest.mark.go]


def test_watch_survives_chaos_and_kill_9(tmp_path: Path) -> None:
    prometheus_or_skip()
    exe = build_or_skip(TESTS_DIR / "goprogs" / "promsvc", "1.26.6")
    res = run_soak(exe, tmp_path, targets=5, leakers=1, seconds=120, kill_watcher_at=45,
                   chaos_every=12, window="30s", leak_rate=600_000, budget="200MiB",
                   rss_every=10)
    print(res)
    assert res.crashes == []
    assert res.exit_codes == [0]
    assert res.target_kills >= 3 and res.target_restarts >= 2
    assert res.watcher_kills == 1, "the leaker was never alerted with evidence on disk"
    assert res.bundles_before_kill
    assert res.bundles_lost == [] and res.bundles_incomplete == []
    assert res.resumed_starts_at is True
    assert res.bundles_at_end >= len(res.bundles_before_kill)
    assert {a["labels"]["target"] for a in res.alerts_at_end} == set(res.leak_targets)
    assert res.metrics_at_end.get("leaksleuth_screens_total", 0) >= 5
