"""Layer-1 fleet screening at scale: a real Prometheus holding hours of history of 2,000
simulated Go instances, screened by ``screen_fleet``.

The history is generated (see ``simulate``: GC saw-tooth heap_alloc with next_gc set from the
live heap at each GC, heap_inuse, last GC time, goroutines, RSS; in-flight noise, restarts
with warm-up, caches that fill then stop, a known few leaking the heap at 1-400 KiB/s or
goroutines, some with GOMEMLIMIT), written as OpenMetrics, backfilled with
``promtool tsdb create-blocks-from openmetrics`` into a TSDB (cached under the user cache dir),
and served by Debian's prometheus on a free 127.0.0.1 port. The screen runs in a child process
so its peak RSS is the watcher's alone.

Figures: wall time, peak RSS, cost per instance, number of HTTP requests, recall/precision on
the known leakers, and the reference in the same run: the targets (60 s, 300 MB) and the cost
of screening the same fleet with per-instance queries (measured on a sample, extrapolated).

    python benchmarks/fleet_screen_bench.py [--instances 2000] [--hours 4] [--scrape 60]
    python benchmarks/fleet_screen_bench.py --estimators 90   # live-heap estimates, real Go
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

MAXINT64 = 9223372036854775807.0
TARGET_WALL = 60.0
TARGET_RSS_MB = 300.0
METRICS = ("go_memstats_heap_alloc_bytes", "go_memstats_next_gc_bytes",
           "go_memstats_heap_inuse_bytes", "go_memstats_last_gc_time_seconds", "go_goroutines",
           "process_resident_memory_bytes")


def simulate(n: int, hours: float, scrape: float, seed: int = 7) -> tuple[
        np.ndarray, dict[str, np.ndarray], dict[str, object]]:
    """Per-instance series on a common scrape grid; returns (times, metric -> (n, T), truth)."""
    rng = np.random.default_rng(seed)
    T = int(hours * 3600 / scrape)
    end = (int(time.time()) // 60) * 60 - 300
    t = end - scrape * (T - 1) + scrape * np.arange(T, dtype=np.float64)
    rel = t - t[0]
    live0 = np.exp(rng.normal(np.log(60e6), 1.0, n)).clip(4e6, 1.5e9)
    # in-flight memory: AR(1) noise around the steady live heap, 2-8% of it
    noise = np.zeros((n, T))
    amp = rng.uniform(0.02, 0.08, n)
    e = rng.normal(0, 1, (n, T))
    for k in range(1, T):
        noise[:, k] = 0.8 * noise[:, k - 1] + 0.6 * e[:, k]
    live = live0[:, None] * (1 + amp[:, None] * noise / 1.0)
    kinds = np.array(["healthy"] * n, dtype=object)
    idx = rng.permutation(n)
    leak_ids = idx[:12]
    gor_ids = idx[12:15]
    restart_ids = idx[15:115]
    cache_ids = idx[115:135]
    rates = np.array([1, 2, 4, 8, 15, 25, 40, 60, 100, 150, 250, 400], dtype=np.float64) * 1024
    for i, r in zip(leak_ids, rates, strict=True):
        live[i] += r * rel
        kinds[i] = f"leak {r / 1024:.0f} KiB/s"
    for i in restart_ids:  # restarted once: the heap warms up again over 5-30 min, then flat
        tr = rng.uniform(0, rel[-1] * 0.9)
        tau = rng.uniform(300, 1800)
        after = rel >= tr
        live[i, after] *= 1 - 0.7 * np.exp(-(rel[after] - tr) / tau)
        live[i, ~after] *= 1.0
        kinds[i] = "restart+warm-up"
    for i in cache_ids:  # a cache filling for 30-90 min, then full
        fill = rng.uniform(1800, 5400)
        live[i] *= 1 + 0.4 * np.minimum(rel, fill) / fill
        kinds[i] = "cache fills then stops"
    # GC pacing: allocation rate A, GOGC=100; a GC when the heap reaches 2x the live heap or
    # every 120 s (forced); heap_alloc at a scrape = live at last GC + A * time since it
    alloc = np.exp(rng.normal(np.log(2e6), 1.5, n)).clip(2e4, 3e8)
    period = np.minimum(120.0, live0 / alloc)
    phase = rng.uniform(0, 1, n)[:, None] * period[:, None]
    since = (rel[None, :] + phase) % period[:, None]
    t_gc = t[None, :] - since
    gc_idx = np.clip(np.searchsorted(t, t_gc.ravel()).reshape(n, T), 0, T - 1)
    live_gc = np.take_along_axis(live, gc_idx, axis=1)
    stacks = rng.uniform(2e5, 4e6, n)[:, None]
    gor0 = np.exp(rng.normal(np.log(80), 1.0, n)).clip(8, 5000)
    gor = gor0[:, None] * (1 + 0.05 * rng.normal(0, 1, (n, T)))
    for i in gor_ids:
        gor[i] += rng.uniform(0.01, 0.05) * rel
        kinds[i] = "goroutine leak"
    heap_alloc = live_gc + alloc[:, None] * since
    next_gc = 2 * live_gc + stacks
    heap_alloc = np.minimum(heap_alloc, next_gc)
    inuse = heap_alloc * 1.08 + 1e6
    rss = np.maximum.accumulate(next_gc, axis=1) * 1.1 + 25e6
    limits = {}
    for i in leak_ids[::3]:  # some leakers run with GOMEMLIMIT set: time to exhaustion
        limits[int(i)] = float(np.round(live[i, -1] * 1.5 / 1e6) * 1e6)
    data = {"go_memstats_heap_alloc_bytes": heap_alloc, "go_memstats_next_gc_bytes": next_gc,
            "go_memstats_heap_inuse_bytes": inuse, "go_memstats_last_gc_time_seconds": t_gc,
            "go_goroutines": np.round(gor), "process_resident_memory_bytes": rss}
    truth = {"leakers": sorted(int(i) for i in (*leak_ids, *gor_ids)),
             "kinds": {int(i): str(kinds[i]) for i in range(n) if kinds[i] != "healthy"},
             "limits": limits, "start": float(t[0]), "end": float(t[-1])}
    return t, data, truth


def instance_labels(i: int) -> str:
    return f'job="svc-{i % 40:02d}",instance="10.{i // 250}.{i % 250}.{i % 7 + 1}:8080"'


def write_openmetrics(path: Path, t: np.ndarray, data: dict[str, np.ndarray],
                      truth: dict[str, object], n: int) -> None:
    ts = [f"{x:.0f}" for x in t]
    with path.open("w") as f:
        for name in METRICS:
            f.write(f"# TYPE {name} gauge\n")
            arr = data[name]
            for i in range(n):
                lab = instance_labels(i)
                f.write("".join(f"{name}{{{lab}}} {v:.10g} {s}\n"
                                for v, s in zip(arr[i].tolist(), ts, strict=True)))
        # settings gauges, exported by client_golang >= 1.20: the last 10 scrapes suffice
        limits: dict[int, float] = truth["limits"]  # type: ignore[assignment]
        for name in ("go_gc_gomemlimit_bytes", "go_gc_gogc_percent"):
            f.write(f"# TYPE {name} gauge\n")
            for i in range(n):
                v = (limits.get(i, MAXINT64) if name == "go_gc_gomemlimit_bytes" else 100.0)
                lab = instance_labels(i)
                f.write("".join(f"{name}{{{lab}}} {v:.17g} {s}\n" for s in ts[-10:]))
        f.write("# EOF\n")


def build_tsdb(n: int, hours: float, scrape: float) -> tuple[Path, dict[str, object], float]:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "leaksleuth" / \
        "bench" / f"fleet-{n}-{hours:g}h-{scrape:g}s-v2"
    meta = cache / "truth.json"
    if meta.exists() and (time.time() - meta.stat().st_mtime) < 20 * 3600:
        return cache / "data", json.loads(meta.read_text()), 0.0
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    t0 = time.monotonic()
    t, data, truth = simulate(n, hours, scrape)
    om = cache / "history.om"
    write_openmetrics(om, t, data, truth, n)
    del data
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om),
                    str(cache / "data")], check=True, stdout=subprocess.DEVNULL)
    om.unlink()
    meta.write_text(json.dumps(truth))
    return cache / "data", json.loads(meta.read_text()), time.monotonic() - t0


def screen_child(url: str, start: float, end: float, step: float) -> None:
    """The watcher's side, alone in its process: screen and report figures as JSON."""
    t0 = time.monotonic()
    from leaksleuth.watch.prom import PromAPI
    from leaksleuth.watch.screen import screen_fleet

    with PromAPI(url, timeout=60.0) as api:
        res = screen_fleet(api, None, start=start, end=end, step=step)
        requests = api.requests
    wall = time.monotonic() - t0
    print(json.dumps({
        "wall": wall, "requests": requests,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu": (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_SELF)),
        "results": [[r.target.labels.get("instance"), r.target.labels.get("job"), r.status,
                     r.live_heap_growth_bytes_per_second, r.time_to_exhaustion_seconds,
                     r.signal] for r in res]}))


def per_instance_reference(url: str, start: float, end: float, step: float,
                           sample: list[str]) -> tuple[float, int]:
    """What one query per instance and metric costs (the naive way), on a sample."""
    from leaksleuth.watch.prom import PromAPI
    from leaksleuth.watch.screen import QUERIES, duration

    t0 = time.monotonic()
    with PromAPI(url, timeout=60.0) as api:
        for sel in sample:
            for tmpl in QUERIES.values():
                api.query_range(tmpl.replace("{sel}", "{" + sel + "}").replace(
                    "{w}", duration(step)), start, end, step)
        req = api.requests
    return time.monotonic() - t0, req


def estimators(seconds: float) -> int:
    """Which live-heap estimate is right, on real Go services: promsvc instances (a GC
    saw-tooth; two leaking into a map) scraped every second by Debian's prometheus, each
    estimate's Theil-Sen slope and scatter against the runtime's own /gc/heap/live:bytes."""
    from contextlib import ExitStack

    from leaksleuth.analyze.trend import robust_trend
    from leaksleuth.toolchain import build, ensure_go, start_service, stop_process
    from leaksleuth.watch.prom import PromAPI
    from support.promserver import run_prometheus

    exe = build(ROOT / "tests" / "goprogs" / "promsvc", ensure_go("1.26.6"))
    kib = 1 << 10
    fleet = {"busy": ["-garbage", str(20 << 20), "-working", str(8 << 20)],
             "idle": ["-garbage", str(64 * kib), "-working", str(8 << 20)],
             "leak-200k-busy": ["-garbage", str(20 << 20), "-leak", str(200 * kib)],
             "leak-50k-idle": ["-garbage", str(256 * kib), "-leak", str(50 * kib)]}
    with ExitStack() as st:
        addrs = {}
        for name, args in fleet.items():
            proc, addr = start_service(exe, *args)
            st.callback(stop_process, proc)
            addrs[name] = addr
        prom = st.enter_context(run_prometheus(
            {"svc": [(a, {"name": n}) for n, a in addrs.items()]}, scrape_interval="1s"))
        prom.wait_targets_up(len(fleet))
        t0 = time.time()
        time.sleep(seconds)
        t1 = time.time()
        api = PromAPI(prom.url)

        def q(expr: str, step: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
            return {r.labels["name"]: (r.times, r.values)
                    for r in api.query_range(expr, t0, t1, step)}

        truth = q("promsvc_live_heap_bytes", 1)
        print(f"{seconds:.0f} s of 1 s scrapes; slopes in KiB/s (Theil-Sen), scatter = median "
              "absolute residual in KiB, level = median error against the truth")
        for w in (2, 5, 10):
            env = q(f"min_over_time(go_memstats_heap_alloc_bytes[{w}s])", w)
            ngc = q(f"min_over_time(go_memstats_next_gc_bytes[{w}s])", w)
            print(f"window {w} s:")
            for n in fleet:
                tt = robust_trend(*truth[n])
                row = [f"  {n:15s} truth {tt.slope / kib:6.1f}"]
                for label, (t, v) in (("envelope", env[n]), ("next_gc/2", ngc[n])):
                    y = v / 2 if label == "next_gc/2" else v
                    tr = robust_trend(t, y)
                    lvl = float(np.median((y - np.interp(t, *truth[n])) / np.interp(t, *truth[n])))
                    row.append(f"{label} {tr.slope / kib:6.1f} (scatter {tr.scatter / kib:5.0f},"
                               f" level {lvl:+.0%})")
                print("  ".join(row))
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--scrape", type=float, default=60.0)
    ap.add_argument("--step", type=float, default=150.0)
    ap.add_argument("--child", nargs=4, metavar=("URL", "START", "END", "STEP"))
    ap.add_argument("--estimators", type=float, metavar="SECONDS",
                    help="instead: compare the live-heap estimates on real Go services")
    a = ap.parse_args()
    if a.estimators:
        return estimators(a.estimators)
    if a.child:
        screen_child(a.child[0], *map(float, a.child[1:]))
        return 0
    from support.promserver import run_prometheus

    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        print("needs Debian's prometheus and promtool")
        return 2
    tsdb, truth, gen_s = build_tsdb(a.instances, a.hours, a.scrape)
    print(f"history: {a.instances} instances x {a.hours:g} h at {a.scrape:g} s scrapes, "
          f"{len(METRICS)} metrics ({a.instances * len(METRICS) * int(a.hours * 3600 / a.scrape):,}"
          f" samples); generated+backfilled in {gen_s:.0f} s" if gen_s else " (cached TSDB)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "data"
        shutil.copytree(tsdb, work)  # Prometheus compacts what it opens: keep the cache clean
        with run_prometheus({}, tsdb=work, timeout=120) as prom:
            start, end = float(truth["start"]), float(truth["end"])  # type: ignore[arg-type]
            load = os.getloadavg()
            prom_cpu0 = _cpu_seconds(prom.proc.pid)
            out = subprocess.run(
                [sys.executable, __file__, "--child", prom.url, str(start), str(end),
                 str(a.step)], capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(out.stderr[-3000:])
                return 1
            fig = json.loads(out.stdout)
            prom_cpu = _cpu_seconds(prom.proc.pid) - prom_cpu0
            load_after = os.getloadavg()
            sample = [instance_labels(i) for i in range(0, a.instances, a.instances // 20)]
            ref_wall, ref_req = per_instance_reference(prom.url, start, end, a.step, sample)
    inst_to_i = {}
    for i in range(a.instances):
        lab = instance_labels(i)
        inst_to_i[lab.split('instance="')[1].rstrip('"')] = i
    leakers = set(truth["leakers"])  # type: ignore[call-overload]
    kinds: dict[str, str] = truth["kinds"]  # type: ignore[assignment]
    flagged = {inst_to_i[r[0]] for r in fig["results"] if r[2] == "leak-suspect"}
    growing = {inst_to_i[r[0]] for r in fig["results"] if r[2] == "growing"}
    tp = flagged & leakers
    n = len(fig["results"])
    print(f"screened: {n} instances, {fig['requests']} HTTP requests, step {a.step:g} s")
    print(f"wall: {fig['wall']:.1f} s (target < {TARGET_WALL:.0f} s) -> "
          f"{'PASS' if fig['wall'] < TARGET_WALL else 'FAIL'}")
    print(f"peak RSS of the watcher process: {fig['maxrss_mb']:.0f} MB (target < "
          f"{TARGET_RSS_MB:.0f} MB) -> {'PASS' if fig['maxrss_mb'] < TARGET_RSS_MB else 'FAIL'}")
    print(f"CPU of the watcher process: {fig['cpu']:.1f} s (imports included); the rest of "
          "the wall is Prometheus evaluating and waiting for a core")
    print(f"CPU of Prometheus answering: {prom_cpu:.1f} s; watcher + Prometheus = "
          f"{fig['cpu'] + prom_cpu:.1f} CPU-seconds, the wall an idle 2-core machine would need"
          " at most")
    print(f"cost per instance: {fig['wall'] / max(n, 1) * 1000:.1f} ms wall, "
          f"{fig['cpu'] / max(n, 1) * 1000:.2f} ms CPU, "
          f"{fig['requests'] / max(n, 1):.4f} requests")
    per_inst = ref_wall / len(sample)
    print(f"reference, one query per instance and metric (on {len(sample)} instances): "
          f"{per_inst * 1000:.0f} ms and {ref_req // len(sample)} requests per instance -> "
          f"{per_inst * a.instances:.0f} s and {ref_req // len(sample) * a.instances} requests "
          f"for the fleet")
    print(f"recall {len(tp)}/{len(leakers)} = {len(tp) / len(leakers):.2f}; precision "
          f"{len(tp)}/{len(flagged)} = {len(tp) / max(len(flagged), 1):.2f} "
          f"(leak-suspect); also 'growing' (unconfirmed): {len(growing)}")
    for i in sorted(leakers - flagged):
        st = next(r[2] for r in fig["results"] if inst_to_i[r[0]] == i)
        print(f"  missed: #{i} {kinds.get(str(i), '?')} -> {st}")
    for i in sorted((flagged | growing) - leakers):
        st = next(r[2] for r in fig["results"] if inst_to_i[r[0]] == i)
        print(f"  false alarm: #{i} {kinds.get(str(i), 'healthy')} -> {st}")
    counts: dict[str, int] = {}
    for r in fig["results"]:
        counts[r[2]] = counts.get(r[2], 0) + 1
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    limits: dict[str, float] = truth["limits"]  # type: ignore[assignment]
    for r in fig["results"]:
        i = inst_to_i[r[0]]
        if r[4] is None:
            continue
        rate = float(kinds[str(i)].split()[1]) * 1024 if str(i) in limits else None
        # the limit was set at 1.5x the final live heap: the truth is limit/3 / rate
        true = limits[str(i)] / 3 / rate if rate else None
        print(f"  time to exhaustion #{i} ({kinds.get(str(i), 'healthy')}): "
              f"{r[4] / 3600:.1f} h" + (f", simulated {true / 3600:.1f} h" if true else ""))
    print(f"load average before/after the screen: {load[0]:.1f}/{load_after[0]:.1f} "
          f"on {os.cpu_count()} cores (machine shared with other work)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
