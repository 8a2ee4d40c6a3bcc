"""The scenario harness: every real Go service of tests/scenarios, diagnosed live.

Each scenario runs under Go 1.23.9 and 1.26.6; all of them (plus repeat runs for the stability
check) run at the same time, each collected for a 20-second window by the real collector and
analysed by ``app.diagnose`` with its executable (as ``diagnose --pid`` does). The score
table goes to artifacts/scenario_scores.md and to stdout.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leaksleuth.analyze.diagnosis import Diagnosis
from leaksleuth.app import diagnose
from leaksleuth.collect.collector import CollectConfig, collect
from leaksleuth.collect.session import open_session
from leaksleuth.report.json import to_json
from leaksleuth.report.text import to_text
from support.goservice import GO_VERSIONS, build_or_skip, run_go

pytestmark = [pytest.mark.go, pytest.mark.slow]

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WINDOW = float(os.environ.get("LEAKSLEUTH_SCENARIO_WINDOW", "20"))
INTERVAL = 1.0
SNAPSHOTS = round(WINDOW / INTERVAL)
REPEATS = 3  # stability: these scenarios run three times (concurrently) under one version
STABILITY = ("slow_leak_big_heap", "gc_sawtooth", "goroutine_select_ticker",
             "client_timeout_body_leak")


def scenario_names() -> list[str]:
    return sorted(p.parent.name for p in SCENARIOS_DIR.glob("*/expected.json")
                  if (p.parent / "main.go").exists())


def expected(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCENARIOS_DIR / name / "expected.json").read_text())
    return doc


@dataclass
class Outcome:
    scenario: str
    version: str
    run: int
    diagnosis: Diagnosis | None = None
    error: str | None = None
    seconds: float = 0.0


def _run_one(name: str, version: str, run: int, exe: Path, out: Path) -> Outcome:
    t0 = time.monotonic()
    try:
        with run_go(exe) as svc:
            info = collect(CollectConfig(
                # a count, not a duration: forty services collected at once on two cores fall
                # behind the clock, and the verdict is judged on the snapshots it was meant to get
                svc.url, interval=INTERVAL, count=SNAPSHOTS,
                out_dir=out / f"{name}-{version}-{run}", metrics_path="", vars_path="",
                timeout=10.0))
        d = diagnose(open_session(info.path), exe=exe).diagnosis
        return Outcome(name, version, run, d, seconds=time.monotonic() - t0)
    except Exception as exc:  # reported per scenario below, not lost in the pool
        return Outcome(name, version, run, error=f"{type(exc).__name__}: {exc}",
                       seconds=time.monotonic() - t0)


def _passes(o: Outcome) -> bool:
    if o.diagnosis is None:
        return False
    exp = expected(o.scenario)
    d = o.diagnosis
    if d.verdict != exp["verdict"]:
        return False
    if "kind" in exp:  # a leak, or a steady-state retention finding
        return bool(d.suspects) and d.suspects[0].function == exp["function"] \
            and d.suspects[0].kind == exp["kind"]
    return True


def _table(outcomes: list[Outcome]) -> str:
    rows = ["| scenario | Go | expected | got | first suspect | pass |",
            "|---|---|---|---|---|---|"]
    for o in sorted(outcomes, key=lambda o: (o.scenario, o.version, o.run)):
        exp = expected(o.scenario)
        want = exp["verdict"] + (f" {exp['kind']} {exp['function']}" if "function" in exp else "")
        if o.diagnosis is None:
            got, first = f"error: {o.error}", ""
        else:
            got = o.diagnosis.verdict
            s = o.diagnosis.suspects[0] if o.diagnosis.suspects else None
            first = f"{s.kind} {s.function} ({s.confidence:.2f})" if s else "-"
        tag = f"{o.version}" + (f" #{o.run + 1}" if o.run else "")
        rows.append(f"| {o.scenario} | {tag} | {want} | {got} | {first} | "
                    f"{'yes' if _passes(o) else 'NO'} |")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, int], Outcome]:
    names = scenario_names()
    assert set(STABILITY) <= set(names), "a stability scenario is missing from the corpus"
    exes = {(n, v): build_or_skip(SCENARIOS_DIR / n, v) for v in GO_VERSIONS for n in names}
    jobs = [(n, v, 0) for n in names for v in GO_VERSIONS]
    jobs += [(n, GO_VERSIONS[-1], r) for n in STABILITY for r in range(1, REPEATS)]
    keep = os.environ.get("LEAKSLEUTH_SCENARIO_OUT")  # keep the sessions for a look afterwards
    out = Path(keep) if keep else tmp_path_factory.mktemp("scenario-sessions")
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futs = [pool.submit(_run_one, n, v, r, exes[n, v], out) for n, v, r in jobs]
        results = [f.result() for f in futs]
    table = _table(results)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "scenario_scores.md").write_text(
        f"Scenario scores: {WINDOW:.0f} s window, {INTERVAL:.0f} s interval, "
        f"{len(jobs)} services run concurrently in {time.monotonic() - t0:.0f} s.\n\n" + table)
    print("\n" + table)
    return {(o.scenario, o.version, o.run): o for o in results}


@pytest.mark.parametrize("version", GO_VERSIONS)
@pytest.mark.parametrize("name", scenario_names())
def test_scenario_verdict_and_first_suspect(
    outcomes: dict[tuple[str, str, int], Outcome], name: str, version: str
) -> None:
    o = outcomes[name, version, 0]
    assert o.diagnosis is not None, o.error
    exp = expected(name)
    d = o.diagnosis
    assert d.window.snapshots >= SNAPSHOTS * 0.9, f"only {d.window.snapshots} snapshots stored"
    if exp["verdict"] != "leak":
        assert d.verdict != "leak", f"control called a leak: {d.summary}"
    assert d.verdict == exp["verdict"], d.summary
    if "kind" in exp:  # a leak, or a steady-state retention finding
        assert d.suspects, d.summary
        top = d.suspects[0]
        assert (top.function, top.kind) == (exp["function"], exp["kind"]), [
            (s.kind, s.function, s.growth_bytes_per_second) for s in d.suspects[:4]]
        assert 0.0 < top.confidence <= 1.0 and top.evidence and top.advice
    # every real diagnosis renders: plain text naming the verdict, strict JSON (no NaN)
    text = to_text(d, width=100)
    assert d.verdict.upper() in text
    if d.suspects:
        assert d.suspects[0].function in text
    assert json.loads(to_json(d))["verdict"] == d.verdict


@pytest.mark.parametrize("name", STABILITY)
def test_same_scenario_three_times_same_verdict(
    outcomes: dict[tuple[str, str, int], Outcome], name: str
) -> None:
    runs = [outcomes[name, GO_VERSIONS[-1], r] for r in range(REPEATS)]
    verdicts = [r.diagnosis.verdict if r.diagnosis else r.error for r in runs]
    assert verdicts == [expected(name)["verdict"]] * REPEATS, verdicts
