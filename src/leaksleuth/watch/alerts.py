"""The layered alert state machine: inactive → pending → firing → inactive, per level.

Pure and clock-free: every step takes ``now``. Two guards keep one noisy point from changing
anything, the same way Prometheus rules with ``for:`` and ``keep_firing_for:`` behave:
- ``hold`` (``for:``): a level fires only once its condition held for this long; a pending level
  whose signal drops below the *clear* threshold goes back to inactive.
- hysteresis: a firing level clears only once the signal stayed below the clear thresholds
  (thresholds relaxed by the ``hysteresis`` fraction) for ``clear_hold``; a value in the band
  between the clear and the raise thresholds neither raises nor clears.
A round with no usable signal (no data, a failed query) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from leaksleuth.watch.config import LEVELS, AlertConfig, LevelRule

State = Literal["inactive", "pending", "firing"]
Event = Literal["pending", "firing", "resolved", "cancelled"]


@dataclass(frozen=True)
class Signal:
    """What one round measured for a target, in the units the rules use."""

    growth_bytes_per_second: float | None = None
    time_to_exhaustion_seconds: float | None = None
    goroutine_growth_per_second: float | None = None
    confidence: float = 0.0


@dataclass(frozen=True)
class LevelState:
    state: State = "inactive"
    since: float = 0.0  # when the current state was entered
    active_at: float | None = None  # when it started firing (Alertmanager's startsAt)
    clear_since: float | None = None  # firing, and the clear condition has held since then
    last_sent: float | None = None  # last time the firing alert went out (re-send schedule)


def meets(rule: LevelRule, sig: Signal, relax: float = 0.0) -> bool:
    """Whether ``sig`` crosses ``rule``; ``relax`` (0..1) widens every threshold by that
    fraction, which is the clear side of the hysteresis band."""
    if sig.confidence < rule.confidence * (1.0 - relax):
        return False
    g, t, gg = (sig.growth_bytes_per_second, sig.time_to_exhaustion_seconds,
                sig.goroutine_growth_per_second)
    if rule.growth_bytes_per_second is not None and g is not None and (
            g >= rule.growth_bytes_per_second * (1.0 - relax)):
        return True
    if rule.time_to_exhaustion is not None and t is not None and (
            0 <= t <= rule.time_to_exhaustion / max(1e-9, 1.0 - relax)):
        return True
    return bool(rule.goroutine_growth_per_second is not None and gg is not None and (
        gg >= rule.goroutine_growth_per_second * (1.0 - relax)))


def step(rule: LevelRule, st: LevelState, sig: Signal | None, now: float, *, hold: float,
         clear_hold: float, hysteresis: float) -> tuple[LevelState, Event | None]:
    """One evaluation of one level; returns the new state and the transition, if any."""
    if sig is None:
        return st, None
    raised = meets(rule, sig)
    holds = raised or meets(rule, sig, hysteresis)
    if st.state == "inactive":
        if not raised:
            return st, None
        if hold <= 0:
            return LevelState("firing", now, active_at=now), "firing"
        return LevelState("pending", now), "pending"
    if st.state == "pending":
        if raised and now - st.since >= hold:
            return LevelState("firing", now, active_at=now), "firing"
        if holds:
            return st, None
        return LevelState("inactive", now), "cancelled"
    # firing
    if holds:
        return (replace(st, clear_since=None), None) if st.clear_since is not None else (st, None)
    clear_since = st.clear_since if st.clear_since is not None else now
    if now - clear_since >= clear_hold:
        return LevelState("inactive", now), "resolved"
    return replace(st, clear_since=clear_since), None


def evaluate(cfg: AlertConfig, states: dict[str, LevelState], sig: Signal | None,
             now: float) -> tuple[dict[str, LevelState], list[tuple[str, Event]]]:
    """Step every level of one target; events are ``(level, event)`` in level order."""
    out: dict[str, LevelState] = {}
    events: list[tuple[str, Event]] = []
    for level in LEVELS:
        new, ev = step(cfg.rule(level), states.get(level, LevelState()), sig, now,
                       hold=cfg.hold, clear_hold=cfg.clear_hold, hysteresis=cfg.hysteresis)
        out[level] = new
        if ev is not None:
            events.append((level, ev))
    return out, events


def highest(states: dict[str, LevelState], state: State = "firing") -> str | None:
    """The most severe level in ``state`` (``None`` when no level is)."""
    for level in reversed(LEVELS):
        if states.get(level, LevelState()).state == state:
            return level
    return None


def level_number(states: dict[str, LevelState]) -> int:
    """0 none, 1 warning, 2 critical: the firing level as a number for a gauge."""
    top = highest(states)
    return 0 if top is None else LEVELS.index(top) + 1
