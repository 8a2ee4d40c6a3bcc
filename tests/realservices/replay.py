"""Verdicts on sliding windows of recorded real-service sessions (see record.py), offline.

Each session (recorded at a short interval) is cut into windows of ``--windows`` seconds,
thinned to one snapshot every ``--interval`` seconds, and diagnosed; prints the verdicts per
window and the sensitivity figures. Lets the analysis be studied on many windows without
running the services again.

    python tests/realservices/replay.py /tmp/rec --windows 20,60 --interval 2
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaksleuth.app import diagnose
from leaksleuth.collect.session import open_session
from realservices.harness import by_name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--windows", default="20,60")
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("--step", type=float, default=20)
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    for sess_dir in sorted(a.root.glob("*/*/")):
        name = sess_dir.parent.name
        leaking = by_name(name).leaking
        sess = open_session(sess_dir)
        snaps = list(sess.snapshots())
        t0 = snaps[0].time
        for w in (float(x) for x in a.windows.split(",")):
            verdicts: Counter[str] = Counter()
            start = t0
            lines = []
            while start + w <= snaps[-1].time + 0.5:
                picked, last = [], -1e18
                for s in snaps:
                    if start <= s.time <= start + w + 0.5 and s.time - last >= a.interval - 0.3:
                        picked.append(s)
                        last = s.time
                d = diagnose(picked, settings={"interval": a.interval, "gc": True}).diagnosis
                verdicts[d.verdict] += 1
                sens = d.sensitivity
                top = d.suspects[0].function if d.suspects else "-"
                lines.append(
                    f"   +{start - t0:5.0f}s {d.verdict:12} noise "
                    f"{(sens.noise_bytes / 1e6 if sens else float('nan')):5.2f} MB det "
                    f"{((sens.detectable_bytes_per_second or float('inf')) / 1e3 if sens else float('nan')):7.1f} "  # noqa: E501
                    f"kB/s floor {d.heap.growth_bytes_per_second / 1e3:7.1f} kB/s  {top}")
                start += a.step
            bad = verdicts["no-leak"] if leaking else verdicts["leak"]
            print(f"{name:28} {w:4.0f}s {'LEAK' if leaking else 'ok  '} {dict(verdicts)} "
                  f"{'WRONG ' + str(bad) if bad else ''}")
            if a.v:
                print("\n".join(lines))


if __name__ == "__main__":
    main()
