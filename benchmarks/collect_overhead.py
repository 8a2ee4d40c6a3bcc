"""What collecting costs the service: extra CPU and GC pause of a forced GC per tick.

    python benchmarks/collect_overhead.py [--interval 5s] [--seconds 30] [--live-mb 64]
                                          [--go 1.26.6]

Two identical copies of tests/goprogs/svc run side by side on 127.0.0.1 under the same steady
load (every millisecond a fixed unit of allocating work over a live heap of --live-mb MiB, timed
by the service itself). One is collected at the given interval (default: leaksleuth's default,
5 s, with a forced GC per tick); the other is the reference, left alone, measured over the same
wall-clock window so machine noise hits both. Printed per copy: CPU used (from /proc/PID/stat),
GC cycles and total stop-the-world pause (runtime.MemStats via the service's /stats), and the
latency of the service's unit of work (p50/p99/p99.9/max). Then the differences: extra CPU per
second and per tick, extra pause per tick.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from leaksleuth.collect.collector import CollectConfig, collect  # noqa: E402
from leaksleuth.toolchain import build, ensure_go  # noqa: E402
from leaksleuth.units import parse_duration  # noqa: E402
from support.goservice import run_go  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def stats(url: str, reset: bool = False) -> dict[str, float]:
    r = httpx.get(f"{url}/stats", params={"reset": "1"} if reset else None, timeout=10)
    return {k: float(v) for k, v in r.json().items() if isinstance(v, (int, float))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--interval", default="5s")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--live-mb", type=int, default=64)
    ap.add_argument("--go", default="1.26.6")
    args = ap.parse_args()
    interval = parse_duration(args.interval)
    count = max(1, int(args.seconds // interval))
    exe = build(ROOT / "tests" / "goprogs" / "svc", ensure_go(args.go))
    load = ["-load", str(args.live_mb), "-idle", "100"]
    with run_go(exe, *load) as collected, run_go(exe, *load) as reference, \
            tempfile.TemporaryDirectory() as tmp:
        time.sleep(2.0)  # let both build their live heap and settle
        svcs = {"collected": collected, "reference": reference}
        before = {k: (cpu_seconds(s.pid), stats(s.url, reset=True)) for k, s in svcs.items()}
        t0 = time.monotonic()
        info_box: list[object] = []
        th = threading.Thread(target=lambda: info_box.append(collect(CollectConfig(
            url=collected.url, interval=interval, count=count, out_dir=Path(tmp)))))
        th.start()
        th.join()
        # the window ends one interval after the last tick, as it would in a long session
        time.sleep(max(0.0, t0 + count * interval - time.monotonic()))
        wall = time.monotonic() - t0
        after = {k: (cpu_seconds(s.pid), stats(s.url)) for k, s in svcs.items()}
    info = info_box[0]
    print(f"leaksleuth collect overhead: Go {args.go}, live heap {args.live_mb} MiB, "
          f"interval {interval:g} s, {count} ticks over {wall:.1f} s "
          f"({getattr(info, 'snapshots', '?')} snapshots stored)")
    print(f"{'':12}{'CPU s':>8}{'CPU %':>8}{'GCs':>6}{'pause ms':>10}{'work':>8}"
          f"{'p50 us':>9}{'p99 us':>9}{'p99.9 us':>10}{'max ms':>8}")
    fig: dict[str, dict[str, float]] = {}
    for k in svcs:
        c0, s0 = before[k]
        c1, s1 = after[k]
        fig[k] = {
            "cpu": c1 - c0, "gcs": s1["numgc"] - s0["numgc"],
            "pause_ms": (s1["pause_total_ns"] - s0["pause_total_ns"]) / 1e6,
            "work": s1["work_done"], "p50": s1["lat_p50_ns"] / 1e3, "p99": s1["lat_p99_ns"] / 1e3,
            "p999": s1["lat_p999_ns"] / 1e3, "max": s1["lat_max_ns"] / 1e6,
        }
        f = fig[k]
        print(f"{k:12}{f['cpu']:8.2f}{100 * f['cpu'] / wall:7.1f}%{f['gcs']:6.0f}"
              f"{f['pause_ms']:10.2f}{f['work']:8.0f}{f['p50']:9.1f}{f['p99']:9.1f}"
              f"{f['p999']:10.1f}{f['max']:8.2f}")
    c, r = fig["collected"], fig["reference"]
    extra_cpu = c["cpu"] - r["cpu"]
    print(f"extra CPU: {extra_cpu:+.3f} s over {wall:.0f} s = {100 * extra_cpu / wall:+.2f}% of "
          f"one core, {1000 * extra_cpu / count:+.1f} ms per tick")
    print(f"extra GCs: {c['gcs'] - r['gcs']:+.0f} (forced: one per tick = {count}); extra STW "
          f"pause: {c['pause_ms'] - r['pause_ms']:+.2f} ms total, "
          f"{(c['pause_ms'] - r['pause_ms']) / count:+.3f} ms per tick")
    print(f"STW pause per GC cycle: {c['pause_ms'] / max(c['gcs'], 1):.3f} ms collected, "
          f"{r['pause_ms'] / max(r['gcs'], 1):.3f} ms reference")
    print(f"work latency p99: {c['p99']:.1f} us vs {r['p99']:.1f} us reference; "
          f"p99.9: {c['p999']:.1f} vs {r['p999']:.1f} us; max {c['max']:.2f} vs "
          f"{r['max']:.2f} ms")


if __name__ == "__main__":
    main()
