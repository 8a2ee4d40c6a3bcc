"""What a window could have seen: the detectable rate, watch time and slope bound checked
against simulations of the decision rule itself, and the verdicts they lead to on hand-made
busy-service series (real busy services: test_realservices.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from leaksleuth.analyze.trend import (
    MIN_POINTS,
    assess_growth,
    detectable_rate,
    slope_upper_bound,
    watch_time,
    window_noise,
)
from leaksleuth.app import diagnose
from leaksleuth.report.html import render_html
from leaksleuth.report.text import to_text
from test_analyze import BASE, MB, HeapSpec, series


def _hits(t: np.ndarray, rate: float, sigma: float, seed: int, runs: int = 120) -> float:
    rng = np.random.default_rng(seed)
    got = sum(assess_growth(t, 50e6 + rate * t + rng.normal(0, sigma, len(t)),
                            min_rise=0).growing for _ in range(runs))
    return got / runs


@pytest.mark.parametrize(("n", "step", "sigma"), [(13, 5.0, 5e6), (31, 2.0, 1e6),
                                                  (21, 1.0, 3e5), (61, 1.0, 4e5)])
def test_detectable_rate_is_what_the_rule_detects(n: int, step: float, sigma: float) -> None:
    t = np.arange(n) * step
    r = detectable_rate(t, sigma)
    assert math.isfinite(r) and r > 0
    assert _hits(t, r, sigma, seed=n) >= 0.85  # the stated 90%, within simulation error
    assert _hits(t, r / 5, sigma, seed=n + 1) < 0.5  # and it is not a gross understatement


def test_detectable_rate_needs_points_and_scales_with_noise() -> None:
    assert detectable_rate(np.arange(MIN_POINTS - 1.0), 1e6) == math.inf
    t = np.arange(31) * 2.0
    assert detectable_rate(t, 2e6) > 1.8 * detectable_rate(t, 1e6)
    assert detectable_rate(np.arange(61) * 2.0, 1e6) < 0.6 * detectable_rate(t, 1e6)


def test_watch_time_for_a_rate_through_noise() -> None:
    # to see 100 kB/s through ±5 MB of noise at one snapshot every 5 s takes minutes
    w = watch_time(5.0, 5e6, 100e3)
    assert 120 < w < 900
    assert watch_time(5.0, 5e5, 100e3) < w / 3
    # and a window that long does detect it
    n = int(w // 5) + 1
    assert detectable_rate(np.arange(n) * 5.0, 5e6) <= 100e3
    assert watch_time(5.0, 5e6, 0.0) == math.inf


def test_slope_upper_bound_covers_the_true_slope() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(30) * 2.0
    covered = 0
    for _ in range(200):
        y = 1e7 + 20e3 * t + rng.normal(0, 2e6, len(t))
        ub = slope_upper_bound(t, y, 0.95)
        assert ub is not None
        covered += ub >= 20e3
    assert covered >= 180  # 95% one-sided, within simulation error
    assert slope_upper_bound([0, 1], [1, 2]) is None


def test_window_noise_ignores_a_warmup_ramp() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(30.0)
    y = 1e7 + np.minimum(t, 8) * 1e6 + rng.normal(0, 5e4, 30)
    assert window_noise(t, y) < 1.5e5


def _busy(i: int, churn: np.ndarray, grow: bool) -> HeapSpec:
    """In-flight request memory that comes and goes, and (when ``grow``) a store."""
    spec: HeapSpec = {("main.handle", "net/http.HandlerFunc.ServeHTTP"):
                      [(4096, int(churn[i]))]}
    if grow:
        spec[("main.(*Registry).Add", "main.handle")] = [(512, 200 * (i + 1))]
    return spec


def test_busy_service_store_is_found_through_floor_noise() -> None:
    rng = np.random.default_rng(11)
    churn = rng.integers(200, 2400, 40)  # 0.8 to 9.8 MB in flight at each forced GC
    noise = rng.normal(0, 4 * MB, 40)
    # the store adds 102 kB per snapshot (68 kB/s) under ±4 MB of in-flight memory
    snaps = series(40, lambda i: BASE + 20 * MB + noise[i] + 200 * 512 * (i + 1),
                   lambda i: _busy(i, churn, True), interval=1.5)
    d = diagnose(snaps, target="http://t", settings={"interval": 1.5}).diagnosis
    assert d.verdict == "leak"
    top = d.suspects[0]
    assert top.function == "main.(*Registry).Add" and top.steady is True
    assert all(s.function != "main.handle" for s in d.suspects)  # churn is not a suspect
    assert "long-lived" in to_text(d)


def test_busy_service_without_growth_is_inconclusive_and_says_how_long_to_watch() -> None:
    rng = np.random.default_rng(14)
    churn = rng.integers(200, 2400, 20)
    noise = rng.normal(0, 5 * MB, 20)
    snaps = series(20, lambda i: BASE + 20 * MB + noise[i],
                   lambda i: _busy(i, churn, False), interval=2.0)
    d = diagnose(snaps, target="http://t", settings={"interval": 2.0}).diagnosis
    assert d.verdict == "inconclusive"
    sens = d.sensitivity
    assert sens is not None and sens.noise_bytes > 2 * MB
    assert sens.growth_upper_bytes_per_second is not None
    assert sens.growth_upper_bytes_per_second > sens.material_bytes_per_second
    assert sens.watch_seconds is not None and sens.watch_seconds > 40
    assert "watch ~" in d.summary and "noise" in d.summary
    doc = json.loads(json.dumps(d.to_json_dict()))
    assert set(doc["sensitivity"]) >= {
        "signal", "noise_bytes", "detectable_bytes_per_second", "detection_probability",
        "growth_upper_bytes_per_second", "confidence", "material_bytes_per_second",
        "watch_seconds", "interval_seconds"}
    text = to_text(d)
    assert "sensitivity" in text and "watch ~" in text
    html = render_html(d)
    assert 'id="sensitivity"' in html and "smallest growth this window catches" in html


def test_quiet_flat_service_is_no_leak_with_a_stated_bound() -> None:
    rng = np.random.default_rng(13)
    noise = rng.normal(0, 30_000, 20)
    d = diagnose(series(20, lambda i: BASE + noise[i]), target="http://t",
                         settings={"interval": 1.0}).diagnosis
    assert d.verdict == "no-leak"
    assert d.sensitivity is not None
    ub = d.sensitivity.growth_upper_bytes_per_second
    assert ub is not None and ub <= d.sensitivity.material_bytes_per_second
    assert "95% confidence" in d.summary
