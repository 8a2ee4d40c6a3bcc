"""Where to read HeapAlloc after a forced GC: an A/B on the same busy service, same load.

Ticks alternate, one every ``--interval / 2`` seconds:

- A: ``heap?gc=1`` (the protobuf, gzip-compressed by the service), then ``heap?debug=1``:
  HeapAlloc is read after the protobuf was built and sent, so it also holds what requests
  (and the profile's own gzip writer) allocated since the GC;
- B: ``heap?debug=1&gc=1``: the handler reads MemStats right after ``runtime.GC()``.

Each reading is thus sampled every ``--interval`` seconds; for each, over sliding 60 s
windows: the median robust noise (1.4826 x MAD around the Theil-Sen line) and the smallest
growth the leak test would catch 90% of the time. A second client reading profiles without
pause (``--hammer``) stands for a continuous profiler scraping the same endpoint.

    python tests/realservices/floor_ab.py --seconds 150 --interval 2
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaksleuth.analyze.trend import detectable_rate, noise_scale
from realservices.harness import WORKLOADS, at_once, by_name, loaded
from realservices.signals import windows

_HEAP_ALLOC = re.compile(rb"^# HeapAlloc = (\d+)", re.M)


def _heap_alloc(body: bytes) -> float:
    m = _HEAP_ALLOC.search(body)
    return float(m.group(1)) if m else float("nan")


def _hammer(url: str, stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as c:
        while not stop.is_set():
            c.get(url + "/debug/pprof/heap")


def ab(name: str, seconds: float, interval: float, hammer: bool) -> dict[str, list[float]]:
    w = by_name(name)
    a_t: list[float] = []
    a_v: list[float] = []
    b_t: list[float] = []
    b_v: list[float] = []
    with loaded(w, w.warmup + seconds + 10) as (svc, _load):
        time.sleep(w.warmup)
        stop = threading.Event()
        other = threading.Thread(target=_hammer, args=(svc.url, stop), daemon=True)
        if hammer:
            other.start()
        heap = svc.url + "/debug/pprof/heap"
        end = time.time() + seconds
        with httpx.Client(timeout=30) as c:
            k = 0
            while time.time() < end:
                t0 = time.time()
                if k % 2 == 0:
                    c.get(heap, params={"gc": "1"})
                    a_v.append(_heap_alloc(c.get(heap, params={"debug": "1"}).content))
                    a_t.append(t0)
                else:
                    b_v.append(_heap_alloc(c.get(heap, params={"debug": "1", "gc": "1"}).content))
                    b_t.append(t0)
                k += 1
                time.sleep(max(0.0, t0 + interval / 2 - time.time()))
        stop.set()
    out: dict[str, list[float]] = {}
    for label, ts, vs in (("A", a_t, a_v), ("B", b_t, b_v)):
        t = np.array(ts)
        v = np.array(vs)
        noise, det = [], []
        for m in windows(t, 60.0, 10.0):
            if m.sum() >= 6:
                sd = noise_scale(t[m], v[m])
                noise.append(sd)
                det.append(detectable_rate(t[m], sd))
        out[label] = [float(np.median(noise)), float(np.median(det))]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=150)
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("--hammer", action="store_true", help="a second client reads heap profiles")
    ap.add_argument("workloads", nargs="*", default=[w.name for w in WORKLOADS])
    a = ap.parse_args()
    res = at_once(a.workloads, lambda n: ab(n, a.seconds, a.interval, a.hammer))
    print(f"{'workload':28} {'A: gc=1 then debug=1':>26} {'B: debug=1&gc=1':>26}")
    print(f"{'':28} {'noise MB / catches kB/s':>26} {'noise MB / catches kB/s':>26}")
    for n in a.workloads:
        r = res[n]
        cells = [f"{r[k][0] / 1e6:.2f} / {r[k][1] / 1e3:.0f}" for k in ("A", "B")]
        print(f"{n:28} {cells[0]:>26} {cells[1]:>26}")


if __name__ == "__main__":
    main()
