"""Verdicts on third-party Go services nobody on the team wrote (Debian's pushgateway,
alertmanager and etcd), under load the test generates on 127.0.0.1; see
tests/realservices/README.md for the workloads and their ground truth.

All six workloads run at once, each collected for one 60-second window; the window and its
three 20-second parts are diagnosed. Must hold: at 60 s every verdict is right (leaks name
the service's storage code); at 20 s a leak is never ``no-leak`` and a healthy service never
``leak``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from realservices.harness import WORKLOADS, missing_binaries, right, run_all

pytestmark = [pytest.mark.slow]

WINDOW = 60.0
SUB = 20.0
INTERVAL = 2.0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    missing = missing_binaries()
    if missing:
        pytest.skip("Debian service binaries missing (apt-get install prometheus-pushgateway "
                    f"prometheus-alertmanager etcd-server): {', '.join(missing)}")
    out: Path = tmp_path_factory.mktemp("realservices")
    return {r.workload.name: r for r in run_all(WORKLOADS, WINDOW, INTERVAL, out,
                                                sub_windows=(SUB,))}


def _describe(run: object) -> str:
    out = []
    for label, d in run.diagnoses.items():  # type: ignore[attr-defined]
        top = d.suspects[0].function if d.suspects else "-"
        out.append(f"{label}: {d.verdict} ({top}) {d.summary}")
    return "\n".join(out)


@pytest.mark.parametrize("name", [w.name for w in WORKLOADS])
def test_verdict_at_60s(runs: dict[str, object], name: str) -> None:
    run = runs[name]
    assert run.error is None, run.error  # type: ignore[attr-defined]
    d = run.diagnoses[f"{WINDOW:.0f}s"]  # type: ignore[attr-defined]
    assert right(run.workload, d, full_window=True), _describe(run)  # type: ignore[attr-defined]
    assert d.sensitivity is not None
    if d.verdict == "no-leak":  # a stated bound under the rate that matters
        ub = d.sensitivity.growth_upper_bytes_per_second
        assert ub is not None and ub <= d.sensitivity.material_bytes_per_second
        assert "95% confidence" in d.summary


@pytest.mark.parametrize("name", [w.name for w in WORKLOADS])
def test_never_wrong_at_20s(runs: dict[str, object], name: str) -> None:
    run = runs[name]
    assert run.error is None, run.error  # type: ignore[attr-defined]
    parts = {k: d for k, d in run.diagnoses.items()  # type: ignore[attr-defined]
             if k.startswith(f"{SUB:.0f}s#")}
    assert len(parts) == 3, list(parts)
    for label, d in parts.items():
        assert right(run.workload, d, full_window=False), f"{label}\n" + _describe(run)
        if d.verdict == "inconclusive" and d.sensitivity is not None:
            assert "watch" in d.summary and "noise" in d.summary
