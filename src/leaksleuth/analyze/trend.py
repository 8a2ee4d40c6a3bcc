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


# --- What a window could have seen -----------------------------------------------------------
#
# "No growth detected" is only worth something together with the growth the window *could*
# have detected. ``detectable_rate`` answers that for the decision rule above, by simulation:
# a line of slope r plus Gaussian noise of the series' robust scale, sampled like the window's
# tail, is put through the tail test (Kendall tau >= MIN_TAU at p < ALPHA, rise >= min_rise and
# >= NOISE_FACTOR x scatter) a few hundred times; the smallest r passing with probability
# ``power`` is the answer. The random numbers are fixed, so the answer is reproducible and
# monotone in r. Tails longer than SIM_POINTS are thinned to SIM_POINTS evenly spaced points,
# which can only understate what the window sees.

DETECTION_POWER = 0.9
GAUSS_MAD = 1.4826  # MAD x this = standard deviation, for Gaussian noise
SIMULATIONS = 256
SIM_POINTS = 48


def noise_scale(
    times: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray
) -> float:
    """Robust standard deviation of ``values`` around their Theil-Sen line (0 for < 3 points)."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if len(t) < 3 or float(np.ptp(t)) <= 0:
        return 0.0
    tr = robust_trend(t, y)
    resid = y - (tr.intercept + tr.slope * (t - t[0]))
    return GAUSS_MAD * float(np.median(np.abs(resid - np.median(resid))))


def window_noise(
    times: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray
) -> float:
    """The noise the decision rule faces, on the tail ``assess_growth`` tests (a warm-up ramp
    before it is not noise): robust scatter around the tail's trend line, and never less than
    what successive differences show (1.4826 x MAD(diff) / sqrt 2, blind to curvature)."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    n = len(t)
    if n < 3:
        return 0.0
    h = min(n, max(TAIL_POINTS, n - n // 2))
    tail = noise_scale(t[n - h:], y[n - h:])
    d = np.diff(y[n - h:])
    by_diff = GAUSS_MAD * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)
    return max(tail, by_diff)


class _TailSimulation:
    """The tail test run on SIMULATIONS noisy lines at once (vectorized over pairs)."""

    def __init__(self, h: int, tail_span: float, alpha: float) -> None:
        self.h = h = min(h, SIM_POINTS)
        self.t = np.linspace(0.0, tail_span, h)
        self.span = tail_span
        i, j = np.triu_indices(h, 1)
        self.i, self.j = i, j
        self.dt = self.t[j] - self.t[i]
        noise = np.random.default_rng(20261206).standard_normal((SIMULATIONS, h))
        self.noise = noise
        # Mann-Kendall with the exact null variance of S (no ties in continuous noise)
        var_s = h * (h - 1) * (2 * h + 5) / 18.0
        z = float(stats.norm.ppf(1 - alpha / 2))
        n_pairs = h * (h - 1) / 2
        self.need_tau = max(MIN_TAU, (z * math.sqrt(var_s) + 1) / n_pairs)

    def power(self, rate: float, sigma: float, min_rise: float) -> float:
        y = rate * self.t + sigma * self.noise
        d = y[:, self.j] - y[:, self.i]
        tau = np.sign(d).mean(axis=1)
        slope = np.median(d / self.dt, axis=1)
        intercept = np.median(y - slope[:, None] * self.t, axis=1)
        scatter = np.median(np.abs(y - intercept[:, None] - slope[:, None] * self.t), axis=1)
        rise = slope * self.span
        ok = (tau >= self.need_tau) & (slope > 0) & (rise >= min_rise) & (
            rise >= NOISE_FACTOR * scatter)
        return float(ok.mean())


def slope_upper_bound(
    times: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray,
    confidence: float = 0.95,
) -> float | None:
    """One-sided upper confidence bound of the Theil-Sen slope (None for < 3 points)."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if len(t) < 3 or float(np.ptp(t)) <= 0:
        return None
    res = stats.theilslopes(y, t - t[0], alpha=2 * confidence - 1)
    return float(res[3])


def _tail_design(n: int, span: float) -> tuple[int, float]:
    """Points and seconds of the tail that ``assess_growth`` tests, for n even points."""
    h = min(n, max(TAIL_POINTS, n - n // 2))
    step = span / (n - 1) if n > 1 else 0.0
    return h, step * (h - 1)


def detectable_rate(
    times: Sequence[float] | FloatArray,
    sigma: float,
    *,
    min_rise: float = 0.0,
    alpha: float = ALPHA,
    power: float = DETECTION_POWER,
) -> float:
    """Smallest growth (units per second) this window would call growing with ``power``
    probability through noise of robust scale ``sigma``; ``inf`` when too few points."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n < MIN_POINTS:
        return math.inf
    span = float(t[-1] - t[0])
    if span <= 0:
        return math.inf
    return _detectable(n, span, sigma, min_rise, alpha, power)


def _detectable(n: int, span: float, sigma: float, min_rise: float, alpha: float,
                power: float) -> float:
    h, tail_span = _tail_design(n, span)
    if tail_span <= 0:
        return math.inf
    if sigma <= 0:
        return max(min_rise, 1e-9) / tail_span
    sim = _TailSimulation(h, tail_span, alpha)
    if sim.need_tau >= 1.0:
        return math.inf
    lo, hi = 0.0, max(min_rise / tail_span, sigma / tail_span)
    for _ in range(60):
        if sim.power(hi, sigma, min_rise) >= power:
            break
        hi *= 2
    else:
        return math.inf
    while hi - lo > 0.01 * hi:
        mid = (lo + hi) / 2
        if sim.power(mid, sigma, min_rise) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def watch_time(
    interval: float,
    sigma: float,
    rate: float,
    *,
    min_rise: float = 0.0,
    alpha: float = ALPHA,
    power: float = DETECTION_POWER,
    longest: float = 7 * 86400.0,
) -> float:
    """Seconds of collection, one point every ``interval`` s, after which growth of ``rate``
    stands out of noise ``sigma`` (``inf`` beyond ``longest``)."""
    if rate <= 0 or interval <= 0:
        return math.inf

    def ok(span: float) -> bool:
        n = int(span // interval + 1e-9) + 1
        if n < MIN_POINTS:
            return False
        h, tail_span = _tail_design(n, span)
        if sigma <= 0:
            return rate * tail_span >= min_rise
        sim = _TailSimulation(h, tail_span, alpha)
        return sim.need_tau < 1.0 and sim.power(rate, sigma, min_rise) >= power

    lo = interval * (MIN_POINTS - 1)
    if ok(lo):
        return lo
    hi = lo
    while not ok(hi):
        if hi >= longest:
            return math.inf
        hi = min(hi * 2, longest)
    lo = hi / 2
    while hi - lo > max(interval, hi * 0.05):
        mid = (lo + hi) / 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi
