"""Record leaksleuth sessions of the real-service workloads, for offline study of the signals.

Each workload warms up under load, then is collected by the real collector (forced GC per
tick) for ``--seconds`` at ``--interval``, while its ``/metrics`` (HeapAlloc, NextGC, the
service's own count of stored objects) is scraped every second into ``metrics.jsonl`` beside
the session. ``signals.py`` compares the live-heap signals on what this records.

    python tests/realservices/record.py --seconds 150 --interval 1 --out artifacts/rs-sessions
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaksleuth.collect.collector import CollectConfig, collect
from realservices.harness import WORKLOADS, at_once, by_name, loaded
from realservices.observe import scrape


def record(name: str, seconds: float, interval: float, warmup: float | None,
           out: Path) -> Path:
    w = by_name(name)
    warmup = w.warmup if warmup is None else warmup
    with loaded(w, warmup + seconds + 10) as (svc, load):
        time.sleep(warmup)
        stop = threading.Event()
        rows: list[dict[str, float]] = []

        def poll() -> None:
            with httpx.Client(timeout=10) as c:
                while not stop.is_set():
                    try:
                        row = scrape(c, svc)
                    except httpx.HTTPError:
                        row = {}
                    row["time"] = time.time()
                    row["requests"] = float(load.done)
                    rows.append(row)
                    stop.wait(1.0)
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        info = collect(CollectConfig(svc.url, interval=interval, duration=seconds,
                                     out_dir=out / name, metrics_path="", timeout=10.0))
        stop.set()
        th.join()
        (info.path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return info.path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=150)
    ap.add_argument("--interval", type=float, default=1)
    ap.add_argument("--warmup", type=float, default=None, help="default: the workload's")
    ap.add_argument("--out", type=Path, default=Path("artifacts/rs-sessions"))
    ap.add_argument("workloads", nargs="*", default=[w.name for w in WORKLOADS])
    a = ap.parse_args()
    paths = at_once(a.workloads, lambda n: record(n, a.seconds, a.interval, a.warmup, a.out))
    for n, p in sorted(paths.items()):
        print(n, p)


if __name__ == "__main__":
    main()
