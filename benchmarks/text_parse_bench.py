"""How fast the legacy text parsers are: goroutine debug=2 dumps and heap debug=1 text.

    python benchmarks/text_parse_bench.py [--go 1.26.6] [--sizes 10000,100000]

A real dump and heap text are taken from tests/goprogs/goroutinegen (run on 127.0.0.1), then
replicated to N goroutines (ids renumbered, argument words varied so no two frame lines are
byte-identical across goroutines, as in a real dump) and N heap records (PCs varied). Printed
per size: input MB, parse time, peak Python memory (tracemalloc, separate pass), and two
references measured in the same run: the floor (decode + split into lines, which any parser
pays) and the target from the issue (a 100k-goroutine dump in 2 s).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from leaksleuth.profile.goroutines import group_dump  # noqa: E402
from leaksleuth.profile.text import parse_goroutine_dump, parse_heap_text  # noqa: E402
from support.goroutinegen import run_goroutinegen  # noqa: E402

TARGET_100K_S = 2.0


def capture(version: str) -> tuple[bytes, bytes]:
    with run_goroutinegen(version) as (svc, _groups), httpx.Client(base_url=svc.url) as c:
        dump = c.get("/debug/pprof/goroutine?debug=2").content
        heap = c.get("/debug/pprof/heap?debug=1").content
    return dump, heap


def grow_dump(dump: bytes, n: int) -> bytes:
    blocks = [b for b in dump.decode().split("\n\n") if b.strip()]
    out = []
    for i in range(n):
        head, _, rest = blocks[i % len(blocks)].partition("\n")
        state = head[head.index("[") :]
        out.append(f"goroutine {i + 1} {state}\n" + rest.replace("0x0?", hex(0xC000000000 + i)))
    return ("\n\n".join(out) + "\n").encode()


def grow_heap(heap: bytes, n: int) -> bytes:
    text = heap.decode()
    body, _, memstats = text.partition("\n# runtime.MemStats")
    records = [r for r in body.split("\n\n")[0].split("\n", 1)[1].split("\n\n") if r.strip()]
    recs = []
    totals = [0, 0, 0, 0]
    for i in range(n):
        head, _, frames = records[i % len(records)].partition("\n")
        nums, _, pcs = head.partition(" @ ")
        a, b = nums.split(" [")
        v = [int(a.split(":")[0]), int(a.split(":")[1]), int(b.split(":")[0]),
             int(b.split(":")[1].rstrip("]"))]
        totals = [t + x for t, x in zip(totals, v, strict=True)]
        shift = 16 * (i // len(records) % 64)  # a binary has only so many PCs
        pcs2 = " ".join(hex(int(p, 16) + shift) for p in pcs.split())
        fr = "\n".join(
            "#\t" + hex(int(ln.split("\t")[1], 16) + shift) + "\t" + "\t".join(ln.split("\t")[2:])
            for ln in frames.split("\n") if ln.startswith("#\t")
        )
        recs.append(f"{head.split(' @ ')[0]} @ {pcs2}\n{fr}\n")
    period = text.split("\n", 1)[0].rsplit("/", 1)[1]
    header = f"heap profile: {totals[0]}: {totals[1]} [{totals[2]}: {totals[3]}] @ heap/{period}\n"
    return (header + "\n".join(recs) + "\n\n# runtime.MemStats" + memstats).encode()


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def peak_mb(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--go", default="1.26.6")
    ap.add_argument("--sizes", default="10000,100000")
    args = ap.parse_args()
    dump, heap = capture(args.go)
    print(f"source: goroutinegen built with Go {args.go}")
    print(f"{'input':<22}{'MB':>8}{'parse s':>10}{'floor s':>10}{'x floor':>9}{'peak MB':>9}")
    for n in (int(x) for x in args.sizes.split(",")):
        for label, data, fn in (
            (f"dump {n} goroutines", grow_dump(dump, n),
             lambda d: group_dump(parse_goroutine_dump(d, "bench"))),
            (f"heap {n} records", grow_heap(heap, n), lambda d: parse_heap_text(d, "bench")),
        ):
            t = timed(lambda fn=fn, data=data: fn(data))
            floor = timed(lambda data=data: data.decode().split("\n"))
            mem = peak_mb(lambda fn=fn, data=data: fn(data))
            print(f"{label:<22}{len(data) / 1e6:>8.1f}{t:>10.3f}{floor:>10.3f}"
                  f"{t / floor:>9.1f}{mem:>9.1f}")
            if label.startswith("dump") and n == 100_000:
                verdict = "meets" if t <= TARGET_100K_S else "MISSES"
                print(f"  target: 100k-goroutine dump parsed and grouped in {TARGET_100K_S} s: "
                      f"{verdict} ({t:.2f} s)")


if __name__ == "__main__":
    main()
