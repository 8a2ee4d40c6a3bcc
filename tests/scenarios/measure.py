"""Measure the scenario corpus: build each scenario with each Go version, run them all at once
and sample the post-GC heap floor and the goroutine count every few seconds.

    python tests/scenarios/measure.py [NAME ...] [--window 20] [--interval 2] [--series]

Deliberately independent of leaksleuth's parsers (only the toolchain helpers are reused), so it
can check the corpus while the analysis is being written. For each run it also names the
service's own innermost frame whose in-use heap (or goroutine group) grew most over the second
half of the window, to confirm the ``function`` in ``expected.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from leaksleuth.toolchain import build, ensure_go

HERE = Path(__file__).resolve().parent
SAMPLE_RATE = 512 * 1024  # runtime.MemProfileRate default
_HEAP_RECORD = re.compile(r"^(\d+): (\d+) \[\d+: \d+\] @")
_GR_RECORD = re.compile(r"^(\d+) @")
_FRAME = re.compile(r"^#\s+0x[0-9a-f]+\s+(\S+?)\+0x[0-9a-f]+\s")


@dataclass
class Sample:
    t: float
    heap_alloc: int
    num_gc: int
    stack_inuse: int
    goroutines: int
    heap_by_func: dict[str, float]  # own innermost frame -> estimated in-use bytes
    gr_by_func: dict[str, int]  # own innermost frame -> goroutines


@dataclass
class Run:
    scenario: str
    version: str
    exe: Path
    expected: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    samples: list[Sample] = field(default_factory=list)
    cpu_seconds: float = 0.0
    error: str = ""


def own_frame(frames: list[str]) -> str:
    """The innermost frame of the program's own code (package main), else the innermost."""
    for f in frames:
        if f.startswith("main."):
            return f
    return frames[0] if frames else "?"


def parse_records(text: str, head: re.Pattern[str]) -> list[tuple[re.Match[str], list[str]]]:
    """``(header match, frames leaf first)`` for each record of a debug=1 profile."""
    out: list[tuple[re.Match[str], list[str]]] = []
    cur: tuple[re.Match[str], list[str]] | None = None
    for line in text.splitlines():
        m = head.match(line)
        if m:
            cur = (m, [])
            out.append(cur)
            continue
        fm = _FRAME.match(line)
        if fm and cur is not None:
            cur[1].append(fm.group(1))
        elif not line.strip():
            cur = None
    return out


def heap_by_func(text: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for m, frames in parse_records(text, _HEAP_RECORD):
        objs, size = int(m.group(1)), int(m.group(2))
        if objs == 0:
            continue
        avg = size / objs  # debug=1 counts are raw samples: unsample like pprof does
        out[own_frame(frames)] += size / (1 - math.exp(-avg / SAMPLE_RATE))
    return dict(out)


def goroutines_by_func(text: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for m, frames in parse_records(text, _GR_RECORD):
        out[own_frame(frames)] += int(m.group(1))
    return dict(out)


def memstat(text: str, name: str) -> int:
    m = re.search(rf"^# {name} = (\d+)", text, re.M)
    if not m:
        raise ValueError(f"no {name} in heap profile")
    return int(m.group(1))


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as resp:
        body: bytes = resp.read()
    return body.decode("utf-8", "replace")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(run: Run) -> None:
    run.proc = subprocess.Popen([str(run.exe), "-addr", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    assert run.proc.stdout is not None
    line = run.proc.stdout.readline()
    if not line.startswith("LISTEN "):
        raise RuntimeError(f"{run.exe.name}: first line {line!r}, not LISTEN")
    run.url = f"http://{line.split()[1]}"


def sample_loop(run: Run, t0: float, window: float, interval: float) -> None:
    k = 0
    while True:
        due = t0 + k * interval
        if due > t0 + window + 1e-6:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            heap = fetch(run.url + "/debug/pprof/heap?gc=1&debug=1")
            gr = fetch(run.url + "/debug/pprof/goroutine?debug=1")
        except OSError as exc:
            run.error = str(exc)
            return
        total = re.search(r"goroutine profile: total (\d+)", gr)
        run.samples.append(Sample(
            t=time.monotonic() - t0, heap_alloc=memstat(heap, "HeapAlloc"),
            num_gc=memstat(heap, "NumGC"), stack_inuse=memstat(heap, "Stack"),
            goroutines=int(total.group(1)) if total else -1,
            heap_by_func=heap_by_func(heap), gr_by_func=goroutines_by_func(gr)))
        k += 1


def top_growth(first: dict[str, float], last: dict[str, float]) -> tuple[str, float]:
    best = ("-", 0.0)
    for fn, v in last.items():
        d = v - first.get(fn, 0.0)
        if d > best[1]:
            best = (fn, d)
    return best


def mb(n: float) -> str:
    return f"{n / 1e6:7.1f}"


def report(runs: list[Run], series: bool, window: float) -> bool:
    ok_all = True
    hdr = (f"{'scenario':24} {'go':7} {'floor0':>7} {'floorN':>7} {'min*':>7} {'max*':>7} "
           f"{'gr0':>5} {'grN':>5} {'stackN':>6} {'gc':>4} {'cpu%':>5}  "
           "top growth in 2nd half: heap / goroutines")
    print(hdr)
    print("-" * len(hdr))
    for run in runs:
        s = run.samples
        if len(s) < 2:
            print(f"{run.scenario:24} {run.version:7} FAILED {run.error}")
            ok_all = False
            continue
        tail = [x.heap_alloc for x in s if x.t >= window * 0.4]  # after warm-up
        mid = s[len(s) // 2]  # growth over the second half: warm-ups are over by then
        hfn, hd = top_growth(mid.heap_by_func, s[-1].heap_by_func)
        gfn, gd = top_growth({k: float(v) for k, v in mid.gr_by_func.items()},
                             {k: float(v) for k, v in s[-1].gr_by_func.items()})
        exp = run.expected
        mark = ""
        if exp.get("verdict") == "leak":
            want = exp.get("function", "")
            got = gfn if exp.get("kind") in ("goroutine-leak",) else hfn
            mark = "  ok" if got == want else f"  MISMATCH (expected {want})"
            ok_all &= got == want
        print(f"{run.scenario:24} {run.version:7} {mb(s[0].heap_alloc)} {mb(s[-1].heap_alloc)} "
              f"{mb(min(tail))} {mb(max(tail))} {s[0].goroutines:5d} {s[-1].goroutines:5d} "
              f"{s[-1].stack_inuse / 1e6:6.1f} "
              f"{s[-1].num_gc - s[0].num_gc:4d} {100 * run.cpu_seconds / window:5.1f}  "
              f"{hfn} +{hd / 1e6:.1f}MB / {gfn} +{gd:.0f}{mark}")
        if series:
            print("    floor MB: " + " ".join(f"{x.heap_alloc / 1e6:.1f}" for x in s))
            print("    goroutines: " + " ".join(str(x.goroutines) for x in s))
    print("* min/max of the post-GC floor over the last 60% of the window (after warm-up)")
    return ok_all


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*",
                    help="scenario names or directories with a main.go (default: all scenarios)")
    ap.add_argument("--versions", nargs="+", default=["1.23.9", "1.26.6"])
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--series", action="store_true", help="print every sample")
    args = ap.parse_args()
    names = args.names or sorted(p.parent.name for p in HERE.glob("*/main.go"))
    runs = []
    for n in names:
        src = Path(n) if Path(n, "main.go").is_file() else HERE / n  # a scenario or any dir
        exp_file = src / "expected.json"
        exp = json.loads(exp_file.read_text()) if exp_file.is_file() else {}
        runs += [Run(src.name, v, build(src, ensure_go(v)), exp) for v in args.versions]
    try:
        starters = [threading.Thread(target=start, args=(r,)) for r in runs]
        for th in starters:  # concurrently: some scenarios build data before LISTEN
            th.start()
        for th in starters:
            th.join()
        if any(not r.url for r in runs):
            raise SystemExit("some scenarios did not start")
        t0 = time.monotonic()
        cpu0 = {id(r): cpu_seconds(r.proc.pid) for r in runs if r.proc}
        threads = [threading.Thread(target=sample_loop, args=(r, t0, args.window, args.interval))
                   for r in runs]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for r in runs:
            if r.proc:
                r.cpu_seconds = cpu_seconds(r.proc.pid) - cpu0[id(r)]
    finally:
        for r in runs:
            if r.proc and r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
    return 0 if report(runs, args.series, args.window) else 1


if __name__ == "__main__":
    sys.exit(main())
