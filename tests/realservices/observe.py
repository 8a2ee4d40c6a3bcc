"""Ground truth with plain pprof: run workloads under load for minutes and record what the
services really do, without leaksleuth's analysis.

For each workload, every ``--interval`` seconds: ``/debug/pprof/heap?gc=1`` (the protobuf a
``go tool pprof`` user would fetch) and ``heap?debug=1`` (its MemStats trailer), saved as
files; every second, the service's own ``/metrics`` gauges (HeapAlloc, NextGC, the count of
stored objects). Prints, per workload, the stored-object count and the post-GC heap at the
start and end, and the top in-use functions of the last profile by ``go tool pprof -top``
when a Go toolchain is at hand.

    python tests/realservices/observe.py --seconds 180 --out artifacts/realservices
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realservices.harness import WORKLOADS, Service, at_once, by_name, loaded

GAUGES = re.compile(
    r"^(go_memstats_heap_alloc_bytes|go_memstats_next_gc_bytes|go_memstats_heap_inuse_bytes|"
    r"go_goroutines|alertmanager_alerts|etcd_debugging_mvcc_keys_total|"
    r"pushgateway_http_requests_total)(\{[^}]*\})? (\S+)$", re.M)


def scrape(c: httpx.Client, svc: Service) -> dict[str, float]:
    text = c.get(svc.url + "/metrics").text
    out: dict[str, float] = {}
    for name, labels, value in GAUGES.findall(text):
        if name == "alertmanager_alerts" and 'state="active"' not in labels:
            continue
        if name == "pushgateway_http_requests_total":
            continue
        out[name] = out.get(name, 0.0) + float(value)
    return out


def heap_alloc(text: str) -> int:
    m = re.search(r"^# HeapAlloc = (\d+)", text, re.M)
    return int(m.group(1)) if m else -1


def observe(name: str, seconds: float, interval: float, out: Path) -> dict[str, object]:
    w = by_name(name)
    d = out / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    rows: list[dict[str, float]] = []
    floors: list[tuple[float, int]] = []
    with loaded(w, seconds + 5) as (svc, load), httpx.Client(timeout=30) as c:
        t0 = time.monotonic()
        k = 0
        next_heap = t0
        while time.monotonic() - t0 < seconds:
            now = time.monotonic()
            if now >= next_heap:
                pb = c.get(svc.url + "/debug/pprof/heap", params={"gc": "1"}).content
                (d / f"heap-{k:03d}.pb.gz").write_bytes(pb)
                txt = c.get(svc.url + "/debug/pprof/heap", params={"debug": "1"}).text
                floors.append((now - t0, heap_alloc(txt)))
                k += 1
                next_heap += interval
            row = scrape(c, svc)
            row["t"] = time.monotonic() - t0
            row["requests"] = float(load.done)
            rows.append(row)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "floors.json").write_text(json.dumps(floors))
        requests, failed = load.done, load.failed
    summary = {
        "workload": name, "seconds": seconds, "requests": requests, "failed": failed,
        "floor_first_MB": floors[0][1] / 1e6, "floor_last_MB": floors[-1][1] / 1e6,
        "count_first": rows[0].get("alertmanager_alerts", rows[0].get(
            "etcd_debugging_mvcc_keys_total")),
        "count_last": rows[-1].get("alertmanager_alerts", rows[-1].get(
            "etcd_debugging_mvcc_keys_total")),
    }
    (d / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--out", type=Path, default=Path("artifacts/realservices"))
    ap.add_argument("workloads", nargs="*", default=[w.name for w in WORKLOADS])
    a = ap.parse_args()
    results = at_once(a.workloads, lambda n: observe(n, a.seconds, a.interval, a.out))
    for n in a.workloads:
        print(json.dumps(results.get(n, {"workload": n, "error": "failed"})))
    go = shutil.which("go")
    if go:
        for n in a.workloads:
            last = sorted((a.out / n).glob("heap-*.pb.gz"))[-1]
            top = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=inuse_space",
                                  str(last)], capture_output=True, text=True).stdout
            print(f"== {n}\n" + "\n".join(top.splitlines()[:14]))


if __name__ == "__main__":
    main()
