"""Soak of ``leaksleuth watch``: 20 real Go services for 10 minutes under chaos.

    python benchmarks/watch_soak.py [--targets 20] [--leakers 2] [--minutes 10]
                                    [--kill-watcher-at 0.5] [--chaos-every 20]

Debian's Prometheus scrapes the fleet (tests/goprogs/promsvc, built with Go 1.26.6; the
first --leakers of them leak), Debian's Alertmanager receives the alerts, and the watcher
runs as the real command (``python -m leaksleuth watch --config ...``). Every --chaos-every
seconds a healthy service is killed (SIGKILL) and restarted 5-20 s later on the same port.
Once the leaker is alerted with evidence on disk, after --kill-watcher-at of the run, the
watcher itself gets SIGKILL and is restarted on the same state.

Printed: the watcher's RSS over time, and the comparison of its first and last quarter (the
reference is the same run's own early RSS: flat means the last quarter's median within 10%
or 16 MiB of the first quarter's); bundles before and after the SIGKILL (lost, incomplete);
whether firing alerts resumed with the same startsAt; our own counters from /metrics; crashes.
Exit code 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from leaksleuth.toolchain import build, ensure_go  # noqa: E402
from support.soak import run_soak  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--leakers", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--kill-watcher-at", type=float, default=0.5,
                    help="fraction of the run after which the watcher gets SIGKILL")
    ap.add_argument("--chaos-every", type=float, default=20.0)
    ap.add_argument("--budget", default="25MiB", help="evidence disk budget")
    ap.add_argument("--keep", type=Path, default=None,
                    help="copy the newest evidence bundle into this directory")
    args = ap.parse_args()

    exe = build(ROOT / "tests" / "goprogs" / "promsvc", ensure_go("1.26.6"))
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="leaksleuth-soak-") as tmp:
        print(f"soak: {args.targets} targets ({args.leakers} leaking) for {args.minutes:g} min, "
              f"a healthy target killed every {args.chaos_every:g}s, watcher SIGKILL after "
              f"{args.kill_watcher_at:.0%}")
        t0 = time.monotonic()
        res = run_soak(exe, Path(tmp), targets=args.targets, leakers=args.leakers,
                       seconds=seconds, kill_watcher_at=seconds * args.kill_watcher_at,
                       chaos_every=args.chaos_every, window="2m", budget=args.budget,
                       rss_every=30, keep=args.keep)
        wall = time.monotonic() - t0

    print(f"\nran {wall:.0f}s wall")
    # the watcher restarts after its SIGKILL: compare each life's own early and late RSS
    flat = True
    for life in sorted({lf for _, _, lf in res.rss_mib}):
        rss = [r for t, r, lf in res.rss_mib if lf == life and r > 1]
        if len(rss) < 2:
            continue
        rss = rss[1:]  # the first sample may catch the start-up imports
        q = max(1, len(rss) // 4)
        first, last = statistics.median(rss[:q]), statistics.median(rss[-q:])
        ok_life = last <= first * 1.10 or last - first <= 16
        flat = flat and ok_life
        print(f"watcher life {life} RSS (MiB): {', '.join(f'{r:.0f}' for r in rss)}")
        print(f"  first quarter median {first:.1f} MiB, last quarter median {last:.1f} MiB "
              f"({last - first:+.1f} MiB): {'flat' if ok_life else 'GROWING'}; "
              f"max {max(rss):.1f} MiB")
    print(f"targets killed {res.target_kills}, restarted {res.target_restarts}")
    print(f"watcher SIGKILLs {res.watcher_kills}; bundles complete before it "
          f"{len(res.bundles_before_kill)}, lost {len(res.bundles_lost)}, incomplete "
          f"{len(res.bundles_incomplete)}; firing alerts resumed with the same startsAt: "
          f"{res.resumed_starts_at}")
    print(f"bundles at the end {res.bundles_at_end} ({res.evidence_bytes_at_end / 2**20:.1f} MiB,"
          f" budget {args.budget})")
    alerted = sorted({a['labels']['target'] for a in res.alerts_at_end})
    print(f"alerted at the end: {alerted} (leakers: {res.leak_targets})")
    for k in sorted(res.metrics_at_end):
        if k.endswith("_total") or "_total{" in k:
            print(f"  {k} {res.metrics_at_end[k]:g}")
    print(f"exit codes {res.exit_codes}; crashes: {res.crashes or 'none'}")
    ok = (flat and not res.crashes and res.exit_codes == [0] and res.watcher_kills == 1
          and not res.bundles_lost and not res.bundles_incomplete
          and res.resumed_starts_at is True and set(alerted) <= set(res.leak_targets)
          and bool(alerted))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
