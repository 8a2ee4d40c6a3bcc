"""Score table for the real-service corpus: every workload collected for ``--window`` seconds
(all at once, each on its own service), diagnosed on the whole window and on each consecutive
20-second part; ``--repeats`` rounds. Prints a Markdown table (the README's).

    python tests/realservices/score.py --window 60 --interval 2 --repeats 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaksleuth.analyze.diagnosis import Diagnosis
from leaksleuth.units import human_bytes, human_rate
from realservices.harness import WORKLOADS, missing_binaries, right, run_all


def cell(d: Diagnosis) -> str:
    sens = d.sensitivity
    det = (f", sees >= {human_rate(sens.detectable_bytes_per_second)}"
           if sens and sens.detectable_bytes_per_second else "")
    if d.verdict == "leak" and d.suspects:
        return f"leak `{d.suspects[0].function.rsplit('/', 1)[-1]}`"
    if sens:
        return f"{d.verdict} (±{human_bytes(sens.noise_bytes)}{det})"
    return d.verdict


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--sub", type=float, default=20)
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    if missing_binaries():
        print("missing: " + ", ".join(missing_binaries()), file=sys.stderr)
        return 2
    out = a.out or Path(tempfile.mkdtemp(prefix="leaksleuth-score-"))
    rows: dict[str, list[str]] = defaultdict(list)
    sub_ok: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    full_ok: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    t0 = time.monotonic()
    for r in range(a.repeats):
        for run in run_all(WORKLOADS, a.window, a.interval, out / f"round{r}",
                           sub_windows=(a.sub,)):
            name = run.workload.name
            if run.error:
                rows[name].append(f"error: {run.error}")
                full_ok[name][1] += 1
                continue
            for label, d in run.diagnoses.items():
                full = label == f"{a.window:.0f}s"
                ok = right(run.workload, d, full_window=full)
                tally = full_ok if full else sub_ok
                tally[name][0] += ok
                tally[name][1] += 1
                if full:
                    rows[name].append(("" if ok else "**WRONG** ") + cell(d))
            rows[name + "#req"].append(str(run.requests))
    print(f"{a.repeats} round(s), {a.window:.0f} s windows (one snapshot every "
          f"{a.interval:.0f} s) and their {a.sub:.0f} s parts; {time.monotonic() - t0:.0f} s")
    print()
    print(f"| workload | truth | {a.window:.0f} s verdicts | right at {a.window:.0f} s | "
          f"right at {a.sub:.0f} s |")
    print("|---|---|---|---|---|")
    for w in WORKLOADS:
        f, s = full_ok[w.name], sub_ok[w.name]
        print(f"| {w.name} | {'leak' if w.leaking else 'healthy'} | "
              f"{'; '.join(rows[w.name])} | {f[0]}/{f[1]} | {s[0]}/{s[1]} |")
    bad = sum(v[1] - v[0] for v in (*full_ok.values(), *sub_ok.values()))
    print(f"\nsessions kept in {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
