"""Robust trends of a time series: is it growing, did the growth stop, or is it just noise?

A leak is *sustained* growth of the post-GC floor. Ordinary least squares is pulled around by
one odd snapshot (a GC that ran late, a burst of requests), so the slope is Theil-Sen (median of
pairwise slopes, scipy) and the test is Kendall's tau (Mann-Kendall): both rank-based, both
indifferent to a few outliers. Growth is judged on the *tail* of the window, so a warm-up that
stops is not a leak and a leak that starts after a warm-up is one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]

# Significance of the Mann-Kendall test. Strict on purpose: a control called a leak is the
# worst mistake the tool can make, and leaks in a 20 s window reach p < 1e-4 easily.
ALPHA = 0.01
MIN_TAU = 0.5  # and the trend must be consistent, not merely significant on many points
MIN_POINTS = 6  # fewer cannot reach p < 0.01 in Mann-Kendall even when perfectly monotonic
TAIL_POINTS = 8  # the tail (last half) never has fewer points than this, when there are
CONTINUE_RATIO = 0.3  # the last third must keep >= 30% of the tail's slope, else it stopped
NOISE_FACTOR = 3.0  # the rise must exceed 3x the scatter around the trend line


@dataclass(frozen=True)
class Trend:
    """A Theil-Sen slope with its Mann-Kendall test over ``n`` points."""

    slope: float  # units per second
    intercept: float
    tau: float
    p_value: float | None  # None when too few points or a constant series
    n: int
    span: float  # seconds covered
    scatter: float  # median absolute residual around the line

    @property
    def rise(self) -> float:
        """What the trend adds over the span (slope x seconds)."""
        return self.slope * self.span

    def significant(self, alpha: float = ALPHA) -> bool:
        return (
            self.p_value is not None
            and self.p_value < alpha
            and self.tau >= MIN_TAU
            and self.slope > 0
        )


FLAT = Trend(0.0, 0.0, 0.0, None, 0, 0.0, 0.0)


def robust_trend(
    times: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray
) -> Trend:
    """Theil-Sen slope and Kendall's tau of ``values`` against ``times``."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    n = len(t)
    if n < 2:
        return FLAT
    span = float(t[-1] - t[0])
    if n < 3 or span <= 0:
        return Trend(0.0, float(y[-1]), 0.0, None, n, max(span, 0.0), 0.0)
    if float(np.ptp(y)) == 0.0:
        return Trend(0.0, float(y[0]), 0.0, None, n, span, 0.0)
    t0 = t - t[0]
    slope, intercept, _, _ = stats.theilslopes(y, t0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau, p = stats.kendalltau(t0, y)
    tau_f = 0.0 if tau is None or math.isnan(float(tau)) else float(tau)
    p_f = None if p is None or math.isnan(float(p)) else float(p)
    scatter = float(np.median(np.abs(y - (intercept + slope * t0))))
    return Trend(float(slope), float(intercept), tau_f, p_f, n, span, scatter)


def _steps_continue(t: FloatArray, y: FloatArray, min_rise: float) -> bool:
    """Growth in steps (a slice's backing array replaced by one 1.25-2x larger) is flat
    between steps: the flat end of the window is not a plateau while it is no longer than
    twice the longest wait between earlier steps.

    Steps are read on the suffix minimum (``min(y[i:])``), which drops the transient peak
    while old and new backing arrays are both live, and only rises that stay count; a step
    must add 2% of the level, so the wobble of a plateau never makes one.
    """
    if len(y) < 5:
        return False
    z = np.minimum.accumulate(y[::-1])[::-1]
    d = np.diff(z)
    level = np.maximum(np.abs(z[1:]), 1.0)
    jumps = np.flatnonzero((d >= min_rise / 2) & (d >= 0.02 * level))
    if len(jumps) < 3:
        return False
    if float(d[jumps].sum()) < 0.6 * float(z[-1] - z[0]):
        return False  # most of the growth is not in steps
    jump_times = t[jumps + 1]
    longest_wait = float(np.max(np.diff(jump_times)))
    return longest_wait > 0 and float(t[-1] - jump_times[-1]) <= 2 * longest_wait


@dataclass(frozen=True)
class Growth:
    """Whether a series keeps growing, judged on its tail (see module docstring)."""

    full: Trend
    tail: Trend  # last half of the points
    last: Trend  # last third of the points
    growing: bool  # sustained growth through the end of the window
    plateau: bool  # it grew, then stopped
    enough_data: bool

    @property
    def slope(self) -> float:
        """The growth rate that counts: the tail's when growing, else the whole window's."""
        return self.tail.slope if self.growing else self.full.slope


def assess_growth(
    times: Sequence[float] | FloatArray,
    values: Sequence[float] | FloatArray,
    *,
    min_rise: float,
    alpha: float = ALPHA,
) -> Growth:
    """Judge sustained growth; ``min_rise`` is the smallest tail rise (in value units) that counts.

    Growing means: the tail trend is significant and consistent, its rise exceeds both
    ``min_rise`` and the scatter (so a GC saw-tooth is not growth), and the last third has not
    flattened (so a cache that filled up late in the window is a plateau, not a leak).
    """
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    n = len(t)
    full = robust_trend(t, y)
    if n < MIN_POINTS:
        return Growth(full, full, full, False, False, False)
    h = min(n, max(TAIL_POINTS, n - n // 2))
    tail = robust_trend(t[n - h :], y[n - h :])
    k = max(4, n // 3)
    last = robust_trend(t[n - k :], y[n - k :])
    rise_ok = tail.rise >= min_rise and tail.rise >= NOISE_FACTOR * tail.scatter
    stopped = last.slope < CONTINUE_RATIO * tail.slope and not last.significant(alpha)
    growing = tail.significant(alpha) and rise_ok and not stopped
    if not growing and _steps_continue(t, y, min_rise):
        # few steps in the tail make a weak tail test: judge the steps over the whole window
        growing = full.significant(alpha) and full.rise >= min_rise
        tail = full if growing else tail
    third = max(1, n // 3)
    gained = float(np.median(y[n - third :]) - np.median(y[:third]))
    grew = (full.p_value is not None and full.p_value < alpha and full.tau >= MIN_TAU
            and gained >= min_rise)
    plateau = grew and not growing
    return Growth(full, tail, last, growing, plateau, True)
