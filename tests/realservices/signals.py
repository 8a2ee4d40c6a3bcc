"""Compare live-heap signals on recorded real-service sessions (see record.py).

For every session and candidate signal, over sliding windows of ``--window`` seconds at the
snapshot interval ``--interval`` (sessions recorded at 1 s are thinned to it), prints:
the median robust noise (1.4826 x MAD of residuals around the Theil-Sen line), the median
slope, the slope's t-like ratio (slope x span / noise) and the smallest growth rate the
window could detect (``trend.detectable_rate``). Lower noise and detectable rate are better;
on leaking workloads a higher ratio is better.

    python tests/realservices/signals.py /tmp/rec --window 60 --interval 5
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaksleuth.analyze.series import SessionSeries, reduce_session
from leaksleuth.analyze.trend import detectable_rate, noise_scale, robust_trend
from leaksleuth.collect.session import open_session

Arr = NDArray[np.float64]


def _metrics(path: Path) -> tuple[Arr, dict[str, Arr]]:
    rows = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines() if x]
    rows = [r for r in rows if "go_memstats_next_gc_bytes" in r]
    t = np.array([r["time"] for r in rows])
    cols = {k: np.array([r.get(k, np.nan) for r in rows], dtype=np.float64)
            for k in ("go_memstats_next_gc_bytes", "go_memstats_heap_alloc_bytes")}
    return t, cols


def _dense_at(ts: Arr, t: Arr, v: Arr, how: Callable[[Arr], float], back: float) -> Arr:
    """For each tick time, ``how`` over the dense samples of the ``back`` seconds before it."""
    out = np.full(len(ts), np.nan)
    for i, x in enumerate(ts):
        m = (t <= x) & (t > x - back)
        if m.any():
            out[i] = how(v[m])
    return out


def candidates(s: SessionSeries, path: Path, interval: float) -> dict[str, Arr]:
    gogc = 1.0
    out = {
        "HeapAlloc after gc=1": s.heap_alloc,
        "heap profile in-use total": s.profile_inuse,
        "NextGC after gc=1 -> live": (s.next_gc - gogc * s.stack_inuse) / (1 + gogc),
        "min HeapAlloc of last 3 ticks": np.array(
            [np.nanmin(s.heap_alloc[max(0, i - 2): i + 1]) for i in range(s.n)]),
    }
    if (path / "metrics.jsonl").exists():
        t, cols = _metrics(path)
        ng = cols["go_memstats_next_gc_bytes"] / (1 + gogc)
        out["/metrics NextGC/2, median over interval"] = _dense_at(
            s.times, t, ng, lambda v: float(np.median(v)), interval)
        out["/metrics NextGC/2, min over interval"] = _dense_at(
            s.times, t, ng, lambda v: float(np.min(v)), interval)
        out["/metrics HeapAlloc, min over interval"] = _dense_at(
            s.times, t, cols["go_memstats_heap_alloc_bytes"], lambda v: float(np.min(v)),
            interval)
    return out


def windows(times: Arr, window: float, step: float) -> list[NDArray[np.bool_]]:
    out = []
    t0 = float(times[0])
    while t0 + window <= float(times[-1]) + 1e-9:
        out.append((times >= t0) & (times <= t0 + window + 1e-9))
        t0 += step
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--interval", type=float, default=5)
    a = ap.parse_args()
    print(f"window {a.window:.0f} s, one snapshot every {a.interval:.0f} s; figures are medians "
          "over sliding windows")
    print(f"{'workload':28} {'signal':42} {'noise MB':>9} {'slope kB/s':>11} {'ratio':>6} "
          f"{'detectable kB/s':>16}")
    for sess in sorted(a.root.glob("*/*/")):
        s = reduce_session(open_session(sess).snapshots())
        keep = np.zeros(s.n, dtype=bool)
        last = -1e18
        for i, x in enumerate(s.times):
            if x - last >= a.interval - 0.25:
                keep[i] = True
                last = x
        for name, sig in candidates(s, sess, a.interval).items():
            noise, slope, ratio, det = [], [], [], []
            for w in windows(s.times, a.window, 10.0):
                m = w & keep & np.isfinite(sig)
                if m.sum() < 6:
                    continue
                tr = robust_trend(s.times[m], sig[m])
                sd = noise_scale(s.times[m], sig[m])
                noise.append(sd)
                slope.append(tr.slope)
                ratio.append(tr.slope * tr.span / sd if sd > 0 else np.inf)
                det.append(detectable_rate(s.times[m], sd))
            if not noise:
                continue
            print(f"{sess.parent.name:28} {name:42} {np.median(noise) / 1e6:9.2f} "
                  f"{np.median(slope) / 1e3:11.1f} {np.median(ratio):6.1f} "
                  f"{np.median(det) / 1e3:16.1f}")


if __name__ == "__main__":
    main()
