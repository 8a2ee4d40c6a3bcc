"""`leaksleuth top`/`diff` against `go tool pprof -top`/`-top -base` on large heap profiles.

Generates (once, cached in benchmarks/out/) heap profiles of about N distinct stacks with
tests/goprogs/allocgen built by Go 1.26.6 (MemProfileRate=1, every object kept live, stacks
from the bits of i), then runs both tools as subprocesses on the same files in the same run and
prints wall time and peak RSS (os.wait4 rusage, children included) of each, and the ratios.
Target: at 100k and 1M samples leaksleuth is >= 10x faster with <= 1/4 of pprof's peak RSS.

    python benchmarks/parse_bench.py --sizes 10000,100000[,1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from leaksleuth.toolchain import build, ensure_go, go_tool_env

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
ALLOCGEN = ROOT / "tests" / "goprogs" / "allocgen"


@dataclass
class Run:
    wall: float
    rss_mb: float
    stdout: str


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS (max over the process and its waited-for children)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return Run(wall, usage.ru_maxrss / 1024, out.decode("utf-8", "replace"))


def generate(n: int, go: Path) -> tuple[Path, Path]:
    d = OUT / f"heap-{n}"
    base, new = d / "base.pb.gz", d / "new.pb.gz"
    if base.exists() and new.exists():
        return base, new
    d.mkdir(parents=True, exist_ok=True)
    exe = build(ALLOCGEN, go)
    print(f"generating {n} stacks with {exe.name} ...", flush=True)
    subprocess.run([str(exe), "-out", str(d), "-bench", str(n)], check=True,
                   stdout=subprocess.DEVNULL)
    return base, new


def showing(text: str) -> str:
    return next((ln for ln in text.splitlines() if ln.startswith("Showing nodes")), "?")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000",
                    help="comma-separated numbers of distinct stacks (default 10000,100000)")
    ap.add_argument("--go-version", default="1.26.6")
    args = ap.parse_args()
    go = ensure_go(args.go_version)
    env = go_tool_env(go)
    pprof_bin = subprocess.run([str(go), "tool", "-n", "pprof"], env=env, capture_output=True,
                               text=True, check=True).stdout.strip()
    ours = [sys.executable, "-m", "leaksleuth"]
    print(f"{'size':>8} {'cmd':<5} {'MB gz':>6} {'leaksleuth s':>12} {'pprof s':>8} "
          f"{'speedup':>8} {'leaksleuth MB':>13} {'pprof MB':>9} {'mem ratio':>9}  agree  target")
    ok = True
    for n in [int(x) for x in args.sizes.split(",") if x]:
        base, new = generate(n, go)
        cases = [
            ("top", [*ours, "top", str(new)], [pprof_bin, "-top", str(new)]),
            ("diff", [*ours, "diff", str(base), str(new)],
             [pprof_bin, "-top", "-base", str(base), str(new)]),
        ]
        for name, cmd_ours, cmd_pprof in cases:
            r_pp = measure(cmd_pprof, env)
            r_ls = measure(cmd_ours)
            speed = r_pp.wall / r_ls.wall
            mem = r_ls.rss_mb / r_pp.rss_mb
            agree = showing(r_ls.stdout) == showing(r_pp.stdout)
            target = "-" if n < 100_000 else ("met" if speed >= 10 and mem <= 0.25 else "MISSED")
            ok = ok and agree and target != "MISSED"
            print(f"{n:>8} {name:<5} {new.stat().st_size / 1e6:>6.1f} {r_ls.wall:>12.2f} "
                  f"{r_pp.wall:>8.2f} {speed:>7.1f}x {r_ls.rss_mb:>13.0f} {r_pp.rss_mb:>9.0f} "
                  f"{mem:>9.2f}  {'yes' if agree else 'NO':<5}  {target}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
