"""Time and peak memory of leaksleuth on a gzip bomb and against an endpoint that never answers.

Makes a gzip bomb (GiB of zeros, about 1 MB per GiB) and a socket server that accepts and never
answers, runs `top`/`goroutines` on the bomb and `goroutines`/`diagnose` against the server as
child processes, and prints wall time, network time (seen by the server), peak RSS (wait4) and
exit code of each. With
``--ref SRC`` (the ``src`` directory of another checkout) the same commands run with that code
too, in the same run, for a before/after comparison.

    python benchmarks/hostile_bench.py [--gib 5] [--ref /path/to/other/src]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.hostile import gzip_bomb, hung_server, run_cli


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=int, default=5, help="GiB of zeros in the bomb (default 5)")
    ap.add_argument("--ref", default=None, help="src/ of a reference checkout to compare")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bomb = gzip_bomb(Path(tmp) / "heap.pb.gz", args.gib)
        print(f"bomb: {bomb.stat().st_size / 1e6:.1f} MB inflating to {args.gib} GiB")
        codes = [("this", None)] + ([("ref", args.ref)] if args.ref else [])
        print(f"{'code':<5} {'command':<42} {'exit':>4} {'wall s':>7} {'net s':>6} "
              f"{'peak MB':>8}  message")
        cases = [
            ["top", str(bomb)],
            ["goroutines", str(bomb)],
            ["goroutines", "{url}", "--timeout", "2"],
            ["diagnose", "{url}", "--duration", "6", "--interval", "2", "-q", "--out",
             str(Path(tmp) / "s")],
        ]
        for case in cases:
            for name, src in codes:
                env = {"PYTHONPATH": src} if src else {}
                # a fresh never-answering server per run: "net s" is the time from its first
                # connection to the last one the client gave up on (start-up excluded)
                with hung_server() as srv:
                    res = run_cli(*[a.format(url=srv.url) for a in case], env=env, timeout=600)
                    time.sleep(0.3)
                net = f"{srv.span():.2f}" if srv.opened else "-"
                shown = " ".join(a if len(a) < 30 else os.path.basename(a) for a in case[:5])
                msg = (res.err.strip().splitlines() or [""])[-1][19:110]
                print(f"{name:<5} {shown[:42]:<42} {res.rc:>4} {res.wall:>7.2f} {net:>6} "
                      f"{res.peak_mb:>8.0f}  {msg}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
