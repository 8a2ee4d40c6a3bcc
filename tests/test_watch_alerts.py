"""The layered alert state machine: holds, hysteresis, levels, and config validation."""

from __future__ import annotations

import pytest

from leaksleuth.errors import UsageError
from leaksleuth.watch.alerts import LevelState, Signal, evaluate, level_number, meets, step
from leaksleuth.watch.config import AlertConfig, LevelRule, parse_config

RULE = LevelRule(growth_bytes_per_second=1000.0, confidence=0.5)
KW = {"hold": 60.0, "clear_hold": 60.0, "hysteresis": 0.2}


def sig(growth: float, conf: float = 0.9) -> Signal:
    return Signal(growth_bytes_per_second=growth, confidence=conf)


def run(values: list[float | None], rule: LevelRule = RULE, every: float = 20.0,
        **kw: float) -> list[str]:
    """Feed one value per ``every`` seconds; return the state after each."""
    st = LevelState()
    out = []
    opts = {**KW, **kw}
    for i, v in enumerate(values):
        st, _ = step(rule, st, None if v is None else sig(v), i * every, **opts)
        out.append(st.state)
    return out


def test_fires_only_after_the_hold() -> None:
    assert run([2000, 2000, 2000, 2000]) == ["pending", "pending", "pending", "firing"]


def test_one_noisy_point_does_not_fire() -> None:
    states = run([100, 5000, 100, 100, 100, 100])
    assert "firing" not in states
    assert states[1] == "pending" and states[2] == "inactive"


def test_one_noisy_point_does_not_clear() -> None:
    states = run([2000] * 4 + [0] + [2000] * 4)
    assert states[3] == "firing"
    assert all(s == "firing" for s in states[3:])


def test_clears_after_the_clear_hold_below_the_band() -> None:
    states = run([2000] * 4 + [0] * 5)
    # below the clear threshold from t=80; resolved once that held for 60 s (t=140)
    assert states[3:] == ["firing", "firing", "firing", "firing", "inactive"][:5] + \
        states[8:]
    assert states[-2] == "inactive"
    assert states[6] == "firing"


def test_hysteresis_band_keeps_firing_and_pending() -> None:
    # 900 is under the raise threshold (1000) but above the clear one (800)
    assert run([2000] * 4 + [900] * 10)[-1] == "firing"
    assert run([2000, 900, 900, 2000]) == ["pending", "pending", "pending", "firing"]
    assert run([2000, 700])[-1] == "inactive"


def test_no_signal_changes_nothing() -> None:
    assert run([2000, None, None, None, 2000]) == ["pending"] * 4 + ["firing"]
    assert run([2000] * 4 + [None] * 10)[-1] == "firing"


def test_confidence_gates_every_criterion() -> None:
    assert not meets(RULE, sig(10_000, conf=0.4))
    assert meets(RULE, sig(10_000, conf=0.5))
    assert meets(RULE, sig(10_000, conf=0.45), relax=0.2)


def test_time_to_exhaustion_and_goroutines() -> None:
    rule = LevelRule(time_to_exhaustion=3600.0, goroutine_growth_per_second=1.0)
    assert meets(rule, Signal(time_to_exhaustion_seconds=1800.0))
    assert not meets(rule, Signal(time_to_exhaustion_seconds=4000.0))
    assert meets(rule, Signal(time_to_exhaustion_seconds=4000.0), relax=0.2)
    assert not meets(rule, Signal(time_to_exhaustion_seconds=-1.0))
    assert meets(rule, Signal(goroutine_growth_per_second=2.0))
    assert not meets(rule, Signal(goroutine_growth_per_second=0.5))


def test_zero_hold_fires_at_once() -> None:
    assert run([2000], hold=0.0) == ["firing"]


def test_levels_warning_then_critical() -> None:
    cfg = AlertConfig(warning=LevelRule(growth_bytes_per_second=1000.0),
                      critical=LevelRule(growth_bytes_per_second=10_000.0),
                      hold=30.0, clear_hold=30.0)
    states: dict[str, LevelState] = {}
    seen = []
    for t, g in enumerate([2000, 2000, 2000, 20_000, 20_000, 20_000, 20_000, 0, 0, 0, 0]):
        states, events = evaluate(cfg, states, sig(g), t * 15.0)
        seen += [(t, lv, ev) for lv, ev in events]
    assert (2, "warning", "firing") in seen
    assert (3, "critical", "pending") in seen
    assert (5, "critical", "firing") in seen
    assert level_number(states) == 0
    assert [e for e in seen if e[2] == "resolved"] == [(9, "warning", "resolved"),
                                                       (9, "critical", "resolved")]


BASE = {"targets": [{"name": "a", "pprof_url": "http://127.0.0.1:1/debug/pprof"}]}


@pytest.mark.parametrize(("doc", "message"), [
    ({}, "nothing to watch"),
    ({**BASE, "bogus": 1}, "unknown setting 'bogus'"),
    ({"targets": [{"name": "a"}]}, "name and pprof_url are required"),
    ({"targets": [{"name": "a", "pprof_url": "ftp://x"}]}, "not an http(s) URL"),
    ({"targets": BASE["targets"] * 2}, "duplicate target name"),
    ({**BASE, "schedule": {"screen_every": "soon"}}, "schedule.screen_every: not a duration"),
    ({**BASE, "schedule": {"window": "60s", "step": "30s"}}, "at most a third"),
    ({**BASE, "alerts": {"warning": {"confidence": 0.5}}}, "set at least one of"),
    ({**BASE, "alerts": {"warning": {"growth_bytes_per_second": "lots"}}}, "not a size"),
    ({**BASE, "alerts": {"hysteresis": 2}}, "alerts.hysteresis"),
    ({**BASE, "alerts": {"alertmanager": {"url": "localhost:9093"}}}, "not an http(s) URL"),
    ({**BASE, "server": {"listen": "nowhere"}}, "expected host:port"),
    ({"prometheus": {"url": "http://127.0.0.1:1", "pprof_url": "http://fixed"}}, "template"),
])
def test_bad_config_is_one_clear_line(doc: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=None) as exc:
        parse_config(doc)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_config_values_and_defaults(tmp_path: object) -> None:
    from pathlib import Path

    cfg = parse_config({
        **BASE,
        "prometheus": {"url": "http://127.0.0.1:9/", "selector": '{job="go"}'},
        "schedule": {"screen_every": "10s", "window": "5m", "step": "5s",
                     "diagnose_every": "off", "gdb": True},
        "alerts": {"for": "2m", "clear_for": 0, "hysteresis": 0.1,
                   "warning": {"growth_bytes_per_second": "100KiB", "confidence": 0.6},
                   "critical": {"time_to_exhaustion": "1h"},
                   "alertmanager": {"url": "http://127.0.0.1:9093"}},
        "evidence": {"dir": "ev", "max_bytes": "1GiB", "retention": "2d"},
        "server": {"listen": "127.0.0.1:0"},
    }, base=Path(str(tmp_path)))
    assert cfg.prometheus is not None and cfg.prometheus.url == "http://127.0.0.1:9"
    assert cfg.schedule.screen_every == 10 and cfg.schedule.diagnose_every is None
    assert cfg.schedule.gdb
    assert cfg.alerts.hold == 120 and cfg.alerts.clear_hold == 0
    assert cfg.alerts.warning.growth_bytes_per_second == 100 * 1024
    assert cfg.alerts.critical.time_to_exhaustion == 3600
    assert cfg.evidence.dir == Path(str(tmp_path)) / "ev"
    assert cfg.evidence.max_bytes == 1 << 30 and cfg.evidence.retention == 2 * 86400
